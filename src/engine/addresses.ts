// The address the mesh uses to reach each VM, decided the way an operator expects (and as Service
// Mesh Manager's agent does): `address` when given; else the SSH host when it is an IP; else the
// address the host itself reports as primary (asked over the host's own connection); else, only
// when enabled, a public-IP lookup the host makes. The decision is src/istio/legacy/smm.ts's.
import type { Vm } from '../config/index.ts'
import { decideMeshAddress, type MeshAddressInput } from '../istio/legacy/index.ts'
import type { HostTransport } from '../host/transport.ts'
import { shQuote } from '../host/bundle.ts'

/** Asks the host one fact; null when it has no answer. */
export type AskHost = (vm: Vm, what: 'host-primary' | 'public-lookup') => Promise<string | null>

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

// The source address of the default route's interface (what the host sends from), else the
// first address `hostname -I` lists. Reads only the host's own tables: no packet leaves it.
export const PRIMARY_ADDRESS_COMMAND =
  'dev=$(ip -o -4 route show default 2>/dev/null | awk \'{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}\'); ' +
  'if [ -n "$dev" ]; then ip -o -4 addr show dev "$dev" scope global | awk \'{ split($4, a, "/"); print a[1]; exit }\'; ' +
  "else hostname -I 2>/dev/null | awk '{ print $1 }'; fi"

/** Asks over a host's transport: its primary address, or its public IP from the lookup URL. */
export function askOver(
  transport: (vm: Vm) => HostTransport | undefined,
  options: AddressOptions = {}
): AskHost {
  return async (vm, what) => {
    const host = transport(vm)
    if (!host) throw new Error(`${vm.name}: no connection to ask the host for its address`)
    const command =
      what === 'host-primary'
        ? PRIMARY_ADDRESS_COMMAND
        : `curl -fsS --max-time 5 ${shQuote(options.publicLookupUrl ?? '')}`
    const result = await host.exec(command, { timeoutMs: 15_000 })
    const answer = result.stdout.trim().split(/\s+/)[0] ?? ''
    return result.code === 0 && answer !== '' ? answer : null
  }
}
