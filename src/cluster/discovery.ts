// Discovery: what the cluster already has that the VM files and the objects depend on. Requests
// go out in parallel, in two rounds (the second needs the revision the first finds).
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { parse as parseYaml } from 'yaml'
import type { ClusterConfig, Generation } from '../config/defaults.ts'
import {
  ingressServiceRef,
  ISTIOD_PORT,
  istiodAddress as istiodAddressOf,
  type IstioNetworkingVersion
} from '../istio/index.ts'
import { errorMessage } from '../util/errors.ts'
import { onOrAfterLine } from '../util/version.ts'
import { ClusterError } from './errors.ts'
import type { ClusterClient, KubeObject } from './types.ts'

export type ConcreteGeneration = Exclude<Generation, 'auto'>

export type GatewaySource =
  'override' | 'load-balancer-ip' | 'load-balancer-hostname' | 'external-ip' | 'none'

export interface GatewayDiscovery {
  /** the east-west gateway Service */
  readonly service: string
  readonly namespace: string
  /** the IP the VMs reach istiod at ('' = unknown: the hosts file stays empty) */
  readonly address: string
  readonly source: GatewaySource
  /** the load balancer's (or override's) DNS name, when it published one */
  readonly hostname?: string
  /** the port of a `host:port` override other than 15012: the VMs reach istiod there */
  readonly port?: number
}

export interface Discovery {
  /** the istiod (or pilot) image tag, null when no control plane was found */
  readonly istioVersion: string | null
  readonly generation: ConcreteGeneration
  /** '' = the default revision */
  readonly revision: string
  readonly revisionSource: 'explicit' | 'tag-webhook' | 'default'
  readonly istioNamespace: string
  readonly clusterID: string
  readonly clusterIDSource: 'explicit' | 'injector' | 'missing'
  /** the `mesh` key of ConfigMap istio[-<rev>] ('' when absent) */
  readonly meshConfig: string
  readonly trustDomain: string
  readonly meshId: string
  readonly discoveryAddress: string
  readonly network: string
  readonly gateway: GatewayDiscovery
  /** a Gateway in the istio namespace already serves 15012 */
  readonly istiodExposed: boolean
  /** networking.istio.io version for WorkloadEntry, ServiceEntry, Gateway, VirtualService */
  readonly networkingVersion: IstioNetworkingVersion
  /** networking.istio.io version for WorkloadGroup */
  readonly workloadGroupVersion: IstioNetworkingVersion
  readonly warnings: readonly string[]
}

export interface DiscoverOptions {
  /** resolves a load-balancer hostname on the runner (default: the system resolver) */
  readonly resolveHost?: (hostname: string) => Promise<string[]>
}

const defaultResolve = async (hostname: string): Promise<string[]> =>
  (await lookup(hostname, { all: true })).map(a => a.address)

/** `1.30.3` from `docker.io/istio/pilot:1.30.3-distroless` (null for a digest-only image). */
export function imageTag(image: string): string | null {
  const withoutDigest = image.split('@')[0] ?? ''
  const slash = withoutDigest.lastIndexOf('/')
  const colon = withoutDigest.lastIndexOf(':')
  if (colon <= slash) return null
  return withoutDigest.slice(colon + 1).replace(/-distroless$/, '')
}

/** v1, else v1beta1, else v1alpha3 of those served. */
export function chooseNetworkingVersion(served: readonly string[]): IstioNetworkingVersion | null {
  for (const v of ['v1', 'v1beta1', 'v1alpha3'] as const) if (served.includes(v)) return v
  return null
}

function labels(object: KubeObject | null | undefined): Record<string, string> {
  return object?.metadata.labels ?? {}
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {}
}

function containerImage(deployment: KubeObject): string | undefined {
  const containers = record(record(record(deployment.spec).template).spec).containers
  if (!Array.isArray(containers)) return undefined
  const first = containers.map(record).find(c => c.name === 'discovery') ?? record(containers[0])
  return typeof first.image === 'string' ? first.image : undefined
}

