// Builders for the Kubernetes objects the product applies: WorkloadGroup, WorkloadEntry,
// ServiceEntry (networking.istio.io) and Service (core/v1). Plain inputs in, plain objects
// out; every object carries the ownership labels so cleanup can find what a run created.
// apiVersion: v1 for Istio 1.22+, v1beta1 for 1.13–1.21 (WorkloadGroup) / 1.8–1.21 (the
// others), v1alpha3 for the oldest clusters.

export type IstioNetworkingVersion = 'v1' | 'v1beta1' | 'v1alpha3'

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by'
export const MANAGED_BY_VALUE = 'mesh-expansion'
export const OWNER_LABEL = 'mesh-expansion.io/owner'
/** Tells istiod to keep a Healthy condition on a manually registered WorkloadEntry. */
export const HEALTH_CHECKS_ANNOTATION = 'proxy.istio.io/health-checks-enabled'

export interface ObjectMetaOut {
  name: string
  namespace: string
  labels: Record<string, string>
  annotations?: Record<string, string>
}

export interface ReadinessProbeInput {
  readonly initialDelaySeconds?: number
  readonly timeoutSeconds?: number
  readonly periodSeconds?: number
  readonly successThreshold?: number
  readonly failureThreshold?: number
  readonly httpGet?: {
    readonly path?: string
    readonly port: number
    readonly host?: string
    readonly scheme?: string
    readonly httpHeaders?: readonly { readonly name: string; readonly value: string }[]
  }
  readonly tcpSocket?: { readonly host?: string; readonly port: number }
  readonly exec?: { readonly command: readonly string[] }
  readonly grpc?: { readonly port: number; readonly service?: string }
}

/** An object of the run: where it goes and who owns it. */
interface OwnedInput {
  readonly name: string
  readonly namespace: string
  /** value of the mesh-expansion.io/owner label: who created the object (e.g. a run id) */
  readonly owner: string
  /** extra metadata labels */
  readonly metadataLabels?: Readonly<Record<string, string>>
}

interface IstioObjectInput extends OwnedInput {
  readonly apiVersion?: IstioNetworkingVersion
}

/** What a workload has, whether a group's template or one entry. */
interface WorkloadInput {
  readonly ports?: Readonly<Record<string, number>>
  readonly serviceAccount?: string
  readonly network?: string
  /** region/zone/subzone */
  readonly locality?: string
  readonly weight?: number
}

function ownedMeta(input: OwnedInput, annotations?: Record<string, string>): ObjectMetaOut {
  const meta: ObjectMetaOut = {
    name: input.name,
    namespace: input.namespace,
    labels: {
      ...input.metadataLabels,
      [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
      [OWNER_LABEL]: input.owner
    }
  }
  if (annotations !== undefined && Object.keys(annotations).length > 0) {
    meta.annotations = annotations
  }
  return meta
}

/** A networking.istio.io object of the run. */
function istioObject(
  kind: string,
  input: IstioObjectInput,
  spec: Record<string, unknown>,
  annotations?: Record<string, string>
): Record<string, unknown> {
  return {
    apiVersion: `networking.istio.io/${input.apiVersion ?? 'v1'}`,
    kind,
    metadata: ownedMeta(input, annotations),
    spec
  }
}

function nonEmpty<T extends object>(value: T | undefined): value is T {
  return value !== undefined && Object.keys(value).length > 0
}

function probeOut(probe: ReadinessProbeInput): Record<string, unknown> {
  const checks = [probe.httpGet, probe.tcpSocket, probe.exec, probe.grpc].filter(
    c => c !== undefined
  )
  if (checks.length !== 1) {
    throw new Error('a readiness probe needs exactly one of httpGet, tcpSocket, exec or grpc')
  }
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(probe)) {
    if (v !== undefined) out[k] = v
  }
  return out
}

export interface WorkloadGroupInput extends IstioObjectInput, WorkloadInput {
  /** labels every workload of the group gets (spec.metadata.labels) */
  readonly labels?: Readonly<Record<string, string>>
  /** annotations every workload gets (spec.metadata.annotations), e.g. proxy.istio.io/config */
  readonly annotations?: Readonly<Record<string, string>>
  readonly probe?: ReadinessProbeInput
}

/** A WorkloadGroup: template for auto-registered entries and the source of the VM files. */
export function buildWorkloadGroup(input: WorkloadGroupInput): Record<string, unknown> {
  const template: Record<string, unknown> = { serviceAccount: input.serviceAccount || 'default' }
  if (nonEmpty(input.ports)) template.ports = { ...input.ports }
  if (input.network) template.network = input.network
  if (input.locality) template.locality = input.locality
  if (input.weight) template.weight = input.weight
  const specMetadata: Record<string, unknown> = {}
  if (nonEmpty(input.labels)) specMetadata.labels = { ...input.labels }
  if (nonEmpty(input.annotations)) specMetadata.annotations = { ...input.annotations }
  const spec: Record<string, unknown> = { metadata: specMetadata, template }
  if (input.probe !== undefined) spec.probe = probeOut(input.probe)
  return istioObject('WorkloadGroup', input, spec)
}

