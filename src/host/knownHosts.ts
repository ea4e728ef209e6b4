// Host-key trust without ssh-keyscan: known_hosts content (OpenSSH format, hashed names,
// wildcards, [host]:port, @revoked) or a list of SHA256 fingerprints. Pure.
import { createHash, createHmac } from 'node:crypto'

export interface KnownHostEntry {
  marker: '' | '@revoked' | '@cert-authority'
  patterns: string[]
  keyType: string
  /** The key blob (base64 decoded). */
  key: Buffer
  fingerprint: string
}

/** What a host key is checked against; `insecure` accepts any key (an explicit opt-out). */
export type HostKeyPolicy =
  | { kind: 'known_hosts'; content: string; fingerprints?: string[] }
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
    const typeLength = key.length >= 4 ? key.readUInt32BE(0) : -1
    if (typeLength < 0 || key.subarray(4, 4 + typeLength).toString('latin1') !== keyType) {
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

/** OpenSSH's rule: some positive pattern matches and no negated (!) pattern does. */
export function hostMatches(patterns: string[], host: string, port: number): boolean {
  const name = knownHostsName(host, port)
  let positive = false
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (matchesOne(p.slice(1), name)) return false
    } else if (matchesOne(p, name)) positive = true
  }
  return positive
}

export type HostKeyVerdict =
  | { ok: true; fingerprint: string; warning?: string }
  | { ok: false; fingerprint: string; reason: string }

/** Decides on a host key presented by host:port. Fails closed. */
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
  const pinned = (policy.fingerprints ?? []).map(normalizeFingerprint)
  if (policy.kind === 'known_hosts') {
    const entries = parseKnownHosts(policy.content).entries.filter(
      e => e.marker !== '@cert-authority' && hostMatches(e.patterns, host, port)
    )
    if (entries.some(e => e.marker === '@revoked' && e.key.equals(key))) {
      return {
        ok: false,
        fingerprint,
        reason: `host key for ${name} is ${fingerprint}, which known_hosts marks @revoked`
      }
    }
    if (entries.some(e => e.marker === '' && e.key.equals(key))) return { ok: true, fingerprint }
    if (pinned.includes(fingerprint)) return { ok: true, fingerprint }
    const known = entries.filter(e => e.marker === '').map(e => e.fingerprint)
    const hint =
      known.length > 0
        ? ` (known_hosts has ${known.join(', ')} for it: the key changed, or this is not the host you think)`
        : ' (known_hosts has no line for this host)'
    return {
      ok: false,
      fingerprint,
      reason: `host key for ${name} is ${fingerprint} which is not in known_hosts${hint}`
    }
  }
  if (pinned.includes(fingerprint)) return { ok: true, fingerprint }
  return {
    ok: false,
    fingerprint,
    reason: `host key for ${name} is ${fingerprint} which is not among the ${pinned.length} pinned fingerprint(s)`
  }
}
