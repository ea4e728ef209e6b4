// The cluster phase in one call, for the engine: discover, compute the objects, plan, and apply
// unless it is a dry run (`plan` command).
import type { Description } from '../config/defaults.ts'
import { discover, type DiscoverOptions, type Discovery } from './discovery.ts'
import { desiredObjects, type Ownership } from './objects.ts'
import { apply, plan, type ApplyResult, type Plan } from './plan.ts'
import type { ClusterClient } from './types.ts'

export interface PrepareOptions extends DiscoverOptions {
  /** the owner label value (run id, pull-request number…) */
  readonly owner: string
  /** creation time for new objects (default now) */
  readonly now?: Date
  /** host → IP, for WorkloadEntries of manually registered groups */
  readonly addresses?: ReadonlyMap<string, string>
  /** plan only: read, compare, write nothing */
  readonly dryRun?: boolean
  /** what an earlier discover() of this run found (not read again) */
  readonly discovery?: Discovery
  readonly log?: (line: string) => void
}

export interface Prepared {
  readonly discovery: Discovery
  readonly ownership: Ownership
  readonly plan: Plan
  /** null on a dry run */
  readonly applied: ApplyResult | null
}

export async function prepareCluster(
  client: ClusterClient,
  description: Description,
  options: PrepareOptions
): Promise<Prepared> {
  const discovery =
    options.discovery ??
    (await discover(
      client,
      description.cluster,
      options.resolveHost ? { resolveHost: options.resolveHost } : {}
    ))
  const ownership: Ownership = {
    owner: options.owner,
    createdAt: (options.now ?? new Date()).toISOString()
  }
  const desired = desiredObjects(
    description,
    discovery,
    ownership,
    options.addresses ? { addresses: options.addresses } : {}
  )
  const thePlan = await plan(client, desired, { adopt: description.settings.adopt })
  const applied = options.dryRun ? null : await apply(client, thePlan, options.log)
  return { discovery, ownership, plan: thePlan, applied }
}
