// Pure checks of the string formats the description uses. Each returns undefined when the
// value is valid, else a message that says what is wrong and what would be valid.
import { SocketAddress, isIP } from 'node:net'

const LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS1035_RE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/
const HOST_LABEL_RE = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$/
const LABEL_NAME_RE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/
const VERSION_RE = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/

export type Check = (value: string) => string | undefined

export const q = (value: string): string => JSON.stringify(value)

export function dnsLabelAs(what: string): Check {
  return value =>
    value.length <= 63 && LABEL_RE.test(value)
      ? undefined
      : `invalid ${what} ${q(value)}: must be a DNS-1123 label (lowercase letters, digits and "-", ` +
        'starting and ending with a letter or digit, at most 63 characters)'
}

export const dnsLabel: Check = dnsLabelAs('name')

export const dns1035Label: Check = value =>
  value.length <= 63 && DNS1035_RE.test(value)
    ? undefined
    : `invalid name ${q(value)}: must be a DNS-1035 label (lowercase letters, digits and "-", ` +
      'starting with a letter, ending with a letter or digit, at most 63 characters)'

function isSubdomain(value: string): boolean {
  return value.length <= 253 && value.split('.').every(part => LABEL_RE.test(part))
}

export const dnsSubdomain: Check = value =>
  isSubdomain(value)
    ? undefined
    : `invalid name ${q(value)}: must be a DNS-1123 subdomain (dot-separated DNS-1123 labels: ` +
      'lowercase letters, digits and "-", at most 253 characters)'

/** A Kubernetes label or annotation key: `[prefix/]name`. */
export function qualifiedName(value: string): string | undefined {
  const slash = value.indexOf('/')
  const prefix = slash >= 0 ? value.slice(0, slash) : undefined
  const name = slash >= 0 ? value.slice(slash + 1) : value
  const valid =
    (prefix === undefined || (prefix !== '' && isSubdomain(prefix))) &&
    name.length <= 63 &&
    LABEL_NAME_RE.test(name)
  return valid
    ? undefined
    : `invalid key ${q(value)}: must be [prefix/]name, the name at most 63 characters of letters, ` +
        'digits, "-", "_" and ".", starting and ending with a letter or digit; the prefix a DNS-1123 subdomain'
}

export const labelValue: Check = value =>
  value === '' || (value.length <= 63 && LABEL_NAME_RE.test(value))
    ? undefined
    : `invalid label value ${q(value)}: must be empty or at most 63 characters of letters, digits, ` +
      '"-", "_" and ".", starting and ending with a letter or digit'

export const isIPAddress = (value: string): boolean => isIP(value) !== 0

export const ipAddress: Check = value => {
  if (isIPAddress(value)) return undefined
  if (/^[\d.]+$/.test(value)) return `invalid IPv4 address ${q(value)}`
  return `invalid IP address ${q(value)}: expected IPv4 (198.18.2.2) or IPv6 (2001:db8::2)`
}

export const cidr: Check = value => {
  const [address, prefix, ...rest] = value.split('/')
  const family = isIP(address ?? '')
  const bits = Number(prefix)
  const max = family === 6 ? 128 : 32
  if (
    rest.length === 0 &&
    family !== 0 &&
    prefix !== undefined &&
    /^\d{1,3}$/.test(prefix) &&
    bits <= max
  ) {
    return undefined
  }
  return `invalid CIDR ${q(value)}: expected an address and a prefix length, e.g. 198.18.0.0/15 or 2001:db8::/32`
}

function isHostname(value: string): boolean {
  const labels = value.replace(/\.$/, '').split('.')
  const last = labels[labels.length - 1] ?? ''
  return (
    value.length <= 253 &&
    labels.every(label => label.length <= 63 && HOST_LABEL_RE.test(label)) &&
    // an all-numeric last label is a mistyped IPv4 address, not a name
    !/^\d+$/.test(last)
  )
}

