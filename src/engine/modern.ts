// The modern generation (1.8 and later): a WorkloadGroup, a token minted per host, the five
// istioctl files, and registration by WorkloadEntry (manual) or by istiod (auto).
import type { Vm, WorkloadGroup } from '../config/index.ts'
import { mintToken, rootCert } from '../cluster/identity.ts'
import {
  registerWorkloadEntries,
  waitForAutoRegistration,
  withdrawWorkloadEntries
} from '../cluster/registration.ts'
import { workloadEntryName } from '../istio/index.ts'
import { errorMessage } from '../util/errors.ts'
import type { PlanEntry } from '../cluster/plan.ts'
import { filesRenderer } from './files.ts'
import type { GenerationStrategy, StrategyContext } from './strategy.ts'

export function modernStrategy(context: StrategyContext): GenerationStrategy {
  const { client, description, discovery, ownership } = context
  const groups = new Map(description.workloadGroups.map(group => [group.name, group]))
  const groupOf = (vm: Vm): WorkloadGroup | undefined => groups.get(vm.group)
  const apiVersion = `networking.istio.io/${discovery.networkingVersion}`
  // A manual entry of a group with a probe carries health checks: istiod sends it no traffic
  // until the proxy reports it healthy, and the proxy reports health as it changes, so the
  // entry must exist before the sidecar starts: istiod (1.18+) refuses the XDS connection of a
  // proxy whose ISTIO_META_WORKLOAD_ENTRY names a missing entry. Registered in prepare when the
  // address is known then, else in beforeStart once the host told it.
  const probed = (vm: Vm): boolean => {
    const group = groupOf(vm)
    return group !== undefined && group.registration === 'manual' && group.probe !== null
  }
  const registeredEarly = new Set<string>()
  // the WorkloadEntries (namespace/name) this run created, here or in the cluster phase: not
  // updated ones, which keep their conditions
  const created = new Set<string>()
  const noteCreated = (entries: readonly PlanEntry[]): void => {
    for (const e of entries)
      if (e.kind === 'WorkloadEntry' && e.action === 'create')
        created.add(`${e.namespace}/${e.name}`)
  }

  const register = (vms: readonly Vm[], addresses: ReadonlyMap<string, string>) =>
    registerWorkloadEntries(
      client,
      { ...description, vms: [...vms] },
      discovery,
      ownership,
      addresses,
      context.log
    )
  const registerEarly = async (vms: readonly Vm[], addresses: ReadonlyMap<string, string>) => {
    const result = await register(vms, addresses)
    noteCreated(result.written)
    for (const vm of vms) registeredEarly.add(vm.name)
    return result.written.length
  }

  return {
    generation: discovery.generation,

    async prepare(addresses, written) {
      noteCreated(written)
      const early = description.vms.filter(vm => probed(vm) && addresses.has(vm.name))
      return registerEarly(early, addresses)
    },

    // a host whose address is asked of it once connected: its probed entry goes in now, before
    // its sidecar connects naming it
    async beforeStart(vm, address) {
      if (!probed(vm) || registeredEarly.has(vm.name)) return 0
      return registerEarly([vm], new Map([[vm.name, address]]))
    },

    // a probed entry is a manual one: named after its VM
    reconnect: vm => probed(vm) && created.has(`${groupOf(vm)?.namespace}/${vm.name}`),

    async identity(addresses) {
      // the root certificate of every namespace, read now: a missing one stops the run before
      // any host is touched
      const namespaces = new Set(description.vms.map(vm => groupOf(vm)?.namespace ?? ''))
      namespaces.delete('')
      const rootCerts = new Map<string, string>()
      await Promise.all(
        [...namespaces].map(async ns => void rootCerts.set(ns, await rootCert(client, ns)))
      )
      return filesRenderer(
        description,
        discovery,
        ownership,
        addresses,
        {
          rootCert: async ns => rootCerts.get(ns) ?? rootCert(client, ns),
          token: (ns, serviceAccount) =>
            mintToken(client, ns, serviceAccount, {
              seconds: context.tokenSeconds,
              onSecret: context.onSecret
            })
        },
        context.warn
      )
    },

    async register(ready) {
      // Entries without health checks go in only for the hosts that came up: such an entry
      // draws traffic at once. Entries registered before the start are taken out again for the
      // hosts that failed.
      const later = description.vms.filter(vm => !registeredEarly.has(vm.name))
      const result = await register(later, ready)
      const failedEarly = description.vms
        .filter(vm => registeredEarly.has(vm.name) && !ready.has(vm.name))
        .flatMap(vm => {
          const group = groupOf(vm)
          return group
            ? [{ name: workloadEntryName(vm, group, ''), namespace: group.namespace }]
            : []
        })
      const withdrawn = await withdrawWorkloadEntries(
        client,
        failedEarly,
        discovery.networkingVersion
      )
      const problems: string[] = []
      await Promise.all(
        description.vms
          .filter(vm => ready.has(vm.name) && groupOf(vm)?.registration === 'auto')
          .map(async vm => {
            try {
              await waitForAutoRegistration(client, {
                namespace: groupOf(vm)?.namespace ?? '',
                group: vm.group,
                address: ready.get(vm.name) ?? '',
                apiVersion
              })
            } catch (error) {
              problems.push(`${vm.name}: auto-registration: ${errorMessage(error)}`)
            }
          })
      )
      return { written: result.written.length + withdrawn, problems }
    },

    // every object of the modern flow carries the owner's label: the owner's cleanup takes it
    withdraw: async () => []
  }
}