function readOrNull<T>(promise: Promise<T>): Promise<T | null> {
  return promise.catch((error: unknown) => {
    // a missing object is an answer; missing permission or a dead server is not
    if (error instanceof ClusterError && error.kind === 'not-found') return null
    throw error
  })
}

/** Reads the cluster; the explicit values of `cluster` win over what is found. */
export async function discover(
  client: ClusterClient,
  cluster: ClusterConfig,
  options: DiscoverOptions = {}
): Promise<Discovery> {
  const warnings: string[] = []
  const ns = cluster.istioNamespace
  const { name: gwName, namespace: gwNamespace } = ingressServiceRef(cluster.ingressService, ns)
  const tagWebhook =
    ns === 'istio-system' ? 'istio-revision-tag-default' : `istio-revision-tag-default-${ns}`
  const explicitRevision = cluster.revision !== 'auto'

  // round 1
  const [webhook, deployments, namespace, gatewayService, served] = await Promise.all([
    explicitRevision
      ? Promise.resolve(null)
      : readOrNull(
          client.get({
            apiVersion: 'admissionregistration.k8s.io/v1',
            kind: 'MutatingWebhookConfiguration',
            name: tagWebhook
          })
        ),
    client.list('apps/v1', 'Deployment', { namespace: ns }),
    readOrNull(client.get({ apiVersion: 'v1', kind: 'Namespace', name: ns })),
    readOrNull(
      client.get({ apiVersion: 'v1', kind: 'Service', name: gwName, namespace: gwNamespace })
    ),
    client.servedVersions('networking.istio.io')
  ])
  if (namespace === null) {
    throw new ClusterError(
      'not-found',
      `the istio namespace ${ns} does not exist: is Istio installed, and in which namespace (cluster.istioNamespace)?`,
      404
    )
  }

  let revision: string
  let revisionSource: Discovery['revisionSource']
  if (explicitRevision) {
    revision = cluster.revision === 'default' ? '' : cluster.revision
    revisionSource = 'explicit'
  } else {
    const tag = labels(webhook)['istio.io/rev']
    revision = tag !== undefined && tag !== 'default' ? tag : ''
    revisionSource = tag !== undefined ? 'tag-webhook' : 'default'
  }
  const suffix = revision ? `-${revision}` : ''

  // the control plane: istiod[-rev], else the pre-1.5 istio-pilot
  const byName = new Map(deployments.map(d => [d.metadata.name, d]))
  const istiod = byName.get(`istiod${suffix}`) ?? byName.get('istio-pilot')
  const image = istiod ? containerImage(istiod) : undefined
  const istioVersion = image ? imageTag(image) : null
  if (!istiod) warnings.push(`no istiod${suffix} deployment in ${ns}: the Istio version is unknown`)

  let generation: ConcreteGeneration
  if (cluster.generation !== 'auto') generation = cluster.generation
  else if (!istiod || istiod.metadata.name.startsWith('istiod')) generation = 'modern'
  else if (istioVersion !== null && !onOrAfterLine(istioVersion, '1.1')) generation = 'scripts-0.8'
  else if (byName.has('istiocoredns')) generation = 'multinetwork-1.4'
  else generation = 'meshexpansion-1.1'

  const networkingVersion = chooseNetworkingVersion(served)
  if (networkingVersion === null) {
    throw new ClusterError(
      'not-found',
      'the cluster serves no networking.istio.io API (v1, v1beta1 or v1alpha3): are the Istio CRDs installed?',
      404
    )
  }
  // WorkloadGroup came to v1beta1 only in 1.13
  const workloadGroupVersion: IstioNetworkingVersion =
    networkingVersion === 'v1beta1' &&
    istioVersion !== null &&
    !onOrAfterLine(istioVersion, '1.13') &&
    served.includes('v1alpha3')
      ? 'v1alpha3'
      : networkingVersion

  // round 2
  const explicitClusterID = cluster.clusterID !== 'auto'
  const [meshMap, injector, gateways] = await Promise.all([
    readOrNull(
      client.get({ apiVersion: 'v1', kind: 'ConfigMap', name: `istio${suffix}`, namespace: ns })
    ),
    explicitClusterID
      ? Promise.resolve(null)
      : readOrNull(
          client.get({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            name: `istio-sidecar-injector${suffix}`,
            namespace: ns
          })
        ),
    client.list(`networking.istio.io/${networkingVersion}`, 'Gateway', { namespace: ns })
  ])

  const meshConfig = (record(meshMap?.data).mesh as string | undefined) ?? ''
  if (meshMap === null)
    warnings.push(`ConfigMap istio${suffix} not found in ${ns}: mesh defaults assumed`)
  const mesh = record(meshConfig ? (parseYaml(meshConfig) as unknown) : {})
  const defaultConfig = record(mesh.defaultConfig)
  const trustDomain = typeof mesh.trustDomain === 'string' ? mesh.trustDomain : 'cluster.local'
  const meshId = typeof defaultConfig.meshId === 'string' ? defaultConfig.meshId : ''
  const discoveryAddress =
    typeof defaultConfig.discoveryAddress === 'string'
      ? defaultConfig.discoveryAddress
      : istiodAddressOf(ns, revision)

  let clusterID = ''
  let clusterIDSource: Discovery['clusterIDSource'] = 'explicit'
  if (explicitClusterID) clusterID = cluster.clusterID
  else {
    const values = record(injector?.data).values
    clusterIDSource = 'missing'
    if (typeof values === 'string') {
      try {
        const name = record(record(record(JSON.parse(values)).global).multiCluster).clusterName
        if (typeof name === 'string') {
          clusterID = name
          clusterIDSource = 'injector'
        }
      } catch {
        warnings.push(`ConfigMap istio-sidecar-injector${suffix}: the values key is not JSON`)
      }
    }
    // before 1.8 VMs carry no cluster ID: its absence is only worth a word on a modern mesh
    if (clusterIDSource === 'missing' && generation === 'modern')
      warnings.push(
        `no cluster ID in istio-sidecar-injector${suffix}: using '' (set cluster.clusterID)`
      )
  }

  const network = cluster.network || (labels(namespace)['topology.istio.io/network'] ?? '')

  // the older generations reach the control plane through their own gateway or ILBs
  const gatewayWarnings: string[] = []
  const gateway = await gatewayAddress(
    cluster.istiodAddress,
    gwName,
    gwNamespace,
    gatewayService,
    options.resolveHost ?? defaultResolve,
    gatewayWarnings
  )
  if (generation === 'modern') warnings.push(...gatewayWarnings)

  // our own exposure (an earlier run) does not count: the plan keeps showing it
  const istiodExposed = gateways.some(g => {
    if (labels(g)['app.kubernetes.io/managed-by'] === 'mesh-expansion') return false
    const servers = record(g.spec).servers
    return Array.isArray(servers) && servers.some(s => record(record(s).port).number === 15012)
  })

  return {
    istioVersion,
    generation,
    revision,
    revisionSource,
    istioNamespace: ns,
    clusterID,
    clusterIDSource,
    meshConfig,
    trustDomain,
    meshId,
    discoveryAddress,
    network,
    gateway,
    istiodExposed,
    networkingVersion,
    workloadGroupVersion,
    warnings
  }
}

