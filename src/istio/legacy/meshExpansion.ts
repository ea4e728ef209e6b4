// meshexpansion-1.1 generation (Helm `global.meshExpansion`, 1.0/1.1): the files of the 1.1
// doc procedure and the objects for host services. Follows the reference
// legacy-generations.md, "Gen 3" (1.1 doc procedure), and seed 001.

import {
  LegacyInputError,
  MANAGED_LABELS,
  checkedPorts,
  formatEnvFile,
  portList,
  protocolForPortName,
  requireCidrList,
  requireDnsLabel,
  requireIP,
  requireKnownPortNames,
  toYaml
} from './common.ts'

/**
 * The ports the 1.1 chart adds to istio-ingressgateway when meshExpansion is enabled
 * (`meshExpansionPorts`): pilot, mixer, citadel, DNS over TLS.
 */
export const MESH_EXPANSION_GATEWAY_PORTS: readonly {
  readonly name: string
  readonly port: number
  readonly targetPort: number
}[] = [
  { name: 'tcp-pilot-grpc-tls', port: 15011, targetPort: 15011 },
  { name: 'tcp-mixer-grpc-tls', port: 15004, targetPort: 15004 },
  { name: 'tcp-citadel-grpc-tls', port: 8060, targetPort: 8060 },
  { name: 'tcp-dns-tls', port: 853, targetPort: 853 }
]

/** The meshExpansion ports the gateway Service lacks (by number), in the chart's order. */
export function missingMeshExpansionPorts(
  servicePorts: readonly { readonly port: number }[]
): typeof MESH_EXPANSION_GATEWAY_PORTS {
  const have = new Set(servicePorts.map(p => p.port))
  return MESH_EXPANSION_GATEWAY_PORTS.filter(p => !have.has(p.port))
}

export interface MeshExpansionClusterEnvInput {
  readonly serviceCidr: string
  /** Ports the host serves; empty = no ISTIO_INBOUND_PORTS (the VM only calls the mesh). */
  readonly inboundPorts?: readonly number[]
}

/**
 * cluster.env of the 1.1 doc: ISTIO_CP_AUTH=MUTUAL_TLS, ISTIO_SERVICE_CIDR, then the optional
 * ISTIO_INBOUND_PORTS. (The doc's `echo -e "…\n"` left a blank line; we do not.)
 */
export function renderMeshExpansionClusterEnv(input: MeshExpansionClusterEnvInput): string {
  const entries: [string, string][] = [
    ['ISTIO_CP_AUTH', 'MUTUAL_TLS'],
    ['ISTIO_SERVICE_CIDR', requireCidrList('serviceCidr', input.serviceCidr)]
  ]
  if (input.inboundPorts && input.inboundPorts.length > 0) {
    entries.push(['ISTIO_INBOUND_PORTS', portList('inboundPorts', input.inboundPorts)])
  }
  return formatEnvFile(entries)
}

/** The /etc/hosts line that sends the control-plane names to the ingress gateway. */
export function controlPlaneHostsLine(gateway: string, istioNamespace = 'istio-system'): string {
  const ns = requireDnsLabel('istioNamespace', istioNamespace)
  return `${requireIP('gateway', gateway)} istio-citadel istio-pilot istio-pilot.${ns}\n`
}

/** `<clusterIP> <name>.<ns>.svc.cluster.local` lines for cluster services the host calls. */
export function clusterServiceHostsLines(
  services: readonly {
    readonly name: string
    readonly namespace: string
    readonly clusterIP: string
  }[],
  clusterDomain = 'cluster.local'
): string {
  return services
    .map(s => {
      const host = `${requireDnsLabel('name', s.name)}.${requireDnsLabel('namespace', s.namespace)}.svc.${clusterDomain}`
      return `${requireIP(`clusterIP of ${host}`, s.clusterIP)} ${host}\n`
    })
    .join('')
}

export interface HostServiceInput {
  /** The service name: host `<name>.<namespace>.svc.cluster.local`. */
  readonly name: string
  readonly namespace: string
  /** Port name → number; the name's prefix gives the protocol (http, grpc, tcp…). */
  readonly ports: Readonly<Record<string, number>>
  /** Port name → protocol, where the name alone does not say it (e.g. `http1`: http). */
  readonly protocols?: Readonly<Record<string, string>>
  /** One endpoint per host address. */
  readonly endpoints: readonly {
    readonly address: string
    readonly labels?: Readonly<Record<string, string>>
  }[]
  readonly clusterDomain?: string
}

function hostServicePorts(ports: Readonly<Record<string, number>>): [string, number][] {
  if (Object.keys(ports).length === 0) {
    throw new LegacyInputError('a host service needs at least one port')
  }
  return checkedPorts(ports)
}

/**
 * The ServiceEntry of the 1.1 doc ("Running services on a mesh expansion machine"):
 * v1alpha3 (all 1.1 serves), STATIC, one endpoint per host address with its labels.
 */
export function renderHostServiceEntry(input: HostServiceInput): string {
  const name = requireDnsLabel('name', input.name)
  const ns = requireDnsLabel('namespace', input.namespace)
  const ports = hostServicePorts(input.ports)
  requireKnownPortNames(name, input.ports, input.protocols)
  if (input.endpoints.length === 0)
    throw new LegacyInputError('a STATIC ServiceEntry needs an endpoint')
  const seen = new Set<string>()
  const endpoints = input.endpoints.map(e => {
    const address = requireIP('endpoint address', e.address)
    if (seen.has(address)) throw new LegacyInputError(`endpoint ${address} is listed twice`)
    seen.add(address)
    const out: Record<string, unknown> = { address, ports: Object.fromEntries(ports) }
    if (e.labels && Object.keys(e.labels).length > 0) out['labels'] = { ...e.labels }
    return out
  })
  return toYaml({
    apiVersion: 'networking.istio.io/v1alpha3',
    kind: 'ServiceEntry',
    metadata: { name, namespace: ns, labels: { ...MANAGED_LABELS } },
    spec: {
      hosts: [`${name}.${ns}.svc.${input.clusterDomain ?? 'cluster.local'}`],
      ports: ports.map(([n, number]) => ({
        number,
        name: n,
        protocol: protocolForPortName(n, input.protocols?.[n])
      })),
      resolution: 'STATIC',
      endpoints
    }
  })
}

/**
 * The selector-less Service that gives cluster workloads a DNS name for the host service
 * (what `istioctl register` created; the Endpoints come from planRegister).
 */
export function renderSelectorlessService(input: Omit<HostServiceInput, 'endpoints'>): string {
  const name = requireDnsLabel('name', input.name)
  const ns = requireDnsLabel('namespace', input.namespace)
  return toYaml({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, labels: { ...MANAGED_LABELS } },
    spec: {
      ports: hostServicePorts(input.ports).map(([n, port]) => ({
        name: n,
        port,
        protocol: 'TCP',
        targetPort: port
      }))
    }
  })
}
