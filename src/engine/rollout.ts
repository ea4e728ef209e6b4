// settings.rollout: the canary order of an upgrade. Pure: from what each host runs (read before
// any change, src/host/running.ts) and what the description wants, the batches apply works
// through, each checked before the next (docs/rollout.md).
import type { Rollout } from '../config/index.ts'
import { parsePercent, type CountOrPercent } from '../config/formats.ts'

/** What differs between a host and the description. */
export type Difference =
  | { readonly what: 'package'; readonly from: string; readonly to: string }
  | { readonly what: 'revision'; readonly from: string; readonly to: string }
  /** the host could not be read before the run: it is treated as one to upgrade */
  | { readonly what: 'unknown'; readonly reason: string }

/** A host as the planner sees it. */
export type HostState =
  /** no sidecar package installed: a first install, not part of the canary */
  | { readonly kind: 'new' }
  /** runs the wanted version and revision: converged as before, not part of the canary */
  | { readonly kind: 'current' }
  | { readonly kind: 'upgrade'; readonly differs: readonly Difference[] }

export interface PlannedHost {
  readonly name: string
  readonly state: HostState
}

export interface Batch {
  /** 1-based */
  readonly number: number
  readonly hosts: readonly string[]
  /** hosts of this batch that may fail with the rollout going on */
  readonly maxUnavailable: number
}

export interface RolloutPlan {
  /** the upgrade, in order; empty when no host needs one (the run is then as without rollout) */
  readonly batches: readonly Batch[]
  /** new hosts and hosts already current: onboarded once every batch passed, all at once */
  readonly rest: readonly string[]
}

/**
 * A count or percentage of `of` hosts. A percentage is rounded up; with `atLeastOne` (batch
 * sizes) it is never below 1, so "1%" of 6 hosts is 1 host. A count is taken as it is.
 */
export function hostsOf(value: CountOrPercent, of: number, atLeastOne: boolean): number {
  if (typeof value === 'number') return value
  const percent = parsePercent(value)
  if (percent === undefined) throw new Error(`internal: ${value} is not a percentage`)
  const count = Math.ceil((percent * of) / 100)
  return atLeastOne ? Math.max(1, count) : count
}

/**
 * The batches of an upgrade. Hosts to upgrade keep the description's order: the first
 * `firstBatch` of them, then `batchSize` at a time (percentages of the hosts to upgrade), the
 * last batch what is left. `maxUnavailable` is resolved per batch, a percentage of that batch's
 * hosts.
 */
export function planRollout(hosts: readonly PlannedHost[], rollout: Rollout): RolloutPlan {
  const upgrade = hosts.filter(host => host.state.kind === 'upgrade').map(host => host.name)
  const rest = hosts.filter(host => host.state.kind !== 'upgrade').map(host => host.name)
  const batches: Batch[] = []
  const first = hostsOf(rollout.firstBatch, upgrade.length, true)
  const size = hostsOf(rollout.batchSize, upgrade.length, true)
  for (let start = 0; start < upgrade.length;) {
    const count = Math.min(batches.length === 0 ? first : size, upgrade.length - start)
    const names = upgrade.slice(start, start + count)
    batches.push({
      number: batches.length + 1,
      hosts: names,
      maxUnavailable: Math.min(names.length, hostsOf(rollout.maxUnavailable, names.length, false))
    })
    start += count
  }
  return { batches, rest }
}

/** `istiod-<rev>.<ns>.svc:<port>` → `<rev>`; `istiod.<ns>.svc…` → '' (the default revision). */
export function revisionOfAddress(address: string): string | null {
  const match = /^istiod(?:-([a-z0-9]([-a-z0-9]*[a-z0-9])?))?\./.exec(address)
  return match ? (match[1] ?? '') : null
}

/** What a host runs, as the read before the run found it (src/host/running.ts). */
export interface Running {
  /** the installed istio-sidecar version; null: none installed */
  readonly packageVersion: string | null
  /** the revision its cluster.env names ('' the default one); null: not known */
  readonly revision: string | null
}

/**
 * A host's state: new without a package; else what differs from the wanted version ('' =
 * decided by the package's checksum on the host: not compared) and revision ('' or 'default'
 * = the default one).
 */
export function hostState(
  running: Running | { readonly error: string },
  wanted: { readonly version: string; readonly revision: string }
): HostState {
  if ('error' in running)
    return { kind: 'upgrade', differs: [{ what: 'unknown', reason: running.error }] }
  if (running.packageVersion === null) return { kind: 'new' }
  const differs: Difference[] = []
  if (wanted.version !== '' && running.packageVersion !== wanted.version)
    differs.push({ what: 'package', from: running.packageVersion, to: wanted.version })
  const revision = wanted.revision === 'default' ? '' : wanted.revision
  if (running.revision !== null && running.revision !== revision)
    differs.push({ what: 'revision', from: running.revision, to: revision })
  return differs.length > 0 ? { kind: 'upgrade', differs } : { kind: 'current' }
}

/** `package 1.29.0 → 1.30.0, revision default → canary` */
export function differenceText(differs: readonly Difference[]): string {
  return differs
    .map(d =>
      d.what === 'unknown'
        ? `not read before the run (${d.reason})`
        : `${d.what} ${d.from || 'default'} → ${d.to || 'default'}`
    )
    .join(', ')
}
