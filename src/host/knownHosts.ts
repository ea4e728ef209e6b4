// Host-key trust without ssh-keyscan, checked as OpenSSH checks it: known_hosts content
// (OpenSSH format, hashed names, wildcards, negation, [host]:port, @revoked) plus fingerprint
// pins bound to hosts (`HOSTPATTERNS SHA256:…` lines). Pure.
//
// What follows OpenSSH (openssh-portable, commit 0ef0f5a8):
// - the lines for a host are those whose patterns match `host`, or `[host]:port` off port 22
//   (hostfile.c, hostkeys_foreach); with no line for `[host]:port`, the bare `host` lines are
//   tried (sshconnect.c check_host_key, case HOST_NEW: "checking without port identifier");
// - a key matching a `@revoked` line is refused whatever else says (hostfile.c
//   check_key_not_revoked); `@cert-authority` lines are not trusted as host keys;
// - the host-key algorithms offered are those of the keys known for that host, in the order of
//   OpenSSH's default HostKeyAlgorithms (myproposal.h KEX_DEFAULT_PK_ALG; sshconnect2.c
//   order_hostkeyalgs puts them first). We go one step further and offer only those, so the
//   host presents the key known_hosts lists (an RSA line with an ed25519 and RSA host: RSA).
// Ours, stricter than OpenSSH's nearest equivalent (SSHFP records, accepted before known_hosts):
// a pin holds only for the hosts its line names, and a known_hosts line of the presented key's
// type with another key ("the key changed") refuses even when a pin matches.
import { createHash, createHmac } from 'node:crypto'

export interface KnownHostEntry {
  marker: '' | '@revoked' | '@cert-authority'
  patterns: string[]
  keyType: string
  /** The key blob (base64 decoded). */
  key: Buffer
  fingerprint: string
}

/** A fingerprint pin bound to the hosts its patterns name (known_hosts host-pattern syntax). */
export interface HostPin {
  patterns: string[]
  fingerprint: string
}

/**
 * What a host key is checked against; `insecure` accepts any key (an explicit opt-out).
 * `fingerprints` pins keys for ONE connection's target: connectSsh binds them to its host and
 * port, so a jump host is never accepted by them.
 */
export type HostKeyPolicy =
  | { kind: 'known_hosts'; content: string; pins?: HostPin[] }
  | { kind: 'fingerprints'; fingerprints: string[] }
  | { kind: 'insecure' }

