// Derived defaults: values that depend on other fields (a VM's user comes from ssh.user, a
// group's service account from its name, …). The result has every field explicit, so later
// code never guesses a default of its own.
import type { Adopt, Generation, JumpHost, ParsedDescription, Probe, Protocol } from './schema.ts'
import { parseEndpoint, parseShard, type CountOrPercent, type Endpoint } from './formats.ts'

export type { Adopt, Endpoint, Generation, JumpHost, Probe, Protocol }

export interface ClusterConfig {
  /** Path of a kubeconfig file; null = KUBECONFIG, ~/.kube/config, in-cluster. */
  kubeconfig: string | null
  /** Context to use; null = the kubeconfig's current context. */
  context: string | null
  istioNamespace: string
  /** 'auto', 'default' or a revision name. */
  revision: string
  /** 'auto' or the cluster ID ('' is a valid, explicit ID). */
  clusterID: string
  /** 'auto', an IP, a hostname, or host:port. */
  istiodAddress: string
  /** `name` or `name.namespace` of the east-west gateway Service. */
  ingressService: string
  exposeIstiod: boolean
  generation: Generation
  network: string
  legacy: LegacyConfig
}

/** The settings of the generations before 1.8 (see the schema for each). */
export interface LegacyConfig {
  secretPrefix: string
  /** empty = found through the API */
  serviceCidrs: string[]
  controlPlaneAuth: 'MUTUAL_TLS' | 'NONE'
  enableMeshExpansionPorts: boolean
  fixGlobalDns: boolean
  /** name.namespace */
  services: string[]
}

export interface ServicePort {
  name: string
  number: number
  protocol: Protocol
  targetPort: number
}

export interface ServiceConfig {
  kind: 'ServiceEntry' | 'Service' | 'none'
  name: string
  /** ServiceEntry hosts; empty for kind Service and none. */
  hosts: string[]
  ports: ServicePort[]
}

export interface SidecarConfig {
  /** 'auto' or x.y.z. */
  version: string
  /** An http(s) URL fetched by the host, a runner path that is pushed, or null = official package. */
  package: string | null
  /**
   * SHA-256 (lower case) the package at the URL must have, checked on the host; absent = none
   * given (an https URL then relies on `<url>.sha256`; an http URL always has one).
   */
  sha256?: string
}

export interface WorkloadGroup {
  name: string
  namespace: string
  serviceAccount: string
  labels: Record<string, string>
  annotations: Record<string, string>
  /** Port name -> port number, in the order written. */
  ports: Record<string, number>
  network: string
  locality: string
  /** null = not set (Istio's default). */
  weight: number | null
  probe: Probe | null
  registration: 'manual' | 'auto'
  service: ServiceConfig
  captureDns: boolean
  includeOutboundIPRanges: string[]
  excludeOutboundIPRanges: string[]
  /** Content of the proxy.istio.io/config annotation; null = none. */
  proxyConfig: Record<string, unknown> | null
  sidecar: SidecarConfig
  /** Ports never captured by the sidecar on the group's hosts, besides their SSH port. */
  reachablePorts?: number[]
}

export interface Vm {
  name: string
  /** Name of its workload group (always set after resolution). */
  group: string
  /** IP, hostname, or 'local' for the runner itself. */
  host: string
  port: number
  user: string
  /** 'auto' or the IP the mesh uses to reach the VM. */
  address: string
  network: string
  jump: Required<JumpHost>[]
  sidecar: SidecarConfig
}

export interface SshConfig {
  user: string
  port: number
  privateKeyEnv: string
  privateKeyPath: string | null
  passphraseEnv: string | null
  knownHostsEnv: string
  strictHostKeyChecking: boolean
  connectTimeout: number
  commandTimeout: number
  keepalive: number
  jump: JumpHost[]
}

