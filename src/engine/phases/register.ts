// register: the hosts that came up, registered the generation's way (WorkloadEntries, or a
// Service's Endpoints before 1.8); entries made before the start are withdrawn for hosts that
// failed; istiod's own entries of auto-registered VMs are waited for.
import { produced, type Phase } from '../runner.ts'
import type { RunState } from '../state.ts'

export const register: Phase<RunState> = {
  name: 'register',
  title: () => 'registering the hosts that came up',
  needs: ['strategy', 'ready'],
  produces: ['registered'],
  async run(state) {
    const registered = await produced(state, 'strategy').register(produced(state, 'ready'))
    if (state.report.cluster) state.report.cluster.writes += registered.written
    state.report.problems.push(...registered.problems)
    state.registered = registered
  }
}