/** The port of a `host:port` or `[v6]:port` override; undefined without one. */
function portOf(override: string): number | undefined {
  if (isIP(override)) return undefined
  const match = /:(\d{1,5})$/.exec(override)
  const port = match ? Number(match[1]) : NaN
  return port >= 1 && port <= 65535 ? port : undefined
}

function hostOf(override: string): string {
  // host:port, [v6]:port, or a bare IPv6 address
  if (override.startsWith('[')) return override.slice(1, override.indexOf(']'))
  if (isIP(override)) return override
  const colon = override.lastIndexOf(':')
  return colon > 0 ? override.slice(0, colon) : override
}

async function resolveFirst(
  hostname: string,
  resolveHost: (hostname: string) => Promise<string[]>,
  warnings: string[]
): Promise<string> {
  try {
    const addresses = await resolveHost(hostname)
    const first = addresses.find(a => isIP(a) === 4) ?? addresses[0]
    if (first) return first
    warnings.push(`${hostname} resolves to no address on the runner`)
  } catch (error) {
    warnings.push(`cannot resolve ${hostname} on the runner: ${errorMessage(error)}`)
  }
  return ''
}

async function gatewayAddress(
  override: string,
  service: string,
  namespace: string,
  live: KubeObject | null,
  resolveHost: (hostname: string) => Promise<string[]>,
  warnings: string[]
): Promise<GatewayDiscovery> {
  const base = { service, namespace }
  if (override !== 'auto' && override !== '') {
    const host = hostOf(override)
    const port = portOf(override)
    // 15012 is what the files say anyway: only another port is carried
    const withPort = port !== undefined && port !== ISTIOD_PORT ? { ...base, port } : base
    if (isIP(host)) return { ...withPort, address: host, source: 'override' }
    return {
      ...withPort,
      address: await resolveFirst(host, resolveHost, warnings),
      source: 'override',
      hostname: host
    }
  }
  if (live === null) {
    warnings.push(
      `no east-west gateway Service ${service} in ${namespace}: set cluster.istiodAddress, or the VMs cannot reach istiod`
    )
    return { ...base, address: '', source: 'none' }
  }
  const ingress = record(record(live.status).loadBalancer).ingress
  const first = Array.isArray(ingress) ? record(ingress[0]) : {}
  if (typeof first.ip === 'string' && first.ip !== '') {
    return { ...base, address: first.ip, source: 'load-balancer-ip' }
  }
  if (typeof first.hostname === 'string' && first.hostname !== '') {
    // istioctl leaves hosts empty here; the product resolves the name on the runner
    return {
      ...base,
      address: await resolveFirst(first.hostname, resolveHost, warnings),
      source: 'load-balancer-hostname',
      hostname: first.hostname
    }
  }
  const external = record(live.spec).externalIPs
  if (Array.isArray(external) && typeof external[0] === 'string') {
    return { ...base, address: external[0], source: 'external-ip' }
  }
  warnings.push(`the east-west gateway ${namespace}/${service} has no load-balancer address yet`)
  return { ...base, address: '', source: 'none' }
}

