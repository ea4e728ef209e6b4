// The adaptive limit (AIMD: +1 per host ready in good time, halved once per wave on a
// control-plane failure, within [1, parallelism]), the readiness classifier on the words the
// agent really logs, and the adaptive fan-out that uses both: a control-plane failure is tried
// again after the limit shrank, a host's own failure is final at once.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { AdaptiveLimit, ReadyPace, concurrencyLine } from '../../src/host/adaptive.ts'
import { busyDiagnosis, fanOut } from '../../src/host/fanout.ts'
import { emptyResult, type HostResult } from '../../src/host/onboard.ts'
import { diagnoseLine, diagnoseReadiness, diagnosisTail } from '../../src/host/readiness.ts'
import { hostFix } from '../../src/report/fixes.ts'
import { concurrencySummary } from '../../src/report/terminal.ts'
import { emptyReport } from '../../src/engine/report.ts'

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000
  return { now: () => t, advance: ms => (t += ms) }
}

describe('adaptive limit', () => {
  test('starts at min(parallelism, 4), grows by one per ready host up to parallelism', () => {
    const c = clock()
    const limit = new AdaptiveLimit({ max: 10, now: c.now })
    assert.equal(limit.limit, 4)
    for (let i = 0; i < 20; i++) {
      c.advance(100)
      limit.ready()
    }
    assert.equal(limit.limit, 10)
    assert.deepEqual(
      limit.series().map(p => p.limit),
      [4, 5, 6, 7, 8, 9, 10]
    )
    assert.equal(new AdaptiveLimit({ max: 3 }).limit, 3)
    assert.equal(new AdaptiveLimit({ max: 1 }).limit, 1)
    assert.equal(new AdaptiveLimit({ max: 100, initial: 500 }).limit, 100)
  })

  test('a host ready late in its budget holds the limit', () => {
    const limit = new AdaptiveLimit({ max: 10 })
    limit.ready(false)
    assert.equal(limit.limit, 4)
  })

  test('halves once per wave: hosts that started before the decrease do not shrink it again', () => {
    const c = clock()
    const limit = new AdaptiveLimit({ max: 16, initial: 16, now: c.now })
    const wave = Array.from({ length: 16 }, () => limit.started())
    c.advance(1000)
    assert.equal(limit.overloaded(wave[0]!), true)
    assert.equal(limit.limit, 8)
    for (const started of wave.slice(1)) assert.equal(limit.overloaded(started), false)
    assert.equal(limit.limit, 8)
    // a host started after the decrease and failing again: another halving
    const later = limit.started()
    c.advance(1000)
    limit.overloaded(later)
    assert.equal(limit.limit, 4)
    // never below 1
    for (let i = 0; i < 5; i++) {
      const s = limit.started()
      c.advance(10)
      limit.overloaded(s)
    }
    assert.equal(limit.limit, 1)
  })

  test('after a shrink it grows by one per wave (limit ready hosts), not per host', () => {
    const c = clock()
    const limit = new AdaptiveLimit({ max: 20, initial: 8, now: c.now })
    limit.overloaded(limit.started())
    assert.equal(limit.limit, 4)
    for (let i = 0; i < 3; i++) limit.ready()
    assert.equal(limit.limit, 4)
    limit.ready()
    assert.equal(limit.limit, 5)
    for (let i = 0; i < 5; i++) limit.ready()
    assert.equal(limit.limit, 6)
  })

  test('in good time: within the budget and not far slower than the fastest host so far', () => {
    const pace = new ReadyPace({ slowMs: 30_000 })
    // the first hosts set the pace; up to 5 s is always good time
    assert.equal(pace.inGoodTime(800), true)
    assert.equal(pace.inGoodTime(4_900), true)
    // readiness rising past 3 × the fastest: the control plane (or the machine) queues
    assert.equal(pace.inGoodTime(6_000), false)
    const slower = new ReadyPace({ slowMs: 30_000 })
    assert.equal(slower.inGoodTime(4_000), true)
    assert.equal(slower.inGoodTime(11_000), true)
    assert.equal(slower.inGoodTime(12_500), false)
    // never at or beyond the budget's cap, whatever the fastest
    const capped = new ReadyPace({ slowMs: 10_000, factor: 10 })
    assert.equal(capped.inGoodTime(9_000), true)
    assert.equal(capped.inGoodTime(10_000), false)
    // the defaults: no cap, factor 3, floor 5 s
    const plain = new ReadyPace()
    assert.equal(plain.inGoodTime(0), true)
    assert.equal(plain.inGoodTime(5_000), true)
    assert.equal(plain.inGoodTime(5_001), false)
  })

  test('the series is bounded and reads as one line', () => {
    const c = clock()
    const limit = new AdaptiveLimit({ max: 1000, initial: 1, maxSeries: 10, now: c.now })
    for (let i = 0; i < 100; i++) {
      c.advance(1)
      limit.ready()
    }
    const series = limit.series()
    assert.equal(series.length, 10)
    assert.equal(series[0]?.limit, 1)
    assert.equal(series.at(-1)?.limit, 101)
    assert.equal(limit.omitted, 91)
    assert.equal(
      concurrencyLine([
        { atMs: 0, limit: 4 },
        { atMs: 5, limit: 10 },
        { atMs: 9, limit: 5 }
      ]),
      '4 → 10 → 5'
    )
    assert.match(concurrencyLine(series, 4), /^1 → \d+ → … → \d+ → 101$/)
  })
})

