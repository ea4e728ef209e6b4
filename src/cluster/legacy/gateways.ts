// How VMs of the older generations reach the control plane: the internal load balancers of
// install/kubernetes/mesh-expansion.yaml (0.2–1.5), or the meshExpansion ports of
// istio-ingressgateway (Helm, 1.0/1.1), which this module can add and remove again.
import { createHash } from 'node:crypto'
import {
  MESH_EXPANSION_GATEWAY_PORTS,
  missingMeshExpansionPorts
} from '../../istio/legacy/meshExpansion.ts'
import { ClusterError } from '../errors.ts'
import type { ClusterClient, KubeObject, ObjectRef } from '../types.ts'
import { pollUntil } from './certificates.ts'

export interface IlbAddresses {
  pilot: string
  dns: string
  /** '' when the release's manifest had no mixer ILB applied */
  mixer: string
  ca: string
}

interface LoadBalancerIngress {
  ip?: unknown
  hostname?: unknown
}

/** .status.loadBalancer.ingress[0]: its ip, or also its hostname when `hostname` is allowed. */
export function loadBalancerAddress(service: KubeObject, hostname = false): string {
  const status = service.status as { loadBalancer?: { ingress?: unknown } } | undefined
  const ingress = status?.loadBalancer?.ingress
  const first = (Array.isArray(ingress) ? ingress[0] : undefined) as LoadBalancerIngress | undefined
  if (typeof first?.ip === 'string' && first.ip !== '') return first.ip
  if (hostname && typeof first?.hostname === 'string') return first.hostname
  return ''
}

const serviceRef = (name: string, namespace: string): ObjectRef => ({
  apiVersion: 'v1',
  kind: 'Service',
  name,
  namespace
})

export const DEFAULT_ILB_TIMEOUT_MS = 120_000
export const DEFAULT_GATEWAY_TIMEOUT_MS = 60_000

interface IlbState {
  role: keyof IlbAddresses
  name: string
  namespace: string
  /** null = no such Service */
  service: KubeObject | null
}

async function readIlbs(client: ClusterClient, ns: string): Promise<IlbState[]> {
  const get = async (
    role: keyof IlbAddresses,
    name: string,
    namespace: string
  ): Promise<IlbState> => ({
    role,
    name,
    namespace,
    service: await client.get(serviceRef(name, namespace))
  })
  const [pilot, dns, mixer, citadel, istioCa] = await Promise.all([
    get('pilot', 'istio-pilot-ilb', ns),
    get('dns', 'dns-ilb', 'kube-system'),
    get('mixer', 'mixer-ilb', ns),
    get('ca', 'citadel-ilb', ns),
    // the CA ILB's name before 0.8
    get('ca', 'istio-ca-ilb', ns)
  ])
  return [pilot, dns, mixer, citadel.service || !istioCa.service ? citadel : istioCa]
}

function describeMissing(states: readonly IlbState[]): string[] {
  return states
    .filter(s => (s.service === null ? s.role !== 'mixer' : loadBalancerAddress(s.service) === ''))
    .map(s =>
      s.service === null
        ? `${s.name} in ${s.namespace} (no such Service${s.role === 'ca' ? '; nor istio-ca-ilb' : ''})`
        : `${s.name} in ${s.namespace} (no load-balancer IP yet)`
    )
}

/** The ILB addresses of mesh-expansion.yaml (0.2–1.5), polled (bounded) until each has an IP. */
export async function ilbAddresses(
  client: ClusterClient,
  istioNamespace: string,
  options: { timeoutMs?: number } = {}
): Promise<IlbAddresses> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_ILB_TIMEOUT_MS
  let last: IlbState[] = []
  const ready = await pollUntil(
    async () => {
      last = await readIlbs(client, istioNamespace)
      // a missing Service gets no IP by waiting: stop early
      if (last.some(s => s.service === null && s.role !== 'mixer')) return null
      return describeMissing(last).length === 0 ? last : undefined
    },
    { timeoutMs, intervalMs: Math.min(5000, Math.max(50, timeoutMs / 20)) }
  )
  if (!ready) {
    throw new ClusterError(
      'not-found',
      `the mesh expansion ILBs are not ready after ${timeoutMs} ms: ${describeMissing(last).join(', ')}. ` +
        "Apply install/kubernetes/mesh-expansion.yaml of the cluster's Istio release " +
        '(kubectl apply -f), and wait for the cloud to give each load balancer an IP',
      404
    )
  }
  const address = (role: keyof IlbAddresses): string => {
    const state = ready.find(s => s.role === role)
    return state?.service ? loadBalancerAddress(state.service) : ''
  }
  return {
    pilot: address('pilot'),
    dns: address('dns'),
    mixer: address('mixer'),
    ca: address('ca')
  }
}

