// The description the benchmarks apply: one workload group, N lab VMs. SSH goes to where the lab
// says (the latency relay when there is one); the mesh address stays the VM's own IP.
import { parseDescription, type Description } from '../src/config/index.ts'

export interface BenchVm {
  name: string
  /** the VM's own address on the lab network */
  address: string
  sshHost: string
  sshPort: number
}

/** The YAML text (the CLI reads it from a file). `parallelism`: settings.parallelism (default:
 * every host at once). */
export function benchDescriptionText(
  vms: readonly BenchVm[],
  sidecarPackage: string,
  parallelism = vms.length
): string {
  const hosts = vms
    .map(
      vm =>
        `  - name: ${vm.name}\n    host: ${vm.sshHost}\n    port: ${vm.sshPort}\n    address: ${vm.address}\n`
    )
    .join('')
  return `cluster:
  istioNamespace: istio-system
  istiodAddress: auto
  generation: auto
workloadGroups:
  - name: echo-vm
    namespace: vm
    serviceAccount: echo-vm
    labels: {app: echo-vm, version: v1}
    ports: {http-echo: 8080}
    probe:
      httpGet: {path: /ready, port: 8080}
      periodSeconds: 5
    registration: manual
    service:
      kind: ServiceEntry
      hosts: [echo-vm.vm.svc.cluster.local]
    sidecar:
      package: ${sidecarPackage}
vms:
${hosts}ssh:
  user: mesh
  privateKeyEnv: SSH_PRIVATE_KEY
  knownHostsEnv: SSH_KNOWN_HOSTS
settings:
  parallelism: ${Math.max(1, Math.floor(parallelism))}
`
}

export function benchDescription(vms: readonly BenchVm[], sidecarPackage: string): Description {
  const parsed = parseDescription(benchDescriptionText(vms, sidecarPackage), 'bench.yaml')
  if (!parsed.ok) throw new Error(parsed.errors.map(e => e.message).join('; '))
  return parsed.description
}
