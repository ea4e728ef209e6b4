// What one VM receives: the five istioctl files, rendered from the description and the discovery,
// with a token minted just before its host's turn.
import { reachablePortsOf, type Description, type Vm } from '../config/index.ts'
import type { Discovery } from '../cluster/discovery.ts'
import { workloadGroupObject, type Ownership } from '../cluster/objects.ts'
import { renderVmFiles, workloadGroupFromObject } from '../istio/index.ts'
import type { HostFiles } from '../host/bundle.ts'
import { workloadEntryName } from '../istio/index.ts'

export interface VmFileSources {
  rootCert(namespace: string): Promise<string>
  token(namespace: string, serviceAccount: string): Promise<string>
}

export function filesRenderer(
  description: Description,
  discovery: Discovery,
  ownership: Ownership,
  addresses: ReadonlyMap<string, string>,
  sources: VmFileSources,
  warn: (message: string) => void
): (vm: Vm) => Promise<HostFiles> {
  const groups = new Map(description.workloadGroups.map(group => [group.name, group]))
  return async vm => {
    const group = groups.get(vm.group)
    if (!group) throw new Error(`${vm.name}: unknown group ${vm.group}`)
    const [rootCert, token] = await Promise.all([
      sources.rootCert(group.namespace),
      sources.token(group.namespace, group.serviceAccount)
    ])
    const workloadGroup = workloadGroupFromObject(
      workloadGroupObject(group, discovery, ownership),
      `workloadgroup ${group.namespace}/${group.name}`
    )
    // A manual entry with a probe gets health checks: the proxy must know its entry's name.
    const healthChecked = group.registration === 'manual' && group.probe !== null
    const rendered = renderVmFiles({
      workloadGroup,
      meshConfig: discovery.meshConfig,
      istioNamespace: discovery.istioNamespace,
      revision: discovery.revision,
      clusterID: discovery.clusterID,
      internalIP: addresses.get(vm.name),
      ingress: discovery.gateway.address,
      ...(discovery.gateway.port !== undefined ? { istiodPort: discovery.gateway.port } : {}),
      autoRegister: group.registration === 'auto',
      captureDns: group.captureDns,
      // never captured: the port this run came in on, and what the description keeps reachable
      reachablePorts: reachablePortsOf(vm, group, description.settings),
      rootCert,
      token,
      ...(healthChecked
        ? {
            extraProxyMetadata: {
              ISTIO_META_WORKLOAD_ENTRY: workloadEntryName(vm, group, addresses.get(vm.name) ?? '')
            }
          }
        : {})
    })
    for (const warning of rendered.warnings) warn(`${vm.name}: ${warning}`)
    return rendered.files
  }
}

/**
 * The VMs a run would cut off: a port the sidecar must never capture (the VM's SSH port,
 * reachablePorts) among its group's ports, which become an explicit ISTIO_INBOUND_PORTS list,
 * captured whatever ISTIO_LOCAL_EXCLUDE_PORTS says. Validation reports these with their
 * line:column; this is the same rule on the resolved description, before anything is written.
 */
export function captureProblems(description: Description, vms: readonly Vm[]): string[] {
  const groups = new Map(description.workloadGroups.map(group => [group.name, group]))
  const problems: string[] = []
  for (const vm of vms) {
    const group = groups.get(vm.group)
    if (!group) continue
    const inbound = new Set(Object.values(group.ports))
    for (const port of reachablePortsOf(vm, group, description.settings)) {
      if (!inbound.has(port)) continue
      const what =
        vm.host !== 'local' && port === vm.port ? 'its SSH port' : 'one of its reachablePorts'
      problems.push(
        `${vm.name}: port ${port} is ${what}, and the ports of group ${group.name} list it: the ` +
          'sidecar would capture it (ISTIO_INBOUND_PORTS lists the ports) and leave the host ' +
          "unreachable; take it out of the group's ports, or move the VM's SSH port"
      )
    }
  }
  return problems
}
