// verify: the description's checks, over the hosts' open connections and the cluster's API,
// scoped to this shard's VMs and the checks that start from them or from pods.
import type { Description } from '../../config/index.ts'
import { runChecks, verifyDeps } from '../../verify/index.ts'
import { produced, type Phase } from '../runner.ts'
import type { RunState } from '../state.ts'

export const checks: Phase<RunState> = {
  name: 'verify',
  title: () => 'running the checks',
  needs: ['connection', 'prepared', 'transports', 'addresses'],
  produces: [],
  async run(state) {
    const { description, vms, options, report } = state
    const connection = produced(state, 'connection')
    const { discovery } = produced(state, 'prepared')
    const names = new Set(vms.map(vm => vm.name))
    const scoped: Description = {
      ...description,
      vms: [...vms],
      checks: description.checks.filter(
        check =>
          (check.from.kind !== 'vm' || names.has(check.from.name)) &&
          (check.to?.kind !== 'vm' || names.has(check.to.name))
      )
    }
    report.checks = await runChecks(
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
    report.problems.push(
      ...report.checks
        .filter(check => check.status === 'fail')
        .map(check => `check "${check.name}": ${check.diagnosis ?? 'failed'}`)
    )
  }
}
