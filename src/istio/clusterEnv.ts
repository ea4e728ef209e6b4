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

/** ISTIO_LOCAL_EXCLUDE_PORTS: ssh, Prometheus, the agent's ports and the status port. */
export function localExcludePorts(statusPort: number): string {
  let ports = '22,15090,15021'
  if (statusPort !== 15090 && statusPort !== 15021) {
    ports += statusPort !== 0 ? `,${statusPort}` : ',15020'
  }
  return ports
}

/** The final KEY=value map before formatting. */
export function clusterEnvEntries(inputs: ClusterEnvInputs): Record<string, string> {
  const wg = inputs.workloadGroup
  const overrides: Record<string, string> = {
    ISTIO_INBOUND_PORTS: inboundPorts(wg.spec.template.ports),
    ISTIO_NAMESPACE: wg.namespace,
    ISTIO_SERVICE: `${wg.name}.${wg.namespace}`,
    ISTIO_SERVICE_CIDR: '*',
    ISTIO_LOCAL_EXCLUDE_PORTS: localExcludePorts(inputs.statusPort),
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

/** Formats KEY=value lines: quoted with istio's shellescape, sorted bytewise, `\n` each. */
export function formatClusterEnv(entries: Readonly<Record<string, string>>): string {
  const lines = Object.entries(entries).map(([k, v]) => `${k}=${shellQuote(v)}`)
  lines.sort(compareGoStrings)
  return lines.join('\n') + '\n'
}

export function renderClusterEnv(inputs: ClusterEnvInputs): string {
  return formatClusterEnv(clusterEnvEntries(inputs))
}
