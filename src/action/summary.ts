// The job summary's content for a description: pure, so it is tested without the runner.
import type { Description } from '../config/index.ts'

export type Cell = string | { data: string; header: true }

/** One row per VM: where it is, which group, how it is reached. */
export function vmTable(description: Description): Cell[][] {
  const header: Cell[] = ['VM', 'group', 'namespace', 'host', 'mesh address'].map(data => ({
    data,
    header: true as const
  }))
  const groups = new Map(description.workloadGroups.map(group => [group.name, group]))
  const rows = description.vms.map(vm => [
    vm.name,
    vm.group,
    groups.get(vm.group)?.namespace ?? '',
    vm.host === 'local' ? 'the runner' : `${vm.host}:${vm.port}`,
    vm.address
  ])
  return [header, ...rows]
}
