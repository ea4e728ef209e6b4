import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  countApiRequests,
  evaluateTargets,
  ratios,
  toolRequests,
  type FleetRun
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
    assert.equal(targets.length, 6)
    assert.deepEqual(
      targets.map(t => t.met),
      [true, true, true, true, true, true]
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
      [false, false, false, false, null, null]
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
