// What the modern istiod stand-in pushes beside the name table, read from a Kubernetes API at
// each push: the services whose endpoints are WorkloadEntries (CDS/EDS: hosts, VIPs, port, and
// per endpoint its address, port and whether it has a sidecar, i.e. Istio mTLS), and the
// PeerAuthentication mode of each namespace (the root namespace's is mesh-wide). The sidecar
// stand-in routes and secures its traffic by them (lab/mesh/FIDELITY.md).
import { getJson, type ServiceNamesOptions } from './names.ts'

export interface MeshEndpoint {
  address: string
  port: number
  /** Istio mTLS to this endpoint (the entry has a service account, or tlsMode=istio). */
  tls: boolean
}

export interface MeshServicePort {
  hosts: string[]
  addresses: string[]
  port: number
  endpoints: MeshEndpoint[]
}

export interface MeshPush {
  services: MeshServicePort[]
  /** namespace → STRICT | PERMISSIVE | DISABLE (namespace-wide policies, no selector) */
  peerAuthentication: Record<string, string>
  rootNamespace: string
}

interface Meta {
  name?: string
  namespace?: string
}
interface WorkloadEntryObject {
  metadata?: Meta
  spec?: {
    address?: string
    labels?: Record<string, string>
    ports?: Record<string, number>
    serviceAccount?: string
  }
  status?: { conditions?: Array<{ type?: string; status?: string }> }
}
interface PortSpec {
  number?: number
  port?: number
  name?: string
  targetPort?: number | string
}

const IPV4 = /^\d+\.\d+\.\d+\.\d+$/

/** The items of the first served version of an Istio kind ([] when none is served). */
async function istioList<T>(
  options: ServiceNamesOptions,
  group: string,
  plural: string,
  versions: string[]
): Promise<T[]> {
  for (const version of versions) {
    try {
      const url = new URL(`/apis/${group}/${version}/${plural}`, options.server)
      return ((await getJson(url, options)) as { items?: T[] }).items ?? []
    } catch (error) {
      if (error instanceof Error && / HTTP 404:/.test(error.message)) continue
      throw error
    }
  }
  return []
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const keys = Object.keys(selector)
  return keys.length > 0 && keys.every(k => labels[k] === selector[k])
}

/** istiod leaves an entry whose Healthy condition is False out of the healthy endpoints. */
function healthy(entry: WorkloadEntryObject): boolean {
  return !entry.status?.conditions?.some(c => c.type === 'Healthy' && c.status === 'False')
}

function endpointsOf(
  entries: WorkloadEntryObject[],
  namespace: string,
  selector: Record<string, string>,
  port: PortSpec
): MeshEndpoint[] {
  const out: MeshEndpoint[] = []
  for (const entry of entries) {
    const spec = entry.spec ?? {}
    if (entry.metadata?.namespace !== namespace || !selects(selector, spec.labels ?? {})) continue
    if (!spec.address || !IPV4.test(spec.address) || !healthy(entry)) continue
    const number = port.number ?? port.port ?? 0
    const target =
      (port.name ? spec.ports?.[port.name] : undefined) ??
      (typeof port.targetPort === 'number' ? port.targetPort : number)
    const mode = spec.labels?.['security.istio.io/tlsMode']
    out.push({
      address: spec.address,
      port: target,
      tls: mode !== undefined ? mode === 'istio' : Boolean(spec.serviceAccount)
    })
  }
  return out
}

/** A `mesh` function for startIstiod, reading the API at each push. */
export function meshFromApi(
  options: ServiceNamesOptions & { rootNamespace?: string }
): () => Promise<MeshPush> {
  const domain = options.clusterDomain ?? 'cluster.local'
  const versions = ['v1', 'v1beta1', 'v1alpha3']
  return async () => {
    const entries = await istioList<WorkloadEntryObject>(
      options,
      'networking.istio.io',
      'workloadentries',
      versions
    )
    const serviceEntries = await istioList<{
      metadata?: Meta
      spec?: {
        hosts?: string[]
        addresses?: string[]
        ports?: PortSpec[]
        workloadSelector?: { labels?: Record<string, string> }
      }
    }>(options, 'networking.istio.io', 'serviceentries', versions)
    const policies = await istioList<{
      metadata?: Meta
      spec?: { selector?: unknown; mtls?: { mode?: string } }
    }>(options, 'security.istio.io', 'peerauthentications', ['v1', 'v1beta1'])
    const services = (await getJson(new URL('/api/v1/services', options.server), options)) as {
      items?: Array<{
        metadata?: Meta
        spec?: { clusterIP?: string; selector?: Record<string, string>; ports?: PortSpec[] }
      }>
    }
    const out: MeshServicePort[] = []
    for (const se of serviceEntries) {
      const selector = se.spec?.workloadSelector?.labels
      const ns = se.metadata?.namespace ?? ''
      if (!selector) continue
      for (const port of se.spec?.ports ?? []) {
        out.push({
          hosts: (se.spec?.hosts ?? []).map(h => h.toLowerCase()),
          addresses: (se.spec?.addresses ?? []).filter(a => IPV4.test(a)),
          port: port.number ?? 0,
          endpoints: endpointsOf(entries, ns, selector, port)
        })
      }
    }
    for (const svc of services.items ?? []) {
      const selector = svc.spec?.selector ?? {}
      const ns = svc.metadata?.namespace ?? ''
      for (const port of svc.spec?.ports ?? []) {
        const endpoints = endpointsOf(entries, ns, selector, port)
        // a Service of pods only: the lab's pods have no sidecar (the proxy keeps the VIP)
        if (endpoints.length === 0) continue
        const ip = svc.spec?.clusterIP
        out.push({
          hosts: [`${svc.metadata?.name ?? ''}.${ns}.svc.${domain}`],
          addresses: ip && IPV4.test(ip) ? [ip] : [],
          port: port.port ?? 0,
          endpoints
        })
      }
    }
    const peerAuthentication: Record<string, string> = {}
    for (const pa of policies) {
      const mode = pa.spec?.mtls?.mode
      if (pa.spec?.selector !== undefined || !mode || mode === 'UNSET') continue
      peerAuthentication[pa.metadata?.namespace ?? ''] = mode
    }
    return {
      services: out,
      peerAuthentication,
      rootNamespace: options.rootNamespace ?? 'istio-system'
    }
  }
}