export interface MeshExpansionGateway {
  /** the gateway's load-balancer IP or hostname */
  address: string
  /** ports this call added (dry run: would add); [] when nothing was missing */
  addedPorts: number[]
  /** meshExpansion ports the Service lacked when this call looked */
  missingPorts: number[]
}

export const GATEWAY_SERVICE = 'istio-ingressgateway'
export const ADDED_PORTS_PREFIX = 'mesh-expansion.io/added-ports-'

/**
 * The annotation recording which ports `owner` added. An owner too long for an annotation's
 * 63-character name is replaced by a stable hash of it.
 */
export function addedPortsAnnotation(owner: string): string {
  if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(owner)) {
    throw new ClusterError(
      'invalid',
      `owner "${owner}" cannot name an annotation: use letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
      0
    )
  }
  const name = `${ADDED_PORTS_PREFIX.split('/')[1] ?? ''}${owner}`
  return name.length <= 63
    ? `${ADDED_PORTS_PREFIX}${owner}`
    : `${ADDED_PORTS_PREFIX}${createHash('sha256').update(owner).digest('hex').slice(0, 32)}`
}

/** The ports an added-ports annotation value lists ("15004,853"). */
export function parsePortList(value: string | undefined): number[] {
  return (value ?? '')
    .split(',')
    .map(s => Number(s.trim()))
    .filter(n => Number.isInteger(n) && n > 0 && n < 65536)
}

interface ServicePort {
  name?: string
  port: number
  targetPort?: unknown
  protocol?: string
}

function servicePorts(service: KubeObject): ServicePort[] {
  const spec = service.spec as { ports?: unknown } | undefined
  return (Array.isArray(spec?.ports) ? spec.ports : []).filter(
    (p): p is ServicePort => typeof (p as ServicePort | null)?.port === 'number'
  )
}

/** Every owner's added-ports annotation on the Service. */
function recordedAdditions(service: KubeObject): Map<string, number[]> {
  const out = new Map<string, number[]>()
  for (const [key, value] of Object.entries(service.metadata.annotations ?? {}))
    if (key.startsWith(ADDED_PORTS_PREFIX)) out.set(key, parsePortList(value))
  return out
}

/**
 * The gateway Service is not ours and is edited on purpose (docs/cluster.md, "Ownership"): the
 * ports each owner adds are recorded in an annotation of its own and reverted exactly. Forced, as
 * a port Helm dropped and we add back is a field another manager once held.
 */
const SHARED_EDIT = { force: true } as const

/**
 * The apply configuration of field manager mesh-expansion for the gateway Service: every owner's
 * recorded ports and annotations. Server-side apply drops what we owned and no longer list, so
 * the configuration must always hold all of mesh-expansion's ports, never one owner's alone.
 */
export function gatewayApplyConfig(
  service: KubeObject,
  additions: ReadonlyMap<string, readonly number[]>
): KubeObject {
  const live = servicePorts(service)
  const ports = [...new Set([...additions.values()].flat())].sort((a, b) => a - b)
  const portSpec = (port: number): ServicePort => {
    const known = live.find(p => p.port === port && (p.protocol ?? 'TCP') === 'TCP')
    const chart = MESH_EXPANSION_GATEWAY_PORTS.find(p => p.port === port)
    return {
      name: known?.name ?? chart?.name ?? `tcp-${port}`,
      port,
      targetPort: known?.targetPort ?? chart?.targetPort ?? port,
      protocol: 'TCP'
    }
  }
  const annotations = Object.fromEntries(
    [...additions].filter(([, p]) => p.length > 0).map(([k, p]) => [k, p.join(',')])
  )
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: service.metadata.name,
      ...(service.metadata.namespace !== undefined
        ? { namespace: service.metadata.namespace }
        : {}),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {})
    },
    ...(ports.length > 0 ? { spec: { ports: ports.map(portSpec) } } : {})
  }
}

async function gatewayService(client: ClusterClient, namespace: string): Promise<KubeObject> {
  const service = await client.get(serviceRef(GATEWAY_SERVICE, namespace))
  if (!service) {
    throw new ClusterError(
      'not-found',
      `Service ${GATEWAY_SERVICE} was not found in namespace ${namespace}: VMs of this generation ` +
        'reach pilot and citadel through it; install the ingress gateway ' +
        '(Helm gateways.istio-ingressgateway.enabled=true)',
      404
    )
  }
  return service
}

/**
 * Checks (and with `enable` adds) the meshExpansion ports of istio-ingressgateway, then waits
 * (bounded) for its load-balancer address. A second run finds nothing missing: no write.
 */
export async function meshExpansionGateway(
  client: ClusterClient,
  options: {
    istioNamespace: string
    enable: boolean
    owner: string
    dryRun?: boolean
    timeoutMs?: number
  }
): Promise<MeshExpansionGateway> {
  const key = addedPortsAnnotation(options.owner)
  const service = await gatewayService(client, options.istioNamespace)
  const missing = missingMeshExpansionPorts(servicePorts(service))
  const missingPorts = missing.map(p => p.port)
  if (missing.length > 0 && !options.enable) {
    throw new ClusterError(
      'invalid',
      `Service ${options.istioNamespace}/${GATEWAY_SERVICE} lacks the meshExpansion ports ` +
        `${missing.map(p => `${p.port} (${p.name})`).join(', ')}. Enable mesh expansion in ` +
        "Istio's Helm values (global.meshExpansion.enabled=true in 1.1; global.meshExpansion=true " +
        'in 1.0), or set cluster.legacy.enableMeshExpansionPorts: true in the description to let ' +
        'mesh-expansion add them (cleanup removes them again)',
      0
    )
  }
  if (missing.length > 0 && !options.dryRun) {
    const additions = recordedAdditions(service)
    additions.set(key, [...new Set([...(additions.get(key) ?? []), ...missingPorts])])
    await client.apply(gatewayApplyConfig(service, additions), SHARED_EDIT)
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_GATEWAY_TIMEOUT_MS
  const address = await pollUntil(
    async () => {
      const now = await gatewayService(client, options.istioNamespace)
      const found = loadBalancerAddress(now, true)
      return found === '' ? undefined : found
    },
    { timeoutMs, intervalMs: Math.min(5000, Math.max(50, timeoutMs / 20)) }
  )
  if (address === undefined) {
    throw new ClusterError(
      'not-found',
      `Service ${options.istioNamespace}/${GATEWAY_SERVICE} has no load-balancer address ` +
        `(.status.loadBalancer.ingress) after ${timeoutMs} ms: is it of type LoadBalancer, and ` +
        'can the cluster provision one?',
      404
    )
  }
  return { address, addedPorts: missingPorts, missingPorts }
}

/** Removes exactly the gateway ports `owner` added (others' and Helm's stay); [] if none. */
export async function revertMeshExpansionPorts(
  client: ClusterClient,
  istioNamespace: string,
  owner: string
): Promise<number[]> {
  const key = addedPortsAnnotation(owner)
  const service = await client.get(serviceRef(GATEWAY_SERVICE, istioNamespace))
  if (!service) return []
  const additions = recordedAdditions(service)
  const mine = additions.get(key)
  if (mine === undefined) return []
  additions.delete(key)
  // a port another owner also recorded stays (theirs too)
  const shared = new Set([...additions.values()].flat())
  await client.apply(gatewayApplyConfig(service, additions), SHARED_EDIT)
  return mine.filter(p => !shared.has(p))
}
