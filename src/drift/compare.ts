// What differs on one host, from what its probe reported and what the description renders now.
// Pure: every wording of a finding is decided here, so the tests read them as users do.
import { createHash } from 'node:crypto'
import { compareVersions } from '../util/version.ts'
import { expectedCapture, missingCapture } from './capture.ts'
import { PLACED_PATHS, type FileFact, type HostFacts, type PlacedKey } from './probe.ts'
import type { DriftFinding } from './types.ts'
import type { WorkloadEntryHealth } from '../verify/types.ts'

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

/** The bytes of our block in /etc/hosts for a rendered hosts file (install.sh adds a last newline). */
export function hostsBlockBody(hosts: string): string {
  return hosts === '' || hosts.endsWith('\n') ? hosts : `${hosts}\n`
}

/** What the description wants on one host, rendered now (no secret: digests and versions). */
export interface HostExpectation {
  /** SHA-256 of each file as rendered now (the token is compared with its own copy instead);
   * null when they could not be rendered (`unrendered` says why): not compared */
  readonly files: {
    readonly 'cluster.env': string
    readonly mesh: string
    readonly 'root-cert.pem': string
    readonly tmpfiles: string
  } | null
  readonly unrendered?: string
  /** SHA-256 of the hosts block; null = no block wanted (an empty hosts file) */
  readonly hostsBlock: string | null
  /** cluster.env as rendered: what the capture must look like (null: not rendered) */
  readonly clusterEnv: string | null
  /** the package version wanted ('' = unknown; then the SHA-256 decides) */
  readonly wantedVersion: string
  /** SHA-256 of the pushed package file, when pushed */
  readonly wantedSha256?: string
  /** istiod's version (its image tag), null when unknown */
  readonly istioVersion: string | null
  /** '' = the default revision */
  readonly revision: string
  /** seconds: a token that expires within this is drift */
  readonly tokenRefreshWithin: number
  /** the WorkloadEntry that carries health checks, with its health; undefined = none wanted */
  readonly entry?: { readonly name: string; readonly health: WorkloadEntryHealth }
}

