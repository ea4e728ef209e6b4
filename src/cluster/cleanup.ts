// Cleanup: delete exactly what one owner created, in dependency order, idempotently; and `sweep`,
// which cleans up after every owner older than a given age (preview environments whose own
// cleanup never ran).
import pLimit from 'p-limit'
import { chooseNetworkingVersion } from './discovery.ts'
import { errorMessage } from '../util/errors.ts'
import { CREATED_AT_ANNOTATION, foreignReason, managedSelector, OWNER_LABEL } from './objects.ts'
import { CONCURRENCY } from './plan.ts'
import { AUTO_REGISTRATION_GROUP_ANNOTATION } from './registration.ts'
import {
  describeRef,
  refOf,
  type ClusterClient,
  type KubeObject,
  type ObjectRef,
  type ServedResource
} from './types.ts'

export interface CleanupResult {
  readonly deleted: readonly ObjectRef[]
  /** objects left in place, and why (a namespace that still holds others' objects) */
  readonly kept: readonly { readonly ref: ObjectRef; readonly reason: string }[]
}

/** Kinds in the order they are deleted: dependants first. */
function order(networking: string | null): { apiVersion: string; kind: string }[] {
  const istio = (kind: string): { apiVersion: string; kind: string }[] =>
    networking ? [{ apiVersion: `networking.istio.io/${networking}`, kind }] : []
  return [
    ...istio('WorkloadEntry'),
    ...istio('ServiceEntry'),
    // the hand-made Endpoints of a selector-less Service (legacy register) before the Service
    { apiVersion: 'v1', kind: 'Endpoints' },
    { apiVersion: 'v1', kind: 'Service' },
    ...istio('WorkloadGroup'),
    ...istio('VirtualService'),
    ...istio('Gateway'),
    { apiVersion: 'v1', kind: 'ServiceAccount' }
  ]
}

/** Objects every namespace has, which do not make it "used by someone else". */
const NAMESPACE_DEFAULTS: Readonly<Record<string, readonly string[]>> = {
  ServiceAccount: ['default'],
  ConfigMap: ['istio-ca-root-cert', 'kube-root-ca.crt']
}

/** Secrets the cluster writes for an account: its legacy token, Citadel's istio.<sa> (before 1.5). */
const ACCOUNT_SECRETS: Readonly<Record<string, string>> = {
  'kubernetes.io/service-account-token': 'kubernetes.io/service-account.name',
  'istio.io/key-and-cert': 'istio.io/service-account.name'
}

/** What cleanup deleted in one namespace: what the cluster derived from it is not someone's. */
interface Gone {
  readonly uids: ReadonlySet<string>
  /** kind/name */
  readonly names: ReadonlySet<string>
}

/** A namespace's content as cleanup judges it: what went, and the accounts still there. */
interface Judged extends Gone {
  readonly accounts: ReadonlySet<string>
}

/** Whether an object in a namespace we are about to delete is nobody else's. */
function isNobodys(o: KubeObject, owner: string, gone: Judged): boolean {
  const { kind } = o
  const meta = o.metadata
  if (foreignReason(o, owner) === null) return true
  // the namespace's own history and defaults
  if (kind === 'Event') return true
  if (NAMESPACE_DEFAULTS[kind]?.includes(meta.name)) return true
  // what the cluster made for an object of ours (garbage-collected with it)
  const refs = (meta.ownerReferences ?? []) as { uid?: string }[]
  if (refs.length > 0 && refs.every(r => r.uid !== undefined && gone.uids.has(r.uid))) return true
  if (kind === 'Endpoints' && gone.names.has(`Service/${meta.name}`)) return true
  if (kind === 'EndpointSlice') {
    const service = meta.labels?.['kubernetes.io/service-name']
    if (service !== undefined && gone.names.has(`Service/${service}`)) return true
  }
  const accountAnnotation = ACCOUNT_SECRETS[String(o['type'])]
  if (kind === 'Secret' && accountAnnotation !== undefined) {
    // an account's secret goes with its account: `default`, one of ours, or one already gone
    const account = meta.annotations?.[accountAnnotation] ?? ''
    if (account === 'default' || gone.names.has(`ServiceAccount/${account}`)) return true
    if (!gone.accounts.has(account)) return true
  }
  return false
}

