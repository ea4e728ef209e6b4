import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  countApiRequests,
  evaluateTargets,
  planRows,
  ratios,
  runDetails,
  scaleRows,
  toolRequests,
  type FleetRun,
  type Target
} from '../../bench/results.ts'

function run(overrides: Partial<FleetRun>): FleetRun {
  return {
    tool: 'product',
    hosts: 1,
    rttMs: 50,
    wallMs: 1000,
    ready: 1,
    failed: 0,
    sshLogins: 1,
    connectionsPerHost: 1,
    channelsPerHost: 2,
    bytesSent: 1000,
    apiRequests: 10,
    apiWrites: 3,
    peakRssKiB: 80_000,
    ...overrides
  }
}

const fleet: FleetRun[] = [
  run({ hosts: 1, wallMs: 1000 }),
  run({ hosts: 30, wallMs: 2500, ready: 30, sshLogins: 30 }),
  run({ tool: 'baseline', hosts: 30, wallMs: 20_000, ready: 30, sshLogins: 600 }),
  run({ tool: 'baseline', hosts: 1, wallMs: 700 })
]
const rerun = {
  hosts: 30,
  rttMs: 50,
  wallMs: 1500,
  clusterWrites: 0,
  apiWrites: 0,
  changedHosts: 0,
  restartedHosts: 0,
  ready: 30
}

describe('bench targets', () => {
  it('are all met when every number is within its target', () => {
    const targets = evaluateTargets({
      fleet,
      rerun,
      startup: [
        { what: 'dist/main.js plan', medianMs: 250 },
        { what: 'bare node (floor)', medianMs: 40, exitMedianMs: 45 },
        { what: 'dist/main.js validate', medianMs: 90, exitMedianMs: 140 },
        { what: 'dist/cli.js validate', medianMs: 60, exitMedianMs: 70 }
      ]
    })
    assert.equal(targets.length, 7)
    assert.deepEqual(
      targets.map(t => t.met),
      [true, true, true, true, true, true, null]
    )
    assert.equal(
      targets[5]?.measured,
      'dist/main.js validate: +95 ms, dist/cli.js validate: +25 ms'
    )
    assert.match(targets[2]?.measured ?? '', /8\.0× faster/)
  })

  it('are not met where a number misses, and not measured where it is absent', () => {
    const targets = evaluateTargets({
      fleet: [
        run({ hosts: 1, wallMs: 1000 }),
        // an extra login per host (e.g. a second connection for the checks) and a slow fleet
        run({ hosts: 30, wallMs: 3100, ready: 30, sshLogins: 60 }),
        run({ tool: 'baseline', hosts: 30, wallMs: 12_000, ready: 30 })
      ],
      rerun: { ...rerun, apiWrites: 2, restartedHosts: 1 },
      startup: []
    })
    assert.deepEqual(
      targets.map(t => t.met),
      [false, false, false, false, null, null, null]
    )
    assert.match(targets[0]?.measured ?? '', /2 SSH login\(s\) per host/)
  })

  it('validate more than 100 ms over bare Node to exit on one path is a miss', () => {
    const targets = evaluateTargets({
      fleet,
      rerun,
      startup: [
        { what: 'bare node (floor)', medianMs: 40, exitMedianMs: 45 },
        { what: 'dist/main.js validate', medianMs: 300, exitMedianMs: 350 },
        { what: 'dist/cli.js validate', medianMs: 60, exitMedianMs: 70 }
      ]
    })
    assert.equal(targets[5]?.met, false)
  })

  it('counts a fleet with a host not ready as a miss, however fast', () => {
    const targets = evaluateTargets({
      fleet: [run({ hosts: 1 }), run({ hosts: 30, wallMs: 1200, ready: 29 })],
      rerun: undefined,
      startup: []
    })
    assert.equal(targets[1]?.met, false)
    assert.equal(targets[2]?.met, null)
    assert.equal(targets[3]?.met, null)
  })
})

