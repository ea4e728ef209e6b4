// Plan and apply: read the live object of every desired one, compare only the fields we set,
// and write (server-side apply) only what differs, so a second apply makes no write at all.
// The ownership contract (docs/cluster.md): an existing object that is not ours (our managed-by
// label and this run's owner) is never written: a conflict, unless the description adopts it.
import pLimit from 'p-limit'
import { stringify } from 'yaml'
import { ClusterError } from './errors.ts'
import { CREATED_AT_ANNOTATION, foreignReason, NOT_MANAGED, OWNER_LABEL } from './objects.ts'
import { describeRef, refOf, type ClusterClient, type KubeObject } from './types.ts'

/** skip: an existing Namespace or ServiceAccount not ours, used as it is; conflict: an existing
 * object of another kind not ours, which apply refuses to touch */
export type PlanAction = 'create' | 'update' | 'unchanged' | 'skip' | 'conflict'

/** An object the description takes over (`settings.adopt`). */
export interface AdoptRef {
  readonly kind: string
  readonly namespace: string
  readonly name: string
}

export interface PlanOptions {
  /** objects that may be taken over from someone else (the description's settings.adopt) */
  readonly adopt?: readonly AdoptRef[]
}

export interface PlanEntry {
  readonly kind: string
  readonly name: string
  readonly namespace?: string
  readonly action: PlanAction
  /** one line per changed field: `+ path: value`, `~ path: old -> new` */
  readonly diff: string
  /** why an existing object is left alone (skip) or refused (conflict) */
  readonly reason?: string
  /** taken over by settings.adopt: whose it was (`was not managed by mesh-expansion`, `was owned by pr-1`) */
  readonly adopted?: string
  /** the live object is ours (or adopted): apply may take back fields someone else changed */
  readonly force?: boolean
  /** adopted: the live object with ours laid over, written (PUT) before the apply */
  readonly takeOver?: KubeObject
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

/** Kinds that may pre-exist and be shared: used as they are, never written or taken over. */
export const SHARED_KINDS: ReadonlySet<string> = new Set(['Namespace', 'ServiceAccount'])

function adopts(options: PlanOptions, desired: KubeObject): boolean {
  return (options.adopt ?? []).some(
    a =>
      a.kind === desired.kind &&
      a.name === desired.metadata.name &&
      a.namespace === (desired.metadata.namespace ?? '')
  )
}

/**
 * `live` with every path `desired` sets replaced by desired's value: records followed key by
 * key, lists and values replaced whole. What taking an object over writes (a PUT, so that a
 * port of theirs in a list we set goes, which a server-side apply would leave to its manager);
 * everything else of theirs (other labels, server defaults) stays.
 */
function overlay(desired: Json, live: Json): Json {
  if (!isRecord(desired) || !isRecord(live)) return desired
  const out: Record<string, Json> = { ...live }
  for (const [k, v] of Object.entries(desired)) out[k] = overlay(v, live[k])
  return out
}

/** The first of the two writes that take an object over: the live object with ours laid over. */
function takeOver(desired: KubeObject, live: KubeObject): KubeObject {
  const object = overlay(desired, live) as KubeObject
  delete object['status']
  return object
}

/** Compares one desired object with its live state. */
export function planEntry(
  desired: KubeObject,
  live: KubeObject | null,
  options: PlanOptions = {}
): PlanEntry {
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
  const foreign = foreignReason(live, desired.metadata.labels?.[OWNER_LABEL] ?? '')
  if (foreign !== null && SHARED_KINDS.has(desired.kind)) {
    return {
      ...base,
      action: 'skip',
      diff: '',
      reason: `${
        foreign === NOT_MANAGED
          ? 'exists, not created by mesh-expansion'
          : `exists, created by owner ${live.metadata.labels?.[OWNER_LABEL] ?? '?'}`
      }: used as it is, never changed`,
      object: desired
    }
  }
  const adopted = foreign !== null && adopts(options, desired)
  if (foreign !== null && !adopted) {
    return { ...base, action: 'conflict', diff: '', reason: foreign, object: desired }
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
    ...(adopted && foreign !== null
      ? {
          adopted: foreign === NOT_MANAGED ? 'was not managed by mesh-expansion' : `was ${foreign}`,
          takeOver: takeOver(object, live)
        }
      : {}),
    force: true,
    object
  }
}

/** The conflicts of a plan, one line each: `Service shop/cart: exists, not managed by …`. */
export function planConflicts(thePlan: Plan): string[] {
  return thePlan.entries
    .filter(e => e.action === 'conflict')
    .map(e => `${describeRef(refOf(e.object))}: ${e.reason ?? 'not ours'}`)
}

/** What to tell the user about a conflict: the problem, and the two ways out. */
export function conflictProblem(conflict: string): string {
  return (
    `conflict: ${conflict}; mesh-expansion never changes an object it does not own: ` +
    'remove or rename it, or take it over with settings.adopt'
  )
}

/** Requests in flight at once, so a thousand hosts do not mean a thousand open requests. */
export const CONCURRENCY = 16

/** Reads the live state of every desired object (in parallel) and compares. Writes nothing. */
export async function plan(
  client: ClusterClient,
  desired: readonly KubeObject[],
  options: PlanOptions = {}
): Promise<Plan> {
  const limit = pLimit(CONCURRENCY)
  const lives = await Promise.all(desired.map(o => limit(() => client.get(refOf(o)))))
  return { entries: desired.map((o, i) => planEntry(o, lives[i] ?? null, options)) }
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

/**
 * Server-side applies the entries that differ, tier after tier (in parallel within a tier). A
 * plan with a conflict is refused before the first write. Only an object that was ours (or is
 * adopted) is applied with force; a create is not, so an object someone made since the plan
 * was read is not silently taken over where our fields differ.
 */
export async function apply(
  client: ClusterClient,
  thePlan: Plan,
  log?: (line: string) => void
): Promise<ApplyResult> {
  const conflicts = planConflicts(thePlan)
  if (conflicts.length > 0) {
    throw new ClusterError('conflict', conflicts.map(conflictProblem).join('\n'), 0)
  }
  const pending = thePlan.entries.filter(e => e.action === 'create' || e.action === 'update')
  const tiers = [...new Set(pending.map(e => TIER[e.kind] ?? 5))].sort((a, b) => a - b)
  const written: PlanEntry[] = []
  const limit = pLimit(CONCURRENCY)
  for (const tier of tiers) {
    const batch = pending.filter(e => (TIER[e.kind] ?? 5) === tier)
    await Promise.all(
      batch.map(entry =>
        limit(async () => {
          if (entry.takeOver) await client.replace(entry.takeOver)
          await client.apply(entry.object, { force: entry.force === true })
          written.push(entry)
          const verb =
            entry.action === 'create' ? 'created' : entry.adopted ? 'took over' : 'updated'
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
  skip: '-',
  conflict: '!'
}

/** A compact, human-readable plan: one line per object, the changed fields indented below. */
export function renderPlan(thePlan: Plan, options: { details?: boolean } = {}): string {
  const lines: string[] = []
  for (const e of thePlan.entries) {
    const where = e.namespace !== undefined ? `${e.namespace}/${e.name}` : e.name
    const note =
      e.action === 'skip'
        ? ` (${e.reason ?? 'left alone'})`
        : e.action === 'conflict'
          ? `: ${e.reason ?? 'not ours'}`
          : e.adopted !== undefined
            ? ` (adopted: ${e.adopted})`
            : ''
    lines.push(`${SYMBOL[e.action]} ${e.kind} ${where}: ${e.action}${note}`)
    if ((options.details ?? true) && e.diff !== '') {
      for (const d of e.diff.split('\n')) lines.push(`    ${d}`)
    }
  }
  const count = (a: PlanAction): number => thePlan.entries.filter(e => e.action === a).length
  const conflicts = count('conflict')
  lines.push(
    `${count('create')} to create, ${count('update')} to update, ${count('unchanged')} unchanged, ${count('skip')} left alone` +
      (conflicts > 0
        ? `, ${conflicts} conflict${conflicts === 1 ? '' : 's'}: apply would change nothing`
        : '')
  )
  return `${lines.join('\n')}\n`
}

/** The objects of a plan as a YAML stream (for --output, or a review). */
export function planYaml(thePlan: Plan): string {
  return thePlan.entries.map(e => `---\n${stringify(e.object)}`).join('')
}
