import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  defaultScenarios,
  project,
  projectionInputs,
  renderProjection,
  roundTripsPerHost,
  waves,
  type ProjectionInputs
} from '../../bench/projection.ts'
import type { FleetRun } from '../../bench/results.ts'

function run(overrides: Partial<FleetRun>): FleetRun {
  return {
    tool: 'product',
    hosts: 1,
    rttMs: 0,
    wallMs: 5000,
    ready: 1,
    failed: 0,
    sshLogins: 1,
    connectionsPerHost: 1,
    channelsPerHost: 2,
    bytesSent: 200_000,
    apiRequests: 45,
    apiWrites: 5,
    peakRssKiB: 150 * 1024,
    runnerCpuSec: 1.1,
    ...overrides
  }
}

const one = run({ slowestHostPhases: { connect: 200, render: 50, exec: 2750, preflight: 200 } })
const hundred = run({
  hosts: 100,
  parallelism: 100,
  ready: 100,
  wallMs: 300_000,
  bytesSent: 20_000_000,
  apiRequests: 540,
  peakRssKiB: 249 * 1024,
  runnerCpuSec: 11
})

const inputs: ProjectionInputs = {
  oneHostRow: '1 host',
  fleetRow: '100 hosts',
  runnerCpuSecFixed: 1,
  runnerCpuSecPerHost: 0.1,
  rssMiBBase: 150,
  rssMiBPerHost: 1,
  apiRequestsFixed: 40,
  apiRequestsPerHost: 5,
  bytesPerHost: 200_000,
  hostSec: 3,
  rttMs: 0,
  fixedSec: 2,
  roundTripsPerHost: 40,
  roundTripsSource: 'measured'
}

const scenario = {
  hosts: 1000,
  shards: 1,
  parallelism: 10,
  rttMs: 50,
  istiodPerSec: 25,
  uplinkMbit: 100
}

describe('bench projection: waves of the adaptive limit', () => {
  it('doubles from its start up to parallelism, then goes parallelism at a time', () => {
    assert.equal(waves(4, 100), 1)
    assert.equal(waves(12, 100), 2) // 4 + 8
    assert.equal(waves(100, 100), 5) // 4 + 8 + 16 + 32 + 64
    assert.equal(waves(1000, 10), 101) // 4, 8, then 10 at a time: 12 + 988/10 rounded up
    assert.equal(waves(1000, 100), 14) // 124 in five waves, then 876 / 100 rounded up
    assert.equal(waves(3, 2), 2)
    assert.equal(waves(0, 10), 0)
  })
})

describe('bench projection: inputs from the measured runs', () => {
  it('draws a line through the 1-host run and the largest complete run', () => {
    const got = projectionInputs([
      one,
      run({ hosts: 10, ready: 10, apiRequests: 90 }),
      hundred,
      run({ hosts: 100, parallelism: 10, ready: 100, peakRssKiB: 200 * 1024 })
    ])
    assert.ok(got)
    assert.equal(got.fleetRow, '100 hosts at 0 ms, parallelism 100')
    assert.equal(got.runnerCpuSecPerHost, 0.1)
    assert.equal(got.runnerCpuSecFixed, 1)
    assert.equal(got.rssMiBBase, 150)
    assert.equal(got.rssMiBPerHost, 1)
    assert.equal(got.apiRequestsPerHost, 5)
    assert.equal(got.apiRequestsFixed, 40)
    assert.equal(got.bytesPerHost, 200_000)
    // connect + render + exec: the host's own phases run inside exec
    assert.equal(got.hostSec, 3)
    assert.equal(got.fixedSec, 2)
    assert.equal(got.roundTripsPerHost, null)
    assert.equal(got.roundTripsSource, 'not measured')
  })

  it('leaves out runs with a host not ready, and takes round trips from two RTTs', () => {
    const fleet = [
      one,
      run({ rttMs: 50, wallMs: 7000 }),
      { ...hundred, ready: 4 },
      run({ hosts: 10, ready: 10, apiRequests: 90, runnerCpuSec: 2.0 })
    ]
    assert.equal(roundTripsPerHost(fleet), 40)
    const got = projectionInputs(fleet, { value: 99, source: 'elsewhere' })
    assert.equal(got?.fleetRow, '10 hosts at 0 ms, parallelism 10')
    assert.equal(got?.roundTripsPerHost, 40)
    assert.equal(got?.roundTripsSource, 'the 1-host runs of this file at two RTTs')
  })

  it('takes round trips from elsewhere when the file measured one RTT, and needs a pair', () => {
    assert.equal(
      projectionInputs([one, hundred], { value: 45, source: 'x' })?.roundTripsPerHost,
      45
    )
    assert.equal(projectionInputs([one]), undefined)
    assert.equal(projectionInputs([hundred]), undefined)
    assert.equal(projectionInputs([run({}), hundred]), undefined) // no phase times
  })
})

