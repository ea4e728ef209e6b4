// multinetwork-1.4 generation (VMs in multi-network meshes through gateways, 1.3/1.4):
// `.global` ServiceEntries with addresses from 127.255.0.0/16, the VM's hosts lines and the
// `.global` DNS stub. Follows the reference legacy-generations.md, "Gen 4", and seed 002.

import {
  LegacyInputError,
  MANAGED_LABELS,
  checkedPorts,
  isManaged,
  protocolForPortName,
  requireDnsLabel,
  requireIP,
  requireKnownPortNames,
  toYaml
} from './common.ts'

/** The gateway port that routes `.global` traffic by SNI; never a Gateway of our own. */
export const GLOBAL_GATEWAY_PORT = 15443

const BASE = (127 << 24) | (255 << 16)
/** Usable addresses: 127.255.0.1 … 127.255.255.254. */
const SIZE = 65534

function toAddress(offset: number): string {
  const n = BASE + offset
  return `127.255.${(n >> 8) & 255}.${n & 255}`
}

/** Offset (1…65534) of an address in 127.255.0.0/16, or undefined. */
function fromAddress(address: string): number | undefined {
  const m = /^127\.255\.(\d{1,3})\.(\d{1,3})$/.exec(address)
  if (!m || !requireIPSilently(address)) return undefined
  const off = Number(m[1]) * 256 + Number(m[2])
  return off >= 1 && off <= SIZE ? off : undefined
}

function requireIPSilently(address: string): boolean {
  try {
    requireIP('address', address)
    return true
  } catch {
    return false
  }
}

/** FNV-1a 32-bit: the preferred slot of a host, the same on every run and machine. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5
  for (const byte of new TextEncoder().encode(text)) {
    h ^= byte
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

export interface GlobalAllocation {
  /** host (`<name>.<ns>.global`) → address. */
  readonly allocations: Readonly<Record<string, string>>
  /** Hosts that got a new address this time (new services, or a collision moved them). */
  readonly assigned: readonly string[]
  /** Hosts of the previous allocation no longer asked for (their addresses are free). */
  readonly released: readonly string[]
}

/**
 * Addresses for `.global` hosts. Pure: the wanted hosts, the previous allocation (e.g. read
 * back from the ServiceEntries a run created) and the addresses used by anything else
 * (other ServiceEntries) in, the allocation out. A host keeps its previous address when that
 * is valid and free; a new host gets the slot its name hashes to, probing upward past used
 * ones, so the result does not depend on the order of the input or on the hosts before it
 * unless two hash to the same slot. Hosts are handled in sorted order.
 */
export function allocateGlobalAddresses(
  hosts: readonly string[],
  previous: Readonly<Record<string, string>> = {},
  usedElsewhere: readonly string[] = []
): GlobalAllocation {
  const wanted = [...new Set(hosts)].sort()
  for (const h of wanted) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\.[a-z0-9]([-a-z0-9]*[a-z0-9])?\.global$/.test(h)) {
      throw new LegacyInputError(`"${h}" is not a host of the form <name>.<namespace>.global`)
    }
  }
  if (wanted.length > SIZE) throw new LegacyInputError(`more than ${SIZE} .global hosts`)
  const taken = new Set<number>()
  for (const a of usedElsewhere) {
    const off = fromAddress(a)
    if (off !== undefined) taken.add(off)
  }
  const result: Record<string, string> = {}
  const assigned: string[] = []
  // first pass: keep previous addresses that are still valid and not used elsewhere
  for (const h of wanted) {
    const prev = previous[h]
    const off = prev === undefined ? undefined : fromAddress(prev)
    if (off !== undefined && !taken.has(off)) {
      taken.add(off)
      result[h] = toAddress(off)
    }
  }
  for (const h of wanted) {
    if (result[h] !== undefined) continue
    if (taken.size >= SIZE) throw new LegacyInputError('127.255.0.0/16 is exhausted')
    let off = (fnv1a(h) % SIZE) + 1
    while (taken.has(off)) off = off === SIZE ? 1 : off + 1
    taken.add(off)
    result[h] = toAddress(off)
    assigned.push(h)
  }
  const released = Object.keys(previous)
    .filter(h => !wanted.includes(h))
    .sort()
  const allocations: Record<string, string> = {}
  for (const h of wanted) allocations[h] = result[h] ?? ''
  return { allocations, assigned, released }
}

export interface ServiceEntryView {
  readonly metadata: { readonly labels?: Readonly<Record<string, string>> }
  readonly spec?: { readonly hosts?: readonly string[]; readonly addresses?: readonly string[] }
}

/**
 * The inputs of allocateGlobalAddresses read back from the ServiceEntries in the cluster:
 * ours (managed-by label, a single `.global` host and address) give the previous allocation,
 * every other address is used elsewhere.
 */
export function allocationsFromServiceEntries(entries: readonly ServiceEntryView[]): {
  readonly previous: Record<string, string>
  readonly usedElsewhere: string[]
} {
  const previous: Record<string, string> = {}
  const used = new Set<string>()
  for (const e of entries) {
    const hosts = e.spec?.hosts ?? []
    const addresses = e.spec?.addresses ?? []
    const host = hosts[0]
    const address = addresses[0]
    if (
      isManaged(e.metadata.labels) &&
      hosts.length === 1 &&
      addresses.length === 1 &&
      host !== undefined &&
      address !== undefined &&
      host.endsWith('.global') &&
      previous[host] === undefined
    ) {
      previous[host] = address
    } else {
      for (const a of addresses) used.add(a)
    }
  }
  return { previous, usedElsewhere: [...used].sort() }
}

