// Cleanup: delete exactly what one owner created, in dependency order, idempotently; and `sweep`,
// which cleans up after every owner older than a given age (preview environments whose own
// cleanup never ran).
import pLimit from 'p-limit'
import { chooseNetworkingVersion } from './discovery.ts'
import { CREATED_AT_ANNOTATION, managedSelector, OWNER_LABEL } from './objects.ts'
import { CONCURRENCY } from './plan.ts'
import { AUTO_REGISTRATION_GROUP_ANNOTATION } from './registration.ts'
import { describeRef, refOf, type ClusterClient, type KubeObject, type ObjectRef } from './types.ts'

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

async function othersIn(
  client: ClusterClient,
  namespace: string,
  networking: string | null
): Promise<string[]> {
  const kinds = [
    { apiVersion: 'v1', kind: 'Pod' },
    { apiVersion: 'apps/v1', kind: 'Deployment' },
    { apiVersion: 'v1', kind: 'Service' },
    { apiVersion: 'v1', kind: 'ServiceAccount' },
    { apiVersion: 'v1', kind: 'ConfigMap' },
    ...(networking
      ? ['WorkloadGroup', 'WorkloadEntry', 'ServiceEntry'].map(kind => ({
          apiVersion: `networking.istio.io/${networking}`,
          kind
        }))
      : [])
  ]
  const lists = await Promise.all(kinds.map(k => client.list(k.apiVersion, k.kind, { namespace })))
  const names: string[] = []
  kinds.forEach((k, i) => {
    for (const o of lists[i] ?? []) {
      if (NAMESPACE_DEFAULTS[k.kind]?.includes(o.metadata.name)) continue
      names.push(`${k.kind} ${o.metadata.name}`)
    }
  })
  return names
}

export interface CleanupOptions {
  readonly log?: (line: string) => void
}

/** Deletes everything labelled with `owner`, dependants first; a second call deletes nothing. */
export async function cleanup(
  client: ClusterClient,
  owner: string,
  options: CleanupOptions = {}
): Promise<CleanupResult> {
  const networking = chooseNetworkingVersion(await client.servedVersions('networking.istio.io'))
  const selector = managedSelector(owner)
  const deleted: ObjectRef[] = []
  const kept: { ref: ObjectRef; reason: string }[] = []
  const limit = pLimit(CONCURRENCY)
  const remove = async (objects: readonly KubeObject[]): Promise<void> => {
    await Promise.all(
      objects.map(o =>
        limit(async () => {
          const ref = refOf(o)
          if (await client.delete(ref)) {
            deleted.push(ref)
            options.log?.(`deleted ${describeRef(ref)}`)
          }
        })
      )
    )
  }

  // entries istiod created for our groups (garbage-collected with the group on a real cluster,
  // but not before the group is gone): deleted first with the manual ones
  if (networking) {
    const groups = await client.list(`networking.istio.io/${networking}`, 'WorkloadGroup', {
      labelSelector: selector
    })
    for (const group of groups) {
      const entries = await client.list(`networking.istio.io/${networking}`, 'WorkloadEntry', {
        namespace: group.metadata.namespace ?? ''
      })
      await remove(
        entries.filter(
          e => e.metadata.annotations?.[AUTO_REGISTRATION_GROUP_ANNOTATION] === group.metadata.name
        )
      )
    }
  }
  for (const { apiVersion, kind } of order(networking)) {
    await remove(await client.list(apiVersion, kind, { labelSelector: selector }))
  }
  const namespaces = await client.list('v1', 'Namespace', { labelSelector: selector })
  for (const ns of namespaces) {
    const others = await othersIn(client, ns.metadata.name, networking)
    if (others.length > 0) {
      const reason = `still holds ${others.slice(0, 5).join(', ')}${others.length > 5 ? ` and ${others.length - 5} more` : ''}`
      kept.push({ ref: refOf(ns), reason })
      options.log?.(`kept Namespace ${ns.metadata.name}: ${reason}`)
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
  const lists = await Promise.all(
    kinds.map(k => client.list(k.apiVersion, k.kind, { labelSelector: managedSelector() }))
  )
  const oldest = new Map<string, number>()
  for (const o of lists.flat()) {
    const owner = o.metadata.labels?.[OWNER_LABEL]
    if (owner === undefined || options.except?.includes(owner)) continue
    oldest.set(owner, Math.min(oldest.get(owner) ?? Number.POSITIVE_INFINITY, createdAtOf(o)))
  }
  const swept: SweptOwner[] = []
  for (const [owner, created] of [...oldest].sort((a, b) => a[1] - b[1])) {
    if (!Number.isFinite(created) || now - created < olderThanSeconds * 1000) continue
    options.log?.(`sweeping owner ${owner} (created ${new Date(created).toISOString()})`)
    swept.push({
      owner,
      createdAt: new Date(created).toISOString(),
      result: await cleanup(client, owner, options)
    })
  }
  return swept
}
