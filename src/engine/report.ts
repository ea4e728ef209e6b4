// The run's report: one JSON-serialisable record that the CLI, the Action's outputs and job
// summary, and other tools all read.
import type { Prepared } from '../cluster/prepare.ts'
import type { ConcurrencyPoint } from '../host/adaptive.ts'
import type { HostResult } from '../host/onboard.ts'
import type { CheckResult } from '../verify/types.ts'
import type { PhaseName, PhaseRecord } from './runner.ts'

export interface ClusterReport {
  istioVersion: string | null
  generation: string
  revision: string
  istioNamespace: string
  clusterID: string
  network: string
  gateway: string
  /** objects written by server-side apply (0 on a re-run with nothing to change) */
  writes: number
  unchanged: number
  /** action: create, update, unchanged, skip (a Namespace or ServiceAccount used as it is),
   * conflict (exists and not ours: apply refuses), adopt (taken over by settings.adopt); reason:
   * why, for skip, conflict and adopt */
  plan: Array<{ kind: string; namespace?: string; name: string; action: string; reason?: string }>
  warnings: string[]
}

/** One batch of settings.rollout. */
export interface RolloutBatchReport {
  /** 1-based, in the order they ran */
  number: number
  hosts: string[]
  /** hosts of the batch that could fail with the rollout going on */
  maxUnavailable: number
  /** passed: within maxUnavailable; failed: the rollout stopped here; not run: after a stop;
   * planned: `plan`, if every host needed the upgrade */
  result: 'passed' | 'failed' | 'not run' | 'planned'
  /** hosts that failed their install or readiness (rolled back or not), or a check */
  failed: string[]
  /** hosts whose update was not ready and that went back to their previous sidecar */
  rolledBack: string[]
  /** the batch's checks (each VM's own, and the description's between its VMs and pods) */
  checks: { passed: number; failed: number }
}

/** apply with settings.rollout: what each host ran, the batches and where the rollout stopped. */
export interface RolloutReport {
  batches: RolloutBatchReport[]
  /** hosts to upgrade, with what differs (`package 1.29.0 → 1.30.0`) */
  upgrades: Array<{ host: string; differs: string }>
  /** new hosts and hosts already current: not part of the canary, onboarded after it */
  rest: string[]
  /** the batch that failed; null when none did */
  stoppedAt: number | null
}

export interface RunReport {
  command: 'apply' | 'verify' | 'plan' | 'cleanup'
  owner: string
  ok: boolean
  /** why the run failed, in one line each */
  problems: string[]
  cluster: ClusterReport | null
  hosts: HostResult[]
  /** hosts of this shard that were not worked on (fail-fast, max-failures) */
  skippedHosts: string[]
  /** apply: the hosts worked on at once over time (every change of the adaptive limit; ms
   * since the hosts phase began) */
  concurrency?: ConcurrencyPoint[]
  checks: CheckResult[]
  /** apply and plan with settings.rollout */
  rollout?: RolloutReport
  /** cleanup: what was removed */
  removed: string[]
  /** the phases that ran, in order, with their times */
  phases: PhaseRecord[]
  /** the phase that stopped the run; null when every phase ran */
  failedPhase: PhaseName | null
  /** stopped before any change because the input is wrong (the CLI exits 2) */
  invalid: boolean
  durationMs: number
}

export function emptyReport(command: RunReport['command'], owner: string): RunReport {
  return {
    command,
    owner,
    ok: false,
    problems: [],
    cluster: null,
    hosts: [],
    skippedHosts: [],
    checks: [],
    removed: [],
    phases: [],
    failedPhase: null,
    invalid: false,
    durationMs: 0
  }
}

/** The cluster's part of the report, from what preflight read (writes are added as they happen). */
export function clusterReport(prepared: Prepared): ClusterReport {
  const { discovery, plan, applied } = prepared
  return {
    istioVersion: discovery.istioVersion,
    generation: discovery.generation,
    revision: discovery.revision,
    istioNamespace: discovery.istioNamespace,
    clusterID: discovery.clusterID,
    network: discovery.network,
    gateway: discovery.gateway.address,
    writes: applied?.written.length ?? 0,
    unchanged: applied?.unchanged ?? 0,
    plan: plan.entries.map(entry => ({
      kind: entry.kind,
      ...(entry.namespace !== undefined ? { namespace: entry.namespace } : {}),
      name: entry.name,
      action: entry.adopted !== undefined ? 'adopt' : entry.action,
      ...(entry.reason !== undefined ? { reason: entry.reason } : {}),
      ...(entry.adopted !== undefined
        ? { reason: `taken over (settings.adopt): ${entry.adopted}` }
        : {})
    })),
    warnings: [...discovery.warnings]
  }
}

export function readyHosts(report: RunReport): string[] {
  return report.hosts.filter(host => host.status === 'ok' && host.ready).map(host => host.host)
}

export function failedHosts(report: RunReport): string[] {
  return report.hosts.filter(host => host.status === 'failed').map(host => host.host)
}

/** The run stopped before its first change: nothing on the cluster or any host was touched. */
export function stoppedBeforeChange(report: RunReport): boolean {
  return report.failedPhase === 'inputs' || report.failedPhase === 'preflight'
}
