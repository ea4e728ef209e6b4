// Registration: manual WorkloadEntries (applied like every other object: only when they differ),
// or a bounded wait for the entry istiod creates when a VM auto-registers.
import type { Description } from '../config/defaults.ts'
import type { Discovery } from './discovery.ts'
import { ClusterError } from './errors.ts'
import { workloadEntryObject, type Ownership } from './objects.ts'
import { apply, plan, type ApplyResult } from './plan.ts'
import type { ClusterClient, KubeObject } from './types.ts'
import { systemClock, type RetryClock } from './retry.ts'

export const AUTO_REGISTRATION_GROUP_ANNOTATION = 'istio.io/autoRegistrationGroup'

/** Applies a WorkloadEntry per host of a manually registered group; `addresses`: host → IP. */
export async function registerWorkloadEntries(
  client: ClusterClient,
  description: Description,
  discovery: Discovery,
  own: Ownership,
  addresses: ReadonlyMap<string, string>,
  log?: (line: string) => void
): Promise<ApplyResult> {
  const groups = new Map(description.workloadGroups.map(g => [g.name, g]))
  const entries: KubeObject[] = []
  for (const vm of description.vms) {
    const group = groups.get(vm.group)
    const address = addresses.get(vm.name)
    if (!group || group.registration !== 'manual' || address === undefined) continue
    entries.push(workloadEntryObject(vm, group, address, discovery, own))
  }
  return apply(client, await plan(client, entries, { adopt: description.settings.adopt }), log)
}

export interface AutoRegistrationWait {
  readonly namespace: string
  readonly group: string
  /** the VM's IP: the entry whose spec.address it is */
  readonly address: string
  readonly apiVersion: string
  /** give up after this long (default 60 s) */
  readonly timeoutMs?: number
  /** between polls (default 1 s) */
  readonly intervalMs?: number
  readonly clock?: Pick<RetryClock, 'now' | 'sleep'>
}

/** Polls until istiod's WorkloadEntry for the VM appears; bounded in time and in polls. */
export async function waitForAutoRegistration(
  client: ClusterClient,
  wait: AutoRegistrationWait
): Promise<KubeObject> {
  const clock = wait.clock ?? systemClock
  const timeoutMs = wait.timeoutMs ?? 60_000
  const intervalMs = Math.max(10, wait.intervalMs ?? 1000)
  const maxPolls = Math.ceil(timeoutMs / intervalMs) + 1
  const started = clock.now()
  for (let poll = 0; poll < maxPolls; poll++) {
    const entries = await client.list(wait.apiVersion, 'WorkloadEntry', {
      namespace: wait.namespace
    })
    const found = entries.find(
      e =>
        e.metadata.annotations?.[AUTO_REGISTRATION_GROUP_ANNOTATION] === wait.group &&
        (e.spec as { address?: string } | undefined)?.address === wait.address
    )
    if (found) return found
    if (clock.now() - started + intervalMs > timeoutMs) break
    await clock.sleep(intervalMs)
  }
  throw new ClusterError(
    'timeout',
    `no WorkloadEntry for ${wait.address} in group ${wait.namespace}/${wait.group} after ${Math.round(timeoutMs / 1000)} s: ` +
      'is the sidecar connected to istiod, and auto-registration enabled (PILOT_ENABLE_WORKLOAD_ENTRY_AUTOREGISTRATION)?',
    0
  )
}

/** Deletes the manual WorkloadEntries of hosts that did not come up (registered before start). */
export async function withdrawWorkloadEntries(
  client: ClusterClient,
  entries: readonly { readonly name: string; readonly namespace: string }[],
  networkingVersion: string
): Promise<number> {
  for (const entry of entries) {
    await client.delete({
      apiVersion: `networking.istio.io/${networkingVersion}`,
      kind: 'WorkloadEntry',
      ...entry
    })
  }
  return entries.length
}