export interface GlobalServiceInput {
  readonly name: string
  readonly namespace: string
  /** Port name → the service port the VM calls (the endpoint side is always 15443). */
  readonly ports: Readonly<Record<string, number>>
  /** Port name → protocol, where the name alone does not say it (e.g. `http1`: http). */
  readonly protocols?: Readonly<Record<string, string>>
}

export function globalHost(service: { readonly name: string; readonly namespace: string }): string {
  return `${requireDnsLabel('name', service.name)}.${requireDnsLabel('namespace', service.namespace)}.global`
}

/**
 * The ServiceEntry that exposes a cluster service to VMs as `<name>.<ns>.global` (seed 002):
 * MESH_INTERNAL, resolution DNS, the allocated 127.255 address, one endpoint per gateway
 * address with every port mapped to 15443. Named `<name>.<ns>.forvms` in the service's
 * namespace, as the doc does.
 */
export function renderGlobalServiceEntry(
  service: GlobalServiceInput,
  address: string,
  gateways: readonly string[]
): string {
  const host = globalHost(service)
  if (fromAddress(address) === undefined) {
    throw new LegacyInputError(`${host}: ${address} is not a usable address in 127.255.0.0/16`)
  }
  if (Object.keys(service.ports).length === 0) throw new LegacyInputError(`${host}: no ports`)
  const ports = checkedPorts(service.ports, host)
  requireKnownPortNames(host, service.ports, service.protocols)
  if (gateways.length === 0) throw new LegacyInputError(`${host}: no gateway address`)
  return toYaml({
    apiVersion: 'networking.istio.io/v1alpha3',
    kind: 'ServiceEntry',
    metadata: {
      name: `${service.name}.${service.namespace}.forvms`,
      namespace: service.namespace,
      labels: { ...MANAGED_LABELS }
    },
    spec: {
      hosts: [host],
      location: 'MESH_INTERNAL',
      ports: ports.map(([n, number]) => ({
        name: n,
        number,
        protocol: protocolForPortName(n, service.protocols?.[n])
      })),
      resolution: 'DNS',
      addresses: [address],
      endpoints: gateways.map(g => ({
        address: requireIP('gateway', g),
        ports: Object.fromEntries(ports.map(([n]) => [n, GLOBAL_GATEWAY_PORT]))
      }))
    }
  })
}

/** `127.255.x.y <name>.<ns>.global` lines for the VM's /etc/hosts, sorted by host. */
export function globalHostsLines(allocations: Readonly<Record<string, string>>): string {
  return Object.keys(allocations)
    .sort()
    .map(h => `${allocations[h] ?? ''} ${h}\n`)
    .join('')
}

/**
 * kube-dns: the ConfigMap kube-system/kube-dns with `stubDomains` sending `global` to the
 * istiocoredns ClusterIP. Other stub domains already present are kept (`existing` is the
 * current stubDomains JSON text, if any).
 */
export function renderKubeDnsStub(istioCoreDnsIP: string, existing?: string): string {
  const ip = requireIP('istiocoredns ClusterIP', istioCoreDnsIP)
  let stubs: Record<string, unknown> = {}
  if (existing !== undefined && existing.trim() !== '') {
    let parsed: unknown
    try {
      parsed = JSON.parse(existing)
    } catch {
      throw new LegacyInputError('kube-dns stubDomains is not JSON')
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new LegacyInputError('kube-dns stubDomains is not a JSON object')
    }
    stubs = { ...(parsed as Record<string, unknown>) }
  }
  stubs['global'] = [ip]
  const sorted = Object.fromEntries(
    Object.keys(stubs)
      .sort()
      .map(k => [k, stubs[k]])
  )
  return toYaml({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'kube-dns', namespace: 'kube-system' },
    data: { stubDomains: JSON.stringify(sorted) }
  })
}

/**
 * CoreDNS: the Corefile with a `global:53` server block that forwards to istiocoredns.
 * `plugin` is `proxy` for CoreDNS before 1.5 (the doc's form), `forward` after (proxy was
 * removed). An existing `global:53` block is replaced, anything else kept byte for byte.
 */
export function ensureCorefileGlobalStub(
  corefile: string,
  istioCoreDnsIP: string,
  plugin: 'proxy' | 'forward' = 'forward'
): { readonly corefile: string; readonly changed: boolean } {
  const ip = requireIP('istiocoredns ClusterIP', istioCoreDnsIP)
  const block = `global:53 {\n    errors\n    cache 30\n    ${plugin} . ${ip}\n}\n`
  const lines = corefile.split('\n')
  const start = lines.findIndex(l => /^\s*global(\.)?:53\s*\{\s*$/.test(l))
  if (start < 0) {
    const base = corefile === '' || corefile.endsWith('\n') ? corefile : corefile + '\n'
    return { corefile: base + block, changed: true }
  }
  let depth = 0
  let end = -1
  for (let i = start; i < lines.length; i++) {
    for (const ch of lines[i] ?? '') {
      if (ch === '{') depth++
      else if (ch === '}') depth--
    }
    if (depth === 0) {
      end = i
      break
    }
  }
  if (end < 0) throw new LegacyInputError('the Corefile global:53 block has no closing brace')
  const before = lines.slice(0, start).join('\n')
  const after = lines.slice(end + 1).join('\n')
  const next = (before === '' ? '' : before + '\n') + block + (after === '' ? '' : after)
  return { corefile: next, changed: next !== corefile }
}
