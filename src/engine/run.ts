// The whole of every command, as a list of named phases run in order by one small runner
// (./runner.ts), which stops at the first that fails. Each phase lives in ./phases/ and calls
// into src/cluster, src/host or src/verify; what differs between Istio's generations is one
// strategy (./strategy.ts) chosen in preflight. docs/flow.md tells the same story in prose.
import type { Description } from '../config/index.ts'
import { shardVms } from '../host/fleet.ts'
import { cluster, withdraw } from './phases/cluster.ts'
import { connect, onboard, uninstall } from './phases/hosts.ts'
import { identity } from './phases/identity.ts'
import { inputsPhase } from './phases/inputs.ts'
import { preflightPhase } from './phases/preflight.ts'
import { register } from './phases/register.ts'
import { result } from './phases/report.ts'
import { checks } from './phases/verify.ts'
import { emptyReport, type RunReport } from './report.ts'
import { runPhases, type Phase } from './runner.ts'
import type { ClusterAccess, EngineOptions, RunState } from './state.ts'

export type { ClusterAccess, EngineOptions } from './state.ts'

type Flow = readonly Phase<RunState>[]

const inputs = inputsPhase({ packages: true })
const secrets = inputsPhase({ packages: false })
const preflight = preflightPhase({ plan: true, onboards: true })
const discovery = preflightPhase({ plan: true })
const reach = preflightPhase({ plan: false })

/**
 * Every command, phase by phase. apply: check everything, prepare the cluster, onboard,
 * register, verify. verify: the checks alone, writing nothing. cleanup: the sidecar off this
 * shard's hosts, then every cluster object of the owner. plan: discovery and the diff, reading
 * only.
 */
export const FLOWS: Readonly<Record<RunReport['command'], Flow>> = {
  apply: [inputs, preflight, cluster, identity, onboard, register, checks, result],
  verify: [secrets, discovery, connect, checks, result],
  cleanup: [secrets, reach, uninstall, withdraw, result],
  plan: [discovery, result]
}

/** A command of the engine: its flow over the description, the cluster and this shard's hosts. */
export type Engine = (
  description: Description,
  access: ClusterAccess,
  options: EngineOptions
) => Promise<RunReport>

function engine(command: RunReport['command']): Engine {
  return async (description, access, options) => {
    const started = Date.now()
    const report = emptyReport(command, options.owner)
    const state: RunState = { description, options, access, report, vms: shardVms(description) }
    // apply with `verify: false` leaves the checks to a later `verify`
    const flow = FLOWS[command].filter(phase => options.verify !== false || phase !== checks)
    const ran = await runPhases(flow, state, options.onPhase)
    report.phases = ran.records
    if (ran.failed) {
      report.ok = false
      report.failedPhase = ran.failed.phase
      report.problems.push(...ran.failed.problems)
    }
    report.durationMs = Date.now() - started
    return report
  }
}

export const apply = engine('apply')
export const verify = engine('verify')
export const cleanup = engine('cleanup')
export const plan = engine('plan')