describe('bench projection: one scenario', () => {
  it('one job at parallelism 10 is bound by its hosts, one wave after another', () => {
    const p = project(inputs, scenario)
    assert.equal(p.hostsPerJob, 1000)
    assert.equal(p.waves, 101)
    assert.equal(p.hostSec, 5) // 3 s + 40 round trips at 50 ms
    assert.equal(p.byHostsSec, 507)
    assert.equal(p.runnerCpuSec, 101)
    assert.equal(p.istiodSec, 40)
    assert.equal(p.uplinkSec, 16)
    assert.equal(p.bound, 'hosts')
    assert.equal(p.wallSec, 507)
    assert.equal(p.peakRssMiB, 1149)
    assert.equal(p.apiRequestsPerJob, 5040)
    assert.equal(p.apiRequestsTotal, 5040)
    assert.equal(p.bytesPerJob, 200_000_000)
  })

  it('one job at parallelism 100 is bound by the runner CPU', () => {
    const p = project(inputs, { ...scenario, parallelism: 100 })
    assert.equal(p.byHostsSec, 72) // 2 + 14 waves of 5 s
    assert.equal(p.bound, 'runner CPU')
    assert.equal(p.wallSec, 101)
    assert.equal(p.apiRequestsPerSec, 49.9)
  })

  it('ten shards share the control plane: bound by istiod, each with its own preflight', () => {
    const p = project(inputs, { ...scenario, shards: 10, parallelism: 100 })
    assert.equal(p.hostsPerJob, 100)
    assert.equal(p.waves, 5)
    assert.equal(p.byHostsSec, 27)
    assert.equal(p.runnerCpuSec, 11)
    assert.equal(p.istiodSec, 40)
    assert.equal(p.bound, 'istiod')
    assert.equal(p.peakRssMiB, 249)
    assert.equal(p.apiRequestsPerJob, 540)
    assert.equal(p.apiRequestsTotal, 5400)
    assert.equal(p.apiRequestsPerSec, 135)
  })

  it('counts only the RTT beyond the one the host time was measured at', () => {
    const at50 = { ...inputs, rttMs: 50, hostSec: 5 }
    assert.equal(project(at50, scenario).hostSec, 5)
    assert.equal(project(at50, { ...scenario, rttMs: 0 }).hostSec, 3)
    assert.equal(project({ ...inputs, roundTripsPerHost: null }, scenario).hostSec, 3)
  })
})

describe('bench projection: rendered', () => {
  it('states its inputs and assumptions and has a row per scenario', () => {
    const text = renderProjection(inputs)
    for (const words of [
      'Each VM has its own CPU',
      '40 round trips per host (measured',
      'at 50 ms RTT',
      'istiod admits 25 new sidecars per second',
      'PILOT_MAX_REQUESTS_PER_SECOND',
      'The API server answers without throttling',
      '100 Mbit/s',
      'runner CPU 1 s per job + 100 ms per host',
      'API requests 40 per job + 5 per host'
    ])
      assert.ok(text.includes(words), words)
    const rows = text.split('\n').filter(line => /^\| (1 job|10 shards)/.test(line))
    assert.equal(rows.length, defaultScenarios().length)
    assert.match(rows[3] ?? '', /^\| 10 shards × 100 \| 100 \| 100 \| 5 \|/)
  })

  it('says when the round trips were not measured', () => {
    const text = renderProjection({ ...inputs, roundTripsPerHost: null })
    assert.ok(text.includes('round trips per host not measured (RTT not counted)'))
  })
})
