// The retry policy and error translation, with a clock of our own: no network, no waiting.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  backoffDelay,
  ClusterError,
  retryDecision,
  translateError,
  withRetry,
  type RetryClock,
  type RetryPolicy
} from '../../src/cluster/index.ts'
import { DEFAULT_RETRY, REQUEST_TIMEOUT_MS, transientApiFailure } from '../../src/cluster/retry.ts'

/** An ApiException as @kubernetes/client-node throws it. */
class FakeApiException extends Error {
  code: number
  body: unknown
  headers: Record<string, string>
  constructor(code: number, body: unknown = '', headers: Record<string, string> = {}) {
    super(`HTTP-Code: ${code}`)
    this.code = code
    this.body = body
    this.headers = headers
  }
}

function fakeClock(random = 0.5): RetryClock & { slept: number[] } {
  let now = 0
  const slept: number[] = []
  return {
    slept,
    now: () => now,
    sleep: async ms => {
      slept.push(ms)
      now += ms
    },
    random: () => random
  }
}

const POLICY: RetryPolicy = { attempts: 4, baseMs: 100, maxDelayMs: 1000, totalMs: 10_000 }

describe('backoff', () => {
  test('doubles, with jitter in the upper half, capped', () => {
    assert.equal(backoffDelay(POLICY, 1, 0), 50)
    assert.equal(backoffDelay(POLICY, 1, 0.999), 100)
    assert.equal(backoffDelay(POLICY, 3, 1), 400)
    assert.equal(backoffDelay(POLICY, 10, 1), 1000)
  })
  test('Retry-After is honoured, within the cap', () => {
    assert.equal(backoffDelay(POLICY, 1, 0, 700), 700)
    assert.equal(backoffDelay(POLICY, 1, 0, 60_000), 1000)
  })
})

describe('withRetry', () => {
  test('retries 429/500/503 and a reset connection, then succeeds', async () => {
    const clock = fakeClock()
    const failures: unknown[] = [
      new FakeApiException(500),
      new FakeApiException(429, '', { 'retry-after': '0.3' }),
      Object.assign(new TypeError('fetch failed'), {
        cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })
      })
    ]
    let calls = 0
    const value = await withRetry(
      async () => {
        calls++
        const failure = failures.shift()
        if (failure) throw failure
        return 'ok'
      },
      { policy: POLICY, clock }
    )
    assert.equal(value, 'ok')
    assert.equal(calls, 4)
    assert.deepEqual(clock.slept, [75, 300, 300])
  })

  test('stops after `attempts`', async () => {
    const clock = fakeClock()
    let calls = 0
    await assert.rejects(
      withRetry(
        async () => {
          calls++
          throw new FakeApiException(503)
        },
        { policy: POLICY, clock }
      )
    )
    assert.equal(calls, POLICY.attempts)
  })

  test('stops when the total time would be exceeded', async () => {
    const clock = fakeClock(1)
    let calls = 0
    await assert.rejects(
      withRetry(
        async () => {
          calls++
          throw new FakeApiException(502)
        },
        { policy: { attempts: 100, baseMs: 100, maxDelayMs: 1000, totalMs: 1400 }, clock }
      )
    )
    // 100 + 200 + 400 = 700; + 800 would pass 1400
    assert.equal(calls, 4)
    assert.ok(clock.now() <= 1400)
  })

  test('409 only when asked (idempotent writes); 403, 404 and 400 never', async () => {
    for (const code of [403, 404, 400, 409]) {
      let calls = 0
      await assert.rejects(
        withRetry(
          async () => {
            calls++
            throw new FakeApiException(code)
          },
          { policy: POLICY, clock: fakeClock() }
        )
      )
      assert.equal(calls, 1, `HTTP ${code}`)
    }
    assert.equal(retryDecision(new FakeApiException(409), true).retry, true)
    assert.equal(
      retryDecision(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })).retry,
      false
    )
  })
})

