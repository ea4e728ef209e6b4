// What the VMs' sshd saw: counted by benchmarks (one connection per host) and by tests that
// prove a run made no connection at all.
import { runInVm, type LabVm } from './index.ts'

/** SSH logins each VM's sshd accepted so far (from its journal). */
export async function sshLogins(vms: readonly LabVm[]): Promise<number> {
  const counts = await Promise.all(
    vms.map(async vm => {
      const result = await runInVm(
        vm,
        "journalctl -q --no-pager _COMM=sshd-session _COMM=sshd | grep -c 'Accepted publickey' || true",
        { timeoutMs: 30_000 }
      )
      return Number(result.stdout.trim()) || 0
    })
  )
  return counts.reduce((a, b) => a + b, 0)
}
