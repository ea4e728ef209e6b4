// Pure parts of the benchmark: summaries of measured runs and the targets, met or not.
import type { RunReport } from '../src/engine/report.ts'

/** One onboarding of N hosts, by the product or by the baseline. */
export interface FleetRun {
  tool: 'product' | 'baseline'
  hosts: number
  rttMs: number
  /** process start (or first command) to every host ready */
  wallMs: number
  ready: number
  failed: number
  /** SSH logins the VMs' sshd accepted during the run (all hosts) */
  sshLogins: number
  /** per host, as the tool itself counts them */
  connectionsPerHost: number
  channelsPerHost: number
  bytesSent: number
  apiRequests: number
  apiWrites: number
  /** peak resident memory of the runner process, KiB (null when not measured) */
  peakRssKiB: number | null
  /** CPU seconds the runner process used (the product's CLI child) */
  runnerCpuSec?: number | null
  /** CPU seconds the lab VMs used during the run (all of them together) */
  vmCpuSec?: number | null
  /** how busy the whole machine was during the run, % of all cores */
  machineBusyPct?: number | null
  /** the product: its own report's duration (without Node's start-up) */
  engineMs?: number
  /** the product: phases of the slowest host, ms each */
  slowestHostPhases?: Record<string, number>
  /** the product's settings.parallelism (absent in results written before it was chosen: the
   * host count, every host at once) */
  parallelism?: number
  /** the product's adaptive limit over time, from its report (`concurrency`) */
  concurrency?: ConcurrencySample[]
  /** hosts tried again within the run (a control-plane reason), and the extra attempts */
  retriedHosts?: number
  retries?: number
  /** the machine's 1-minute load average: the highest sampled during the run, and at its end */
  loadAvgPeak?: number
  loadAvgEnd?: number
  /** failed hosts: how many per diagnosis (or error), and the first few in full */
  failureReasons?: Record<string, number>
  failures?: HostFailure[]
}

export interface ConcurrencySample {
  atMs: number
  limit: number
}

/** A host that ended failed, as the product's report tells it. */
export interface HostFailure {
  host: string
  phase: string
  message: string
  attempts: number
  /** control-plane | host, with the agent's line (a readiness failure) */
  diagnosis?: { cause: string; reason: string }
  /** the last lines the host sent back (istio.log, istio.err.log) */
  logs: string[]
}

export interface RerunResult {
  hosts: number
  rttMs: number
  wallMs: number
  /** objects the product wrote by server-side apply (its own report) */
  clusterWrites: number
  /** create/update/patch/delete requests the API server saw */
  apiWrites: number
  changedHosts: number
  restartedHosts: number
  ready: number
  /** as in FleetRun (the product's report and the machine during the re-run) */
  parallelism?: number
  failed?: number
  concurrency?: ConcurrencySample[]
  retriedHosts?: number
  retries?: number
  loadAvgPeak?: number
  failureReasons?: Record<string, number>
  failures?: HostFailure[]
}

export interface StartupSample {
  what: string
  medianMs: number
  /** process start to exit; absent in results written before it was measured */
  exitMedianMs?: number
}

export interface Target {
  target: string
  met: boolean | null
  measured: string
}

export interface TargetInputs {
  fleet: readonly FleetRun[]
  rerun: RerunResult | undefined
  startup: readonly StartupSample[]
  /** every re-run (the 100-host target looks for its own) */
  reruns?: readonly RerunResult[]
}

const fmt = (ms: number): string => `${(ms / 1000).toFixed(2)} s`

/** The run of that size and RTT; of the product's, the one with every host allowed at once
 * (the rows measured before parallelism was a choice), else the first. */
function find(
  runs: readonly FleetRun[],
  tool: FleetRun['tool'],
  hosts: number,
  rttMs: number
): FleetRun | undefined {
  const same = runs.filter(r => r.tool === tool && r.hosts === hosts && r.rttMs === rttMs)
  return same.find(r => (r.parallelism ?? r.hosts) >= r.hosts) ?? same[0]
}