/**
 * Everything in `namespace` that is someone else's, over every namespaced resource type the API
 * serves (`types`, from API discovery), as `Kind name` lines.
 */
async function othersIn(
  client: ClusterClient,
  namespace: string,
  owner: string,
  types: readonly ServedResource[],
  gone: Gone
): Promise<string[]> {
  const limit = pLimit(CONCURRENCY)
  const lists = await Promise.all(
    types.map(t => limit(() => client.list(t.apiVersion, t.kind, { namespace })))
  )
  const accounts = new Set<string>()
  types.forEach((t, i) => {
    if (t.apiVersion === 'v1' && t.kind === 'ServiceAccount')
      for (const o of lists[i] ?? []) accounts.add(o.metadata.name)
  })
  const names: string[] = []
  types.forEach((t, i) => {
    for (const o of lists[i] ?? []) {
      if (!isNobodys({ ...o, kind: t.kind }, owner, { ...gone, accounts }))
        names.push(`${t.kind} ${o.metadata.name}`)
    }
  })
  return names
}

export interface CleanupOptions {
  readonly log?: (line: string) => void
  /**
   * Called once with everything found (the owner's objects and namespaces) before the first
   * delete; throwing stops the cleanup with nothing deleted (the access check of the commands
   * that have no description: src/cluster/access.ts deletePermissions).
   */
  readonly beforeDeleting?: (objects: readonly KubeObject[]) => Promise<void>
  /** Called once with the kinds about to be listed by label in every namespace, before the first list. */
  readonly beforeListing?: (kinds: readonly { apiVersion: string; kind: string }[]) => Promise<void>
}

/** Deletes everything labelled with `owner`, dependants first; a second call deletes nothing. */
export async function cleanup(
  client: ClusterClient,
  owner: string,
  options: CleanupOptions = {}
): Promise<CleanupResult> {
  const networking = chooseNetworkingVersion(await client.servedVersions('networking.istio.io'))
  await options.beforeListing?.([...order(networking), { apiVersion: 'v1', kind: 'Namespace' }])
  const selector = managedSelector(owner)
  const deleted: ObjectRef[] = []
  const kept: { ref: ObjectRef; reason: string }[] = []
  const limit = pLimit(CONCURRENCY)
  // per namespace: what went, so what the cluster derived from it does not count as others'
  const gone = new Map<string, { uids: Set<string>; names: Set<string> }>()
  const remove = async (objects: readonly KubeObject[]): Promise<void> => {
    await Promise.all(
      objects.map(o =>
        limit(async () => {
          const ref = refOf(o)
          if (await client.delete(ref)) {
            deleted.push(ref)
            options.log?.(`deleted ${describeRef(ref)}`)
          }
          const ns = o.metadata.namespace ?? ''
          const mark = gone.get(ns) ?? { uids: new Set<string>(), names: new Set<string>() }
          gone.set(ns, mark)
          if (o.metadata.uid !== undefined) mark.uids.add(o.metadata.uid)
          mark.names.add(`${o.kind}/${o.metadata.name}`)
        })
      )
    )
  }

  // everything is found before anything is deleted, so that options.beforeDeleting sees it all
  // entries istiod created for our groups (garbage-collected with the group on a real cluster,
  // but not before the group is gone): deleted first with the manual ones
  const stages: KubeObject[][] = []
  if (networking) {
    const groups = await client.list(`networking.istio.io/${networking}`, 'WorkloadGroup', {
      labelSelector: selector
    })
    for (const group of groups) {
      const entries = await client.list(`networking.istio.io/${networking}`, 'WorkloadEntry', {
        namespace: group.metadata.namespace ?? ''
      })
      stages.push(
        entries.filter(
          e => e.metadata.annotations?.[AUTO_REGISTRATION_GROUP_ANNOTATION] === group.metadata.name
        )
      )
    }
  }
  for (const { apiVersion, kind } of order(networking))
    stages.push(await client.list(apiVersion, kind, { labelSelector: selector }))
  const namespaces = await client.list('v1', 'Namespace', { labelSelector: selector })
  await options.beforeDeleting?.([...stages.flat(), ...namespaces])
  for (const stage of stages) await remove(stage)
  // a namespace goes only when we created it (our labels: a namespace is never taken over) and
  // nothing in it, of any resource type the API serves, is someone else's
  const keep = (ns: KubeObject, reason: string): void => {
    kept.push({ ref: refOf(ns), reason })
    options.log?.(`kept Namespace ${ns.metadata.name}: ${reason}`)
  }
  let types: ServedResource[] = []
  let unlisted: string | null = null
  if (namespaces.length > 0) {
    try {
      types = await client.namespacedResources()
    } catch (error) {
      unlisted = `cannot tell whether it holds others' objects (API discovery failed: ${errorMessage(error)})`
    }
  }
  for (const ns of namespaces) {
    if (unlisted !== null) {
      keep(ns, unlisted)
      continue
    }
    let others: string[]
    try {
      const mark = gone.get(ns.metadata.name) ?? {
        uids: new Set<string>(),
        names: new Set<string>()
      }
      others = await othersIn(client, ns.metadata.name, owner, types, mark)
    } catch (error) {
      keep(ns, `cannot tell whether it holds others' objects (${errorMessage(error)})`)
      continue
    }
    if (others.length > 0) {
      keep(
        ns,
        `still holds ${others.slice(0, 5).join(', ')}${others.length > 5 ? ` and ${others.length - 5} more` : ''} (not ours)`
      )
    } else await remove([ns])
  }
  return { deleted, kept }
}