// what the hosts sent back: install.sh's tail of istio.log (the stand-in agent's lines, in
// pilot-agent's shape) and its MX-FAIL
const T = '2026-12-07T10:00:00.000000Z'
const agent = (level: string, message: string): string =>
  `istio.log: ${T}\t${level}\tdefault\t${message}`
function notReady(logs: string[], rolledBack = false): HostResult {
  const result = emptyResult('vm-1', 'failed')
  result.rolledBack = rolledBack
  result.error = {
    phase: 'ready',
    message: rolledBack
      ? 'rolled-back: the new sidecar was not ready within 60s; the previous version is running again'
      : 'ready: the sidecar was not ready on :15021 within 60s; service stopped and disabled, iptables capture removed'
  }
  result.logs = [
    agent('info', 'Version 1.30.3-lab (mesh-expansion lab stand-in, not Istio)'),
    ...logs
  ]
  return result
}
const warm = (inner: string): string =>
  `failed to warm certificate: failed to generate workload certificate: create certificate: ${inner}`

describe('readiness classifier', () => {
  test('istiod unreachable or throttled: the control plane', () => {
    const cases = [
      // the stand-in agent's words (lab/mesh/sidecar/pilot-agent.py describe_network_error)
      warm(
        'rpc error: code = Unavailable desc = connection error: desc = "transport: dial tcp istiod.istio-system.svc:15012: i/o timeout"'
      ),
      warm(
        'rpc error: code = Unavailable desc = connection error: desc = "transport: dial tcp istiod.istio-system.svc:15012: connect: connection refused"'
      ),
      warm(
        'rpc error: code = Unavailable desc = connection error: desc = "transport: authentication handshake failed: read tcp 198.18.2.2:40112->198.18.0.2:15012: read: connection reset by peer"'
      ),
      // upstream's words, without the address (istio/istio#30784, #44557)
      warm(
        'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing dial tcp: i/o timeout"'
      ),
      // a reset in the middle of the CSR call (the stand-in's OSError)
      warm('rpc error: code = Unavailable desc = [Errno 104] Connection reset by peer'),
      // Envoy's stream, through pilot-agent (a scope with a space)
      'StreamAggregatedResources gRPC config stream closed: 14, connection error: desc = "transport: Error while dialing dial tcp: i/o timeout"',
      // XDS refused for rate (pilot/pkg/xds/ads.go)
      'ADS: rpc error: code = ResourceExhausted desc = request rate limit exceeded: context deadline exceeded',
      'ADS: istiod refused the connection: 503 {"code": "Unavailable"}',
      'rpc error: code = Unavailable desc = server is not ready to serve discovery information',
      // a stalled XDS stream in the lab's agent, and Go's read timeout, without an address: the
      // agent's only remote peer while it bootstraps is istiod (bench/results-100.json, vm70)
      "unexpected error: TimeoutError('The read operation timed out')",
      'read tcp 198.18.2.71:40112: read: connection timed out',
      // through the east-west gateway's address (given by the run)
      warm(
        'rpc error: code = Unavailable desc = connection error: desc = "transport: dial tcp 203.0.113.7:8012: i/o timeout"'
      )
    ]
    for (const line of cases) {
      const d = diagnoseReadiness(notReady([agent('error', line)]), ['203.0.113.7'])
      assert.equal(d?.cause, 'control-plane', line)
      assert.equal(d?.reason, line)
    }
    // the same, for a rolled-back host (exit 42)
    assert.equal(
      diagnoseReadiness(notReady([agent('error', cases[0]!)], true))?.cause,
      'control-plane'
    )
  })

  test("the host's own reasons: not retried", () => {
    const cases = [
      warm(
        'rpc error: code = Unavailable desc = connection error: desc = "transport: x509: certificate signed by unknown authority"'
      ),
      warm(
        'rpc error: code = Unauthenticated desc = authentication failure: the token audiences ["api"] do not include istio-ca'
      ),
      warm(
        'rpc error: code = InvalidArgument desc = CSR signing error (the requested key is not allowed for this workload)'
      ),
      warm(
        'rpc error: code = Unavailable desc = connection error: desc = "transport: dial tcp: lookup istiod.istio-system.svc: no such host"'
      ),
      'ADS: istiod refused the connection: 500 {"code": "Unknown", "message": "proxy metadata indicates that it must correspond to an existing WorkloadEntry, however WorkloadEntry vm/x is not found"}',
      // a timeout to something that is not the control plane
      'dial tcp 10.0.0.9:3306: i/o timeout',
      // the workload's own probe, or a local port, timing out
      'probe failed: timed out',
      "unexpected error: TimeoutError('The read operation timed out') reading 127.0.0.1:15000",
      // anything else the agent calls an error
      'iptables capture is not installed'
    ]
    for (const line of cases) {
      assert.equal(diagnoseReadiness(notReady([agent('error', line)]))?.cause, 'host', line)
    }
    // no error at all in the log: the host's (nothing says the control plane is at fault)
    assert.deepEqual(diagnoseReadiness(notReady([])), {
      cause: 'host',
      reason: 'the agent logged no error that names a cause'
    })
  })

  test('the newest error decides; info lines and the rollback note are skipped', () => {
    const timeout = warm(
      'rpc error: code = Unavailable desc = connection error: desc = "transport: dial tcp istiod.istio-system.svc:15012: i/o timeout"'
    )
    const x509 = warm(
      'rpc error: code = Unavailable desc = connection error: desc = "transport: x509: certificate signed by unknown authority"'
    )
    const result = notReady([
      agent('error', x509),
      agent('error', timeout),
      agent('info', 'generated new workload certificate'),
      'the new sidecar is not ready: putting back the previous one'
    ])
    assert.equal(diagnoseReadiness(result)?.cause, 'control-plane')
    assert.equal(
      diagnoseReadiness(notReady([agent('error', timeout), agent('error', x509)]))?.cause,
      'host'
    )
  })

  test('only readiness failures are classified', () => {
    const result = emptyResult('vm-1', 'failed')
    result.error = { phase: 'connect', message: 'connect ETIMEDOUT 198.18.2.2:22' }
    assert.equal(diagnoseReadiness(result), undefined)
    assert.equal(diagnoseReadiness(emptyResult('vm-1', 'ok')), undefined)
    assert.equal(diagnoseLine('generated new workload certificate'), undefined)
  })

  test('the diagnosis in words', () => {
    assert.equal(
      diagnosisTail({
        diagnosis: { cause: 'control-plane', reason: 'dial tcp x:15012: i/o timeout' },
        attempts: 3
      }),
      ' (the control plane, after 3 attempts: dial tcp x:15012: i/o timeout)'
    )
    assert.equal(
      diagnosisTail({ diagnosis: { cause: 'host', reason: 'x509: bad' }, attempts: 1 }),
      ' (this host: x509: bad)'
    )
    assert.equal(diagnosisTail({}), '')
    // the fix of a host the control plane failed (after its retries) points at the control plane
    const failed = notReady([agent('error', 'dial tcp istiod.istio-system.svc:15012: i/o timeout')])
    failed.diagnosis = diagnoseReadiness(failed)
    assert.equal(hostFix(failed).kind, 'control-plane')
    failed.diagnosis = { cause: 'host', reason: 'x509: bad' }
    assert.equal(hostFix(failed).kind, 'not-ready')
    // a render the API failed: the control plane too, and the fix names the API server
    const render = emptyResult('vm-1', 'failed')
    render.error = { phase: 'render', message: 'cannot reach the Kubernetes API: ETIMEDOUT' }
    render.diagnosis = { cause: 'control-plane', reason: render.error.message }
    assert.equal(hostFix(render).kind, 'control-plane')
    assert.match(hostFix(render).text, /Kubernetes API/)
  })
})