export interface WorkloadEntryInput extends IstioObjectInput, WorkloadInput {
  /** the VM's IP (or a hostname, with a DNS-resolution ServiceEntry) */
  readonly address?: string
  /** the workload's labels: must match the Service / ServiceEntry selector */
  readonly labels?: Readonly<Record<string, string>>
  /** set the health-checks annotation (the group has a probe) */
  readonly healthChecks?: boolean
}

/** A manually registered WorkloadEntry for one VM. */
export function buildWorkloadEntry(input: WorkloadEntryInput): Record<string, unknown> {
  if (!input.address && !input.network) {
    throw new Error(
      `WorkloadEntry ${input.namespace}/${input.name}: an address is needed unless a network is set`
    )
  }
  const spec: Record<string, unknown> = {}
  if (input.address) spec.address = input.address
  if (nonEmpty(input.labels)) spec.labels = { ...input.labels }
  if (nonEmpty(input.ports)) spec.ports = { ...input.ports }
  spec.serviceAccount = input.serviceAccount || 'default'
  if (input.network) spec.network = input.network
  if (input.locality) spec.locality = input.locality
  if (input.weight) spec.weight = input.weight
  const annotations = input.healthChecks ? { [HEALTH_CHECKS_ANNOTATION]: 'true' } : undefined
  return istioObject('WorkloadEntry', input, spec, annotations)
}

export interface ServicePortInput {
  readonly name: string
  readonly number: number
  /** HTTP, HTTPS, GRPC, HTTP2, TCP, TLS, MONGO…; derived from the name's prefix when absent */
  readonly protocol?: string
  readonly targetPort?: number
}

const protocolPrefixes: readonly [string, string][] = [
  ['grpc-web', 'GRPC-WEB'],
  ['grpc', 'GRPC'],
  ['http2', 'HTTP2'],
  ['https', 'HTTPS'],
  ['http', 'HTTP'],
  ['mongo', 'MONGO'],
  ['mysql', 'MYSQL'],
  ['redis', 'REDIS'],
  ['tcp', 'TCP'],
  ['tls', 'TLS'],
  ['udp', 'UDP']
]

/** Istio's port-name convention: `<protocol>[-<suffix>]`; TCP when nothing matches. */
export function protocolFromPortName(name: string): string {
  const lower = name.toLowerCase()
  for (const [prefix, protocol] of protocolPrefixes) {
    if (lower === prefix || lower.startsWith(`${prefix}-`)) return protocol
  }
  return 'TCP'
}

export interface ServiceEntryInput extends IstioObjectInput {
  readonly hosts: readonly string[]
  readonly ports: readonly ServicePortInput[]
  /** labels of the WorkloadEntries this ServiceEntry fronts */
  readonly selector: Readonly<Record<string, string>>
  /** STATIC for IP entries (default), DNS when entries carry hostnames */
  readonly resolution?: 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN' | 'NONE'
  readonly location?: 'MESH_INTERNAL' | 'MESH_EXTERNAL'
  readonly exportTo?: readonly string[]
}

/** A ServiceEntry that selects the VM workloads by label. */
export function buildServiceEntry(input: ServiceEntryInput): Record<string, unknown> {
  if (input.hosts.length === 0)
    throw new Error(`ServiceEntry ${input.name}: at least one host is needed`)
  if (!nonEmpty(input.selector))
    throw new Error(`ServiceEntry ${input.name}: the selector is empty`)
  const spec: Record<string, unknown> = {
    hosts: [...input.hosts],
    location: input.location ?? 'MESH_INTERNAL',
    ports: input.ports.map(p => ({
      number: p.number,
      name: p.name,
      protocol: p.protocol ?? protocolFromPortName(p.name),
      ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {})
    })),
    resolution: input.resolution ?? 'STATIC',
    workloadSelector: { labels: { ...input.selector } }
  }
  if (input.exportTo !== undefined) spec.exportTo = [...input.exportTo]
  return istioObject('ServiceEntry', input, spec)
}

export interface ServiceInput extends OwnedInput {
  readonly ports: readonly ServicePortInput[]
  /** labels of the WorkloadEntries (and pods) the Service selects */
  readonly selector: Readonly<Record<string, string>>
}

/**
 * A Kubernetes Service whose selector matches the WorkloadEntry labels: istiod
 * (PILOT_ENABLE_K8S_SELECT_WORKLOAD_ENTRIES, on by default) adds the VMs as endpoints.
 */
export function buildService(input: ServiceInput): Record<string, unknown> {
  if (!nonEmpty(input.selector)) throw new Error(`Service ${input.name}: the selector is empty`)
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMeta(input),
    spec: {
      selector: { ...input.selector },
      ports: input.ports.map(p => {
        const protocol = p.protocol ?? protocolFromPortName(p.name)
        return {
          name: p.name,
          port: p.number,
          protocol: protocol === 'UDP' ? 'UDP' : 'TCP',
          targetPort: p.targetPort ?? p.number
        }
      })
    }
  }
}
