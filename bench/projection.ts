// A projection to fleets larger than the lab holds (1,000 hosts), from the per-host figures the
// benchmark measured: runner CPU, memory, API requests, bytes, and one host's time. For one job
// and for a matrix of shards. Pure: no I/O; every assumption is a parameter and is printed with
// the result.
import type { FleetRun } from './results.ts'

/** What the projection is computed from (all from one results file, except perhaps the round
 * trips, whose source is named). */
export interface ProjectionInputs {
  /** the rows used, in words */
  oneHostRow: string
  fleetRow: string
  /** runner CPU seconds: per run (start, preflight, prepare) and per host */
  runnerCpuSecFixed: number
  runnerCpuSecPerHost: number
  /** peak RSS of a 1-host run, and what each further host added */
  rssMiBBase: number
  rssMiBPerHost: number
  /** API requests of our client: per run and per host */
  apiRequestsFixed: number
  apiRequestsPerHost: number
  bytesPerHost: number
  /** one host, connect to ready, on an idle lab (the slowest host of the 1-host run) */
  hostSec: number
  /** the RTT of the 1-host run it was measured at */
  rttMs: number
  /** the rest of a 1-host run: process start, preflight, prepare, registration, report */
  fixedSec: number
  /** round trips one host's onboarding waits for, and where that figure comes from */
  roundTripsPerHost: number | null
  roundTripsSource: string
}

export interface Scenario {
  /** hosts in all */
  hosts: number
  /** jobs of a matrix (settings.shard), each on its own runner, all at once */
  shards: number
  /** settings.parallelism of each job */
  parallelism: number
  /** runner to host round-trip time */
  rttMs: number
  /** new sidecars the control plane admits per second (istiod's CSRs and XDS streams, all
   * replicas together) */
  istiodPerSec: number
  /** each runner's upload bandwidth */
  uplinkMbit: number
  /** where the adaptive limit starts (the product: min(parallelism, 4)) */
  initialLimit?: number
}

export interface Projection {
  scenario: Scenario
  hostsPerJob: number
  /** waves of hosts under the adaptive limit (doubling from its start up to parallelism) */
  waves: number
  /** one host at the scenario's RTT */
  hostSec: number
  /** what bounds each job's time, seconds each */
  byHostsSec: number
  runnerCpuSec: number
  istiodSec: number
  uplinkSec: number
  /** the largest of the four */
  wallSec: number
  bound: 'hosts' | 'runner CPU' | 'istiod' | 'uplink'
  peakRssMiB: number
  apiRequestsPerJob: number
  apiRequestsTotal: number
  /** all jobs' requests over the projected time (the API server sees the shards together) */
  apiRequestsPerSec: number
  bytesPerJob: number
}

