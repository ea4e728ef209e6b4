// Token rotation (issue 19): install.sh keeps the bootstrap token a host has while it is good for
// more than MX_TOKEN_REFRESH_WITHIN seconds and names the same identity, and places the new one
// otherwise, without counting either as a change. The decision sourced on its own, then `files`
// against a scratch root (MX_ROOT) as root, the proxy user a bare uid as in host-install-safety.
// The JWTs are made here (header.payload.signature, base64url, not signed: the host never checks
// a signature, only reads claims).
import assert from 'node:assert/strict'
import {
  chmodSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { formatError, parseDescription } from '../../src/config/index.ts'
import { buildBundle, DEFAULT_PARAMS } from '../../src/host/bundle.ts'
import { parseRemoteOutput } from '../../src/host/results.ts'
import { emptyResult } from '../../src/host/onboard.ts'
import { hostLine, tokenText } from '../../src/report/terminal.ts'
import { sourced } from '../helpers/installScript.ts'

const PROXY = 12345

const sh = sourced

const b64url = (text: string): string => Buffer.from(text).toString('base64url')
const now = (): number => Math.floor(Date.now() / 1000)

interface Claims {
  exp: number
  sub?: string
  aud?: string[]
  iss?: string
  namespace?: string
  serviceAccount?: string
  uid?: string
}

/** A TokenRequest-shaped JWT (the claims Kubernetes writes, in its order); 342 characters of
 * signature, as RS256 with a 2048-bit key has. */
function jwt(claims: Claims, signature = 'S'.repeat(342)): string {
  const ns = claims.namespace ?? 'vm'
  const sa = claims.serviceAccount ?? 'mysql'
  const payload = {
    aud: claims.aud ?? ['istio-ca'],
    exp: claims.exp,
    iat: claims.exp - 3600,
    iss: claims.iss ?? 'https://kubernetes.default.svc.cluster.local',
    'kubernetes.io': { namespace: ns, serviceaccount: { name: sa, uid: claims.uid ?? 'uid-1' } },
    nbf: claims.exp - 3600,
    sub: claims.sub ?? `system:serviceaccount:${ns}:${sa}`
  }
  return `${b64url('{"alg":"RS256","kid":"k1"}')}.${b64url(JSON.stringify(payload))}.${signature}`
}

describe('token_decision: keep the token on the host or place the new one', () => {
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mx-token-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const T0 = 1_800_000_000
  const NEW = jwt({ exp: T0 + 7200 })

  /** The decision for a current token (null: no file) against NEW, at T0 with a 600 s threshold. */
  function decide(current: string | null, fresh = NEW, within = 600): string {
    const cur = join(dir, 'current')
    const neu = join(dir, 'new')
    rmSync(cur, { force: true })
    if (current !== null) writeFileSync(cur, current)
    writeFileSync(neu, fresh)
    const r = sh(
      `token_decision "${cur}" "${neu}" ${T0} ${within}; echo "$TOKEN_ACTION $TOKEN_REASON \${TOKEN_LEFT:--}"`
    )
    assert.equal(r.code, 0, r.out + r.err)
    return r.out.trim()
  }

  test('a token good for longer than the threshold, of the same identity, stays', () => {
    assert.equal(decide(jwt({ exp: T0 + 3000 })), 'kept valid 3000')
    // with a trailing newline, as a file written by hand has
    assert.equal(decide(`${jwt({ exp: T0 + 3000 })}\n`), 'kept valid 3000')
  })

  test('one that expires within the threshold (or at it) goes', () => {
    assert.equal(decide(jwt({ exp: T0 + 599 })), 'refreshed expiring 599')
    assert.equal(decide(jwt({ exp: T0 + 600 })), 'refreshed expiring 600')
    assert.equal(decide(jwt({ exp: T0 - 30 })), 'refreshed expiring -30')
    assert.equal(decide(jwt({ exp: T0 + 3000 }), NEW, 7200), 'refreshed expiring 3000')
  })

  test('another identity goes: subject, service account made again, audience, issuer', () => {
    const exp = T0 + 3000
    assert.equal(
      decide(jwt({ exp, namespace: 'other', sub: 'system:serviceaccount:other:mysql' })),
      'refreshed identity 3000'
    )
    assert.equal(decide(jwt({ exp, serviceAccount: 'web' })), 'refreshed identity 3000')
    assert.equal(decide(jwt({ exp, uid: 'uid-2' })), 'refreshed identity 3000')
    assert.equal(decide(jwt({ exp, aud: ['other'] })), 'refreshed identity 3000')
    assert.equal(decide(jwt({ exp, iss: 'https://elsewhere' })), 'refreshed identity 3000')
    // the cluster's signing key replaced: another kid in the header
    const otherKey = jwt({ exp }).replace(/^[^.]+/, b64url('{"alg":"RS256","kid":"k2"}'))
    assert.equal(decide(otherKey), 'refreshed signer 3000')
  })

  test('what does not read as a JWT goes: garbage, cut short, empty, odd exp', () => {
    const good = jwt({ exp: T0 + 3000 })
    for (const bad of [
      'token-1',
      '',
      'a.b',
      'not base64!.x.y',
      good.slice(0, 60), // cut inside the payload
      good.slice(0, -10), // cut inside the signature
      `${good}.extra`,
      `${good}\n${good}`,
      `${b64url('{}')}.${b64url('[1,2]')}.sig`,
      jwt({ exp: 0 }).replace(b64url(JSON.stringify({})), ''),
      `${b64url('{}')}.${b64url('{"exp":"soon","sub":"system:serviceaccount:vm:mysql"}')}.${'S'.repeat(342)}`,
      `${b64url('{}')}.${b64url('{"exp":0123,"sub":"system:serviceaccount:vm:mysql"}')}.${'S'.repeat(342)}`,
      'x'.repeat(20000)
    ]) {
      assert.match(decide(bad), /^refreshed unreadable/, JSON.stringify(bad.slice(0, 80)))
    }
  })

  test('no token on the host: the new one is placed; an unreadable new one is placed too', () => {
    assert.equal(decide(null), 'refreshed missing -')
    assert.match(decide(jwt({ exp: T0 + 3000 }), 'garbage'), /^refreshed unreadable/)
  })
})

describe('files: the token kept or placed, its copy for reboots the same', () => {
  let base = ''
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'mx-token-files-'))
    chmodSync(base, 0o755)
  })
  after(() => rmSync(base, { recursive: true, force: true }))

  function scratch(name: string) {
    const root = join(base, name)
    const work = join(root, 'work')
    mkdirSync(work, { recursive: true })
    chmodSync(root, 0o755)
    for (const [file, content] of [
      ['cluster.env', "ISTIO_SERVICE_CIDR='10.0.0.0/16'\n"],
      ['mesh.yaml', 'defaultConfig: {}\n'],
      ['hosts', '198.18.0.2 istiod.istio-system.svc\n'],
      ['root-cert.pem', 'ROOT\n']
    ] as const)
      writeFileSync(join(work, file), content)
    const token = join(root, 'var/run/secrets/tokens/istio-token')
    const copy = join(root, 'var/lib/mesh-expansion/istio-token')
    /** One `files` with `fresh` as the new token; the MX-TOKEN line and FILES_CHANGED. */
    const files = (fresh: string, within = 600): { line: string; changed: string } => {
      writeFileSync(join(work, 'istio-token'), fresh)
      const r = sh(`WORK="${work}"; files; echo "changed=$FILES_CHANGED"`, {
        MX_ROOT: root,
        MX_OWNER: String(PROXY),
        MX_TOKEN_REFRESH_WITHIN: String(within)
      })
      assert.equal(r.code, 0, r.out + r.err)
      assert.ok(!r.out.includes(fresh), 'the token is never printed')
      const line = /^MX-TOKEN .*$/m.exec(r.out)?.[0] ?? ''
      return { line, changed: /^changed=(\d)$/m.exec(r.out)?.[1] ?? '?' }
    }
    return { root, work, token, copy, files }
  }

  const read = (path: string): string => readFileSync(path, 'utf8')

  test('missing: placed; then a token far from expiry stays byte for byte, no change counted', () => {
    const s = scratch('keep')
    const first = jwt({ exp: now() + 3600 })
    const placed = s.files(first)
    assert.equal(placed.line, 'MX-TOKEN refreshed reason=missing left=-')
    assert.equal(read(s.token), first)
    assert.equal(read(s.copy), first)
    assert.equal(lstatSync(s.token).uid, PROXY)
    assert.equal(lstatSync(s.token).mode & 0o777, 0o600)
    const before = lstatSync(s.token)
    const again = s.files(jwt({ exp: now() + 3600 + 60 }))
    assert.match(again.line, /^MX-TOKEN kept reason=valid left=3[56]\d\d$/)
    assert.equal(again.changed, '0')
    assert.equal(read(s.token), first, 'the token on the host stays')
    assert.equal(lstatSync(s.token).ino, before.ino, 'not even rewritten')
    assert.equal(read(s.copy), first)
  })

  test('kept: a copy for reboots that differs or is gone is made the token again', () => {
    const s = scratch('copy')
    const first = jwt({ exp: now() + 3600 })
    s.files(first)
    writeFileSync(s.copy, jwt({ exp: now() + 10 }))
    assert.match(s.files(jwt({ exp: now() + 3700 })).line, /^MX-TOKEN kept /)
    assert.equal(read(s.copy), first)
    rmSync(s.copy)
    rmSync(join(s.root, 'etc/tmpfiles.d/mesh-expansion.conf'))
    assert.match(s.files(jwt({ exp: now() + 3700 })).line, /^MX-TOKEN kept /)
    assert.equal(read(s.copy), first)
    assert.equal(lstatSync(s.copy).uid, PROXY)
    assert.match(
      read(join(s.root, 'etc/tmpfiles.d/mesh-expansion.conf')),
      /^C \/run\/secrets\/tokens\/istio-token - - - - \/var\/lib\/mesh-expansion\/istio-token$/m
    )
  })

  test('within the threshold: replaced, token and copy, still no change counted', () => {
    const s = scratch('expiring')
    s.files(jwt({ exp: now() + 3600 }))
    const fresh = jwt({ exp: now() + 7200 })
    const r = s.files(fresh, 7200)
    assert.match(r.line, /^MX-TOKEN refreshed reason=expiring left=3[56]\d\d$/)
    assert.equal(r.changed, '0', 'a new token alone is no change (no restart)')
    assert.equal(read(s.token), fresh)
    assert.equal(read(s.copy), fresh)
    assert.equal(lstatSync(s.token).uid, PROXY)
    assert.equal(lstatSync(s.token).mode & 0o777, 0o600)
  })

  test('another subject: replaced', () => {
    const s = scratch('identity')
    s.files(jwt({ exp: now() + 3600 }))
    const fresh = jwt({ exp: now() + 3600, namespace: 'other' })
    assert.match(s.files(fresh).line, /^MX-TOKEN refreshed reason=identity /)
    assert.equal(read(s.token), fresh)
    assert.equal(read(s.copy), fresh)
  })

  test('garbage or a cut token at the path: replaced', () => {
    const s = scratch('garbage')
    s.files(jwt({ exp: now() + 3600 }))
    for (const bad of ['garbage', jwt({ exp: now() + 3600 }).slice(0, -20)]) {
      writeFileSync(s.token, bad)
      const fresh = jwt({ exp: now() + 3600 })
      assert.equal(s.files(fresh).line, 'MX-TOKEN refreshed reason=unreadable left=-')
      assert.equal(read(s.token), fresh)
    }
  })

  test('a token not as we place it (owner, mode, a link): replaced, the link not followed', () => {
    const s = scratch('not-ours')
    const first = jwt({ exp: now() + 3600 })
    s.files(first)
    lchownSync(s.token, 0, 0)
    const fresh = jwt({ exp: now() + 3600 })
    assert.equal(s.files(fresh).line, 'MX-TOKEN refreshed reason=not-ours left=-')
    assert.equal(read(s.token), fresh)
    assert.equal(lstatSync(s.token).uid, PROXY)
    chmodSync(s.token, 0o644)
    assert.match(s.files(jwt({ exp: now() + 3600 })).line, /reason=not-ours/)
    assert.equal(lstatSync(s.token).mode & 0o777, 0o600)
    // a link (tokens is root's: only root could plant it, but the rule is the same)
    const victim = join(s.root, 'victim')
    const good = jwt({ exp: now() + 3600 })
    writeFileSync(victim, good)
    rmSync(s.token)
    symlinkSync(victim, s.token)
    const last = jwt({ exp: now() + 3600 })
    assert.equal(s.files(last).line, 'MX-TOKEN refreshed reason=not-ours left=-')
    assert.ok(lstatSync(s.token).isFile(), 'the link is replaced by a file')
    assert.equal(read(s.token), last)
    assert.equal(read(victim), good, 'never written through')
  })

  test('removed from the path: placed again', () => {
    const s = scratch('removed')
    s.files(jwt({ exp: now() + 3600 }))
    rmSync(s.token)
    const fresh = jwt({ exp: now() + 3600 })
    assert.equal(s.files(fresh).line, 'MX-TOKEN refreshed reason=missing left=-')
    assert.equal(read(s.token), fresh)
    assert.ok(existsSync(s.copy))
  })
})

