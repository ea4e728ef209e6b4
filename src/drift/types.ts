// The drift report: one JSON-serialisable record that the CLI (--json), the Action's `report`
// output and the job summary all read. A finding is one thing compared; `drift` findings make the
// command exit 3.

/** What a finding is about (the table's first column). */
export type DriftArea =
  | 'connection'
  | 'file'
  | 'token'
  | 'certificate'
  | 'package'
  | 'version'
  | 'service'
  | 'readiness'
  | 'capture'
  | 'registration'
  | 'cluster'

/** ok: as described; drift: differs, an apply repairs it (or the finding says what does);
 * unknown: could not be compared (the reason says why). */
export type FindingState = 'ok' | 'drift' | 'unknown'

export interface DriftFinding {
  readonly area: DriftArea
  /** what was compared: a path, an object, a check (`/var/lib/istio/envoy/cluster.env`) */
  readonly subject: string
  readonly state: FindingState
  /** one sentence: what was found and, for drift, why it matters or what repairs it */
  readonly detail: string
}

export interface HostDrift {
  readonly host: string
  /** ok: nothing differs; drift: something does; unchecked: the host could not be reached or read */
  readonly status: 'ok' | 'drift' | 'unchecked'
  readonly findings: readonly DriftFinding[]
}

export interface ClusterDrift {
  readonly status: 'ok' | 'drift' | 'unchecked'
  readonly istioVersion: string | null
  /** '' = the default revision */
  readonly revision: string
  readonly findings: readonly DriftFinding[]
}

export interface DriftReport {
  readonly command: 'drift'
  readonly owner: string
  /** every host and the cluster were read and nothing differs */
  readonly ok: boolean
  /** something differs (exit 3), whatever could or could not be checked */
  readonly drifted: boolean
  /** the hosts with drift, in description order (the Action's `drifted-hosts`) */
  readonly driftedHosts: readonly string[]
  /** the hosts that could not be checked */
  readonly uncheckedHosts: readonly string[]
  readonly hosts: readonly HostDrift[]
  readonly cluster: ClusterDrift
  /** why the run could not check everything, one line each */
  readonly problems: readonly string[]
  /** settings.tokenRefreshWithin used for this run */
  readonly tokenRefreshWithinSeconds: number
  /** RFC 3339, the runner's clock */
  readonly checkedAt: string
  readonly durationMs: number
}

/** Exit codes of `drift` (README, docs/drift.md). */
export const DriftExit = {
  /** everything was checked and nothing differs */
  clean: 0,
  /** something could not be checked and nothing that was checked differs */
  unchecked: 1,
  /** invalid input: nothing was read */
  invalid: 2,
  /** drift was found */
  drifted: 3
} as const

/** The exit code of a drift run: drift wins over what could not be checked (the report lists both). */
export function driftExitCode(report: DriftReport, invalid: boolean): number {
  if (invalid) return DriftExit.invalid
  if (report.drifted) return DriftExit.drifted
  return report.ok ? DriftExit.clean : DriftExit.unchecked
}
