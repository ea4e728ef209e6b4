// Networks as Service Mesh Manager (smm-agent) does them: the WorkloadGroup's network, the
// host's mesh address, and the preflight list. Follows the reference legacy-generations.md,
// "Gen 5", and seed 004 (prerequisites, "Determining the VM's IP address", networks).

import { isValidIPAddress } from '../ip.ts'
import { LegacyInputError, requirePort } from './common.ts'

/**
 * The WorkloadGroup's `template.network`: the control plane's network when the host reaches
 * pod IPs (same network), else a distinct one, so istiod and traffic go through the
 * meshexpansion / east-west gateway.
 */
export function workloadGroupNetwork(input: {
  readonly controlPlaneNetwork: string
  readonly sameNetwork: boolean
  /** The host's network when different; default `vm-<controlPlaneNetwork>`. */
  readonly hostNetwork?: string
}): string {
  if (input.sameNetwork) return input.controlPlaneNetwork
  const net = input.hostNetwork ?? `vm-${input.controlPlaneNetwork || 'network'}`
  if (net === input.controlPlaneNetwork) {
    throw new LegacyInputError(
      `a different network was asked for, but "${net}" is the control plane's network`
    )
  }
  return net
}

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

export interface PreflightItem {
  readonly id: string
  readonly kind: 'os' | 'package' | 'port'
  readonly description: string
}

/** Operating systems SMM verified, and what "should work". */
export const SMM_SUPPORTED_OS = [
  { id: 'ubuntu', minVersion: '20.04', verified: true },
  { id: 'rhel', minVersion: '8', verified: true }
] as const

export const SMM_REQUIRED_PACKAGES = ['curl', 'iptables', 'sudo', 'hostname'] as const

/** How to install the packages, per family (seed 004; the RHEL order is the doc's). */
export const SMM_PACKAGE_INSTALL = {
  deb: 'apt-get install -y curl iptables sudo hostname',
  rpm: 'yum install -y curl hostname iptables sudo'
} as const

/** TCP ports the cluster must reach on the host besides the WorkloadGroup's own. */
export const SMM_AGENT_PORTS = [16400, 16401] as const

/**
 * The preflight list for a host serving `ports` (WorkloadGroup port name → number): a port
 * listed twice is checked once; a port of the agent's own is refused.
 */
export function smmPreflight(ports: Readonly<Record<string, number>>): PreflightItem[] {
  const items: PreflightItem[] = [
    {
      id: 'os',
      kind: 'os',
      description:
        'Ubuntu 20.04+ or RHEL 8+ (64-bit) verified; another deb/rpm system with systemd should work'
    },
    { id: 'init', kind: 'os', description: 'systemd is the init system' }
  ]
  for (const p of SMM_REQUIRED_PACKAGES) {
    items.push({ id: `package:${p}`, kind: 'package', description: `${p} is installed` })
  }
  const seen = new Set<number>()
  for (const p of SMM_AGENT_PORTS) {
    seen.add(p)
    items.push({
      id: `port:${p}`,
      kind: 'port',
      description: `the cluster reaches TCP ${p} on the host (agent)`
    })
  }
  for (const [name, port] of Object.entries(ports).sort((a, b) => a[1] - b[1])) {
    requirePort(`port ${name}`, port)
    if ((SMM_AGENT_PORTS as readonly number[]).includes(port)) {
      throw new LegacyInputError(`WorkloadGroup port ${name} (${port}) is one of the agent's ports`)
    }
    if (seen.has(port)) continue
    seen.add(port)
    items.push({
      id: `port:${port}`,
      kind: 'port',
      description: `the cluster reaches TCP ${port} on the host (WorkloadGroup port ${name})`
    })
  }
  return items
}

/** /etc/os-release against the list: `supported` (verified), `untested` (deb/rpm), `unsupported`. */
export function classifyOs(osRelease: {
  readonly id: string
  readonly versionId?: string
  readonly idLike?: string
}): { readonly verdict: 'supported' | 'untested' | 'unsupported'; readonly message: string } {
  const name = `${osRelease.id} ${osRelease.versionId ?? ''}`.trim()
  const like = `${osRelease.id} ${osRelease.idLike ?? ''}`.split(/\s+/)
  for (const os of SMM_SUPPORTED_OS) {
    if (osRelease.id !== os.id) continue
    if (
      osRelease.versionId !== undefined &&
      compareVersionText(osRelease.versionId, os.minVersion) >= 0
    ) {
      return { verdict: 'supported', message: `${name} is verified` }
    }
    return {
      verdict: 'untested',
      message: `${name} is older than the verified ${os.id} ${os.minVersion}`
    }
  }
  if (like.some(l => ['debian', 'ubuntu', 'rhel', 'fedora', 'centos', 'suse'].includes(l))) {
    return {
      verdict: 'untested',
      message: `${name} is a deb/rpm system: should work, not verified`
    }
  }
  return { verdict: 'unsupported', message: `${name} is neither deb- nor rpm-based` }
}

function compareVersionText(a: string, b: string): number {
  const x = a.split('.').map(n => Number.parseInt(n, 10) || 0)
  const y = b.split('.').map(n => Number.parseInt(n, 10) || 0)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}