/** A length of time as a person says it: `3 d 4 h`, `59 min`, `42 s`. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s >= 86400) {
    const h = Math.floor((s % 86400) / 3600)
    return `${Math.floor(s / 86400)} d${h > 0 ? ` ${h} h` : ''}`
  }
  if (s >= 3600) {
    const m = Math.floor((s % 3600) / 60)
    return `${Math.floor(s / 3600)} h${m > 0 ? ` ${m} min` : ''}`
  }
  if (s >= 60) return `${Math.floor(s / 60)} min`
  return `${s} s`
}

const iso = (unixSeconds: number): string => new Date(unixSeconds * 1000).toISOString()

const ok = (area: DriftFinding['area'], subject: string, detail: string): DriftFinding => ({
  area,
  subject,
  state: 'ok',
  detail
})
const drift = (area: DriftFinding['area'], subject: string, detail: string): DriftFinding => ({
  area,
  subject,
  state: 'drift',
  detail
})
const unknown = (area: DriftFinding['area'], subject: string, detail: string): DriftFinding => ({
  area,
  subject,
  state: 'unknown',
  detail
})

function fileFinding(path: string, fact: FileFact | undefined, wanted: string): DriftFinding {
  if (fact === undefined) return unknown('file', path, 'not reported by the host')
  if (fact.state === 'missing') return drift('file', path, 'missing; apply places it again')
  if (fact.state === 'symlink')
    return drift('file', path, 'is a symlink, not the file mesh-expansion placed (not followed)')
  if (fact.state === 'other') return drift('file', path, 'is not a regular file')
  if (fact.sha256 !== wanted)
    return drift(
      'file',
      path,
      'differs from what the description renders now (edited on the host, or the description or cluster changed); apply places it again and restarts the sidecar'
    )
  return ok('file', path, 'as rendered')
}

function fileFindings(facts: HostFacts, expected: HostExpectation): DriftFinding[] {
  const wanted = expected.files
  if (wanted === null)
    return [
      unknown('file', 'the files placed', `not compared: ${expected.unrendered ?? 'not rendered'}`)
    ]
  const out: DriftFinding[] = []
  const keys = ['cluster.env', 'mesh', 'root-cert.pem', 'tmpfiles'] as const
  for (const key of keys) out.push(fileFinding(PLACED_PATHS[key], facts.files[key], wanted[key]))
  const agentRoot = facts.files['root-cert.pem (agent)']
  if (agentRoot !== undefined && agentRoot.state !== 'present')
    out.push(
      drift(
        'file',
        PLACED_PATHS['root-cert.pem (agent)'],
        `${agentRoot.state}: the sidecar cannot verify istiod; apply places it again`
      )
    )
  const block = facts.hostsBlock
  const where = '/etc/hosts (mesh-expansion block)'
  if (expected.hostsBlock === null) {
    if (block?.state === 'present')
      out.push(drift('file', where, 'present, but the description renders no hosts entries'))
  } else if (block === undefined) out.push(unknown('file', where, 'not reported by the host'))
  else if (block.state === 'symlink') out.push(drift('file', where, '/etc/hosts is a symlink'))
  else if (block.state !== 'present')
    out.push(
      drift('file', where, 'our block is gone: the host cannot resolve istiod; apply puts it back')
    )
  else if (block.sha256 !== expected.hostsBlock)
    out.push(
      drift('file', where, 'differs from what the description renders now; apply replaces it')
    )
  else out.push(ok('file', where, 'as rendered'))
  return out
}

function tokenFindings(facts: HostFacts, expected: HostExpectation, nowMs: number): DriftFinding[] {
  const path = PLACED_PATHS['istio-token']
  const token = facts.files['istio-token']
  const copy = facts.files['istio-token (copy)']
  if (token === undefined) return [unknown('token', path, 'not reported by the host')]
  if (token.state !== 'present')
    return [
      drift(
        'token',
        path,
        `${token.state}: a sidecar that restarts cannot get its certificate; apply places a new token`
      )
    ]
  const out: DriftFinding[] = []
  if (copy?.state !== 'present' || copy.sha256 !== token.sha256)
    out.push(
      drift(
        'token',
        path,
        copy?.state === 'present'
          ? 'differs from the copy mesh-expansion keeps for reboots (replaced by hand?); apply places a new token'
          : `its copy for reboots (${PLACED_PATHS['istio-token (copy)']}) is ${copy?.state ?? 'not reported'}; apply places it again`
      )
    )
  const exp = facts.tokenExp
  const now = nowMs / 1000
  if (exp === undefined || exp === null || exp === 'unreadable')
    out.push(unknown('token', `${path} expiry`, 'the token carries no readable exp claim'))
  else if (exp <= now)
    out.push(
      drift(
        'token',
        `${path} expiry`,
        `expired ${duration(now - exp)} ago (${iso(exp)}): a sidecar that restarts cannot get its certificate; apply places a new token`
      )
    )
  else if (exp - now < expected.tokenRefreshWithin)
    out.push(
      drift(
        'token',
        `${path} expiry`,
        `expires in ${duration(exp - now)} (${iso(exp)}), within settings.tokenRefreshWithin (${duration(expected.tokenRefreshWithin)}); apply places a new token without a restart`
      )
    )
  else out.push(ok('token', `${path} expiry`, `expires in ${duration(exp - now)} (${iso(exp)})`))
  return out
}

function certFinding(facts: HostFacts, nowMs: number): DriftFinding {
  const subject = '/etc/certs/cert-chain.pem'
  const end = facts.certNotAfter
  const now = nowMs / 1000
  if (end === undefined) return unknown('certificate', subject, 'not reported by the host')
  if (end === null)
    return drift(
      'certificate',
      subject,
      'no workload certificate: the sidecar never got one from istiod'
    )
  if (end === 'unreadable')
    return unknown('certificate', subject, 'present but unreadable (no openssl?)')
  if (end <= now)
    return drift(
      'certificate',
      subject,
      `expired ${duration(now - end)} ago (${iso(end)}): the agent did not rotate it (is the token valid, istiod reachable?)`
    )
  return ok('certificate', subject, `valid for ${duration(end - now)} (${iso(end)})`)
}

function packageFinding(facts: HostFacts, expected: HostExpectation): DriftFinding {
  const subject = 'istio-sidecar'
  const installed = facts.packageVersion
  if (installed === undefined) return unknown('package', subject, 'not reported by the host')
  if (installed === null) return drift('package', subject, 'not installed; apply installs it')
  if (expected.wantedVersion !== '' && installed === expected.wantedVersion)
    return ok('package', subject, `${installed} installed, as wanted`)
  // a pushed package whose own version is not the one named: the file decides, as install.sh does
  const recorded = facts.packageRecorded
  if (
    expected.wantedSha256 !== undefined &&
    facts.packageSha256 === expected.wantedSha256 &&
    (recorded === null ||
      recorded === undefined ||
      recorded === 'pending' ||
      recorded === installed)
  )
    return ok('package', subject, `${installed} installed, from the package wanted`)
  const wanted =
    expected.wantedVersion !== ''
      ? expected.wantedVersion
      : recorded !== null && recorded !== undefined
        ? `${recorded} (the package file wanted)`
        : 'another package file'
  const how =
    compareVersions(installed, expected.wantedVersion || (recorded ?? '')) < 0
      ? 'downgraded'
      : 'changed'
  return drift(
    'package',
    subject,
    `${installed} installed, ${wanted} wanted (${how} on the host?); apply installs the package wanted`
  )
}

/** Istio's support: a sidecar as new as istiod or one minor older; never newer. */
export function skewFinding(
  sidecar: string | null | undefined,
  expected: HostExpectation
): DriftFinding {
  const rev = expected.revision === '' ? 'default revision' : `revision ${expected.revision}`
  const subject = `sidecar vs istiod (${rev})`
  if (sidecar === undefined || sidecar === null)
    return unknown('version', subject, 'no sidecar version to compare')
  const istiod = expected.istioVersion
  if (istiod === null || istiod === '')
    return unknown('version', subject, `sidecar ${sidecar}; istiod's version is unknown`)
  const [sMajor = 0, sMinor = 0] = sidecar.split(/[.-]/).map(Number)
  const [iMajor = 0, iMinor = 0] = istiod.split(/[.-]/).map(Number)
  const lag = (iMajor - sMajor) * 1000 + (iMinor - sMinor)
  if (lag < 0)
    return drift(
      'version',
      subject,
      `sidecar ${sidecar} is newer than istiod ${istiod}: unsupported (a sidecar may not be newer than its control plane)`
    )
  if (lag > 1)
    return drift(
      'version',
      subject,
      `sidecar ${sidecar} is ${lag} minor versions behind istiod ${istiod}: outside the supported skew (one minor version)`
    )
  return ok('version', subject, `sidecar ${sidecar}, istiod ${istiod}: within the supported skew`)
}