/** The five targets of the issue, each met, not met, or not measured (null). */
export function evaluateTargets(inputs: TargetInputs): Target[] {
  const product = inputs.fleet.filter(r => r.tool === 'product')
  const targets: Target[] = []

  if (product.length === 0) {
    targets.push({
      target: 'per host: 1 SSH connection, ≤ 3 exec channels',
      met: null,
      measured: 'not measured'
    })
  } else {
    const logins = Math.max(...product.map(r => r.sshLogins / Math.max(1, r.hosts)))
    const connections = Math.max(...product.map(r => r.connectionsPerHost))
    const channels = Math.max(...product.map(r => r.channelsPerHost))
    targets.push({
      target: 'per host: 1 SSH connection, ≤ 3 exec channels',
      met: logins <= 1 && connections <= 1 && channels <= 3,
      measured: `worst run: ${connections} connection(s) and ${channels} channel(s) per host in the product's count; ${logins} SSH login(s) per host seen by sshd`
    })
  }

  const one = find(inputs.fleet, 'product', 1, 50)
  const thirty = find(inputs.fleet, 'product', 30, 50)
  targets.push(
    one && thirty
      ? {
          target: '30 hosts at 50 ms RTT ready in < 3× the single-host time',
          met: thirty.ready === 30 && thirty.wallMs < 3 * one.wallMs,
          measured: `1 host ${fmt(one.wallMs)}, 30 hosts ${fmt(thirty.wallMs)} (${(thirty.wallMs / one.wallMs).toFixed(2)}×)`
        }
      : {
          target: '30 hosts at 50 ms RTT ready in < 3× the single-host time',
          met: null,
          measured: 'not measured'
        }
  )

  const base = find(inputs.fleet, 'baseline', 30, 50)
  targets.push(
    base && thirty
      ? {
          target: '≥ 5× faster than the baseline at 30 hosts, 50 ms RTT',
          met: thirty.ready === 30 && base.wallMs / thirty.wallMs >= 5,
          measured: `baseline ${fmt(base.wallMs)}, product ${fmt(thirty.wallMs)} (${(base.wallMs / thirty.wallMs).toFixed(1)}× faster)`
        }
      : {
          target: '≥ 5× faster than the baseline at 30 hosts, 50 ms RTT',
          met: null,
          measured: 'not measured'
        }
  )

  const rerun = inputs.rerun
  targets.push(
    rerun
      ? {
          target: 're-run: zero cluster writes, no restart on any host',
          met: rerun.clusterWrites === 0 && rerun.apiWrites === 0 && rerun.restartedHosts === 0,
          measured: `${rerun.hosts} hosts: ${rerun.clusterWrites} object(s) written, ${rerun.apiWrites} write request(s), ${rerun.restartedHosts} restart(s), ${rerun.changedHosts} host(s) changed, in ${fmt(rerun.wallMs)}`
        }
      : {
          target: 're-run: zero cluster writes, no restart on any host',
          met: null,
          measured: 'not measured'
        }
  )

  const plan = inputs.startup.find(s => s.what.startsWith('dist/main.js plan'))
  targets.push(
    plan
      ? {
          target: 'start-up < 300 ms to first output',
          met: plan.medianMs < 300,
          measured: `dist/main.js plan: median ${plan.medianMs} ms`
        }
      : { target: 'start-up < 300 ms to first output', met: null, measured: 'not measured' }
  )
  targets.push(validateExitTarget(inputs.startup))
  targets.push(scaleTarget(inputs.fleet, inputs.reruns ?? []))
  return targets
}

const SCALE_TARGET =
  '100 hosts at parallelism 100: every host ready in one run; the re-run writes and restarts nothing'

/** Issue 18's acceptance: the 100-host row at parallelism 100 and its re-run. */
function scaleTarget(fleet: readonly FleetRun[], reruns: readonly RerunResult[]): Target {
  const run = fleet.find(r => r.tool === 'product' && r.hosts === 100 && r.parallelism === 100)
  if (!run) return { target: SCALE_TARGET, met: null, measured: 'not measured' }
  const again = reruns.find(r => r.hosts === 100 && r.parallelism === 100 && r.rttMs === run.rttMs)
  const first = `${run.ready}/100 ready in ${fmt(run.wallMs)} (${run.retriedHosts ?? 0} host(s) tried again)`
  const second = again
    ? `re-run: ${again.ready}/100 ready, ${again.clusterWrites} object(s) written, ${again.apiWrites} write request(s), ${again.restartedHosts} restart(s), in ${fmt(again.wallMs)}`
    : 're-run: not measured'
  return {
    target: SCALE_TARGET,
    met:
      run.ready === 100 &&
      again !== undefined &&
      again.ready === 100 &&
      again.clusterWrites === 0 &&
      again.apiWrites === 0 &&
      again.restartedHosts === 0,
    measured: `${first}; ${second}`
  }
}