describe('adaptive fan-out', () => {
  const hosts = Array.from({ length: 12 }, (_, i) => ({ name: `vm-${i + 1}` }))
  const ok = (name: string): HostResult => {
    const r = emptyResult(name, 'ok')
    r.ready = true
    return r
  }
  const timeoutLine = warm(
    'rpc error: code = Unavailable desc = connection error: desc = "transport: dial tcp istiod.istio-system.svc:15012: i/o timeout"'
  )
  const fail = (name: string, line: string): HostResult => {
    const r = notReady([agent('error', line)])
    r.host = name
    return r
  }

  test('healthy: ramps from 4 to parallelism, never above the limit of the moment', async () => {
    let running = 0
    let peak = 0
    const report = await fanOut(
      hosts,
      async host => {
        running++
        peak = Math.max(peak, running)
        await sleep(2)
        running--
        return ok(host.name)
      },
      {
        parallelism: 8,
        failFast: false,
        maxFailures: null,
        adaptive: { diagnose: r => diagnoseReadiness(r) }
      }
    )
    assert.equal(report.ok, true)
    assert.ok(peak <= 8)
    assert.deepEqual(report.concurrency?.[0]?.limit, 4)
    assert.equal(report.concurrency?.at(-1)?.limit, 8)
    assert.ok(report.results.every(r => r.attempts === 1))
  })

  test('cleanup: handshakes that time out under load are tried again with fewer at once; a refused login is not', async () => {
    const connectFailed = (name: string, message: string): HostResult => {
      const r = emptyResult(name, 'failed')
      r.error = { phase: 'connect', message }
      return r
    }
    const calls = new Map<string, number>()
    let running = 0
    let peakWhileBusy = 0
    const report = await fanOut(
      hosts.slice(0, 8),
      async host => {
        const n = (calls.get(host.name) ?? 0) + 1
        calls.set(host.name, n)
        running++
        await sleep(5)
        const busy = running > 2 && n === 1
        if (busy) peakWhileBusy = Math.max(peakWhileBusy, running)
        running--
        if (host.name === 'vm-8')
          return connectFailed(host.name, 'mesh@vm-8:22: authentication failed (publickey)')
        return busy
          ? connectFailed(host.name, `mesh@${host.name}:22: no SSH handshake within 10000 ms`)
          : emptyResult(host.name, 'ok')
      },
      {
        parallelism: 8,
        failFast: false,
        maxFailures: null,
        adaptive: { diagnose: busyDiagnosis, retryDelayMs: () => 5 }
      }
    )
    const byName = new Map(report.results.map(r => [r.host, r]))
    assert.equal(byName.get('vm-8')?.status, 'failed')
    assert.equal(calls.get('vm-8'), 1, 'a refused login is the host’s own: not tried again')
    assert.equal(byName.get('vm-8')?.diagnosis, undefined)
    const retried = report.results.filter(r => (r.attempts ?? 1) > 1)
    assert.ok(retried.length > 0, 'some handshakes timed out at 4 at once')
    assert.ok(peakWhileBusy > 2)
    for (const r of retried) assert.equal(r.status, 'ok', `${r.host} ends cleaned`)
    assert.equal(report.failed, 1)
    assert.ok(
      (report.concurrency ?? []).some((p, i, all) => i > 0 && p.limit < (all[i - 1]?.limit ?? 0)),
      'the limit shrank'
    )
    assert.equal(busyDiagnosis(byName.get('vm-1') ?? emptyResult('x', 'ok')), undefined)
  })

  test('a burst refused by the control plane: the limit shrinks, those hosts are tried again and end ready', async () => {
    let istiodDownUntil = Date.now() + 60
    const calls = new Map<string, number>()
    let running = 0
    const peaks: number[] = []
    const report = await fanOut(
      hosts.slice(0, 6),
      async host => {
        calls.set(host.name, (calls.get(host.name) ?? 0) + 1)
        running++
        peaks.push(running)
        await sleep(10)
        running--
        return Date.now() < istiodDownUntil ? fail(host.name, timeoutLine) : ok(host.name)
      },
      {
        parallelism: 6,
        failFast: false,
        maxFailures: null,
        adaptive: { diagnose: r => diagnoseReadiness(r), retryDelayMs: () => 30, maxAttempts: 4 }
      }
    )
    istiodDownUntil = 0
    assert.equal(report.ok, true, JSON.stringify(report.results.map(r => [r.host, r.status])))
    const limits = report.concurrency?.map(p => p.limit) ?? []
    assert.equal(limits[0], 4)
    assert.ok(
      limits.some((l, i) => i > 0 && l < limits[i - 1]!),
      `no shrink in ${limits.join(',')}`
    )
    assert.ok(report.results.some(r => (r.attempts ?? 1) > 1))
    for (const r of report.results) assert.equal(r.attempts, calls.get(r.host))
    assert.match(
      concurrencySummary({
        ...emptyReport('apply', 'o'),
        hosts: report.results,
        concurrency: report.concurrency ?? []
      }),
      /^concurrency 4 → .*tried again for the control plane\)$/
    )
  })

  test("a host's own failure is final at once; control-plane failures stop after maxAttempts", async () => {
    const calls = new Map<string, number>()
    const report = await fanOut(
      hosts.slice(0, 3),
      async host => {
        calls.set(host.name, (calls.get(host.name) ?? 0) + 1)
        await sleep(1)
        if (host.name === 'vm-1')
          return fail(
            host.name,
            warm('rpc error: code = InvalidArgument desc = CSR signing error (refused)')
          )
        if (host.name === 'vm-2') return fail(host.name, timeoutLine)
        return ok(host.name)
      },
      {
        parallelism: 3,
        failFast: false,
        maxFailures: null,
        adaptive: { diagnose: r => diagnoseReadiness(r), retryDelayMs: () => 5, maxAttempts: 3 }
      }
    )
    assert.deepEqual(
      report.results.map(r => [r.host, r.status, r.attempts, r.diagnosis?.cause]),
      [
        ['vm-1', 'failed', 1, 'host'],
        ['vm-2', 'failed', 3, 'control-plane'],
        ['vm-3', 'ok', 1, undefined]
      ]
    )
    assert.equal(calls.get('vm-1'), 1)
    assert.equal(calls.get('vm-2'), 3)
    assert.equal(report.concurrency?.at(-1)?.limit, 1)
  })

  test('a render the Kubernetes API failed for a passing reason: the limit shrinks, the host is tried again and ends ready', async () => {
    const calls = new Map<string, number>()
    let running = 0
    let peak = 0
    const report = await fanOut(
      hosts.slice(0, 6),
      async host => {
        const call = (calls.get(host.name) ?? 0) + 1
        calls.set(host.name, call)
        running++
        peak = Math.max(peak, running)
        await sleep(5)
        running--
        if (call === 1 && host.name !== 'vm-1') {
          // what onboardHost gives for a render that threw ControlPlaneError
          const r = emptyResult(host.name, 'failed')
          r.error = {
            phase: 'render',
            message: 'cannot reach the Kubernetes API: UND_ERR_CONNECT_TIMEOUT'
          }
          r.diagnosis = { cause: 'control-plane', reason: r.error.message }
          return r
        }
        return ok(host.name)
      },
      {
        parallelism: 6,
        failFast: false,
        maxFailures: null,
        // as onboardFleet diagnoses: the host's own diagnosis first
        adaptive: { diagnose: r => r.diagnosis ?? diagnoseReadiness(r), retryDelayMs: () => 5 }
      }
    )
    assert.equal(report.ok, true)
    // vm-1 ready grew it to 5 before the failures came back
    assert.ok(peak <= 5, `peak ${peak}`)
    assert.deepEqual(
      report.results.map(r => r.attempts),
      [1, 2, 2, 2, 2, 2]
    )
    const limits = report.concurrency?.map(p => p.limit) ?? []
    assert.ok(limits.includes(2), `no shrink in ${limits.join(',')}`)
    // a render refused for good (a 403) is not retried: no diagnosis, final at once
    const refused = await fanOut(
      hosts.slice(0, 1),
      async host => {
        const r = emptyResult(host.name, 'failed')
        r.error = { phase: 'render', message: 'forbidden: u cannot create serviceaccounts/token' }
        return r
      },
      {
        parallelism: 1,
        failFast: false,
        maxFailures: null,
        adaptive: { diagnose: r => r.diagnosis ?? diagnoseReadiness(r), retryDelayMs: () => 5 }
      }
    )
    assert.equal(refused.results[0]?.attempts, 1)
  })

  test('the limit holds once readiness slows: it grows on hosts ready at the pace of the fastest only', async () => {
    let done = 0
    const report = await fanOut(
      hosts,
      async host => {
        await sleep(2)
        const r = ok(host.name)
        // the first four at 1 s, then every host at 20 s: the control plane queues
        r.phases = [{ name: 'ready', ms: done++ < 4 ? 1_000 : 20_000, ok: true }]
        return r
      },
      {
        parallelism: 12,
        failFast: false,
        maxFailures: null,
        adaptive: { diagnose: r => diagnoseReadiness(r), slowMs: 30_000 }
      }
    )
    assert.equal(report.ok, true)
    assert.deepEqual(
      report.concurrency?.map(p => p.limit),
      [4, 5, 6, 7, 8]
    )
  })

  test('a host waiting to be tried again when maxFailures stops the run keeps its failed result', async () => {
    const report = await fanOut(
      hosts.slice(0, 4),
      async host => {
        if (host.name === 'vm-1') return fail(host.name, timeoutLine)
        await sleep(10)
        return host.name === 'vm-2'
          ? fail(host.name, 'x509: certificate signed by unknown authority')
          : ok(host.name)
      },
      {
        parallelism: 2,
        failFast: false,
        maxFailures: 1,
        adaptive: { diagnose: r => diagnoseReadiness(r), initial: 2, retryDelayMs: () => 50 }
      }
    )
    assert.deepEqual(
      report.results.map(r => [r.host, r.status, r.attempts]),
      [
        ['vm-1', 'failed', 1],
        ['vm-2', 'failed', 1],
        ['vm-3', 'skipped', undefined],
        ['vm-4', 'skipped', undefined]
      ]
    )
  })

  test('failFast and maxFailures count final failures only; onResult once per host', async () => {
    const seen: string[] = []
    const report = await fanOut(
      hosts.slice(0, 5),
      async host =>
        host.name === 'vm-1'
          ? fail(host.name, 'x509: certificate signed by unknown authority')
          : ok(host.name),
      {
        parallelism: 1,
        failFast: true,
        maxFailures: null,
        onResult: r => seen.push(r.host),
        adaptive: { diagnose: r => diagnoseReadiness(r) }
      }
    )
    assert.equal(report.failed, 1)
    assert.equal(report.skipped, 4)
    assert.deepEqual(seen, ['vm-1'])
  })
})
