// The cluster's share of drift: the plan `apply` would carry out now (src/cluster/plan.ts, read
// only) said as findings, and the objects of this owner that the description no longer wants.
// Pure.
import type { Plan, PlanEntry } from '../cluster/plan.ts'
import type { KubeObject } from '../cluster/types.ts'
import type { DriftFinding } from './types.ts'

const where = (e: { kind: string; namespace?: string | undefined; name: string }): string =>
  `${e.kind} ${e.namespace !== undefined && e.namespace !== '' ? `${e.namespace}/` : ''}${e.name}`

function entryFinding(entry: PlanEntry): DriftFinding {
  const subject = where(entry)
  const changes = entry.diff
    .split('\n')
    .filter(line => line.startsWith('~') || line.startsWith('+'))
    .map(line => line.slice(2))
  switch (entry.action) {
    case 'create':
      return {
        area: 'cluster',
        subject,
        state: 'drift',
        detail: 'missing (deleted, or new in the description); apply creates it'
      }
    case 'update':
      return {
        area: 'cluster',
        subject,
        state: 'drift',
        detail: `differs from the description: ${changes.slice(0, 6).join('; ')}${changes.length > 6 ? `; and ${changes.length - 6} more` : ''}; apply updates it`
      }
    case 'conflict':
      return {
        area: 'cluster',
        subject,
        state: 'drift',
        detail: `${entry.reason ?? 'not ours'}: apply would refuse it (settings.adopt takes it over)`
      }
    case 'skip':
      return { area: 'cluster', subject, state: 'ok', detail: entry.reason ?? 'used as it is' }
    case 'unchanged':
      return { area: 'cluster', subject, state: 'ok', detail: 'as described' }
  }
}

/** Kinds whose objects the owner's runs create (what `cleanup` would find). */
export const OWNED_KINDS: ReadonlyArray<{
  apiVersion: (networking: string) => string
  kind: string
}> = [
  { apiVersion: n => `networking.istio.io/${n}`, kind: 'WorkloadGroup' },
  { apiVersion: n => `networking.istio.io/${n}`, kind: 'WorkloadEntry' },
  { apiVersion: n => `networking.istio.io/${n}`, kind: 'ServiceEntry' },
  { apiVersion: () => 'v1', kind: 'Service' }
]

/**
 * The plan as findings, then every live object of the owner (`owned`) that the plan does not
 * list: left from an earlier description; `cleanup` removes it, apply leaves it.
 */
export function clusterFindings(plan: Plan, owned: readonly KubeObject[]): DriftFinding[] {
  const out = plan.entries.map(entryFinding)
  const planned = new Set(plan.entries.map(e => `${e.kind}/${e.namespace ?? ''}/${e.name}`))
  for (const object of owned) {
    const key = `${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`
    // auto-registered entries are istiod's, made for the group's hosts
    if (
      planned.has(key) ||
      (object.kind === 'WorkloadEntry' &&
        object.metadata.annotations?.['istio.io/autoRegistrationGroup'] !== undefined)
    )
      continue
    out.push({
      area: 'cluster',
      subject: where({
        kind: object.kind,
        namespace: object.metadata.namespace,
        name: object.metadata.name
      }),
      state: 'drift',
      detail:
        "this owner's, but the description no longer has it; `cleanup` removes it, apply leaves it"
    })
  }
  return out
}