export interface Settings {
  parallelism: number
  tokenDuration: number
  /** Seconds: apply places a new token, and drift reports one, that expires within it. */
  tokenRefreshWithin: number
  owner: string
  failFast: boolean
  /** null = no limit. */
  maxFailures: number | null
  shard: { index: number; count: number }
  /** null = the public-IP lookup is off */
  publicAddressLookup: string | null
  /** existing objects this description takes over from someone else */
  adopt: Adopt[]
  /** Ports never captured by the sidecar on any host, besides its SSH port. */
  reachablePorts?: number[]
  /** Canary upgrades in batches (docs/rollout.md); null = every host at once. */
  rollout: Rollout | null
}

/** settings.rollout: counts of hosts, or percentages ("25%") of the hosts to upgrade. */
export interface Rollout {
  firstBatch: CountOrPercent
  batchSize: CountOrPercent
  /** of each batch's hosts */
  maxUnavailable: CountOrPercent
}

export interface Check {
  name: string
  from: Endpoint
  /** Exactly one of `to` and `url` is set. */
  to: Endpoint | null
  url: string | null
  /** Port on `to`; null with url. */
  port: number | null
  path: string
  expect: { status: number; headers: Record<string, string>; body: string | null }
  timeout: number
  attempts: number
}

/** A fully defaulted, validated description. */
export interface Description {
  cluster: ClusterConfig
  workloadGroups: WorkloadGroup[]
  vms: Vm[]
  ssh: SshConfig
  settings: Settings
  checks: Check[]
}

const PROTOCOL_PREFIXES: Record<string, Protocol> = {
  http: 'HTTP',
  http2: 'HTTP2',
  https: 'HTTPS',
  grpc: 'GRPC',
  'grpc-web': 'GRPC',
  mongo: 'MONGO',
  tcp: 'TCP',
  tls: 'TLS'
}

/** Istio's port naming convention `<protocol>[-suffix]`; unknown prefixes are TCP. */
export function protocolOfPortName(name: string): Protocol {
  const lower = name.toLowerCase()
  if (lower.startsWith('grpc-web')) return 'GRPC'
  const prefix = lower.split('-')[0] ?? ''
  return PROTOCOL_PREFIXES[prefix] ?? 'TCP'
}

function endpointOf(value: string): Endpoint {
  const endpoint = parseEndpoint(value)
  // validated before resolution; a string here is a bug
  if (typeof endpoint === 'string') throw new Error(`internal: unvalidated endpoint ${value}`)
  return endpoint
}

function sha256Of(sidecar: { sha256?: string | undefined } | undefined): { sha256?: string } {
  return sidecar?.sha256 !== undefined ? { sha256: sidecar.sha256.toLowerCase() } : {}
}

/**
 * The ports the sidecar must never capture on a VM: its SSH port (the run came in on it, and
 * re-runs and uninstall need it), then settings.reachablePorts and its group's, each once, in
 * that order. The runner itself (host "local") has no SSH port of ours.
 */
export function reachablePortsOf(
  vm: Pick<Vm, 'host' | 'port'>,
  group: Pick<WorkloadGroup, 'reachablePorts'> | undefined,
  settings: Pick<Settings, 'reachablePorts'>
): number[] {
  const ports = [
    ...(vm.host === 'local' ? [] : [vm.port]),
    ...(settings.reachablePorts ?? []),
    ...(group?.reachablePorts ?? [])
  ]
  return [...new Set(ports)]
}

