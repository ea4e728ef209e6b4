// The shapes the cluster side passes around, and the small client interface everything else is
// written against (a real one over @kubernetes/client-node in client.ts).

export interface ObjectMeta {
  name: string
  namespace?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  resourceVersion?: string
  uid?: string
  creationTimestamp?: string | Date
  ownerReferences?: unknown[]
  managedFields?: unknown[]
  [key: string]: unknown
}

export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: ObjectMeta
  [key: string]: unknown
}

export interface ObjectRef {
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly namespace?: string
}

export interface ListOptions {
  /** absent = all namespaces (or a cluster-scoped kind) */
  readonly namespace?: string
  readonly labelSelector?: string
}

export interface ApplyOptions {
  /**
   * Take over fields another field manager set (server-side apply force). Only for an object
   * that is ours, or adopted, or one of the shared objects the older generations edit on purpose
   * (docs/cluster.md, "Ownership"). Default false: a field someone else set is a conflict (409).
   */
  readonly force?: boolean
}

/** A namespaced resource type the API serves (from API discovery), that can be listed. */
export interface ServedResource {
  /** `v1`, `apps/v1`, `widgets.example.test/v1alpha1` */
  readonly apiVersion: string
  readonly kind: string
  /** the resource name, e.g. `secrets` */
  readonly plural: string
}

/** What a SelfSubjectAccessReview asks (authorization.k8s.io/v1 ResourceAttributes). */
export interface AccessQuestion {
  readonly verb: string
  /** '' = the core group */
  readonly group: string
  readonly resource: string
  readonly subresource?: string
  /** absent = cluster scope, or every namespace */
  readonly namespace?: string
  /** absent = any name */
  readonly name?: string
}

export interface AccessAnswer {
  readonly allowed: boolean
  /** the authorizer's reason or evaluation error, when it gave one */
  readonly reason?: string
}

export interface TokenOptions {
  readonly audiences: readonly string[]
  readonly expirationSeconds: number
}

/** What the cluster side needs of a Kubernetes API. */
export interface ClusterClient {
  /** the API server URL (for messages) */
  readonly server: string
  /** the kubeconfig user name (for messages) */
  readonly user: string
  /** GET /version: proves the server answers and the credentials work */
  version(): Promise<string>
  /** null when it does not exist */
  get(ref: ObjectRef): Promise<KubeObject | null>
  list(apiVersion: string, kind: string, options?: ListOptions): Promise<KubeObject[]>
  /** server-side apply with field manager mesh-expansion (force only when asked) */
  apply(object: KubeObject, options?: ApplyOptions): Promise<KubeObject>
  /**
   * PUT of the whole object, field manager mesh-expansion; `object.metadata.resourceVersion` is
   * the precondition (a 409 when the object changed since it was read). Used only to take over
   * an object the description adopts (settings.adopt).
   */
  replace(object: KubeObject): Promise<KubeObject>
  /** a create with dryRun=All: validated and admitted as a real one, nothing stored */
  dryRunCreate(object: KubeObject): Promise<KubeObject>
  /** false when it was already gone */
  delete(ref: ObjectRef): Promise<boolean>
  /** a TokenRequest; the token is returned, never logged */
  createToken(namespace: string, serviceAccount: string, options: TokenOptions): Promise<string>
  /** a SelfSubjectAccessReview: may the kubeconfig's identity do this? Stores nothing. */
  canI(question: AccessQuestion): Promise<AccessAnswer>
  /** versions of an API group the server serves, preferred first; [] = not served */
  servedVersions(group: string): Promise<string[]>
  /**
   * Every namespaced resource type the API serves that can be listed (API discovery: /api/v1
   * and /apis/<group>/<version>, one entry per group and resource, preferred version first;
   * subresources left out)
   */
  namespacedResources(): Promise<ServedResource[]>
}

export const FIELD_MANAGER = 'mesh-expansion'

export function refOf(object: KubeObject): ObjectRef {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: object.metadata.name,
    ...(object.metadata.namespace !== undefined ? { namespace: object.metadata.namespace } : {})
  }
}

/** `Kind ns/name` or `Kind name` */
export function describeRef(ref: ObjectRef): string {
  return ref.namespace ? `${ref.kind} ${ref.namespace}/${ref.name}` : `${ref.kind} ${ref.name}`
}