describe('the threshold on its way to the host, and back as a result', () => {
  const GROUP = 'workloadGroups:\n  - name: echo-vm\n    namespace: vm\n    ports: {http: 8080}\n'
  const parse = (settings: string) =>
    parseDescription(`${GROUP}settings:\n${settings}`, 'mesh.yaml')

  test('settings.tokenRefreshWithin: seconds, one day by default; settings.drift is gone', () => {
    const byDefault = parseDescription(GROUP, 'mesh.yaml')
    assert.ok(byDefault.ok)
    assert.equal(byDefault.description.settings.tokenRefreshWithin, 86400)
    const set = parse('  tokenDuration: 3600\n  tokenRefreshWithin: 600\n')
    assert.ok(set.ok, set.ok ? '' : set.errors.map(formatError).join('\n'))
    assert.equal(set.description.settings.tokenRefreshWithin, 600)
    assert.ok(!('drift' in set.description.settings))
    for (const bad of ['  tokenRefreshWithin: -1\n', '  tokenRefreshWithin: soon\n']) {
      const r = parse(bad)
      assert.equal(r.ok, false, bad)
      assert.match(r.ok ? '' : r.errors.map(formatError).join('\n'), /tokenRefreshWithin/)
    }
    const old = parse('  drift: {tokenExpiryWithin: 600}\n')
    assert.equal(old.ok, false)
    assert.match(old.ok ? '' : old.errors.map(formatError).join('\n'), /unknown key "drift"/)
  })

  test('validate_params: MX_TOKEN_REFRESH_WITHIN is a number of at most ten digits', () => {
    for (const [value, ok] of [
      ['86400', true],
      ['0', true],
      ['', true], // unset: one day
      ['abc', false],
      ['-1', false],
      ['1 2', false],
      ['12345678901', false]
    ] as const) {
      const r = sh('validate_params; echo valid', { MX_TOKEN_REFRESH_WITHIN: value })
      if (ok) assert.match(r.out, /^valid$/m, value)
      else {
        assert.equal(r.code, 2, value)
        assert.match(r.out, /^MX-FAIL args MX_TOKEN_REFRESH_WITHIN /m, value)
      }
    }
  })

  test('the bundle exports MX_TOKEN_REFRESH_WITHIN, one day unless given', () => {
    const params = {
      ...DEFAULT_PARAMS,
      mode: 'install' as const,
      version: '1.30.3',
      package: { mode: 'none' as const },
      runnerTime: 0
    }
    const without: typeof params = { ...params }
    delete without.tokenRefreshWithinSec
    assert.match(
      buildBundle({ params: without }).payload.toString(),
      /^MX_TOKEN_REFRESH_WITHIN=86400; export MX_TOKEN_REFRESH_WITHIN$/m
    )
    assert.match(
      buildBundle({ params: { ...params, tokenRefreshWithinSec: 7200 } }).payload.toString(),
      /^MX_TOKEN_REFRESH_WITHIN=7200; export MX_TOKEN_REFRESH_WITHIN$/m
    )
  })

  test('the MX-TOKEN line becomes the host result, and a line of the log', () => {
    const kept = parseRemoteOutput('MX-TOKEN kept reason=valid left=18000\n').token
    assert.deepEqual(kept, { action: 'kept', reason: 'valid', leftSeconds: 18000 })
    assert.equal(tokenText(kept!), 'token kept (expires in 5 h)')
    const expiring = parseRemoteOutput('MX-TOKEN refreshed reason=expiring left=540').token
    assert.equal(tokenText(expiring!), 'token refreshed (expired in 9 min)')
    const expired = parseRemoteOutput('MX-TOKEN refreshed reason=expiring left=-120').token
    assert.equal(tokenText(expired!), 'token refreshed (expired 2 min ago)')
    const missing = parseRemoteOutput('MX-TOKEN refreshed reason=missing left=-').token
    assert.deepEqual(missing, { action: 'refreshed', reason: 'missing', leftSeconds: null })
    assert.equal(tokenText(missing!), 'token refreshed (none on the host)')
    assert.equal(
      tokenText(parseRemoteOutput('MX-TOKEN refreshed reason=identity left=3000').token!),
      'token refreshed (another identity)'
    )
    assert.equal(
      tokenText(parseRemoteOutput('MX-TOKEN refreshed reason=signer left=3000').token!),
      'token refreshed (another signing key)'
    )
    assert.equal(parseRemoteOutput('MX-TOKEN whatever').token, undefined)
    // the host's line in the log: a kept or new token is no change
    const host = { ...emptyResult('vm-1', 'ok'), ready: true, package: 'unchanged', token: kept! }
    assert.match(
      hostLine(host),
      /^✓ vm-1: ready, unchanged, package unchanged, token kept \(expires in 5 h\) \(/
    )
    assert.doesNotMatch(hostLine({ ...host, token: undefined }), /token/)
  })
})
