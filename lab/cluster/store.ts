// In-memory object storage of the sandbox API: per resource type, a global resourceVersion counter,
// uid, creationTimestamp, generation, defaults (Service ClusterIPs, Namespace phase), namespace
// cascade on delete, and change listeners (istiod-like hooks, watches).
import { randomUUID } from 'node:crypto'
import { clone, deepEqual, isObject, trackUpdate, type Obj } from './fields.ts'
import {
  apiVersionOf,
  qualifiedName,
  resolveType,
  resourceTypes,
  typeOfObject,
  type ResourceType
} from './resources.ts'
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector
} from './selectors.ts'
import { notFound } from './status.ts'

export type KubeObject = Obj & {
  apiVersion?: string
  kind?: string
  metadata?: Obj & {
    name?: string
    namespace?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    resourceVersion?: string
    uid?: string
  }
}

/** The sandbox's service CIDR (kube-apiserver --service-cluster-ip-range). */
export const SERVICE_CIDR = '198.19.0.0/16'

export interface StoreEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED'
  resource: ResourceType
  object: KubeObject
}

export interface ListOptions {
  labelSelector?: string
  fieldSelector?: string
}

/** Seconds-precision RFC 3339, as Kubernetes writes timestamps. */
export function timestamp(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function meta(obj: KubeObject): NonNullable<KubeObject['metadata']> {
  if (!isObject(obj.metadata)) obj.metadata = {}
  return obj.metadata as NonNullable<KubeObject['metadata']>
}

export class ObjectStore {
  readonly types: ResourceType[]
  private readonly data = new Map<string, Map<string, KubeObject>>()
  private revision = 1000
  private nextServiceIp = 10
  private readonly listeners = new Set<(event: StoreEvent) => void>()

  constructor(types: ResourceType[] = resourceTypes()) {
    this.types = types
  }

  /** The type behind 'configmaps', 'cm', 'workloadentries.networking.istio.io', a ResourceType… */
  type(resource: string | ResourceType): ResourceType {
    return typeof resource === 'string' ? resolveType(this.types, resource) : resource
  }

  get currentResourceVersion(): string {
    return String(this.revision)
  }

  onChange(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private bucket(type: ResourceType): Map<string, KubeObject> {
    const k = qualifiedName(type)
    let b = this.data.get(k)
    if (!b) {
      b = new Map()
      this.data.set(k, b)
    }
    return b
  }

  private static id(type: ResourceType, namespace: string | undefined, name: string): string {
    return type.namespaced ? `${namespace ?? ''}/${name}` : name
  }

  /** A copy of the stored object, or undefined. */
  get(
    resource: string | ResourceType,
    namespace: string | undefined,
    name: string
  ): KubeObject | undefined {
    const type = this.type(resource)
    const found = this.bucket(type).get(ObjectStore.id(type, namespace, name))
    return found ? clone(found) : undefined
  }

  /** Copies of the objects, sorted by namespace and name; namespace undefined = all namespaces. */
  list(
    resource: string | ResourceType,
    namespace?: string,
    options: ListOptions = {}
  ): KubeObject[] {
    const type = this.type(resource)
    const labels = parseLabelSelector(options.labelSelector)
    const fields = parseFieldSelector(options.fieldSelector)
    return [...this.bucket(type).values()]
      .filter(
        o => !type.namespaced || namespace === undefined || o.metadata?.namespace === namespace
      )
      .filter(o => matchesLabels(o.metadata?.labels, labels) && matchesFields(o, fields))
      .sort((a, b) =>
        `${a.metadata?.namespace ?? ''}/${a.metadata?.name ?? ''}`.localeCompare(
          `${b.metadata?.namespace ?? ''}/${b.metadata?.name ?? ''}`
        )
      )
      .map(o => clone(o))
  }

  namespaceExists(name: string): boolean {
    return this.bucket(this.type('namespaces')).has(name)
  }

  /**
   * Stores an object as is (the server has checked preconditions). Fills uid, creationTimestamp,
   * generation and resourceVersion; applies defaults on create; returns the stored copy. A write
   * that changes nothing keeps the old resourceVersion and notifies nobody.
   */
  write(type: ResourceType, object: KubeObject, options: { dryRun?: boolean } = {}): KubeObject {
    const m = meta(object)
    const name = m.name
    if (typeof name !== 'string' || name === '')
      throw new Error('an object to store needs metadata.name')
    const id = ObjectStore.id(type, m.namespace, name)
    const bucket = this.bucket(type)
    const old = bucket.get(id)
    if (!type.namespaced) delete m.namespace
    if (old) {
      const om = meta(old)
      m.uid = om.uid
      m.creationTimestamp = om.creationTimestamp
      m.resourceVersion = om.resourceVersion
      m.generation = om.generation
      if (deepEqual(object, old)) return clone(old)
      const specChanged = !deepEqual(withoutMeta(object), withoutMeta(old))
      m.generation = Number(om.generation ?? 1) + (specChanged ? 1 : 0)
    } else {
      m.uid = typeof m.uid === 'string' && m.uid !== '' ? m.uid : randomUUID()
      m.creationTimestamp =
        typeof m.creationTimestamp === 'string' ? m.creationTimestamp : timestamp()
      m.generation = 1
      this.defaults(type, object)
    }
    if (options.dryRun) return clone(object)
    this.revision++
    m.resourceVersion = String(this.revision)
    const stored = clone(object)
    bucket.set(id, stored)
    this.emit({ type: old ? 'MODIFIED' : 'ADDED', resource: type, object: stored })
    return clone(stored)
  }

  /** Removes an object (a namespace takes its objects with it); returns what was stored. */
  remove(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const bucket = this.bucket(type)
    const id = ObjectStore.id(type, namespace, name)
    const old = bucket.get(id)
    if (!old) return undefined
    if (type.plural === 'namespaces' && type.group === '') {
      for (const t of this.types.filter(t => t.namespaced)) {
        for (const o of this.list(t, name)) this.remove(t, name, o.metadata?.name ?? '')
      }
    }
    bucket.delete(id)
    this.revision++
    const gone = clone(old)
    meta(gone).resourceVersion = String(this.revision)
    this.emit({ type: 'DELETED', resource: type, object: gone })
    return gone
  }

  /**
   * Direct write for tests and seeds: creates or replaces `object` (found by apiVersion and kind),
   * recording `manager` in managedFields like an update. Throws when the namespace is missing.
   */
  put(object: KubeObject, options: { manager?: string } = {}): KubeObject {
    const type = typeOfObject(this.types, object.apiVersion ?? '', object.kind ?? '')
    if (!type) throw new Error(`the sandbox API serves no ${object.apiVersion}/${object.kind}`)
    const copy = clone(object)
    const m = meta(copy)
    const ns = type.namespaced ? (m.namespace ?? 'default') : undefined
    if (type.namespaced) {
      m.namespace = ns
      if (!this.namespaceExists(ns ?? '')) throw notFound('', 'namespaces', ns ?? '')
    }
    const old = this.bucket(type).get(ObjectStore.id(type, ns, m.name ?? ''))
    copy.apiVersion = old?.apiVersion ?? copy.apiVersion
    trackUpdate(old, copy, options.manager ?? 'lab', apiVersionOf(type), timestamp())
    return this.write(type, copy)
  }

  /** Direct delete for tests; returns true when something was deleted. */
  delete(resource: string | ResourceType, namespace: string | undefined, name: string): boolean {
    return this.remove(this.type(resource), namespace, name) !== undefined
  }

  private readonly history: StoreEvent[] = []
  /** how many recent events watches can replay from a resourceVersion */
  readonly historyLimit = 5000

  /** Events after `resourceVersion`, or undefined when that is older than the kept history. */
  eventsSince(resourceVersion: number): StoreEvent[] | undefined {
    const oldest = this.history[0]
    const oldestRv = oldest ? Number(oldest.object.metadata?.resourceVersion) : this.revision + 1
    if (resourceVersion < oldestRv - 1 && resourceVersion < this.revision) return undefined
    return this.history.filter(e => Number(e.object.metadata?.resourceVersion) > resourceVersion)
  }

  private emit(event: StoreEvent): void {
    this.history.push(event)
    if (this.history.length > this.historyLimit)
      this.history.splice(0, this.history.length - this.historyLimit)
    for (const l of [...this.listeners]) l(event)
  }

  private defaults(type: ResourceType, object: KubeObject): void {
    const m = meta(object)
    if (type.group === '' && type.plural === 'namespaces') {
      m.labels = { ...(m.labels ?? {}), 'kubernetes.io/metadata.name': m.name ?? '' }
      object.spec = object.spec ?? { finalizers: ['kubernetes'] }
      object.status = { phase: 'Active' }
    }
    if (type.group === '' && type.plural === 'services') {
      const spec = (isObject(object.spec) ? object.spec : {}) as Obj
      object.spec = spec
      spec.type = spec.type ?? 'ClusterIP'
      if (spec.type !== 'ExternalName' && spec.clusterIP === undefined) {
        spec.clusterIP = this.allocateServiceIp()
      }
      if (
        typeof spec.clusterIP === 'string' &&
        spec.clusterIPs === undefined &&
        spec.clusterIP !== ''
      ) {
        spec.clusterIPs = [spec.clusterIP]
      }
      spec.sessionAffinity = spec.sessionAffinity ?? 'None'
      if (Array.isArray(spec.ports)) {
        spec.ports = spec.ports.map(p =>
          isObject(p) ? { protocol: 'TCP', targetPort: p.port, ...p } : p
        )
      }
      object.status = object.status ?? { loadBalancer: {} }
    }
  }

  /** Next free address in the service CIDR 198.19.0.0/16. */
  allocateServiceIp(): string {
    const used = new Set(
      this.list('services').map(s => (isObject(s.spec) ? (s.spec as Obj).clusterIP : undefined))
    )
    for (let i = 0; i < 65000; i++) {
      const n = this.nextServiceIp++
      const ip = `198.19.${Math.floor(n / 256) % 256}.${n % 256}`
      if (n % 256 !== 0 && n % 256 !== 255 && !used.has(ip)) return ip
    }
    throw new Error(`the service CIDR ${SERVICE_CIDR} is exhausted`)
  }
}

function withoutMeta(obj: Obj): Obj {
  const rest: Obj = { ...obj }
  delete rest.metadata
  delete rest.status
  return rest
}