/** Fills every derived default. The input must have passed the schema and semantic checks. */
export function resolveDefaults(parsed: ParsedDescription): Description {
  const { cluster, ssh, settings } = parsed
  const groups: WorkloadGroup[] = parsed.workloadGroups.map(group => {
    const kind = group.service.kind
    const serviceName = group.service.name ?? group.name
    const ports =
      group.service.ports?.map(p => ({
        name: p.name,
        number: p.number,
        protocol: p.protocol ?? protocolOfPortName(p.name),
        targetPort: p.targetPort ?? p.number
      })) ??
      Object.entries(group.ports).map(([name, number]) => ({
        name,
        number,
        protocol: protocolOfPortName(name),
        targetPort: number
      }))
    return {
      name: group.name,
      namespace: group.namespace,
      serviceAccount: group.serviceAccount ?? group.name,
      labels: group.labels ?? { app: group.name },
      annotations: group.annotations,
      ports: group.ports,
      network: group.network ?? cluster.network,
      locality: group.locality,
      weight: group.weight ?? null,
      probe: group.probe ?? null,
      registration: group.registration,
      service: {
        kind,
        name: serviceName,
        hosts:
          kind === 'ServiceEntry'
            ? (group.service.hosts ?? [`${serviceName}.${group.namespace}.svc.cluster.local`])
            : [],
        ports: kind === 'none' ? [] : ports
      },
      captureDns: group.captureDns,
      includeOutboundIPRanges: group.includeOutboundIPRanges,
      excludeOutboundIPRanges: group.excludeOutboundIPRanges,
      proxyConfig: group.proxyConfig ?? null,
      sidecar: {
        version: group.sidecar?.version ?? 'auto',
        package: group.sidecar?.package ?? null,
        ...sha256Of(group.sidecar)
      },
      reachablePorts: group.reachablePorts
    }
  })
  const byName = new Map(groups.map(group => [group.name, group]))
  const only = groups.length === 1 ? groups[0]?.name : undefined

  const vms: Vm[] = parsed.vms.map(vm => {
    const groupName = vm.group ?? only ?? ''
    const group = byName.get(groupName)
    if (!group) throw new Error(`internal: vm ${vm.name} has no group`)
    const user = vm.user ?? ssh.user
    return {
      name: vm.name,
      group: groupName,
      host: vm.host,
      port: vm.port ?? ssh.port,
      user,
      address: vm.address,
      network: vm.network ?? group.network,
      jump: (vm.jump ?? ssh.jump).map(hop => ({ ...hop, user: hop.user ?? user })),
      // a sha256 goes with the package written beside it
      sidecar: {
        version: vm.sidecar?.version ?? group.sidecar.version,
        ...(vm.sidecar?.package !== undefined
          ? { package: vm.sidecar.package, ...sha256Of(vm.sidecar) }
          : {
              package: group.sidecar.package,
              ...(group.sidecar.sha256 !== undefined ? { sha256: group.sidecar.sha256 } : {})
            })
      }
    }
  })
  const vmByName = new Map(vms.map(vm => [vm.name, vm]))

  const checks: Check[] = parsed.checks.map(check => {
    const to = check.to !== undefined ? endpointOf(check.to) : null
    let port: number | null = check.port ?? null
    if (port === null && to?.kind === 'vm') {
      const group = byName.get(vmByName.get(to.name)?.group ?? '')
      port = Object.values(group?.ports ?? {})[0] ?? null
    }
    return {
      name: check.name ?? `${check.from} -> ${check.to ?? check.url ?? ''}`,
      from: endpointOf(check.from),
      to,
      url: check.url ?? null,
      port,
      path: check.path,
      expect: { ...check.expect, body: check.expect.body ?? null },
      timeout: check.timeout,
      attempts: check.attempts
    }
  })

  // These sections are the schema's output, defaults filled in: a key it may leave unset is null.
  return {
    cluster: {
      ...cluster,
      kubeconfig: cluster.kubeconfig ?? null,
      context: cluster.context ?? null,
      legacy: { ...cluster.legacy }
    },
    workloadGroups: groups,
    vms,
    ssh: {
      ...ssh,
      privateKeyPath: ssh.privateKeyPath ?? null,
      passphraseEnv: ssh.passphraseEnv ?? null
    },
    settings: {
      ...settings,
      maxFailures: settings.maxFailures ?? null,
      shard: parseShard(settings.shard) ?? { index: 1, count: 1 },
      publicAddressLookup: settings.publicAddressLookup ?? null,
      rollout: settings.rollout ? (settings.rollout as Rollout) : null
    },
    checks
  }
}