/** The lines the plan shows about what was found. */
export function renderDiscovery(d: Discovery): string[] {
  const gw =
    d.gateway.address !== ''
      ? `${d.gateway.address}${d.gateway.port !== undefined ? ` port ${d.gateway.port}` : ''} (${d.gateway.source}${d.gateway.hostname ? ` ${d.gateway.hostname}` : ''})`
      : 'unknown'
  return [
    `Istio ${d.istioVersion ?? 'unknown'} (${d.generation}), revision ${d.revision || 'default'} (${d.revisionSource}), namespace ${d.istioNamespace}`,
    `cluster ID ${d.clusterID === '' ? "''" : d.clusterID} (${d.clusterIDSource}), network ${d.network === '' ? "''" : d.network}`,
    `trust domain ${d.trustDomain}, mesh ID ${d.meshId === '' ? '(trust domain)' : d.meshId}, discovery address ${d.discoveryAddress}`,
    `east-west gateway ${d.gateway.namespace}/${d.gateway.service}: ${gw}; istiod ${d.istiodExposed ? 'already exposed' : 'not exposed'} on 15012`,
    `networking.istio.io ${d.networkingVersion} (WorkloadGroup ${d.workloadGroupVersion})`,
    ...d.warnings.map(w => `warning: ${w}`)
  ]
}
