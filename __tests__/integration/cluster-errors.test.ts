// Failures against the sandbox API: forbidden (the message names the missing verb and
// resource), unauthorized, unreachable, and 409 / 500 / 429 / dropped connections retried with
// bounded backoff.
import assert from 'node:assert/strict'
import { createServer, type AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import {
  apply,
  ClusterError,
  connect,
  desiredObjects,
  discover,
  mintToken,
  plan,
  type Discovery
} from '../../src/cluster/index.ts'
import type { SandboxCluster } from '../../lab/cluster/index.ts'
import {
  BASIC,
  connectTo,
  describe_,
  FAST_RETRY,
  sandbox,
  type Connected
} from './cluster-helpers.ts'

describe('errors and retries', () => {
  let sb: SandboxCluster
  let c: Connected
  let discovery: Discovery
  const description = describe_(BASIC)
  const own = { owner: 'errors', createdAt: '2026-11-23T10:00:00Z' }

  before(async () => {
    // refusals come from the deny list alone (any other request of a test user is allowed)
    sb = await sandbox({ authorization: 'AlwaysAllow' })
    c = await connectTo(sb.kubeconfig)
    discovery = await discover(c.connection.client, description.cluster)
  })
  after(async () => {
    await c?.connection.close()
    await sb?.close()
  })

  test('a forbidden TokenRequest names the user, the verb and the resource', async () => {
    await apply(
      c.connection.client,
      await plan(c.connection.client, desiredObjects(description, discovery, own))
    )
    const token = sb.issueUserToken('ci-bot')
    sb.deny('ci-bot', 'create', 'serviceaccounts/token')
    const bot = await connectTo(sb.kubeconfigFor(token, 'ci-bot'))
    try {
      await assert.rejects(mintToken(bot.connection.client, 'vm', 'mysql'), (e: unknown) => {
        assert.ok(e instanceof ClusterError)
        assert.equal(e.kind, 'forbidden')
        assert.match(
          e.message,
          /^forbidden: ci-bot cannot create serviceaccounts\/token in namespace vm/
        )
        assert.ok(!e.message.includes(token), 'no credential in the message')
        return true
      })
    } finally {
      await bot.connection.close()
    }
  })

  test('forbidden discovery names the missing permission', async () => {
    const token = sb.issueUserToken('reader')
    sb.deny('reader', 'list', 'deployments')
    const reader = await connectTo(sb.kubeconfigFor(token, 'reader'))
    try {
      await assert.rejects(
        discover(reader.connection.client, description.cluster),
        /forbidden: reader cannot list deployments in namespace istio-system/
      )
    } finally {
      await reader.connection.close()
    }
  })

  test('unauthorized: the credentials were refused by the server', async () => {
    await assert.rejects(
      connectTo(sb.kubeconfigFor('not-a-valid-token', 'stranger')).then(async x => {
        try {
          await x.connection.client.get({ apiVersion: 'v1', kind: 'Namespace', name: 'vm' })
        } finally {
          await x.connection.close()
        }
      }),
      (e: unknown) => {
        assert.ok(e instanceof ClusterError)
        assert.equal(
          e.message,
          `unauthorized: the kubeconfig's credentials were refused by ${sb.url}`
        )
        return true
      }
    )
  })

  test('unreachable: the message names the server and the cause', async () => {
    // a port that was free a moment ago: nothing listens there
    const probe = createServer()
    await new Promise<void>(resolve => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as AddressInfo).port
    await new Promise<void>(resolve => probe.close(() => resolve()))
    const dead = sb.kubeconfig.replace(sb.url, `https://127.0.0.1:${port}`)
    await assert.rejects(
      connect({ kubeconfigContent: dead, env: {}, retry: FAST_RETRY }),
      (e: unknown) => {
        assert.ok(e instanceof ClusterError)
        assert.equal(e.kind, 'unreachable')
        assert.match(
          e.message,
          /^cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/
        )
        return true
      }
    )
  })

  test('a 409 on apply is retried and the apply completes', async () => {
    const changed = describe_(BASIC.replace('version: v1}', 'version: v2}'))
    const p = await plan(c.connection.client, desiredObjects(changed, discovery, own))
    sb.requestLog.clear()
    const fault = sb.faults.add({
      match: { verb: 'patch', resource: 'workloadgroups' },
      status: 409,
      times: 2
    })
    const result = await apply(c.connection.client, p)
    assert.equal(fault.hits, 2)
    const statuses = sb.requestLog
      .filter({ verb: 'patch', resource: 'workloadgroups' })
      .map(e => e.status)
    assert.deepEqual(statuses, [409, 409, 200])
    assert.ok(result.written.some(e => e.kind === 'WorkloadGroup'))
    assert.equal(
      (
        sb.store.get('workloadgroups', 'vm', 'mysql')?.spec as {
          metadata: { labels: Record<string, string> }
        }
      ).metadata.labels.version,
      'v2'
    )
  })

  test('500 and 429 answers and a dropped connection are retried', async () => {
    sb.requestLog.clear()
    sb.faults.add({ match: { verb: 'get', resource: 'configmaps' }, status: 500, times: 1 })
    sb.faults.add({
      match: { verb: 'get', resource: 'configmaps' },
      status: 429,
      retryAfterSeconds: 0,
      times: 1
    })
    sb.faults.add({ match: { verb: 'get', resource: 'configmaps' }, drop: true, times: 1 })
    const again = await discover(c.connection.client, description.cluster)
    assert.equal(again.clusterID, discovery.clusterID)
    const statuses = sb.requestLog.filter({ resource: 'configmaps' }).map(e => e.status)
    assert.deepEqual(statuses.filter(s => s !== 200).sort(), [0, 429, 500])
    assert.ok(
      c.logs.some(l => /^retrying get configmaps in \d+ ms/.test(l)),
      c.logs.join('\n')
    )
  })

  test('retries are bounded: a server that keeps failing gets exactly `attempts` requests', async () => {
    sb.requestLog.clear()
    const fault = sb.faults.add({
      match: { verb: 'get', resource: 'namespaces' },
      status: 503,
      retryAfterSeconds: 0
    })
    try {
      await assert.rejects(
        c.connection.client.get({ apiVersion: 'v1', kind: 'Namespace', name: 'vm' }),
        (e: unknown) => e instanceof ClusterError && /HTTP 503/.test(e.message)
      )
      assert.equal(sb.requestLog.count({ resource: 'namespaces' }), FAST_RETRY.attempts)
    } finally {
      fault.remove()
    }
  })

  test('a 403 or 404 is never retried', async () => {
    sb.requestLog.clear()
    const fault = sb.faults.add({
      match: { verb: 'get', resource: 'services' },
      status: 403,
      times: 1
    })
    await assert.rejects(
      c.connection.client.get({ apiVersion: 'v1', kind: 'Service', name: 'x', namespace: 'vm' }),
      /forbidden: admin cannot get services in namespace vm/
    )
    assert.equal(fault.hits, 1)
    assert.equal(sb.requestLog.count({ resource: 'services' }), 1)
  })
})

describe('a server that does not answer', () => {
  test('a request without an answer times out and is retried; a dead one ends with a clear error', async () => {
    const sb = await sandbox()
    const logs: string[] = []
    const conn = await connect({
      kubeconfigContent: sb.kubeconfig,
      env: {},
      retry: FAST_RETRY,
      requestTimeoutMs: 200,
      log: l => logs.push(l)
    })
    try {
      sb.faults.add({ match: { resource: 'namespaces' }, delayMs: 1000, times: 1 })
      const ns = await conn.client.get({
        apiVersion: 'v1',
        kind: 'Namespace',
        name: 'istio-system'
      })
      assert.equal(ns?.metadata.name, 'istio-system')
      assert.ok(
        logs.some(l => /retrying get namespaces .*no answer within 200 ms/.test(l)),
        logs.join('\n')
      )
      sb.faults.add({ match: { resource: 'services' }, delayMs: 1000 })
      await assert.rejects(
        conn.client.get({ apiVersion: 'v1', kind: 'Service', name: 'x', namespace: 'default' }),
        (e: unknown) =>
          e instanceof ClusterError &&
          e.kind === 'unreachable' &&
          /^cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1:\d+: .*no answer within 200 ms/.test(
            e.message
          )
      )
    } finally {
      await conn.close()
      await sb.close()
    }
  })
})