describe('translateError', () => {
  const ctx = { server: 'https://k8s.test:6443', user: 'kube-user' }
  const op = { verb: 'create', resource: 'serviceaccounts/token', namespace: 'vm', name: 'mysql' }

  test('401', () => {
    const e = translateError(new FakeApiException(401), ctx, op)
    assert.equal(
      e.message,
      "unauthorized: the kubeconfig's credentials were refused by https://k8s.test:6443"
    )
    assert.equal(e.kind, 'unauthorized')
  })

  test('403 names the user from the server, the verb and the resource', () => {
    const body = JSON.stringify({
      kind: 'Status',
      message:
        'serviceaccounts "mysql" is forbidden: User "system:serviceaccount:ci:deployer" cannot create resource "serviceaccounts/token"'
    })
    const e = translateError(new FakeApiException(403, body), ctx, op)
    assert.match(
      e.message,
      /^forbidden: system:serviceaccount:ci:deployer cannot create serviceaccounts\/token in namespace vm/
    )
    const bare = translateError(new FakeApiException(403), ctx, {
      verb: 'list',
      resource: 'mutatingwebhookconfigurations'
    })
    assert.match(
      bare.message,
      /^forbidden: kube-user cannot list mutatingwebhookconfigurations at the cluster scope/
    )
  })

  test('unreachable names the server and the innermost cause', () => {
    const error = Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), {
        code: 'ECONNREFUSED'
      })
    })
    const e = translateError(error, ctx, op)
    assert.equal(e.kind, 'unreachable')
    assert.equal(
      e.message,
      'cannot reach the Kubernetes API at https://k8s.test:6443: connect ECONNREFUSED 127.0.0.1:6443'
    )
  })

  test('other statuses keep the server message', () => {
    const e = translateError(
      new FakeApiException(422, JSON.stringify({ message: 'spec.ports: Invalid value' })),
      ctx,
      {
        verb: 'patch',
        resource: 'services',
        namespace: 'vm',
        name: 'web'
      }
    )
    assert.ok(e instanceof ClusterError)
    assert.equal(e.kind, 'invalid')
    assert.equal(
      e.message,
      'patch services web in namespace vm: HTTP 422: spec.ports: Invalid value'
    )
  })
})

describe('the default budget and failures that pass', () => {
  test('an unanswered request (the client timed it out) is sent once more, and only once', async () => {
    let now = 0
    const clock: RetryClock = {
      now: () => now,
      sleep: async ms => void (now += ms),
      random: () => 0.5
    }
    let calls = 0
    await assert.rejects(
      withRetry(
        async () => {
          calls++
          now += REQUEST_TIMEOUT_MS
          throw Object.assign(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`), {
            code: 'ETIMEDOUT'
          })
        },
        { policy: DEFAULT_RETRY, clock }
      ),
      /no answer/
    )
    assert.equal(calls, 2)
  })

  test('transient: no answer, dropped or unaccepted connections, overload; not refusals', () => {
    const ctx = { server: 'https://198.18.0.1:6443', user: 'u' }
    const op = { verb: 'create', resource: 'serviceaccounts/token' }
    const network = (code: string, message: string): Error =>
      translateError(
        Object.assign(new TypeError('fetch failed'), {
          cause: Object.assign(new Error(message), { code })
        }),
        ctx,
        op
      )
    const transient = [
      // the 100-host bench: a server too busy to finish the TLS handshake in 10 s
      network(
        'UND_ERR_CONNECT_TIMEOUT',
        'Connect Timeout Error (attempted address: 198.18.0.1:6443, timeout: 10000ms)'
      ),
      network('ETIMEDOUT', 'no answer within 30000 ms'),
      network('ECONNRESET', 'read ECONNRESET'),
      network('ECONNREFUSED', 'connect ECONNREFUSED 198.18.0.1:6443'),
      translateError(new FakeApiException(429), ctx, op),
      translateError(new FakeApiException(503), ctx, op),
      new FakeApiException(500),
      Object.assign(new Error('socket'), { code: 'UND_ERR_SOCKET' })
    ]
    for (const error of transient) assert.equal(transientApiFailure(error), true, String(error))
    const lasting = [
      translateError(new FakeApiException(401), ctx, op),
      translateError(new FakeApiException(403), ctx, op),
      translateError(new FakeApiException(404), ctx, op),
      translateError(new FakeApiException(422), ctx, op),
      network('ENOTFOUND', 'getaddrinfo ENOTFOUND k8s.example'),
      network('CERT_HAS_EXPIRED', 'certificate has expired'),
      new ClusterError('server', 'the TokenRequest answer holds no token', 0),
      new Error('something else')
    ]
    for (const error of lasting) assert.equal(transientApiFailure(error), false, String(error))
  })
})
