// What the engine hands runChecks, built from what it already holds after onboarding: one open
// transport per host, the VMs' mesh addresses, the cluster connection and the discovery.
import { userInfo } from 'node:os'
import type { KubeConfig } from '@kubernetes/client-node'
import type { Description } from '../config/index.ts'
import type { ClusterClient } from '../cluster/types.ts'
import type { HostTransport } from '../host/transport.ts'
import { hostShellOverTransport } from './hostShell.ts'
import { createKubeVerifyClients } from './podExec.ts'
import type { VerifyDeps } from './runtime.ts'
import type { CheckResult } from './types.ts'

export interface EngineVerifyInput {
  description: Description
  /** Open transports by VM name (a VM without one: its checks fail with "no connection"). */
  transports: ReadonlyMap<string, HostTransport>
  /** The address the mesh uses for each VM (`address`, or the one found for `auto`). */
  addresses: ReadonlyMap<string, string>
  kubeConfig: KubeConfig
  client: ClusterClient
  /** From the discovery: where istiod runs and which API versions to use. */
  istioNamespace: string
  /** '' = the default revision. */
  revision: string
  /** networking.istio.io version for WorkloadEntry (e.g. v1, v1beta1). */
  networkingVersion: string
  /**
   * The discovered generation. Before 1.5 the control plane is istio-pilot, which has no
   * /debug/connections on its monitoring port: the "connected to istiod" check is not made.
   */
  generation?: string
  strictMtls?: boolean
  onResult?: (result: CheckResult) => void
}

/** istiod's Service for a revision: `istiod` or `istiod-<revision>`. */
export function istiodServiceName(revision: string): string {
  return revision === '' || revision === 'default' ? 'istiod' : `istiod-${revision}`
}

export function verifyDeps(input: EngineVerifyInput): VerifyDeps {
  const legacy = input.generation !== undefined && input.generation !== 'modern'
  const kube = createKubeVerifyClients(input.kubeConfig, {
    client: input.client,
    istioNamespace: input.istioNamespace,
    istiodService: istiodServiceName(input.revision),
    istiodRevision: input.revision,
    networkingApiVersion: `networking.istio.io/${input.networkingVersion}`
  })
  const vms = new Map(input.description.vms.map(vm => [vm.name, vm]))
  return {
    host(name) {
      const transport = input.transports.get(name)
      const vm = vms.get(name)
      if (!transport || !vm) return undefined
      // the runner itself runs commands as the runner's user, not the description's ssh user
      const login = vm.host === 'local' ? userInfo().username : vm.user
      return hostShellOverTransport(transport, login)
    },
    vmAddress: name => input.addresses.get(name),
    pods: kube.pods,
    controlPlane: legacy
      ? { ...kube.controlPlane, connectedProxies: () => Promise.resolve(null) }
      : kube.controlPlane,
    policy: kube.policy,
    ...(input.strictMtls !== undefined ? { strictMtls: input.strictMtls } : {}),
    ...(input.onResult ? { onResult: input.onResult } : {})
  }
}