function serviceFindings(facts: HostFacts): DriftFinding[] {
  const out: DriftFinding[] = []
  if (facts.service === undefined) out.push(unknown('service', 'istio', 'not reported by the host'))
  else if (facts.service !== 'active')
    out.push(
      drift(
        'service',
        'istio',
        `the sidecar is ${facts.service || 'not running'} (systemctl is-active istio); apply starts it`
      )
    )
  else out.push(ok('service', 'istio', 'active'))
  const ready = ':15021/healthz/ready'
  if (facts.ready === 'yes') out.push(ok('readiness', ready, 'ready'))
  else if (facts.ready === 'no')
    out.push(
      drift(
        'readiness',
        ready,
        'the sidecar does not answer ready; see /var/log/istio/istio.log on the host'
      )
    )
  else
    out.push(
      unknown(
        'readiness',
        ready,
        facts.ready === 'no-client'
          ? 'no HTTP client on the host (curl, wget, python3)'
          : 'not reported by the host'
      )
    )
  return out
}

function captureFindings(facts: HostFacts, expected: HostExpectation): DriftFinding[] {
  const subject = 'iptables nat'
  if (expected.clusterEnv === null)
    return [unknown('capture', subject, 'not compared: cluster.env could not be rendered')]
  const rules = expectedCapture(expected.clusterEnv)
  if (rules.length === 0)
    return [ok('capture', subject, 'left to the host (ISTIO_CUSTOM_IP_TABLES=true)')]
  if (facts.iptablesStatus !== 'ok')
    return [
      unknown(
        'capture',
        subject,
        facts.iptablesStatus === 'no-iptables'
          ? 'no iptables-save on the host'
          : 'iptables-save failed'
      )
    ]
  const missing = missingCapture(rules, facts.iptables)
  if (missing.length === 0) return [ok('capture', subject, `${rules.length} capture rules present`)]
  return [
    drift(
      'capture',
      subject,
      `missing: ${missing.map(r => `${r.purpose} (${r.rule})`).join('; ')}: traffic bypasses the sidecar; apply restarts it, which installs the capture again`
    )
  ]
}

function entryFinding(expected: HostExpectation): DriftFinding[] {
  const entry = expected.entry
  if (entry === undefined) return []
  const subject = `WorkloadEntry ${entry.name}`
  const health = entry.health
  switch (health.state) {
    case 'healthy':
      return [ok('registration', subject, 'Healthy')]
    case 'missing':
      return [
        drift(
          'registration',
          subject,
          'missing: the mesh sends this host no traffic; apply registers it again'
        )
      ]
    case 'unhealthy':
      return [
        drift(
          'registration',
          subject,
          `not healthy (${[health.reason, health.message].filter(s => s !== '').join(': ') || 'Healthy=False'}): the mesh sends this host no traffic`
        )
      ]
    case 'unknown':
      return [
        drift(
          'registration',
          subject,
          'no Healthy condition: istiod has no health report of this sidecar for this entry, so the mesh sends it no traffic (an entry re-created while its sidecar runs gets one when the sidecar reconnects: restart it)'
        )
      ]
  }
}

/** Every finding of one host, in the table's order. */
export function compareHost(
  facts: HostFacts,
  expected: HostExpectation,
  nowMs: number
): DriftFinding[] {
  return [
    ...fileFindings(facts, expected),
    ...tokenFindings(facts, expected, nowMs),
    certFinding(facts, nowMs),
    packageFinding(facts, expected),
    skewFinding(facts.packageVersion, expected),
    ...serviceFindings(facts),
    ...captureFindings(facts, expected),
    ...entryFinding(expected)
  ]
}

export { type PlacedKey }
