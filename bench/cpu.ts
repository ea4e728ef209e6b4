// CPU accounting around a measured run: the whole machine (/proc/stat) and the lab VMs (each
// VM's cgroup cpu.stat), so a run that the machine's cores limit can be told from one that waits.
import { readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { LabVm } from '../lab/vms/index.ts'

export interface CpuSnapshot {
  /** jiffies: busy and total, all cores */
  busy: number
  total: number
  /** microseconds of CPU the VMs used (null when no cgroup tells) */
  vmUsec: number | null
}

/** busy and total jiffies from the first line of /proc/stat */
export function parseProcStat(text: string): { busy: number; total: number } {
  const fields = (text.split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0)
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0)
  return { busy: total - idle, total }
}

function cgroupFile(vm: LabVm): string | undefined {
  return ['/sys/fs/cgroup', '/sys/fs/cgroup/unified']
    .map(root => join(root, 'mesh-expansion-lab', vm.name, 'cpu.stat'))
    .find(path => existsSync(path))
}

export async function cpuSnapshot(vms: readonly LabVm[]): Promise<CpuSnapshot> {
  const stat = parseProcStat(await readFile('/proc/stat', 'utf8'))
  let vmUsec: number | null = 0
  for (const vm of vms) {
    const file = cgroupFile(vm)
    const match = file ? /^usage_usec (\d+)/m.exec(await readFile(file, 'utf8')) : null
    if (!match) {
      vmUsec = null
      break
    }
    vmUsec += Number(match[1])
  }
  return { ...stat, vmUsec }
}

/** Machine busy (% of all cores) and the VMs' CPU seconds between two snapshots. */
export function cpuBetween(
  before: CpuSnapshot,
  after: CpuSnapshot
): { machineBusyPct: number | null; vmCpuSec: number | null } {
  const total = after.total - before.total
  return {
    machineBusyPct: total > 0 ? Math.round(((after.busy - before.busy) / total) * 100) : null,
    vmCpuSec:
      before.vmUsec !== null && after.vmUsec !== null
        ? Math.round((after.vmUsec - before.vmUsec) / 1e5) / 10
        : null
  }
}