/** OpenSSH's form: SHA256:<base64 without padding> of the key blob. */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`
}

/** Accepts "SHA256:abc", "abc" and padded base64; returns the canonical form or undefined. */
export function normalizeFingerprint(text: string): string | undefined {
  const value = text
    .trim()
    .replace(/^SHA256:/i, '')
    .replace(/=+$/, '')
  if (!/^[A-Za-z0-9+/]{43}$/.test(value)) return undefined
  return `SHA256:${value}`
}

/** The key type a key blob names (its first, length-prefixed string), or '' when unreadable. */
export function keyTypeOf(key: Buffer): string {
  const length = key.length >= 4 ? key.readUInt32BE(0) : -1
  if (length <= 0 || 4 + length > key.length) return ''
  return key.subarray(4, 4 + length).toString('latin1')
}

/** Parses known_hosts content; lines it cannot read are returned in `skipped` (1-based). */
export function parseKnownHosts(content: string): { entries: KnownHostEntry[]; skipped: number[] } {
  const entries: KnownHostEntry[] = []
  const skipped: number[] = []
  content.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const fields = line.split(/\s+/)
    let marker: KnownHostEntry['marker'] = ''
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') {
      marker = fields.shift() as KnownHostEntry['marker']
    }
    const [hosts, keyType, blob] = fields
    if (!hosts || !keyType || !blob || !/^[A-Za-z0-9+/]+=*$/.test(blob)) {
      skipped.push(i + 1)
      return
    }
    const key = Buffer.from(blob, 'base64')
    // a key blob starts with its own type name, length-prefixed
    if (keyTypeOf(key) !== keyType) {
      skipped.push(i + 1)
      return
    }
    entries.push({
      marker,
      patterns: hosts.split(','),
      keyType,
      key,
      fingerprint: fingerprintOf(key)
    })
  })
  return { entries, skipped }
}

/** known_hosts lines and pins, read from one text (the description's known-hosts variable). */
export interface HostKeyInput {
  /** The known_hosts lines (pin lines removed). */
  content: string
  pins: HostPin[]
  /** Pin lines that cannot be used, each naming its line (1-based); never a key. */
  problems: string[]
}

/**
 * Splits the known-hosts text: a line `HOSTPATTERNS SHA256:<fingerprint>` (the host field as in
 * known_hosts: comma-separated patterns, `[host]:port`, wildcards, `!` negation, hashed `|1|`
 * names; anything after the fingerprint is a comment) pins that key for those hosts only. A line
 * that is only a fingerprint names no host: it is refused (a problem), never trusted for all.
 */
export function parseHostKeyInput(text: string): HostKeyInput {
  const lines: string[] = []
  const pins: HostPin[] = []
  const problems: string[] = []
  text.split(/\r?\n/).forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/)
    const [first = '', second = ''] = fields
    if (/^SHA256:/i.test(first)) {
      problems.push(
        `line ${i + 1}: a fingerprint pin must name its host: write "HOST ${first.slice(0, 7)}…" (the host as known_hosts names it, [host]:port off port 22)`
      )
      return
    }
    if (!/^SHA256:/i.test(second)) {
      lines.push(raw)
      return
    }
    const fingerprint = normalizeFingerprint(second)
    if (first.startsWith('@') || fingerprint === undefined) {
      problems.push(
        `line ${i + 1}: not a pin: expected "HOST SHA256:<43 base64 characters>" (a marker such as @revoked needs a key line)`
      )
      return
    }
    pins.push({ patterns: first.split(','), fingerprint })
  })
  return { content: lines.join('\n'), pins, problems }
}

/** The name known_hosts uses for a host: `host`, or `[host]:port` off port 22. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.')
  return new RegExp(`^${escaped}$`, 'i')
}

function matchesOne(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|')
    if (!salt || !hash) return false
    const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64')
    return digest === hash
  }
  return globToRegExp(pattern).test(name)
}

/** OpenSSH's rule for one name: some positive pattern matches and no negated (!) one does. */
function nameMatches(patterns: string[], name: string): boolean {
  let positive = false
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (matchesOne(p.slice(1), name)) return false
    } else if (matchesOne(p, name)) positive = true
  }
  return positive
}

/** Whether patterns name host:port (as `host`, or `[host]:port` off port 22). */
export function hostMatches(patterns: string[], host: string, port: number): boolean {
  return nameMatches(patterns, knownHostsName(host, port))
}

/** What the policy knows of one host: its key lines, @revoked lines and pins. */
export interface KnownForHost {
  /** The name they were found under: `[host]:port`, or `host` when OpenSSH falls back to it. */
  name: string
  keys: KnownHostEntry[]
  revoked: KnownHostEntry[]
  pins: HostPin[]
}

function pinsOf(policy: HostKeyPolicy, host: string, port: number): HostPin[] {
  if (policy.kind === 'fingerprints') {
    // unbound pins: the caller checks one host with them (connectSsh binds them to its target)
    return policy.fingerprints.flatMap(f => {
      const fingerprint = normalizeFingerprint(f)
      return fingerprint ? [{ patterns: [knownHostsName(host, port)], fingerprint }] : []
    })
  }
  return policy.kind === 'known_hosts' ? (policy.pins ?? []) : []
}

/**
 * The lines and pins of the policy for host:port. Off port 22 with nothing for `[host]:port`,
 * those of the bare `host` (OpenSSH: "checking without port identifier"). @revoked lines of
 * both names count.
 */
export function knownForHost(policy: HostKeyPolicy, host: string, port: number): KnownForHost {
  const entries =
    policy.kind === 'known_hosts'
      ? parseKnownHosts(policy.content).entries.filter(e => e.marker !== '@cert-authority')
      : []
  const pins = pinsOf(policy, host, port)
  const names = port === 22 ? [host] : [knownHostsName(host, port), host]
  const revoked = entries.filter(
    e => e.marker === '@revoked' && names.some(n => nameMatches(e.patterns, n))
  )
  for (const name of names) {
    const found = {
      name,
      keys: entries.filter(e => e.marker === '' && nameMatches(e.patterns, name)),
      revoked,
      pins: pins.filter(p => nameMatches(p.patterns, name))
    }
    if (found.keys.length > 0 || found.pins.length > 0) return found
  }
  return { name: knownHostsName(host, port), keys: [], revoked, pins: [] }
}

export type HostKeyVerdict =
  | { ok: true; fingerprint: string; warning?: string }
  | { ok: false; fingerprint: string; reason: string }

const listed = (entries: readonly KnownHostEntry[]): string =>
  entries.map(e => `${e.fingerprint} (${e.keyType})`).join(', ')

/**
 * Decides on a host key presented by host:port. Fails closed. In order: a @revoked line refuses;
 * a key line with this key accepts; a key line of the same type with another key refuses (the
 * key changed), whatever the pins say; a pin for this host accepts; anything else refuses.
 */
export function verifyHostKey(
  policy: HostKeyPolicy,
  host: string,
  port: number,
  key: Buffer
): HostKeyVerdict {
  const fingerprint = fingerprintOf(key)
  const name = knownHostsName(host, port)
  if (policy.kind === 'insecure') {
    return {
      ok: true,
      fingerprint,
      warning: `host key checking is OFF: accepted ${fingerprint} for ${name} without verification`
    }
  }
  const keyType = keyTypeOf(key)
  const known = knownForHost(policy, host, port)
  const refuse = (reason: string): HostKeyVerdict => ({
    ok: false,
    fingerprint,
    reason: `host key for ${name} is ${fingerprint} ${reason}`
  })
  if (known.revoked.some(e => e.key.equals(key))) {
    return refuse('(revoked): known_hosts marks it @revoked')
  }
  if (known.keys.some(e => e.key.equals(key))) return { ok: true, fingerprint }
  const sameType = known.keys.filter(e => e.keyType === keyType)
  if (sameType.length > 0) {
    const pinned = known.pins.some(p => p.fingerprint === fingerprint)
    return refuse(
      `which is not in known_hosts (known_hosts has ${listed(sameType)} for it: the key changed, or this is not the host you think${pinned ? '; a pin does not override a changed key' : ''})`
    )
  }
  if (known.pins.some(p => p.fingerprint === fingerprint)) return { ok: true, fingerprint }
  const elsewhere =
    policy.kind === 'known_hosts'
      ? (policy.pins ?? []).filter(p => p.fingerprint === fingerprint)
      : []
  const why: string[] = []
  if (known.keys.length > 0) {
    why.push(`known_hosts has ${listed(known.keys)} for it, no ${keyType || 'such'} key`)
  } else if (known.pins.length === 0) {
    why.push('known_hosts has no line for this host')
  }
  if (known.pins.length > 0) {
    why.push(`it is not among the ${known.pins.length} fingerprint(s) pinned for this host`)
  }
  if (elsewhere.length > 0) {
    why.push(
      `that key is pinned for ${elsewhere.map(p => p.patterns.join(',')).join('; ')} only: a pin holds only for the host it names`
    )
  }
  return refuse(`which is not in known_hosts (${why.join('; ')})`)
}

/** Host-key algorithms, in ssh2's names. */
export type HostKeyAlgorithm =
  | 'ssh-ed25519'
  | 'ecdsa-sha2-nistp256'
  | 'ecdsa-sha2-nistp384'
  | 'ecdsa-sha2-nistp521'
  | 'rsa-sha2-512'
  | 'rsa-sha2-256'
  | 'ssh-rsa'

/**
 * OpenSSH's default HostKeyAlgorithms order (plain keys; no certificates, no security keys:
 * ssh2 has neither), in ssh2's names. `ssh-rsa` (SHA-1 signatures), which OpenSSH 8.8 and
 * later no longer offers by default, stays last as in ssh2's defaults, for old sshd.
 */
export const HOST_KEY_ALGORITHM_ORDER: readonly HostKeyAlgorithm[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa'
]

/** The algorithms that present a key of a known_hosts key type (RSA: three signatures). */
function algorithmsOfKeyType(keyType: string): HostKeyAlgorithm[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']
  return HOST_KEY_ALGORITHM_ORDER.filter(a => a === keyType)
}

/**
 * The host-key algorithms to offer host:port (ssh2's `algorithms.serverHostKey`), or undefined
 * for ssh2's defaults (checking off). With key lines and no pin for the host: only the types of
 * those lines, in OpenSSH's order, so the host presents a key known_hosts lists. A pin says no
 * key type, so with pins the known types come first and every other follows (OpenSSH's
 * order_hostkeyalgs). With nothing usable for the host, the whole list (the key is refused then,
 * with the fingerprint it presented).
 */
export function hostKeyAlgorithms(
  policy: HostKeyPolicy,
  host: string,
  port: number
): HostKeyAlgorithm[] | undefined {
  if (policy.kind === 'insecure') return undefined
  const known = knownForHost(policy, host, port)
  const types = new Set<HostKeyAlgorithm>(known.keys.flatMap(e => algorithmsOfKeyType(e.keyType)))
  const first = HOST_KEY_ALGORITHM_ORDER.filter(a => types.has(a))
  if (first.length === 0) return [...HOST_KEY_ALGORITHM_ORDER]
  if (known.pins.length === 0) return first
  return [...first, ...HOST_KEY_ALGORITHM_ORDER.filter(a => !types.has(a))]
}
