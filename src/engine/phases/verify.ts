// verify: the description's checks, over the hosts' open connections and the cluster's API,
// scoped to this shard's VMs and the checks that start from them or from pods.
import type { Description, Vm } from '../../config/index.ts'
import type { CheckResult } from '../../verify/types.ts'
import { runChecks, verifyDeps } from '../../verify/index.ts'
import { produced, type Phase } from '../runner.ts'
import type { RunState } from '../state.ts'

/**
 * Runs the checks of `vms` (this shard's VMs, or a rollout batch's): the built-in checks of each
 * VM, and the description's checks whose VM endpoints are all among `vms`; with `batch`, only
 * those that have one (a pod to pod check is left to the run's verify phase).
 */
export async function runChecksOf(
  state: RunState,
  vms: readonly Vm[],
  batch = false
): Promise<CheckResult[]> {
  const { description, options } = state
  const connection = produced(state, 'connection')
  const { discovery } = produced(state, 'prepared')
  const names = new Set(vms.map(vm => vm.name))
  const scoped: Description = {
    ...description,
    vms: [...vms],
    checks: description.checks.filter(check => {
      const ends = checkVms(check)
      return ends.every(name => names.has(name)) && (!batch || ends.length > 0)
    })
  }
  if (batch && vms.length === 0) return []
  return runChecks(
    scoped,
    verifyDeps({
      description: scoped,
      transports: produced(state, 'transports'),
      addresses: produced(state, 'addresses'),
      kubeConfig: connection.kubeConfig,
      client: connection.client,
      istioNamespace: discovery.istioNamespace,
      revision: discovery.revision,
      networkingVersion: discovery.networkingVersion,
      generation: discovery.generation,
      ...(options.strictMtls !== undefined ? { strictMtls: options.strictMtls } : {}),
      ...(options.onCheckResult ? { onResult: options.onCheckResult } : {})
    })
  )
}

/** The VMs a check starts from or goes to. */
export function checkVms(check: Description['checks'][number]): string[] {
  return [check.from, check.to].flatMap(end => (end?.kind === 'vm' ? [end.name] : []))
}

export const checks: Phase<RunState> = {
  name: 'verify',
  title: () => 'running the checks',
  needs: ['connection', 'prepared', 'transports', 'addresses'],
  produces: [],
  async run(state) {
    const { report } = state
    report.checks = await runChecksOf(state, state.vms)
    report.problems.push(
      ...report.checks
        .filter(check => check.status === 'fail')
        .map(check => `check "${check.name}": ${check.diagnosis ?? 'failed'}`)
    )
  }
}