export interface SweptOwner {
  readonly owner: string
  /** the oldest created-at of its objects */
  readonly createdAt: string
  readonly result: CleanupResult
}

export interface SweepOptions extends CleanupOptions {
  /** default Date.now() */
  readonly now?: number
  /** owners never swept (e.g. the current run) */
  readonly except?: readonly string[]
}

function createdAtOf(o: KubeObject): number {
  const stamp = o.metadata.annotations?.[CREATED_AT_ANNOTATION] ?? o.metadata.creationTimestamp
  const t = stamp === undefined ? NaN : new Date(stamp).getTime()
  return Number.isFinite(t) ? t : Number.POSITIVE_INFINITY
}

/** Cleans up every owner whose oldest object is older than `olderThanSeconds`. */
export async function sweep(
  client: ClusterClient,
  olderThanSeconds: number,
  options: SweepOptions = {}
): Promise<SweptOwner[]> {
  const now = options.now ?? Date.now()
  const networking = chooseNetworkingVersion(await client.servedVersions('networking.istio.io'))
  const kinds = [...order(networking), { apiVersion: 'v1', kind: 'Namespace' }]
  await options.beforeListing?.(kinds)
  const lists = await Promise.all(
    kinds.map(k => client.list(k.apiVersion, k.kind, { labelSelector: managedSelector() }))
  )
  const oldest = new Map<string, number>()
  for (const o of lists.flat()) {
    const owner = o.metadata.labels?.[OWNER_LABEL]
    if (owner === undefined || options.except?.includes(owner)) continue
    oldest.set(owner, Math.min(oldest.get(owner) ?? Number.POSITIVE_INFINITY, createdAtOf(o)))
  }
  const expired = [...oldest]
    .sort((a, b) => a[1] - b[1])
    .filter(([, created]) => Number.isFinite(created) && now - created >= olderThanSeconds * 1000)
  const { beforeDeleting } = options
  // checked once above for every owner: each owner's cleanup asks nothing again
  const perOwner: CleanupOptions = options.log ? { log: options.log } : {}
  if (beforeDeleting) {
    const owners = new Set(expired.map(([owner]) => owner))
    await beforeDeleting(
      lists.flat().filter(o => owners.has(o.metadata.labels?.[OWNER_LABEL] ?? ''))
    )
  }
  const swept: SweptOwner[] = []
  for (const [owner, created] of expired) {
    options.log?.(`sweeping owner ${owner} (created ${new Date(created).toISOString()})`)
    swept.push({
      owner,
      createdAt: new Date(created).toISOString(),
      result: await cleanup(client, owner, perOwner)
    })
  }
  return swept
}