/** An SSH target: IPv4, IPv6 or a hostname. */
export const host: Check = value => {
  if (isIPAddress(value) || isHostname(value)) return undefined
  if (/^[\d.]+$/.test(value)) return `invalid IPv4 address ${q(value)}`
  if (/^[^:]+:\d+$/.test(value)) {
    return `invalid host ${q(value)}: give the port in "port", not in "host"`
  }
  if (value.includes(':')) return `invalid IPv6 address ${q(value)}`
  return `invalid host ${q(value)}: expected an IPv4 or IPv6 address or a hostname`
}

/** `auto`, an IP, a hostname, or either with `:port` (IPv6 with port as `[addr]:port`). */
export const istiodAddress: Check = value => {
  if (value === 'auto' || isIPAddress(value) || isHostname(value)) return undefined
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(value)
  if (match) {
    const addr = match[1] ?? match[2] ?? ''
    const portNumber = Number(match[3])
    const addrOk = match[1] !== undefined ? isIP(addr) === 6 : isIPAddress(addr) || isHostname(addr)
    if (addrOk && portNumber >= 1 && portNumber <= 65535) return undefined
    if (addrOk) return `invalid port ${match[3]} in ${q(value)}: must be from 1 to 65535`
  }
  return (
    `invalid address ${q(value)}: expected "auto", an IP address, a hostname, ` +
    'or host:port (IPv6 as [address]:port)'
  )
}

export const envName: Check = value =>
  ENV_RE.test(value)
    ? undefined
    : `invalid environment variable name ${q(value)}: letters, digits and "_", not starting with a digit; ` +
      'name the variable here, never put the secret itself in the description'

/**
 * A key of an env file a root shell sources (cluster.env): a shell variable name, nothing
 * else. `X=1;touch /tmp/x;Y` as a key would run a command as root on the VM.
 */
export const envKey: Check = value =>
  ENV_RE.test(value)
    ? undefined
    : `invalid environment variable name ${q(value)}: letters, digits and "_", not starting ` +
      'with a digit (the key becomes a line of cluster.env, which a root shell sources)'

/** A SHA-256 digest: 64 hexadecimal digits. */
export const sha256: Check = value =>
  /^[0-9a-fA-F]{64}$/.test(value)
    ? undefined
    : `invalid sha256 ${q(value)}: expected 64 hexadecimal digits (sha256sum FILE)`

/** An `http://` URL: its bytes can be changed by anyone on the path. */
export const isPlainHttpUrl = (value: string): boolean => /^http:\/\//i.test(value)

/**
 * A host as one SSH target: IPs in their canonical form (IPv4-mapped IPv6 as IPv4, IPv6
 * compressed and lower case), names lower case without a trailing dot.
 */
export function normalizeHost(value: string): string {
  const family = isIP(value)
  if (family === 0) return value.toLowerCase().replace(/\.$/, '')
  if (family === 4) return value
  const [address = '', zone] = value.split('%')
  let canonical: string
  try {
    canonical = new SocketAddress({ address, family: 'ipv6' }).address
  } catch {
    canonical = address.toLowerCase()
  }
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(canonical)
  if (mapped?.[1] !== undefined && zone === undefined) return mapped[1]
  return zone === undefined ? canonical : `${canonical}%${zone}`
}

export const sidecarVersion: Check = value =>
  value === 'auto' || VERSION_RE.test(value)
    ? undefined
    : `invalid version ${q(value)}: expected "auto" or a full Istio version like "1.30.3"`

/** A package source: an http(s) URL, or a path on the runner (pushed to the host). */
export const packageSource: Check = value => {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    let url: URL | undefined
    try {
      url = new URL(value)
    } catch {
      url = undefined
    }
    if (url && (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '') {
      return undefined
    }
    return `invalid package ${q(value)}: expected an http(s) URL or a file path on the runner`
  }
  return value.trim() === ''
    ? 'invalid package "": expected an http(s) URL or a file path'
    : undefined
}