describe('bench 100-host target', () => {
  const hundred = run({ hosts: 100, rttMs: 0, parallelism: 100, ready: 100, wallMs: 200_000 })
  const again = {
    ...rerun,
    hosts: 100,
    rttMs: 0,
    parallelism: 100,
    ready: 100,
    wallMs: 40_000
  }
  const scale = (fleetRuns: FleetRun[], reruns: (typeof again)[]): Target | undefined =>
    evaluateTargets({ fleet: fleetRuns, rerun: undefined, reruns, startup: [] })[6]

  it('is met by every host ready at parallelism 100 and a re-run that writes nothing', () => {
    const target = scale([hundred, run({ hosts: 100, rttMs: 0, parallelism: 10 })], [again])
    assert.equal(target?.met, true)
    assert.match(target?.measured ?? '', /^100\/100 ready in 200\.00 s/)
  })

  it('is missed by a host not ready, by a re-run that writes, or without its re-run', () => {
    assert.equal(scale([{ ...hundred, ready: 4 }], [again])?.met, false)
    assert.equal(scale([hundred], [{ ...again, apiWrites: 1 }])?.met, false)
    assert.equal(scale([hundred], [{ ...again, parallelism: 10 }])?.met, false)
    assert.equal(scale([run({ hosts: 100, parallelism: 10, ready: 100 })], [])?.met, null)
  })
})

describe('bench per-host figures', () => {
  it('divides by the hosts, compares memory with the 1-host run and time with the CPU floor', () => {
    const rows = scaleRows(
      [
        run({ hosts: 1, rttMs: 0, peakRssKiB: 150 * 1024, runnerCpuSec: 1.2, vmCpuSec: 4.8 }),
        run({
          hosts: 100,
          rttMs: 0,
          parallelism: 10,
          ready: 100,
          wallMs: 165_000,
          peakRssKiB: 249 * 1024,
          runnerCpuSec: 11.4,
          vmCpuSec: 288.6,
          apiRequests: 520,
          bytesSent: 23_700_000
        }),
        run({ tool: 'baseline', hosts: 1, rttMs: 0 })
      ],
      2
    )
    assert.equal(rows.length, 2)
    assert.deepEqual(rows[1], {
      hosts: 100,
      rttMs: 0,
      parallelism: 10,
      ready: 100,
      wallSec: 165,
      runnerCpuMsPerHost: 114,
      peakRssMiB: 249,
      rssMiBPerHost: 2.5,
      rssIncrementMiB: 99,
      rssIncrementKiBPerHost: 1024,
      apiRequestsPerHost: 5.2,
      bytesPerHost: 237_000,
      cpuFloorSec: 150,
      wallOverFloor: 1.1
    })
    assert.equal(rows[0]?.rssIncrementMiB, null)
    assert.equal(rows[0]?.cpuFloorSec, 3)
  })

  it('says nothing it did not measure', () => {
    const [row] = scaleRows([run({ hosts: 10, peakRssKiB: null, runnerCpuSec: null })], 2)
    assert.equal(row?.runnerCpuMsPerHost, null)
    assert.equal(row?.rssIncrementMiB, null)
    assert.equal(row?.cpuFloorSec, null)
    assert.equal(row?.wallOverFloor, null)
  })
})

describe('bench row selection', () => {
  it('keeps the rows measured before and adds 100 hosts at 100 and at 10, at 0 ms only', () => {
    assert.deepEqual(planRows('1,10,30,100@0', undefined, 0), [
      { hosts: 1, parallelism: [1] },
      { hosts: 10, parallelism: [10] },
      { hosts: 30, parallelism: [30] },
      { hosts: 100, parallelism: [100, 10] }
    ])
    assert.deepEqual(
      planRows('1,10,30,100@0', undefined, 50).map(r => r.hosts),
      [1, 10, 30]
    )
  })

  it('runs each count at each parallelism asked for, capped at the count, once', () => {
    assert.deepEqual(planRows('100', '10,100', 0), [{ hosts: 100, parallelism: [10, 100] }])
    assert.deepEqual(planRows('1,100', '100,10', 0), [
      { hosts: 1, parallelism: [1] },
      { hosts: 100, parallelism: [100, 10] }
    ])
    assert.deepEqual(planRows('0,101,x,5', '', 0), [{ hosts: 5, parallelism: [5] }])
  })
})

