// Pure parts of the benchmark: summaries of measured runs and the targets, met or not.

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
}

const fmt = (ms: number): string => `${(ms / 1000).toFixed(2)} s`

function find(
  runs: readonly FleetRun[],
  tool: FleetRun['tool'],
  hosts: number,
  rttMs: number
): FleetRun | undefined {
  return runs.find(r => r.tool === tool && r.hosts === hosts && r.rttMs === rttMs)
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
  return targets
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