export const httpUrl: Check = value => {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {
    url = undefined
  }
  return url && (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== ''
    ? undefined
    : `invalid URL ${q(value)}: expected http://host[:port]/path or https://…`
}

export const urlPath: Check = value =>
  value.startsWith('/') ? undefined : `invalid path ${q(value)}: must start with "/"`

/** `region[/zone[/subzone]]` as Istio localities are written. */
export const locality: Check = value =>
  value === '' ||
  (value.split('/').length <= 3 && value.split('/').every(part => /^[A-Za-z0-9._-]+$/.test(part)))
    ? undefined
    : `invalid locality ${q(value)}: expected region[/zone[/subzone]], e.g. us-east1/us-east1-b`

export function parseShard(value: string): { index: number; count: number } | undefined {
  const match = /^(\d+)\/(\d+)$/.exec(value)
  if (!match) return undefined
  const index = Number(match[1])
  const count = Number(match[2])
  return index >= 1 && count >= 1 && index <= count ? { index, count } : undefined
}

export const shard: Check = value =>
  parseShard(value)
    ? undefined
    : `invalid shard ${q(value)}: expected "i/n" with 1 <= i <= n, e.g. "2/4"`

/** A count of hosts (an integer) or a percentage of them (`"25%"`), as settings.rollout takes. */
export type CountOrPercent = number | `${number}%`

/** The percentage of `"N%"` (0 to 100, integer), or undefined when `value` is not one. */
export function parsePercent(value: string): number | undefined {
  const match = /^(\d{1,3})%$/.exec(value)
  const percent = match ? Number(match[1]) : NaN
  return percent >= 0 && percent <= 100 ? percent : undefined
}

/**
 * A count of hosts from `min`, or a percentage from `min` (`min` 0 allows "0%") to 100. Returns
 * undefined when valid, else what is wrong and what would be valid.
 */
export function countOrPercent(value: number | string, min: 0 | 1): string | undefined {
  const expected = `expected a number of hosts from ${min} or a percentage from ${min}% to 100% (e.g. ${min === 0 ? '0 or "10%"' : '1 or "25%"'})`
  if (typeof value === 'number')
    return Number.isInteger(value) && value >= min && value <= 1000000
      ? undefined
      : `invalid count ${String(value)}: ${expected}`
  const percent = parsePercent(value)
  return percent !== undefined && percent >= min
    ? undefined
    : `invalid value ${q(value)}: ${expected}`
}

/** Host names of a ServiceEntry: DNS names, optionally with a leading `*.` wildcard. */
export const serviceHost: Check = value =>
  isSubdomain(value.replace(/^\*\./, '')) || value === '*'
    ? undefined
    : `invalid service host ${q(value)}: expected a lowercase DNS name, optionally starting with "*."`

function splitTopLevel(value: string): string[] {
  const parts: string[] = []
  let depth = 0
  let current = ''
  for (const char of value) {
    if (char === '(') depth++
    if (char === ')') depth--
    if (char === ',' && depth === 0) {
      parts.push(current)
      current = ''
    } else {
      current += char
    }
  }
  parts.push(current)
  return parts
}

/** A Kubernetes label selector, equality- or set-based (`app=sleep,tier!=db,env in (a,b)`). */
export function labelSelector(value: string): string | undefined {
  const bad = (why: string): string =>
    `invalid label selector ${q(value)}: ${why} (expected e.g. app=sleep or app=sleep,version in (v1,v2))`
  if (value.trim() === '') return bad('empty')
  for (const raw of splitTopLevel(value)) {
    const part = raw.trim()
    const set = /^(\S+)\s+(in|notin)\s+\(([^()]*)\)$/.exec(part)
    const equality = /^([^=!\s]+)\s*(==|=|!=)\s*([^=!\s]*)$/.exec(part)
    const exists = /^!?([^=!\s()]+)$/.exec(part)
    let key: string
    let values: string[]
    if (set) {
      key = set[1] ?? ''
      values = (set[3] ?? '').split(',').map(v => v.trim())
    } else if (equality) {
      key = equality[1] ?? ''
      values = [equality[3] ?? '']
    } else if (exists) {
      key = exists[1] ?? ''
      values = []
    } else {
      return bad(`cannot read ${q(part)}`)
    }
    if (qualifiedName(key)) return bad(`invalid label key ${q(key)}`)
    const wrong = values.find(v => labelValue(v) !== undefined)
    if (wrong !== undefined) return bad(`invalid label value ${q(wrong)}`)
  }
  return undefined
}

export type Endpoint =
  { kind: 'vm'; name: string } | { kind: 'pod'; namespace: string; selector: string }

/** Reads `vm/<name>` or `pod/<namespace>/<label-selector>`. */
export function parseEndpoint(value: string): Endpoint | string {
  const expected = 'expected vm/<name> or pod/<namespace>/<label-selector>'
  if (value.startsWith('vm/')) {
    const name = value.slice(3)
    const error = dnsSubdomain(name)
    return error ? `${error}; ${expected}` : { kind: 'vm', name }
  }
  if (value.startsWith('pod/')) {
    const rest = value.slice(4)
    const slash = rest.indexOf('/')
    if (slash < 0) return `invalid endpoint ${q(value)}: ${expected}`
    const namespace = rest.slice(0, slash)
    const selector = rest.slice(slash + 1)
    const error = dnsLabel(namespace) ?? labelSelector(selector)
    return error ? error : { kind: 'pod', namespace, selector }
  }
  return `invalid endpoint ${q(value)}: ${expected}`
}

export const endpoint: Check = value => {
  const result = parseEndpoint(value)
  return typeof result === 'string' ? result : undefined
}

/** Edit distance counting a swap of neighbours as one edit, for "did you mean" hints. */
export function distance(a: string, b: string): number {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) =>
    Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0))
  )
  const get = (i: number, j: number): number => d[i]?.[j] ?? 0
  for (let i = 1; i <= x.length; i++) {
    const row = d[i] ?? []
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1
      let best = Math.min(get(i - 1, j) + 1, get(i, j - 1) + 1, get(i - 1, j - 1) + cost)
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) {
        best = Math.min(best, get(i - 2, j - 2) + 1)
      }
      row[j] = best
    }
  }
  return get(x.length, y.length)
}

