// cluster: the writes to the cluster, once preflight found nothing wrong: the plan read in
// preflight applied (server-side apply, only what differs), then what the generation adds
// (gateway ports, .global entries, entries that must exist before a sidecar starts).
// For cleanup: what the generation gave back, then every object of the owner deleted.
import { cleanup as cleanupCluster } from '../../cluster/cleanup.ts'
import { apply as applyPlan } from '../../cluster/plan.ts'
import type { ObjectRef } from '../../cluster/types.ts'
import { knownAddresses } from '../addresses.ts'
import { produced, type Phase } from '../runner.ts'
import type { RunState } from '../state.ts'

export const cluster: Phase<RunState> = {
  name: 'cluster',
  title: state => `preparing the objects of owner ${state.options.owner}`,
  needs: ['connection', 'prepared', 'strategy', 'inputs'],
  produces: ['addresses'],
  async run(state) {
    const { report } = state
    const client = produced(state, 'connection').client
    const applied = await applyPlan(client, produced(state, 'prepared').plan, state.options.log)
    // decided now where the description or the SSH host tells; the others ask their host once
    // it is connected, over that same connection
    state.addresses = knownAddresses(state.vms, produced(state, 'inputs').addressOptions)
    const extra = await produced(state, 'strategy').prepare(state.addresses, applied.written)
    if (report.cluster) {
      report.cluster.writes = applied.written.length + extra
      report.cluster.unchanged = applied.unchanged
    }
  }
}

const refName = (ref: ObjectRef): string =>
  `${ref.kind}/${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`

export const withdraw: Phase<RunState> = {
  name: 'cluster',
  title: state => `deleting the objects of owner ${state.options.owner}`,
  needs: ['connection', 'strategy', 'inputs'],
  produces: [],
  async run(state) {
    const { strategy, options, report } = state
    // the VMs were just cleaned, their connections closed: the addresses known without them
    let addresses = new Map<string, string>()
    try {
      addresses = knownAddresses(state.vms, produced(state, 'inputs').addressOptions)
    } catch {
      // a VM whose address only its host knows: nothing of it to withdraw by address
    }
    const withdrawn = strategy ? await strategy.withdraw(addresses) : []
    const removed = await cleanupCluster(produced(state, 'connection').client, options.owner)
    report.removed = [...withdrawn, ...removed.deleted.map(refName)]
    for (const kept of removed.kept)
      options.warn(`kept ${kept.ref.kind}/${kept.ref.name}: ${kept.reason}`)
  }
}
