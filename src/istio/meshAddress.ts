// The host's mesh address: the IP the cluster reaches it at, the one its WorkloadEntry
// carries. Every generation decides it the same way (smm-agent's order, reference
// legacy-generations.md "Gen 5" and seed 004 "Determining the VM's IP address").

import { isValidIPAddress } from './ip.ts'

export type MeshAddressSource = 'explicit' | 'ssh-host' | 'host-primary' | 'public-lookup'

export type MeshAddressDecision =
  | { readonly kind: 'address'; readonly address: string; readonly source: MeshAddressSource }
  /** Ask the host (e.g. the source address of its default route) or the lookup, then decide again. */
  | { readonly kind: 'ask'; readonly what: 'host-primary' | 'public-lookup' }
  | { readonly kind: 'error'; readonly message: string }

export interface MeshAddressInput {
  /** The address the description gives (smm-agent `set node-ip`). */
  readonly explicit?: string
  /** The host we SSH to: a name or an IP. */
  readonly sshHost: string
  /** The host's primary address as it reported it; undefined = not asked yet, null = none. */
  readonly hostPrimary?: string | null
  /** The public-IP lookup (smm-agent's fallback) is allowed. Off unless enabled. */
  readonly publicLookupEnabled?: boolean
  /** Its answer; undefined = not asked yet, null = failed. */
  readonly publicLookup?: string | null
}

function bareIP(text: string): string {
  return text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text
}

/** Addresses a cluster can never use to reach the host. */
function unusable(ip: string): string | undefined {
  if (/^127\./.test(ip) || ip === '::1') return 'a loopback address'
  if (/^169\.254\./.test(ip) || /^fe[89ab][0-9a-f]:/i.test(ip)) return 'a link-local address'
  if (ip === '0.0.0.0' || ip === '::') return 'the unspecified address'
  return undefined
}

/**
 * The host's mesh address, in the order an operator expects: explicit; else the SSH host
 * when it is an IP; else the address the host reports as primary; else, only when enabled,
 * the public-IP lookup. A loopback answer (Debian's `hostname --ip-address` gives 127.0.1.1)
 * is never taken.
 */
export function decideMeshAddress(input: MeshAddressInput): MeshAddressDecision {
  if (input.explicit !== undefined && input.explicit !== '') {
    const ip = bareIP(input.explicit)
    if (!isValidIPAddress(ip)) {
      return { kind: 'error', message: `the mesh address "${input.explicit}" is not an IP address` }
    }
    return { kind: 'address', address: ip, source: 'explicit' }
  }
  const ssh = bareIP(input.sshHost)
  if (isValidIPAddress(ssh) && unusable(ssh) === undefined) {
    return { kind: 'address', address: ssh, source: 'ssh-host' }
  }
  if (input.hostPrimary === undefined) return { kind: 'ask', what: 'host-primary' }
  const why: string[] = []
  if (input.hostPrimary !== null && input.hostPrimary !== '') {
    const ip = input.hostPrimary
    const bad = isValidIPAddress(ip) ? unusable(ip) : 'not an IP address'
    if (bad === undefined) return { kind: 'address', address: ip, source: 'host-primary' }
    why.push(`the host's primary address ${ip} is ${bad}`)
  } else {
    why.push('the host reported no primary address')
  }
  if (input.publicLookupEnabled === true) {
    if (input.publicLookup === undefined) return { kind: 'ask', what: 'public-lookup' }
    if (input.publicLookup !== null && isValidIPAddress(input.publicLookup)) {
      return { kind: 'address', address: input.publicLookup, source: 'public-lookup' }
    }
    why.push('the public-IP lookup gave no address')
  }
  return {
    kind: 'error',
    message: `no mesh address for ${input.sshHost}: ${why.join('; ')}; set the host's address explicitly`
  }
}