export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of candidates) {
    const d = distance(word, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined
}

/** A POSIX login name as Debian and RHEL accept it. */
export const userName: Check = value =>
  value.length <= 32 && /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(value)
    ? undefined
    : `invalid user ${q(value)}: expected a login name (letters, digits, "_", "." and "-", ` +
      'not starting with a digit or "-", at most 32 characters)'

/** `auto`, `default` or a revision name (a DNS-1123 label, as istio.io/rev values are). */
export const revision: Check = value =>
  value === 'auto' || (value.length <= 63 && LABEL_RE.test(value))
    ? undefined
    : `invalid revision ${q(value)}: expected "auto", "default" or a revision name ` +
      '(a DNS-1123 label, e.g. 1-30-3)'

/** `*` (everything) or a CIDR. */
export const cidrOrAll: Check = value => (value === '*' ? undefined : cidr(value))

/** An east-west gateway Service: `name` or `name.namespace`. */
export const serviceRef: Check = value => {
  const parts = value.split('.')
  return parts.length <= 2 && parts.every(part => LABEL_RE.test(part) && part.length <= 63)
    ? undefined
    : `invalid service ${q(value)}: expected <name> or <name>.<namespace> (DNS-1123 labels)`
}

/** `auto` (the VM's own address) or an IP address. */
export const meshAddress: Check = value => (value === 'auto' ? undefined : ipAddress(value))

/** `local` (the runner itself, no SSH) or an SSH target. */
export const hostOrLocal: Check = value => (value === 'local' ? undefined : host(value))

/** A cluster Service the VMs call: `name.namespace`. */
export const serviceInNamespace: Check = value => {
  const parts = value.split('.')
  return parts.length === 2 && parts.every(part => LABEL_RE.test(part) && part.length <= 63)
    ? undefined
    : `invalid service ${q(value)}: expected <name>.<namespace> (DNS-1123 labels), e.g. echo.sample`
}

/** The prefix of Citadel's certificate secrets (`istio.` gives istio.<service account>). */
export const secretPrefix: Check = value =>
  /^[a-z0-9]([-a-z0-9.]*)$/.test(value) && value.length <= 200
    ? undefined
    : `invalid secret prefix ${q(value)}: lowercase letters, digits, "-" and ".", e.g. istio.`
