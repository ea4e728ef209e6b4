// Pure renderers for the modern (Istio 1.8+) generation: the VM files istioctl writes and the
// objects the product applies. No I/O here.
export { renderVmFiles, VM_FILE_NAMES } from './vmFiles.ts'
export type { VmFileName, VmFiles, VmFilesInput } from './vmFiles.ts'
export {
  parseWorkloadGroupYaml,
  workloadGroupFromObject,
  WorkloadGroupError
} from './workloadGroup.ts'
export type { WorkloadGroup, WorkloadEntryTemplate } from './workloadGroup.ts'
export { autoRegisteredEntryName, workloadEntryName } from './workloadEntry.ts'
export {
  canonicalService,
  checkMeshConfigKeys,
  computeProxyConfig,
  helmDefaultMeshConfig,
  meshConfigFromFile,
  MeshConfigError,
  podPortsJson,
  PROXY_CONFIG_ANNOTATION,
  renderMeshYaml
} from './meshConfig.ts'
export type { ComputedProxyConfig, ProxyConfigInputs } from './meshConfig.ts'
export {
  clusterEnvEntries,
  formatClusterEnv,
  inboundPorts,
  localExcludePorts,
  capturedReachablePorts,
  checkEnvKey,
  EnvKeyError,
  renderClusterEnv
} from './clusterEnv.ts'
export type { ClusterEnvInputs } from './clusterEnv.ts'
export { ingressServiceRef, renderHosts, resolveIngressAddress } from './hosts.ts'
export type { HostsFile, IngressAddress, IngressServiceView } from './hosts.ts'
export { ISTIOD_PORT, isRevisioned, istiodAddress, istiodHost } from './istiod.ts'
export { isValidIPAddress, parsesAsIP } from './ip.ts'
export { shellQuote } from './shellQuote.ts'
export { compareGoYamlKeys, goYamlMarshal } from './goYaml.ts'
export type { GoYamlValue } from './goYaml.ts'
export { ProtoJsonError } from './proxyConfig.ts'
export {
  buildService,
  buildServiceEntry,
  buildWorkloadEntry,
  buildWorkloadGroup,
  HEALTH_CHECKS_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  OWNER_LABEL,
  protocolFromPortName
} from './manifests.ts'
export type {
  IstioNetworkingVersion,
  ReadinessProbeInput,
  ServiceEntryInput,
  ServiceInput,
  ServicePortInput,
  WorkloadEntryInput,
  WorkloadGroupInput
} from './manifests.ts'
