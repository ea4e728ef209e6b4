// cluster.env: the VM's /var/lib/istio/envoy/cluster.env, sourced by istio-start.sh. Every
// proxyMetadata key of the computed ProxyConfig, overlaid with the keys istioctl derives from
// the WorkloadGroup and the flags; lines sorted as whole strings, values shell-quoted.

import { compareGoStrings } from './goJson.ts'
import { ISTIOD_PORT, isRevisioned, istiodAddress } from './istiod.ts'
import { shellQuote } from './shellQuote.ts'
import type { WorkloadGroup } from './workloadGroup.ts'

export interface ClusterEnvInputs {
  readonly workloadGroup: WorkloadGroup
  readonly proxyMetadata: Readonly<Record<string, string>>
  /** defaultConfig.statusPort of the computed ProxyConfig, 0 when unset */
  readonly statusPort: number
  readonly istioNamespace: string
  readonly revision?: string
  readonly internalIP?: string
  readonly externalIP?: string
  /**
   * Not an istioctl input: the port the VM reaches istiod at, when not 15012 (a NodePort, a
   * gateway on another port). istio-start.sh derives CA_ADDR and the discovery address from
   * PILOT_ADDRESS (1.8 and later), so the port is carried there.
   */
  readonly istiodPort?: number
  /**
   * Not an istioctl input: ports the capture must leave alone (the VM's SSH port, the
   * description's reachablePorts), added to ISTIO_LOCAL_EXCLUDE_PORTS. Rendering refuses an
   * explicit ISTIO_INBOUND_PORTS list that holds one.
   */
  readonly reachablePorts?: readonly number[]
}

/**
 * ISTIO_INBOUND_PORTS: the template's port numbers. istioctl iterates a Go map, so its order
 * changes from run to run; ours is the ports sorted by port name (Go string order), the same
 * order as ISTIO_META_POD_PORTS. Duplicated numbers are kept. `*` when there are no ports.
 */
export function inboundPorts(ports: Readonly<Record<string, number>>): string {
  const names = Object.keys(ports).sort(compareGoStrings)
  if (names.length === 0) return '*'
  return names.map(n => String(ports[n])).join(',')
}

/**
 * ISTIO_LOCAL_EXCLUDE_PORTS: ssh, Prometheus, the agent's ports and the status port, as
 * istioctl writes it; then, not istioctl's, each port of `reachable` not listed yet (the VM's
 * own SSH port when it is not 22, the description's reachablePorts). istio-iptables honours
 * the list only when ISTIO_INBOUND_PORTS is `*`; an explicit list is checked by
 * `capturedReachablePorts`.
 */
export function localExcludePorts(statusPort: number, reachable: readonly number[] = []): string {
  const ports = [22, 15090, 15021]
  if (statusPort !== 15090 && statusPort !== 15021)
    ports.push(statusPort !== 0 ? statusPort : 15020)
  for (const port of reachable) if (!ports.includes(port)) ports.push(port)
  return ports.join(',')
}

/**
 * The ports of `reachable` the capture would take: with an explicit ISTIO_INBOUND_PORTS list
 * istio-iptables redirects every listed port and ignores ISTIO_LOCAL_EXCLUDE_PORTS
 * (tools/istio-iptables/pkg/capture/run.go handleInboundPortsInclude).
 */
export function capturedReachablePorts(inbound: string, reachable: readonly number[]): number[] {
  if (inbound === '*' || inbound === '') return []
  const listed = inbound.split(',').map(Number)
  return reachable.filter(port => listed.includes(port))
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Thrown for a cluster.env key that is not a shell variable name. */
export class EnvKeyError extends Error {
  override name = 'EnvKeyError'
}

/** Refuses a key a sourcing shell would run as a command (`X=1;touch /tmp/x;Y`). */
export function checkEnvKey(key: string, source: string): void {
  if (!ENV_KEY.test(key)) {
    throw new EnvKeyError(
      `${source}: invalid environment variable name ${JSON.stringify(key)}: letters, digits ` +
        'and "_", not starting with a digit (cluster.env is sourced by a root shell)'
    )
  }
}

/** The final KEY=value map before formatting. */
export function clusterEnvEntries(inputs: ClusterEnvInputs): Record<string, string> {
  const wg = inputs.workloadGroup
  const inbound = inboundPorts(wg.spec.template.ports)
  const reachable = inputs.reachablePorts ?? []
  const captured = capturedReachablePorts(inbound, reachable)
  if (captured.length > 0) {
    throw new Error(
      `ISTIO_INBOUND_PORTS=${inbound} would capture port ${captured.join(', ')}, which must stay ` +
        "reachable (the SSH port or reachablePorts): take it out of the group's ports"
    )
  }
  const overrides: Record<string, string> = {
    ISTIO_INBOUND_PORTS: inbound,
    ISTIO_NAMESPACE: wg.namespace,
    ISTIO_SERVICE: `${wg.name}.${wg.namespace}`,
    ISTIO_SERVICE_CIDR: '*',
    ISTIO_LOCAL_EXCLUDE_PORTS: localExcludePorts(inputs.statusPort, reachable),
    SERVICE_ACCOUNT: wg.spec.template.serviceAccount
  }
  const port = inputs.istiodPort ?? ISTIOD_PORT
  if (isRevisioned(inputs.revision)) {
    overrides.CA_ADDR = istiodAddress(inputs.istioNamespace, inputs.revision, port)
  }
  // istioctl's output unchanged on 15012: only another port needs saying
  if (port !== ISTIOD_PORT) {
    overrides.PILOT_ADDRESS = istiodAddress(inputs.istioNamespace, inputs.revision, port)
  }
  if (inputs.internalIP) {
    overrides.ISTIO_SVC_IP = inputs.internalIP
  } else if (inputs.externalIP) {
    overrides.ISTIO_SVC_IP = inputs.externalIP
    overrides.REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION = 'true'
  }
  return { ...inputs.proxyMetadata, ...overrides }
}

/**
 * Formats KEY=value lines: quoted with istio's shellescape, sorted bytewise, `\n` each. A key
 * that is not a shell variable name is refused (istioctl writes it as it is).
 */
export function formatClusterEnv(entries: Readonly<Record<string, string>>): string {
  const lines = Object.entries(entries).map(([k, v]) => {
    checkEnvKey(k, 'cluster.env')
    return `${k}=${shellQuote(v)}`
  })
  lines.sort(compareGoStrings)
  return lines.join('\n') + '\n'
}

export function renderClusterEnv(inputs: ClusterEnvInputs): string {
  return formatClusterEnv(clusterEnvEntries(inputs))
}
