// report: whether the run succeeded, from what the phases recorded: every host worked on came
// up (or the failures are within settings.maxFailures and none was skipped), registration went
// through, and no check failed.
import type { Phase } from '../runner.ts'
import type { RunState } from '../state.ts'
import { plannedRollout } from './rollout.ts'

export const result: Phase<RunState> = {
  name: 'report',
  title: () => 'the result',
  needs: [],
  produces: [],
  async run(state) {
    const { description, report, fleet } = state
    // plan reads no host: the batches as they would be if every host needed the upgrade
    const rollout = description.settings.rollout
    if (report.command === 'plan' && rollout) report.rollout = plannedRollout(state.vms, rollout)
    const tolerated = description.settings.maxFailures ?? 0
    const hostsOk = fleet
      ? fleet.skipped === 0 && fleet.failed <= tolerated
      : report.hosts.every(host => host.status !== 'failed')
    const registeredOk = (state.registered?.problems.length ?? 0) === 0
    const checksOk = report.checks.every(check => check.status !== 'fail')
    report.ok = hostsOk && registeredOk && checksOk
  }
}
