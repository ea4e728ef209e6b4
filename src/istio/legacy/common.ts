// Shared pieces of the legacy renderers: input checks, the KEY=value env-file form the
// old VM package sources (istio-start.sh: `. cluster.env`), port-name conventions, YAML out.
// Pure: no I/O.

import { stringify } from 'yaml'
import { isValidIPAddress } from '../ip.ts'
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../manifests.ts'

/** A renderer input that would produce a broken or unsafe file. */
export class LegacyInputError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'LegacyInputError'
  }
}

export const MANAGED_LABELS: Readonly<Record<string, string>> = {
  [MANAGED_BY_LABEL]: MANAGED_BY_VALUE
}

/** True when the object carries the label the product puts on everything it creates. */
export function isManaged(labels: Readonly<Record<string, string>> | undefined): boolean {
  return labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE
}

export function requireIP(what: string, value: string): string {
  if (!isValidIPAddress(value) || value.includes('%')) {
    throw new LegacyInputError(`${what}: "${value}" is not an IP address`)
  }
  return value
}

export function isIPv4(value: string): boolean {
  return !value.includes(':') && isValidIPAddress(value)
}

/** An IPv4 or IPv6 CIDR such as 10.96.0.0/12; a comma list is accepted (dual stack). */
export function requireCidrList(what: string, value: string): string {
  const parts = value.split(',')
  for (const p of parts) {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(p)
    const bits = m ? Number(m[2]) : -1
    const ip = m?.[1] ?? ''
    const max = ip.includes(':') ? 128 : 32
    if (!m || !isValidIPAddress(ip) || ip.includes('%') || bits > max || m[2] !== String(bits)) {
      throw new LegacyInputError(`${what}: "${p}" is not a CIDR such as 10.96.0.0/12`)
    }
  }
  return value
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/

/** A Kubernetes namespace or Service name (RFC 1123 label). */
export function requireDnsLabel(what: string, value: string): string {
  if (!DNS_LABEL.test(value)) {
    throw new LegacyInputError(`${what}: "${value}" is not a DNS label (lower case, digits, -)`)
  }
  return value
}

export function requireDnsSubdomain(what: string, value: string): string {
  if (!DNS_SUBDOMAIN.test(value) || value.split('.').some(l => !DNS_LABEL.test(l))) {
    throw new LegacyInputError(`${what}: "${value}" is not a DNS name`)
  }
  return value
}

export function requirePort(what: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new LegacyInputError(`${what}: ${port} is not a port (1-65535)`)
  }
  return port
}

const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/**
 * A service's ports as [name, number] pairs, each a port number under a valid port name;
 * `where` (a host, say) starts the messages.
 */
export function checkedPorts(
  ports: Readonly<Record<string, number>>,
  where?: string
): [string, number][] {
  const list = Object.entries(ports)
  for (const [name, port] of list) {
    requirePort(`${where !== undefined ? `${where} ` : ''}port ${name}`, port)
    if (!PORT_NAME.test(name)) {
      const at = where !== undefined ? `${where}: ` : ''
      throw new LegacyInputError(`${at}port name "${name}" is not a valid port name`)
    }
  }
  return list
}

/** Ports in the given order, duplicates dropped: `3306,8080`. */
export function portList(what: string, ports: readonly number[]): string {
  const seen = new Set<number>()
  for (const p of ports) seen.add(requirePort(what, p))
  return [...seen].join(',')
}

/**
 * KEY=value lines, one per entry, in the given order. The old scripts wrote values bare
 * (`echo "KEY=$VALUE" >> cluster.env`) and the file is sourced by a shell, so a value must
 * not need quoting: anything outside a safe set is refused rather than escaped.
 */
export function formatEnvFile(entries: readonly (readonly [string, string])[]): string {
  let out = ''
  for (const [key, value] of entries) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(key)) {
      throw new LegacyInputError(
        `invalid environment variable name ${JSON.stringify(key)}: upper-case letters, digits ` +
          'and "_", not starting with a digit (the file is sourced by a root shell)'
      )
    }
    if (!/^[A-Za-z0-9_./:,*@%+=-]*$/.test(value)) {
      throw new LegacyInputError(
        `${key}: the value "${value}" holds characters a shell would interpret`
      )
    }
    out += `${key}=${value}\n`
  }
  return out
}

/**
 * Istio's port-name convention (`<protocol>` or `<protocol>-<suffix>`) → ServiceEntry
 * protocol; an explicit protocol wins (seed 002 names a port `http1` with protocol http).
 */
export function protocolForPortName(name: string, explicit?: string): string {
  if (explicit !== undefined && explicit !== '') {
    if (!/^[A-Za-z0-9-]+$/.test(explicit)) {
      throw new LegacyInputError(`port ${name}: "${explicit}" is not a protocol name`)
    }
    return canonicalProtocol(explicit)
  }
  const prefix = (name.split('-')[0] ?? '').toLowerCase()
  const known: Record<string, string> = {
    http: 'HTTP',
    http2: 'HTTP2',
    https: 'HTTPS',
    grpc: 'GRPC',
    'grpc-web': 'GRPC-Web',
    tcp: 'TCP',
    tls: 'TLS',
    mongo: 'Mongo',
    mysql: 'MySQL',
    redis: 'Redis',
    udp: 'UDP'
  }
  return known[prefix] ?? 'TCP'
}

function canonicalProtocol(p: string): string {
  const all = [
    'HTTP',
    'HTTP2',
    'HTTPS',
    'GRPC',
    'GRPC-Web',
    'TCP',
    'TLS',
    'Mongo',
    'MySQL',
    'Redis',
    'UDP'
  ]
  return all.find(a => a.toLowerCase() === p.toLowerCase()) ?? p.toUpperCase()
}

/** Checks that every key of `protocols` names one of `ports`. */
export function requireKnownPortNames(
  what: string,
  ports: Readonly<Record<string, number>>,
  protocols: Readonly<Record<string, string>> | undefined
): void {
  for (const name of Object.keys(protocols ?? {})) {
    if (!(name in ports))
      throw new LegacyInputError(`${what}: protocol given for unknown port "${name}"`)
  }
}

/** One YAML document (no leading `---`), keys in insertion order. */
export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0 })
}
