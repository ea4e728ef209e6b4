// The address the mesh uses to reach each VM, decided the way an operator expects (and as Service
// Mesh Manager's agent does): `address` when given; else the SSH host when it is an IP; else the
// address the host itself reports as primary (asked over the host's own connection); else, only
// when enabled, a public-IP lookup the host makes. The decision itself is pure (src/istio); the
// questions go over the host's own connection (src/host/connections.ts).
import type { Description, Vm } from '../config/index.ts'
import { decideMeshAddress, type MeshAddressInput } from '../istio/meshAddress.ts'
import type { AskHost } from '../host/connections.ts'

export interface AddressOptions {
  /** URL the host fetches to learn its public IP; absent = never looked up. */
  publicLookupUrl?: string
}

function inputOf(vm: Vm, options: AddressOptions): MeshAddressInput {
  return {
    ...(vm.address !== 'auto' ? { explicit: vm.address } : {}),
    sshHost: vm.host,
    publicLookupEnabled: options.publicLookupUrl !== undefined
  }
}

/** The address when it can be decided without the host, else undefined. */
export function addressWithoutHost(vm: Vm, options: AddressOptions = {}): string | undefined {
  if (vm.host === 'local' && vm.address === 'auto') {
    throw new Error(
      `${vm.name}: host "local" needs an explicit address (the IP the mesh reaches the runner at)`
    )
  }
  const decision = decideMeshAddress(inputOf(vm, options))
  if (decision.kind === 'error') throw new Error(`${vm.name}: ${decision.message}`)
  return decision.kind === 'address' ? decision.address : undefined
}

/** The address, asking the host what the decision needs (at most its two questions). */
export async function meshAddress(
  vm: Vm,
  ask: AskHost,
  options: AddressOptions = {}
): Promise<string> {
  const known = addressWithoutHost(vm, options)
  if (known !== undefined) return known
  let input = inputOf(vm, options)
  for (let round = 0; round < 3; round++) {
    const decision = decideMeshAddress(input)
    if (decision.kind === 'address') return decision.address
    if (decision.kind === 'error') throw new Error(`${vm.name}: ${decision.message}`)
    const answer = await ask(vm, decision.what)
    input =
      decision.what === 'host-primary'
        ? { ...input, hostPrimary: answer }
        : { ...input, publicLookup: answer }
  }
  throw new Error(`${vm.name}: no mesh address could be decided`)
}

/** The addresses decidable without the hosts; the others are absent from the map. */
export function knownAddresses(
  vms: readonly Vm[],
  options: AddressOptions = {}
): Map<string, string> {
  const known = new Map<string, string>()
  for (const vm of vms) {
    const address = addressWithoutHost(vm, options)
    if (address !== undefined) known.set(vm.name, address)
  }
  return known
}

export function addressOptionsOf(description: Description): AddressOptions {
  const url = description.settings.publicAddressLookup
  return url === null ? {} : { publicLookupUrl: url }
}
