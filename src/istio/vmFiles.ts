// The five files `istioctl x workload entry configure` writes, from already gathered inputs.
// Pure: the caller reads files or the cluster and writes the result.

import { renderClusterEnv } from './clusterEnv.ts'
import { renderHosts, type IngressAddress } from './hosts.ts'
import { computeProxyConfig, renderMeshYaml } from './meshConfig.ts'
import type { WorkloadGroup } from './workloadGroup.ts'

import type { VmFileName } from './vmFileNames.ts'

export { VM_FILE_NAMES, type VmFileName } from './vmFileNames.ts'

export interface VmFilesInput {
  readonly workloadGroup: WorkloadGroup
  /** the `mesh` key of the istio[-<rev>] ConfigMap (MeshConfig YAML) */
  readonly meshConfig: string
  /** default istio-system */
  readonly istioNamespace?: string
  /** "" or `default` means no revision */
  readonly revision?: string
  readonly clusterID: string
  readonly internalIP?: string
  readonly externalIP?: string
  /** the gateway address for `hosts` (see resolveIngressAddress); a plain string is taken as is */
  readonly ingress?: IngressAddress | string
  readonly autoRegister?: boolean
  /** default true, as istioctl's --capture-dns */
  readonly captureDns?: boolean
  /** root-cert.pem of the istio-ca-root-cert ConfigMap, written byte for byte */
  readonly rootCert: string
  /** the service account token (audience istio-ca), written byte for byte */
  readonly token: string
  /** not an istioctl input: the port the VMs reach istiod at when not 15012 (see ClusterEnvInputs) */
  readonly istiodPort?: number
  /** not an istioctl input: extra proxyMetadata keys (see ProxyConfigInputs) */
  readonly extraProxyMetadata?: Readonly<Record<string, string>>
  /** not an istioctl input: ports the capture leaves alone (see ClusterEnvInputs) */
  readonly reachablePorts?: readonly number[]
}

export interface VmFiles {
  readonly files: Readonly<Record<VmFileName, string>>
  /** warnings istioctl logs (stderr) */
  readonly warnings: readonly string[]
  /** lines istioctl prints on stdout while rendering */
  readonly stdout: readonly string[]
}

/** Renders cluster.env, mesh.yaml, hosts, root-cert.pem and istio-token. */
export function renderVmFiles(input: VmFilesInput): VmFiles {
  const istioNamespace = input.istioNamespace ?? 'istio-system'
  const proxy = computeProxyConfig({
    workloadGroup: input.workloadGroup,
    meshConfig: input.meshConfig,
    istioNamespace,
    ...(input.revision !== undefined ? { revision: input.revision } : {}),
    clusterID: input.clusterID,
    autoRegister: input.autoRegister ?? false,
    captureDns: input.captureDns ?? true,
    ...(input.extraProxyMetadata !== undefined
      ? { extraProxyMetadata: input.extraProxyMetadata }
      : {})
  })
  const clusterEnv = renderClusterEnv({
    workloadGroup: input.workloadGroup,
    proxyMetadata: proxy.proxyMetadata,
    statusPort: proxy.statusPort,
    istioNamespace,
    ...(input.revision !== undefined ? { revision: input.revision } : {}),
    ...(input.internalIP !== undefined ? { internalIP: input.internalIP } : {}),
    ...(input.externalIP !== undefined ? { externalIP: input.externalIP } : {}),
    ...(input.istiodPort !== undefined ? { istiodPort: input.istiodPort } : {}),
    ...(input.reachablePorts !== undefined ? { reachablePorts: input.reachablePorts } : {})
  })
  const ingress =
    typeof input.ingress === 'string'
      ? { address: input.ingress }
      : (input.ingress ?? { address: '' })
  const hosts = renderHosts(ingress, istioNamespace, input.revision)
  return {
    files: {
      'cluster.env': clusterEnv,
      'mesh.yaml': renderMeshYaml(proxy.defaultConfig),
      hosts: hosts.content,
      'root-cert.pem': input.rootCert,
      'istio-token': input.token
    },
    warnings: hosts.warning !== undefined ? [hosts.warning] : [],
    stdout: proxy.stdout
  }
}
