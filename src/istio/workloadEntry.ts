// The name of a VM's WorkloadEntry: one rule for every place that creates, reads or deletes one.

/** The longest Kubernetes object name; istiod keeps the end of a longer one. */
const MAX_NAME_LENGTH = 253

/**
 * The name istiod gives an auto-registered entry: `<group>-<ip>[-<network>]`, the colons of an
 * IPv6 address turned into dashes (a name has none), cut to its last 253 characters.
 */
export function autoRegisteredEntryName(group: string, ip: string, network: string): string {
  const parts = [group, ip.replaceAll(':', '-'), ...(network !== '' ? [network] : [])]
  return parts.join('-').slice(-MAX_NAME_LENGTH)
}

/**
 * The WorkloadEntry name of a VM: its own name when the group registers manually, istiod's
 * name for it (from `address`, the IP the mesh reaches it at) when the group auto-registers.
 */
export function workloadEntryName(
  vm: { readonly name: string; readonly network: string },
  group: { readonly name: string; readonly registration: 'manual' | 'auto' },
  address: string
): string {
  if (group.registration === 'manual') return vm.name
  return autoRegisteredEntryName(group.name, address, vm.network)
}
