// Plan and apply: read the live object of every desired one, compare only the fields we set,
// and write (server-side apply) only what differs, so a second apply makes no write at all.
import pLimit from 'p-limit'
import { stringify } from 'yaml'
import {
  CREATED_AT_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  OWNER_LABEL
} from './objects.ts'
import { describeRef, refOf, type ClusterClient, type KubeObject } from './types.ts'

export type PlanAction = 'create' | 'update' | 'unchanged' | 'skip'

export interface PlanEntry {
  readonly kind: string
  readonly name: string
  readonly namespace?: string
  readonly action: PlanAction
  /** one line per changed field: `+ path: value`, `~ path: old -> new` */
  readonly diff: string
  /** why an existing object is left alone (action skip) */
  readonly reason?: string
  /** what apply sends (created-at kept from the live object) */
  readonly object: KubeObject
}

export interface Plan {
  readonly entries: readonly PlanEntry[]
}

type Json = unknown

function isRecord(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function show(value: Json): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}

/** Whether `live` holds everything of `desired` (extra live fields are the server's own). */
export function covers(desired: Json, live: Json): boolean {
  if (isRecord(desired)) {
    if (!isRecord(live)) return false
    return Object.entries(desired).every(([k, v]) => covers(v, live[k]))
  }
  if (Array.isArray(desired)) {
    return (
      Array.isArray(live) &&
      live.length === desired.length &&
      desired.every((v, i) => covers(v, live[i]))
    )
  }
  return desired === live
}

/** The differences of the fields `desired` sets, as diff lines; [] = nothing to write. */
export function diffFields(desired: Json, live: Json, path = ''): string[] {
  if (isRecord(desired) && (isRecord(live) || live === undefined)) {
    const lines: string[] = []
    for (const [k, v] of Object.entries(desired)) {
      const p = path ? `${path}.${k}` : k
      lines.push(...diffFields(v, live === undefined ? undefined : live[k], p))
    }
    return lines
  }
  if (covers(desired, live)) return []
  if (live === undefined) return [`+ ${path}: ${show(desired)}`]
  return [`~ ${path}: ${show(live)} -> ${show(desired)}`]
}

/** The managed part of an object: what we compare (status, server fields and created-at left out). */
function comparable(object: KubeObject): Record<string, Json> {
  const rest: Record<string, Json> = { ...object }
  delete rest.apiVersion
  delete rest.kind
  delete rest.metadata
  const metadata = object.metadata
  const annotations = { ...metadata.annotations }
  delete annotations[CREATED_AT_ANNOTATION]
  const meta: Record<string, Json> = { labels: metadata.labels ?? {} }
  if (Object.keys(annotations).length > 0) meta.annotations = annotations
  return { metadata: meta, ...rest }
}

function isOurs(live: KubeObject): boolean {
  return live.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE
}

/** Kinds that may pre-exist and be shared: never taken over from someone else. */
const SHARED_KINDS = new Set(['Namespace', 'ServiceAccount'])

/** Compares one desired object with its live state. */
export function planEntry(desired: KubeObject, live: KubeObject | null): PlanEntry {
  const base = {
    kind: desired.kind,
    name: desired.metadata.name,
    ...(desired.metadata.namespace !== undefined ? { namespace: desired.metadata.namespace } : {})
  }
  if (live === null) {
    return {
      ...base,
      action: 'create',
      diff: diffFields(comparable(desired), undefined).join('\n'),
      object: desired
    }
  }
  if (SHARED_KINDS.has(desired.kind)) {
    const owner = live.metadata.labels?.[OWNER_LABEL]
    if (!isOurs(live)) {
      return {
        ...base,
        action: 'skip',
        diff: '',
        reason: 'exists, not created by mesh-expansion',
        object: desired
      }
    }
    if (owner !== desired.metadata.labels?.[OWNER_LABEL]) {
      return {
        ...base,
        action: 'skip',
        diff: '',
        reason: `exists, created by owner ${owner ?? '?'}`,
        object: desired
      }
    }
  }
  // keep the first creation time: a fresh one would be a change on every run
  const createdAt = live.metadata.annotations?.[CREATED_AT_ANNOTATION]
  const object: KubeObject =
    createdAt === undefined
      ? desired
      : {
          ...desired,
          metadata: {
            ...desired.metadata,
            annotations: { ...desired.metadata.annotations, [CREATED_AT_ANNOTATION]: createdAt }
          }
        }
  const lines = diffFields(comparable(desired), comparable(live))
  return {
    ...base,
    action: lines.length === 0 ? 'unchanged' : 'update',
    diff: lines.join('\n'),
    object
  }
}

