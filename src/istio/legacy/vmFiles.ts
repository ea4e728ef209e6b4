// Everything one VM of an older generation receives, composed from the renderers of each era:
// what setupMeshEx.sh machineSetup copied (0.x), and what the 1.1 and 1.3/1.4 docs had the
// operator write by hand. Pure; the engine fills the inputs from the cluster.
import { onOrAfterLine } from '../../util/version.ts'
import { LegacyInputError, requireCidrList } from './common.ts'
import {
  clusterServiceHostsLines,
  controlPlaneHostsLine,
  renderMeshExpansionClusterEnv
} from './meshExpansion.ts'
import { globalHostsLines } from './multiNetwork.ts'
import {
  renderKubedns,
  renderScriptsClusterEnv,
  renderSidecarEnv,
  type ControlPlaneAuthPolicy,
  type ScriptsClusterEnvForm
} from './scripts.ts'

export type LegacyGeneration = 'scripts-0.8' | 'meshexpansion-1.1' | 'multinetwork-1.4'

/** The `.global` addresses are unroutable loopback addresses: the sidecar must capture them. */
export const GLOBAL_ADDRESS_RANGE = '127.255.0.0/16'

export interface LegacyVmFilesInput {
  readonly generation: LegacyGeneration
  /** The control plane's version (the pilot image tag): picks each file's form. */
  readonly istioVersion: string
  readonly istioNamespace: string
  readonly serviceCidrs: readonly string[]
  /** The ports the VM serves (captured inbound). */
  readonly inboundPorts: readonly number[]
  readonly controlPlaneAuth: ControlPlaneAuthPolicy
  /** From the Secret istio.<service account>. */
  readonly certs: { readonly rootCert: string; readonly certChain: string; readonly key: string }
  /** scripts-0.8: the mesh-expansion.yaml ILB addresses. */
  readonly ilb?: {
    readonly pilot: string
    readonly dns: string
    readonly mixer: string
    readonly ca: string
  }
  /** meshexpansion-1.1 / multinetwork-1.4: the ingress gateway address (an IP). */
  readonly gateway?: string
  /** meshexpansion-1.1: cluster services the VM calls, by ClusterIP. */
  readonly clusterServices?: readonly {
    readonly name: string
    readonly namespace: string
    readonly clusterIP: string
  }[]
  /** multinetwork-1.4: <name>.<ns>.global -> 127.255.x.y */
  readonly globalAllocations?: Readonly<Record<string, string>>
  /**
   * scripts-0.8: ports the capture must leave alone (the VM's SSH port, reachablePorts),
   * written as ISTIO_LOCAL_EXCLUDE_PORTS in sidecar.env; an inbound port among them is refused.
   * The 1.1 and 1.4 docs' cluster.env lists ports only (explicit lists): checked the same way.
   */
  readonly localExcludePorts?: readonly number[]
}

export interface LegacyVmFiles {
  'cluster.env': string
  /** no mesh config file before 1.8 */
  'mesh.yaml': string
  hosts: string
  'root-cert.pem': string
  /** no token before 1.8: the certificates are the identity */
  'istio-token': string
  'cert-chain.pem': string
  'key.pem': string
  'sidecar.env'?: string
  kubedns?: string
}

/** cluster.env of the scripts by release: 0.2/0.3, 0.4–0.8, 1.0+. */
export function scriptsClusterEnvForm(istioVersion: string): ScriptsClusterEnvForm {
  if (!onOrAfterLine(istioVersion, '0.4')) return '0.2'
  return !onOrAfterLine(istioVersion, '1.0') ? '0.4' : '1.0'
}

function required<T>(value: T | undefined, what: string, generation: LegacyGeneration): T {
  if (value === undefined) throw new LegacyInputError(`${generation}: ${what} is required`)
  return value
}

export function renderLegacyVmFiles(input: LegacyVmFilesInput): LegacyVmFiles {
  if (input.serviceCidrs.length === 0) {
    throw new LegacyInputError(`${input.generation}: no service CIDR (ISTIO_SERVICE_CIDR)`)
  }
  const cidrs = requireCidrList('serviceCidrs', input.serviceCidrs.join(','))
  const base = {
    'mesh.yaml': '',
    'root-cert.pem': input.certs.rootCert,
    'istio-token': '',
    'cert-chain.pem': input.certs.certChain,
    'key.pem': input.certs.key
  }
  if (input.generation === 'scripts-0.8') {
    const ilb = required(input.ilb, 'the ILB addresses', input.generation)
    return {
      ...base,
      'cluster.env': renderScriptsClusterEnv({
        form: scriptsClusterEnvForm(input.istioVersion),
        serviceCidr: cidrs,
        systemNamespace: input.istioNamespace,
        authPolicy: input.controlPlaneAuth
      }),
      // names come from dnsmasq, not /etc/hosts
      hosts: '',
      'sidecar.env': renderSidecarEnv({
        inboundPorts: input.inboundPorts,
        ...(input.localExcludePorts !== undefined
          ? { localExcludePorts: input.localExcludePorts }
          : {})
      }),
      kubedns: renderKubedns({
        form: !onOrAfterLine(input.istioVersion, '0.8') ? '0.2' : '0.8',
        namespace: input.istioNamespace,
        ...ilb
      })
    }
  }
  const captured = input.inboundPorts.filter(port => input.localExcludePorts?.includes(port))
  if (captured.length > 0) {
    throw new LegacyInputError(
      `${input.generation}: inbound port ${captured.join(', ')} must stay reachable (the SSH ` +
        "port or reachablePorts): ISTIO_INBOUND_PORTS would capture it; take it out of the group's ports"
    )
  }
  const gateway = required(input.gateway, 'the ingress gateway address', input.generation)
  const controlPlane = controlPlaneHostsLine(gateway, input.istioNamespace)
  if (input.generation === 'meshexpansion-1.1') {
    return {
      ...base,
      'cluster.env': renderMeshExpansionClusterEnv({
        serviceCidr: cidrs,
        inboundPorts: input.inboundPorts
      }),
      hosts: controlPlane + clusterServiceHostsLines(input.clusterServices ?? [])
    }
  }
  return {
    ...base,
    'cluster.env': renderMeshExpansionClusterEnv({
      serviceCidr: `${cidrs},${GLOBAL_ADDRESS_RANGE}`,
      inboundPorts: input.inboundPorts
    }),
    hosts: controlPlane + globalHostsLines(input.globalAllocations ?? {})
  }
}