describe('bench run details from the report', () => {
  const host = (name: string, overrides: Record<string, unknown>) =>
    ({
      host: name,
      status: 'ok',
      changed: true,
      restarted: true,
      ready: true,
      package: 'installed',
      phases: [],
      logs: [],
      stats: { connections: 1, channels: 2, bytesSent: 0, bytesReceived: 0 },
      totalMs: 1000,
      ...overrides
    }) as never

  it('counts retries and groups failures by their words, hosts and addresses left out', () => {
    const dial = (ip: string): string =>
      `failed to warm certificate: dial tcp ${ip}:15012: i/o timeout`
    const details = runDetails({
      concurrency: [
        { atMs: 0, limit: 4 },
        { atMs: 900, limit: 2 }
      ],
      hosts: [
        host('mxlab-vm1', { attempts: 1 }),
        host('mxlab-vm2', { attempts: 3 }),
        ...['198.18.0.2', '198.18.0.3'].map((ip, i) =>
          host(`mxlab-vm${i + 3}`, {
            status: 'failed',
            ready: false,
            attempts: 3,
            error: { phase: 'ready', message: 'not ready' },
            diagnosis: { cause: 'control-plane', reason: dial(ip) },
            logs: ['istio.log: a', 'istio.log: b']
          })
        ),
        host('mxlab-vm5', {
          status: 'failed',
          error: { phase: 'connect', message: 'mxlab-vm5 (198.18.2.6): timed out' }
        })
      ]
    })
    assert.deepEqual(details.concurrency, [
      { atMs: 0, limit: 4 },
      { atMs: 900, limit: 2 }
    ])
    assert.equal(details.retriedHosts, 3)
    assert.equal(details.retries, 6)
    assert.deepEqual(details.failureReasons, {
      'control-plane: failed to warm certificate: dial tcp [ip]: i/o timeout': 2,
      'connect: [vm] ([ip]): timed out': 1
    })
    assert.equal(details.failures.length, 3)
    assert.deepEqual(details.failures[0], {
      host: 'mxlab-vm3',
      phase: 'ready',
      message: 'not ready',
      attempts: 3,
      diagnosis: { cause: 'control-plane', reason: dial('198.18.0.2') },
      logs: ['istio.log: a', 'istio.log: b']
    })
  })
})

describe('bench ratios', () => {
  it('pairs each baseline with the product run of the same size and RTT', () => {
    assert.deepEqual(ratios(fleet), [
      { hosts: 1, rttMs: 50, productMs: 1000, baselineMs: 700, speedup: 0.7 },
      { hosts: 30, rttMs: 50, productMs: 2500, baselineMs: 20_000, speedup: 8 }
    ])
  })
})

describe('bench API request counts', () => {
  it('counts object writes, not TokenRequests, exec or reviews', () => {
    const counts = countApiRequests([
      { verb: 'get', resource: 'configmaps' },
      { verb: 'list', resource: 'services' },
      { verb: 'patch', resource: 'workloadgroups' },
      { verb: 'create', resource: 'serviceaccounts/token' },
      { verb: 'create', resource: 'pods/exec' },
      { verb: 'create', resource: 'tokenreviews' },
      { verb: 'delete', resource: 'workloadentries' }
    ])
    assert.deepEqual(counts, { requests: 7, writes: 2, tokens: 1 })
  })
})

describe('bench tool requests', () => {
  it("keeps our Kubernetes client's requests, not the istiod stand-in's", () => {
    const entries = [
      { verb: 'get', userAgent: 'kubernetes-client-javascript/2.0.1' },
      { verb: 'create', userAgent: undefined },
      { verb: 'patch', userAgent: '' }
    ]
    assert.deepEqual(toolRequests(entries), [entries[0]])
  })
})