/** Requests in flight at once, so a thousand hosts do not mean a thousand open requests. */
export const CONCURRENCY = 16

/** Reads the live state of every desired object (in parallel) and compares. Writes nothing. */
export async function plan(client: ClusterClient, desired: readonly KubeObject[]): Promise<Plan> {
  const limit = pLimit(CONCURRENCY)
  const lives = await Promise.all(desired.map(o => limit(() => client.get(refOf(o)))))
  return { entries: desired.map((o, i) => planEntry(o, lives[i] ?? null)) }
}

/** Apply tiers: what must exist before the next. */
const TIER: Readonly<Record<string, number>> = {
  Namespace: 0,
  ServiceAccount: 1,
  WorkloadGroup: 2,
  Gateway: 2,
  VirtualService: 3,
  ServiceEntry: 3,
  Service: 3,
  WorkloadEntry: 4
}

export interface ApplyResult {
  /** objects written (server-side apply requests that succeeded) */
  readonly written: readonly PlanEntry[]
  readonly unchanged: number
  readonly skipped: number
}

/** Server-side applies the entries that differ, tier after tier (in parallel within a tier). */
export async function apply(
  client: ClusterClient,
  thePlan: Plan,
  log?: (line: string) => void
): Promise<ApplyResult> {
  const pending = thePlan.entries.filter(e => e.action === 'create' || e.action === 'update')
  const tiers = [...new Set(pending.map(e => TIER[e.kind] ?? 5))].sort((a, b) => a - b)
  const written: PlanEntry[] = []
  const limit = pLimit(CONCURRENCY)
  for (const tier of tiers) {
    const batch = pending.filter(e => (TIER[e.kind] ?? 5) === tier)
    await Promise.all(
      batch.map(entry =>
        limit(async () => {
          await client.apply(entry.object)
          written.push(entry)
          const verb = entry.action === 'create' ? 'created' : 'updated'
          log?.(`${verb} ${describeRef(refOf(entry.object))}`)
        })
      )
    )
  }
  return {
    written,
    unchanged: thePlan.entries.filter(e => e.action === 'unchanged').length,
    skipped: thePlan.entries.filter(e => e.action === 'skip').length
  }
}

const SYMBOL: Readonly<Record<PlanAction, string>> = {
  create: '+',
  update: '~',
  unchanged: '=',
  skip: '-'
}

/** A compact, human-readable plan: one line per object, the changed fields indented below. */
export function renderPlan(thePlan: Plan, options: { details?: boolean } = {}): string {
  const lines: string[] = []
  for (const e of thePlan.entries) {
    const where = e.namespace !== undefined ? `${e.namespace}/${e.name}` : e.name
    const note = e.action === 'skip' ? ` (${e.reason ?? 'left alone'})` : ''
    lines.push(`${SYMBOL[e.action]} ${e.kind} ${where}: ${e.action}${note}`)
    if ((options.details ?? true) && e.diff !== '') {
      for (const d of e.diff.split('\n')) lines.push(`    ${d}`)
    }
  }
  const count = (a: PlanAction): number => thePlan.entries.filter(e => e.action === a).length
  lines.push(
    `${count('create')} to create, ${count('update')} to update, ${count('unchanged')} unchanged, ${count('skip')} left alone`
  )
  return `${lines.join('\n')}\n`
}

/** The objects of a plan as a YAML stream (for --output, or a review). */
export function planYaml(thePlan: Plan): string {
  return thePlan.entries.map(e => `---\n${stringify(e.object)}`).join('')
}
