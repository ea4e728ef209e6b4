// The run's report: one JSON-serialisable record that the CLI, the Action's outputs and job
// summary, and other tools all read.
import type { HostResult } from '../host/onboard.ts'
import type { CheckResult } from '../verify/types.ts'

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
  plan: Array<{ kind: string; namespace?: string; name: string; action: string }>
  warnings: string[]
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
  checks: CheckResult[]
  /** cleanup: what was removed */
  removed: string[]
  durationMs: number
}

export function readyHosts(report: RunReport): string[] {
  return report.hosts.filter(host => host.status === 'ok' && host.ready).map(host => host.host)
}

export function failedHosts(report: RunReport): string[] {
  return report.hosts.filter(host => host.status === 'failed').map(host => host.host)
}
