// What the checks of one runChecks share: the dependencies handed in, the clock, the HTTP client
// found on each host, the state of each VM, and the bounded retry every check uses.
import type { Description, Vm, WorkloadGroup } from '../config/index.ts'
import type { Verdict } from './diagnose.ts'
import type { HttpTool } from './http.ts'
import type { CheckResult, ControlPlane, HostShell, PodShell, PolicyClient } from './types.ts'

export interface VerifyDeps {
  /** A shell on the VM (undefined: the VM could not be reached; its checks fail). */
  host(vm: string): HostShell | undefined
  /** The address the mesh uses for the VM (its `address`, or the one discovered for auto). */
  vmAddress(vm: string): string | undefined
  pods?: PodShell
  controlPlane?: ControlPlane
  /** Needed with strictMtls. */
  policy?: PolicyClient
  /** Apply a STRICT PeerAuthentication in the groups' namespaces during the checks. */
  strictMtls?: boolean
  /** apiVersion of PeerAuthentication (default security.istio.io/v1beta1, served since 1.5). */
  securityApiVersion?: string
  /** Settle time after applying the STRICT policy (default 2000 ms). */
  strictSettleMs?: number
  /** Built-in checks: attempts and seconds per attempt (default 5 and 5). */
  builtin?: { attempts?: number; timeoutSeconds?: number }
  /** Wait between attempts (default 1000 ms, doubling, at most 5000 ms). */
  retryDelayMs?: number
  /** VMs checked at the same time (default 10). */
  parallelism?: number
  sleep?: (ms: number) => Promise<void>
  now?: () => number
  /** Called as each result is known (for progress output). */
  onResult?: (result: CheckResult) => void
}

export interface Runtime {
  deps: VerifyDeps
  sleep: (ms: number) => Promise<void>
  now: () => number
  /** The HTTP client of each VM and user, probed once. */
  hostTools: Map<string, Promise<HttpTool | null>>
}

export function runtimeOf(deps: VerifyDeps): Runtime {
  return {
    deps,
    sleep: deps.sleep ?? (ms => new Promise(resolve => setTimeout(resolve, ms))),
    now: deps.now ?? Date.now,
    hostTools: new Map()
  }
}

/** One VM as the checks see it; the built-in checks fill in readiness and the hostname. */
export interface VmState {
  vm: Vm
  group: WorkloadGroup
  address: string | undefined
  shell: HostShell | undefined
  hostname?: string
  ready: boolean
  /** Why the checks that need the VM are not run. */
  why?: string
}

/** The VMs of the description by name (a VM of an unknown group is left out). */
export function vmStates(description: Description, deps: VerifyDeps): Map<string, VmState> {
  const groups = new Map(description.workloadGroups.map(g => [g.name, g]))
  const vms = new Map<string, VmState>()
  for (const vm of description.vms) {
    const group = groups.get(vm.group)
    if (!group) continue
    vms.set(vm.name, {
      vm,
      group,
      address: deps.vmAddress(vm.name),
      shell: deps.host(vm.name),
      ready: false
    })
  }
  return vms
}

/** Runs `attempt` until its verdict is ok or the attempts are spent, waiting longer each time. */
export async function retry<T>(
  rt: Runtime,
  attempts: number,
  attempt: () => Promise<{ verdict: Verdict; value: T }>
): Promise<{ verdict: Verdict; value: T; attempts: number }> {
  let delay = rt.deps.retryDelayMs ?? 1000
  let last: { verdict: Verdict; value: T } | undefined
  const count = Math.max(1, attempts)
  for (let i = 1; i <= count; i++) {
    last = await attempt()
    if (last.verdict.ok || i === count) return { ...last, attempts: i }
    await rt.sleep(delay)
    delay = Math.min(delay * 2, 5000)
  }
  // unreachable: the loop returns on its last round
  throw new Error('internal: retry without attempts')
}
