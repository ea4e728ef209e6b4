// The address the mesh uses to reach each VM: `address` when given, else the SSH host when it
// is an IP, else the SSH host's name resolved on the runner (the way an operator expects).
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import type { Vm } from '../config/index.ts'

export type Resolve = (host: string) => Promise<string>

const resolveOnRunner: Resolve = async host => (await lookup(host)).address

/** The runner itself has no SSH host: its address must be given (there is no good guess). */
export async function meshAddress(vm: Vm, resolve: Resolve = resolveOnRunner): Promise<string> {
  if (vm.address !== 'auto') return vm.address
  if (isIP(vm.host) !== 0) return vm.host
  if (vm.host === 'local') {
    throw new Error(
      `${vm.name}: host "local" needs an explicit address (the IP the mesh reaches the runner at)`
    )
  }
  try {
    return await resolve(vm.host)
  } catch (error) {
    throw new Error(
      `${vm.name}: cannot resolve ${vm.host} to find its mesh address: ${(error as Error).message}; set "address"`,
      { cause: error }
    )
  }
}

export async function meshAddresses(
  vms: readonly Vm[],
  resolve?: Resolve
): Promise<Map<string, string>> {
  const entries = await Promise.all(
    vms.map(async vm => [vm.name, await meshAddress(vm, resolve)] as const)
  )
  return new Map(entries)
}