/** Per-host figures of one product run, and its time against the machine's CPU floor. */
export interface ScaleRow {
  hosts: number
  rttMs: number
  parallelism: number
  ready: number
  wallSec: number
  runnerCpuMsPerHost: number | null
  peakRssMiB: number | null
  /** peak RSS / hosts */
  rssMiBPerHost: number | null
  /** peak RSS over the 1-host run's (same RTT), in all and per host added */
  rssIncrementMiB: number | null
  rssIncrementKiBPerHost: number | null
  apiRequestsPerHost: number
  bytesPerHost: number
  /** (runner + VM CPU seconds) / cores: the shortest time this machine could have taken */
  cpuFloorSec: number | null
  /** wall time / that floor (1 = CPU-bound on this machine) */
  wallOverFloor: number | null
}

const round = (value: number, digits: number): number => {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** The product's runs as per-host figures (sorted by RTT, hosts, parallelism). */
export function scaleRows(fleet: readonly FleetRun[], cores: number): ScaleRow[] {
  const product = fleet.filter(r => r.tool === 'product')
  return product
    .map(r => {
      const one = find(product, 'product', 1, r.rttMs)
      const rssMiB = r.peakRssKiB === null ? null : r.peakRssKiB / 1024
      const increment =
        rssMiB !== null && one && one.peakRssKiB !== null && r !== one
          ? rssMiB - one.peakRssKiB / 1024
          : null
      const cpu =
        r.runnerCpuSec !== null &&
        r.runnerCpuSec !== undefined &&
        r.vmCpuSec !== null &&
        r.vmCpuSec !== undefined &&
        cores > 0
          ? (r.runnerCpuSec + r.vmCpuSec) / cores
          : null
      return {
        hosts: r.hosts,
        rttMs: r.rttMs,
        parallelism: r.parallelism ?? r.hosts,
        ready: r.ready,
        wallSec: round(r.wallMs / 1000, 2),
        runnerCpuMsPerHost:
          r.runnerCpuSec === null || r.runnerCpuSec === undefined
            ? null
            : Math.round((r.runnerCpuSec * 1000) / r.hosts),
        peakRssMiB: rssMiB === null ? null : Math.round(rssMiB),
        rssMiBPerHost: rssMiB === null ? null : round(rssMiB / r.hosts, 1),
        rssIncrementMiB: increment === null ? null : Math.round(increment),
        rssIncrementKiBPerHost:
          increment === null || r.hosts <= 1
            ? null
            : Math.round((increment * 1024) / (r.hosts - 1)),
        apiRequestsPerHost: round(r.apiRequests / r.hosts, 1),
        bytesPerHost: Math.round(r.bytesSent / r.hosts),
        cpuFloorSec: cpu === null ? null : round(cpu, 1),
        wallOverFloor: cpu === null || cpu <= 0 ? null : round(r.wallMs / 1000 / cpu, 2)
      }
    })
    .sort((a, b) => a.rttMs - b.rttMs || a.hosts - b.hosts || a.parallelism - b.parallelism)
}

/** The row selection of `npm run bench`: host counts (`N` at every RTT, `N@RTT` at that one),
 * each at the parallelism values asked for (capped at N, repeated values once). Without a
 * parallelism list: N itself (every host at once, as the rows measured before), and also the
 * product's default 10 for fleets over 30. */
export interface RowPlan {
  hosts: number
  parallelism: number[]
}

export function planRows(
  hostsOption: string,
  parallelismOption: string | undefined,
  rttMs: number,
  maxHosts = 100
): RowPlan[] {
  const wanted = parallelismOption
    ?.split(',')
    .filter(Boolean)
    .map(Number)
    .filter(n => Number.isInteger(n) && n >= 1)
  const counts = new Set<number>()
  for (const item of hostsOption.split(',').filter(Boolean)) {
    const [n, at] = item.split('@').map(Number) as [number, number | undefined]
    if (!Number.isInteger(n) || n < 1 || n > maxHosts) continue
    if (at !== undefined && at !== rttMs) continue
    counts.add(n)
  }
  return [...counts]
    .sort((a, b) => a - b)
    .map(hosts => {
      const values = wanted && wanted.length > 0 ? wanted : hosts > 30 ? [hosts, 10] : [hosts]
      return { hosts, parallelism: [...new Set(values.map(p => Math.min(p, hosts)))] }
    })
}

const VALIDATE_EXIT_TARGET = 'validate to exit within 100 ms of bare Node, Action and CLI'

/** `validate` through dist/main.js and dist/cli.js, process start to exit, against bare Node. */
function validateExitTarget(startup: readonly StartupSample[]): Target {
  const exit = (what: string): number | undefined =>
    startup.find(s => s.what.startsWith(what))?.exitMedianMs
  const floor = exit('bare node')
  const paths = ['dist/main.js validate', 'dist/cli.js validate'].map(
    what => [what, exit(what)] as const
  )
  if (floor === undefined || paths.some(([, ms]) => ms === undefined)) {
    return { target: VALIDATE_EXIT_TARGET, met: null, measured: 'not measured' }
  }
  const over = paths.map(([what, ms]) => [what, (ms ?? 0) - floor] as const)
  return {
    target: VALIDATE_EXIT_TARGET,
    met: over.every(([, ms]) => ms <= 100),
    measured: over.map(([what, ms]) => `${what}: +${Math.round(ms)} ms`).join(', ')
  }
}

/** Product against baseline for every (hosts, RTT) both measured. */
export function ratios(
  runs: readonly FleetRun[]
): Array<{ hosts: number; rttMs: number; productMs: number; baselineMs: number; speedup: number }> {
  const rows = []
  for (const base of runs.filter(r => r.tool === 'baseline')) {
    const product = find(runs, 'product', base.hosts, base.rttMs)
    if (!product) continue
    rows.push({
      hosts: base.hosts,
      rttMs: base.rttMs,
      productMs: product.wallMs,
      baselineMs: base.wallMs,
      speedup: Math.round((base.wallMs / product.wallMs) * 10) / 10
    })
  }
  return rows.sort((a, b) => a.rttMs - b.rttMs || a.hosts - b.hosts)
}

/** Requests that only read or mint (TokenRequest, exec, reviews) are not writes to objects. */
const NOT_OBJECT_WRITES = /(\/token|\/exec|^tokenreviews|accessreviews)$/

/** The requests of the tool measured: our Kubernetes client names itself; the lab's istiod
 * stand-in, which talks to the same API (TokenReviews, WorkloadEntry health), sends no name. */
export function toolRequests<T extends { userAgent?: string | undefined }>(
  entries: readonly T[]
): T[] {
  return entries.filter(entry => (entry.userAgent ?? '').startsWith('kubernetes-client-javascript'))
}

/** Counts API requests: all of them, the ones that write objects, and TokenRequests. */
export function countApiRequests(entries: ReadonlyArray<{ verb?: string; resource?: string }>): {
  requests: number
  writes: number
  tokens: number
} {
  const writing = new Set(['create', 'update', 'patch', 'delete', 'deletecollection'])
  let writes = 0
  let tokens = 0
  for (const entry of entries) {
    const resource = entry.resource ?? ''
    if (resource === 'serviceaccounts/token') tokens++
    if (writing.has(entry.verb ?? '') && !NOT_OBJECT_WRITES.test(resource)) writes++
  }
  return { requests: entries.length, writes, tokens }
}

/** A failure's words without what differs from host to host (addresses, VM names, times),
 * so that hosts that failed alike count together. */
export function general(message: string): string {
  return message
    .replace(/\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b/g, '[ip]')
    .replace(/\bmxlab-vm\d+\b/g, '[vm]')
    .replace(/\b\d{4}-\d\d-\d\dT[\d:.]+Z?\b/g, '[time]')
    .slice(0, 200)
}

/** What the product's report says of the adaptive fan-out and of the hosts that failed. */
export function runDetails(report: Pick<RunReport, 'hosts' | 'concurrency'>): {
  concurrency: Array<{ atMs: number; limit: number }>
  retriedHosts: number
  retries: number
  failureReasons: Record<string, number>
  failures: HostFailure[]
} {
  const retried = report.hosts.filter(h => (h.attempts ?? 1) > 1)
  const failed = report.hosts.filter(h => h.status === 'failed')
  const failureReasons: Record<string, number> = {}
  for (const h of failed) {
    const key = h.diagnosis
      ? `${h.diagnosis.cause}: ${general(h.diagnosis.reason)}`
      : `${h.error?.phase ?? '?'}: ${general(h.error?.message ?? '')}`
    failureReasons[key] = (failureReasons[key] ?? 0) + 1
  }
  return {
    concurrency: (report.concurrency ?? []).map(p => ({ atMs: p.atMs, limit: p.limit })),
    retriedHosts: retried.length,
    retries: retried.reduce((sum, h) => sum + (h.attempts ?? 1) - 1, 0),
    failureReasons,
    failures: failed.slice(0, 10).map(h => ({
      host: h.host,
      phase: h.error?.phase ?? '',
      message: (h.error?.message ?? '').slice(0, 1000),
      attempts: h.attempts ?? 1,
      ...(h.diagnosis
        ? { diagnosis: { cause: h.diagnosis.cause, reason: h.diagnosis.reason } }
        : {}),
      logs: h.logs.slice(-12)
    }))
  }
}