const round = (value: number, digits = 1): number => {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

const RUNNER_PHASES = new Set(['connect', 'render', 'push', 'exec'])

const complete = (r: FleetRun): boolean =>
  r.tool === 'product' &&
  r.ready === r.hosts &&
  r.runnerCpuSec !== null &&
  r.runnerCpuSec !== undefined &&
  r.peakRssKiB !== null

const describeRow = (r: FleetRun): string =>
  `${r.hosts} host${r.hosts === 1 ? '' : 's'} at ${r.rttMs} ms, parallelism ${r.parallelism ?? r.hosts}`

/** Round trips per host: (1-host wall at R ms - 1-host wall at 0 ms) / R, the largest R
 * measured; null without both rows. */
export function roundTripsPerHost(fleet: readonly FleetRun[]): number | null {
  const ones = fleet.filter(r => r.tool === 'product' && r.hosts === 1 && r.ready === 1)
  const zero = ones.find(r => r.rttMs === 0)
  const far = ones.filter(r => r.rttMs > 0).sort((a, b) => b.rttMs - a.rttMs)[0]
  if (!zero || !far) return null
  return round(Math.max(0, far.wallMs - zero.wallMs) / far.rttMs)
}

/**
 * The per-host figures, as a line through the 1-host run and the largest complete run at the
 * same RTT (0 ms preferred; of equal sizes the highest parallelism, the most memory). Undefined
 * when the file has no such pair or no phase times for the 1-host run.
 */
export function projectionInputs(
  fleet: readonly FleetRun[],
  roundTrips?: { value: number | null; source: string }
): ProjectionInputs | undefined {
  const ones = fleet
    .filter(r => complete(r) && r.hosts === 1 && r.slowestHostPhases)
    .sort((a, b) => a.rttMs - b.rttMs)
  for (const one of ones) {
    const big = fleet
      .filter(r => complete(r) && r.hosts > 1 && r.rttMs === one.rttMs)
      .sort(
        (a, b) => b.hosts - a.hosts || (b.parallelism ?? b.hosts) - (a.parallelism ?? a.hosts)
      )[0]
    if (!big) continue
    const added = big.hosts - 1
    const slope = (y1: number, yN: number): number => Math.max(0, (yN - y1) / added)
    const cpuPerHost = slope(one.runnerCpuSec ?? 0, big.runnerCpuSec ?? 0)
    const rssPerHost = slope((one.peakRssKiB ?? 0) / 1024, (big.peakRssKiB ?? 0) / 1024)
    const apiPerHost = slope(one.apiRequests, big.apiRequests)
    const hostMs = Object.entries(one.slowestHostPhases ?? {})
      .filter(([name]) => RUNNER_PHASES.has(name))
      .reduce((sum, [, ms]) => sum + ms, 0)
    const measured = roundTripsPerHost(fleet)
    return {
      oneHostRow: describeRow(one),
      fleetRow: describeRow(big),
      runnerCpuSecFixed: round(Math.max(0, (one.runnerCpuSec ?? 0) - cpuPerHost), 2),
      runnerCpuSecPerHost: round(cpuPerHost, 3),
      rssMiBBase: round((one.peakRssKiB ?? 0) / 1024),
      rssMiBPerHost: round(rssPerHost, 2),
      apiRequestsFixed: round(Math.max(0, one.apiRequests - apiPerHost)),
      apiRequestsPerHost: round(apiPerHost, 2),
      bytesPerHost: Math.round(big.bytesSent / big.hosts),
      hostSec: round(hostMs / 1000, 2),
      rttMs: one.rttMs,
      fixedSec: round(Math.max(0, one.wallMs - hostMs) / 1000, 2),
      ...(measured !== null
        ? {
            roundTripsPerHost: measured,
            roundTripsSource: 'the 1-host runs of this file at two RTTs'
          }
        : {
            roundTripsPerHost: roundTrips?.value ?? null,
            roundTripsSource: roundTrips?.source ?? 'not measured'
          })
    }
  }
  return undefined
}

/** Waves of hosts under the adaptive limit when every host takes as long: it starts at
 * `initial`, and each host ready in good time adds one, so it doubles per wave up to
 * `parallelism`. */
export function waves(hosts: number, parallelism: number, initial = 4): number {
  const ceiling = Math.max(1, Math.floor(parallelism))
  let limit = Math.max(1, Math.min(ceiling, Math.floor(initial)))
  let left = Math.max(0, Math.floor(hosts))
  let count = 0
  while (left > 0) {
    const done = Math.min(limit, left)
    left -= done
    count++
    limit = Math.min(ceiling, limit + done)
  }
  return count
}

/** One scenario: per job (each shard is one job on its own runner, all at once). */
export function project(inputs: ProjectionInputs, scenario: Scenario): Projection {
  const shards = Math.max(1, Math.floor(scenario.shards))
  const hostsPerJob = Math.ceil(scenario.hosts / shards)
  const waveCount = waves(hostsPerJob, scenario.parallelism, scenario.initialLimit ?? 4)
  const hostSec = Math.max(
    0,
    inputs.hostSec + ((inputs.roundTripsPerHost ?? 0) * (scenario.rttMs - inputs.rttMs)) / 1000
  )
  const byHostsSec = inputs.fixedSec + waveCount * hostSec
  // the CLI's JavaScript runs on one thread: its CPU seconds are a floor on its time
  const runnerCpuSec = inputs.runnerCpuSecFixed + inputs.runnerCpuSecPerHost * hostsPerJob
  // the jobs share one control plane
  const istiodSec = scenario.istiodPerSec > 0 ? scenario.hosts / scenario.istiodPerSec : 0
  const bytesPerJob = inputs.bytesPerHost * hostsPerJob
  const uplinkSec = scenario.uplinkMbit > 0 ? (bytesPerJob * 8) / (scenario.uplinkMbit * 1e6) : 0
  const bounds: Array<[Projection['bound'], number]> = [
    ['hosts', byHostsSec],
    ['runner CPU', runnerCpuSec],
    ['istiod', istiodSec],
    ['uplink', uplinkSec]
  ]
  const [bound, wallSec] = bounds.reduce((a, b) => (b[1] > a[1] ? b : a))
  const apiRequestsPerJob = inputs.apiRequestsFixed + inputs.apiRequestsPerHost * hostsPerJob
  const apiRequestsTotal = apiRequestsPerJob * shards
  return {
    scenario,
    hostsPerJob,
    waves: waveCount,
    hostSec: round(hostSec, 2),
    byHostsSec: round(byHostsSec),
    runnerCpuSec: round(runnerCpuSec),
    istiodSec: round(istiodSec),
    uplinkSec: round(uplinkSec),
    wallSec: round(wallSec),
    bound,
    peakRssMiB: Math.round(inputs.rssMiBBase + inputs.rssMiBPerHost * (hostsPerJob - 1)),
    apiRequestsPerJob: Math.round(apiRequestsPerJob),
    apiRequestsTotal: Math.round(apiRequestsTotal),
    apiRequestsPerSec: round(wallSec > 0 ? apiRequestsTotal / wallSec : 0),
    bytesPerJob: Math.round(bytesPerJob)
  }
}

/** The assumptions every rendered projection states (and the defaults of its scenarios). */
export const PROJECTION_DEFAULTS = {
  hosts: 1000,
  rttMs: 50,
  istiodPerSec: 25,
  uplinkMbit: 100
} as const

/** 1,000 hosts: one job and a matrix of 10 shards, each at parallelism 10 and 100. */
export function defaultScenarios(
  base: Omit<Scenario, 'shards' | 'parallelism'> = PROJECTION_DEFAULTS
): Scenario[] {
  return [
    { ...base, shards: 1, parallelism: 10 },
    { ...base, shards: 1, parallelism: 100 },
    { ...base, shards: 10, parallelism: 10 },
    { ...base, shards: 10, parallelism: 100 }
  ]
}

const signed = (n: number): string => (n >= 0 ? `+${n}` : String(n))

function table(header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>): string => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

/** The projection as Markdown: its inputs, its assumptions in words, and one row a scenario. */
export function renderProjection(
  inputs: ProjectionInputs,
  scenarios: readonly Scenario[] = defaultScenarios()
): string {
  const projections = scenarios.map(s => project(inputs, s))
  const first = scenarios[0] ?? { ...PROJECTION_DEFAULTS, shards: 1, parallelism: 10 }
  const rtt =
    inputs.roundTripsPerHost === null
      ? `round trips per host not measured (RTT not counted)`
      : `${inputs.roundTripsPerHost} round trips per host (${inputs.roundTripsSource}; through the lab's relay, which delays every chunk of data, so bulk transfer counts too) at ${first.rttMs} ms RTT: ${signed(round((inputs.roundTripsPerHost * (first.rttMs - inputs.rttMs)) / 1000, 2))} s per host against the ${inputs.rttMs} ms run`
  const text = [
    `Per-host figures, a line through the runs of ${inputs.oneHostRow} and ${inputs.fleetRow}: ` +
      `runner CPU ${inputs.runnerCpuSecFixed} s per job + ${Math.round(inputs.runnerCpuSecPerHost * 1000)} ms per host; ` +
      `peak memory ${inputs.rssMiBBase} MiB + ${inputs.rssMiBPerHost} MiB per host; ` +
      `API requests ${inputs.apiRequestsFixed} per job + ${inputs.apiRequestsPerHost} per host; ` +
      `${inputs.bytesPerHost} bytes sent per host; one host ${inputs.hostSec} s from connect to ready ` +
      `and ${inputs.fixedSec} s of the run around it (the 1-host run at ${inputs.rttMs} ms, idle lab).`,
    'Assumptions:',
    [
      `- Each VM has its own CPU (a real fleet): one host takes as long as the lab's 1-host run, ` +
        `whatever the fleet's size (the lab's VMs share this machine's cores, which is why its ` +
        `large runs are slower than this). The lab's sidecar is a stand-in; a real Envoy's start differs.`,
      `- SSH: ${rtt}.`,
      `- The adaptive limit starts at min(parallelism, ${first.initialLimit ?? 4}) and doubles per wave ` +
        `of equally long hosts up to parallelism; no host is tried again (a healthy control plane).`,
      `- The CLI's JavaScript runs on one core: its CPU seconds bound the job's time from below.`,
      `- istiod admits ${first.istiodPerSec} new sidecars per second in all ` +
        `(\`PILOT_MAX_REQUESTS_PER_SECOND\`, 25 by default before Istio 1.21, from 1.21 scaled with ` +
        `istiod's CPUs; one CSR and one XDS stream per sidecar); the shards share it: ` +
        `hosts / that rate bounds every job's time.`,
      `- The API server answers without throttling (kube-apiserver's defaults allow 400 reads and ` +
        `200 writes in flight; the rate below is all jobs' requests over the projected time).`,
      `- Each runner uploads at ${first.uplinkMbit} Mbit/s (the package pushed from the runner).`,
      `- Memory grows linearly with the hosts of a job, as between the two runs above (an upper ` +
        `bound if it follows the hosts at once rather than all of them).`,
      `- A matrix's jobs each run on their own runner, all at once (the account's concurrent-job ` +
        `limit permitting), each with its own start and preflight.`
    ].join('\n'),
    table(
      [
        'run',
        'hosts per job',
        'parallelism',
        'waves',
        'one host s',
        'by hosts s',
        'runner CPU s',
        'istiod s',
        'uplink s',
        'projected s',
        'bound',
        'peak RSS MiB per job',
        'API requests per job',
        'API requests in all',
        'API requests/s',
        'MB sent per job'
      ],
      projections.map(p => [
        p.scenario.shards === 1
          ? `1 job, ${p.scenario.hosts} hosts`
          : `${p.scenario.shards} shards × ${p.hostsPerJob}`,
        p.hostsPerJob,
        p.scenario.parallelism,
        p.waves,
        p.hostSec,
        p.byHostsSec,
        p.runnerCpuSec,
        p.istiodSec,
        p.uplinkSec,
        p.wallSec,
        p.bound,
        p.peakRssMiB,
        p.apiRequestsPerJob,
        p.apiRequestsTotal,
        p.apiRequestsPerSec,
        round(p.bytesPerJob / 1e6)
      ])
    )
  ]
  return text.join('\n\n')
}
