// Host-key trust: fingerprints as OpenSSH prints them, known_hosts matching (plain, hashed,
// [host]:port, wildcards, negation, @revoked) and the fail-closed message with the key seen;
// pins bound to the hosts they name; a changed key refused before any pin; the host-key
// algorithms offered to each host, only the types known for it, in OpenSSH's order.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  fingerprintOf,
  hostKeyAlgorithms,
  hostMatches,
  normalizeFingerprint,
  parseHostKeyInput,
  parseKnownHosts,
  verifyHostKey,
  type HostKeyPolicy
} from '../../src/host/knownHosts.ts'
import { hostKeyPolicy } from '../../src/host/targets.ts'

describe('known_hosts and fingerprints', () => {
  let dir: string
  let pub: string
  let other: string
  let key: Buffer
  let otherKey: Buffer
  let rsaPub: string
  let ecdsaPub: string

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mx-known-'))
    for (const name of ['a', 'b']) {
      execFileSync('ssh-keygen', [
        '-q',
        '-t',
        'ed25519',
        '-N',
        '',
        '-C',
        name,
        '-f',
        join(dir, name)
      ])
    }
    for (const [name, type, bits] of [
      ['rsa', 'rsa', '2048'],
      ['ecdsa', 'ecdsa', '384']
    ] as const) {
      execFileSync('ssh-keygen', ['-q', '-t', type, '-b', bits, '-N', '', '-f', join(dir, name)])
    }
    rsaPub = readFileSync(join(dir, 'rsa.pub'), 'utf8').trim()
    ecdsaPub = readFileSync(join(dir, 'ecdsa.pub'), 'utf8').trim()
    pub = readFileSync(join(dir, 'a.pub'), 'utf8').trim()
    other = readFileSync(join(dir, 'b.pub'), 'utf8').trim()
    key = Buffer.from(pub.split(' ')[1] ?? '', 'base64')
    otherKey = Buffer.from(other.split(' ')[1] ?? '', 'base64')
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('the fingerprint is the one ssh-keygen -l prints', () => {
    const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'a.pub')], {
      encoding: 'utf8'
    }).split(' ')[1]
    assert.equal(fingerprintOf(key), printed)
    assert.equal(normalizeFingerprint(`${printed?.slice(7)}=`), printed)
    assert.equal(normalizeFingerprint('SHA256:short'), undefined)
  })

  test('plain, port, wildcard and negated patterns', () => {
    assert.ok(hostMatches(['198.18.2.2'], '198.18.2.2', 22))
    assert.ok(!hostMatches(['198.18.2.2'], '198.18.2.2', 2222))
    assert.ok(hostMatches(['[198.18.2.2]:2222'], '198.18.2.2', 2222))
    assert.ok(hostMatches(['*.example.test'], 'vm1.example.test', 22))
    assert.ok(!hostMatches(['*.example.test', '!vm1.example.test'], 'vm1.example.test', 22))
    assert.ok(!hostMatches(['vm?.example.test'], 'vm10.example.test', 22))
  })

  test('hashed names written by ssh-keygen -H match', () => {
    const file = join(dir, 'known_hosts')
    writeFileSync(file, `vm1.example.test ${pub}\n[198.18.2.9]:2200 ${pub}\n`)
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' })
    const content = readFileSync(file, 'utf8')
    assert.match(content, /^\|1\|/)
    const { entries } = parseKnownHosts(content)
    assert.equal(entries.length, 2)
    const policy = { kind: 'known_hosts' as const, content }
    assert.equal(verifyHostKey(policy, 'vm1.example.test', 22, key).ok, true)
    assert.equal(verifyHostKey(policy, '198.18.2.9', 2200, key).ok, true)
    assert.equal(verifyHostKey(policy, '198.18.2.9', 22, key).ok, false)
  })

  test('an unknown key fails closed and names the fingerprint seen', () => {
    const content = `# comment\n198.18.2.2 ${pub}\nnot a line\n`
    assert.deepEqual(parseKnownHosts(content).skipped, [3])
    const verdict = verifyHostKey({ kind: 'known_hosts', content }, '198.18.2.2', 22, otherKey)
    assert.equal(verdict.ok, false)
    assert.ok(!verdict.ok)
    assert.equal(
      verdict.reason.startsWith(
        `host key for 198.18.2.2 is ${fingerprintOf(otherKey)} which is not in known_hosts`
      ),
      true
    )
    assert.match(verdict.reason, new RegExp(fingerprintOf(key).replace(/[+/]/g, '\\$&')))
    const unknownHost = verifyHostKey({ kind: 'known_hosts', content }, '198.18.2.3', 22, key)
    assert.ok(!unknownHost.ok && /no line for this host/.test(unknownHost.reason))
  })

  test('@revoked wins over a matching line; @cert-authority lines are not trusted as keys', () => {
    const content = `198.18.2.2 ${pub}\n@revoked * ${pub}\n@cert-authority * ${other}\n`
    assert.equal(verifyHostKey({ kind: 'known_hosts', content }, '198.18.2.2', 22, key).ok, false)
    assert.equal(
      verifyHostKey({ kind: 'known_hosts', content }, '198.18.2.2', 22, otherKey).ok,
      false
    )
  })

  test("a connection's own fingerprints hold for the host checked with them", () => {
    const pins = { kind: 'fingerprints' as const, fingerprints: [fingerprintOf(key)] }
    assert.equal(verifyHostKey(pins, 'any', 22, key).ok, true)
    const refused = verifyHostKey(pins, 'any', 22, otherKey)
    assert.ok(!refused.ok && refused.reason.includes(fingerprintOf(otherKey)))
  })

  test('a pin holds only for the host it names; a bare fingerprint pins nothing', () => {
    const fp = fingerprintOf(key)
    const policy = hostKeyPolicy(`198.18.2.2 ${fp}\n`, true)
    assert.equal(verifyHostKey(policy, '198.18.2.2', 22, key).ok, true)
    const b = verifyHostKey(policy, '198.18.2.3', 22, key)
    assert.ok(!b.ok)
    assert.match(b.reason, /no line for this host/)
    assert.match(b.reason, /pinned for 198\.18\.2\.2 only/)
    // swapped pins: each host presents its own key, pinned for the other one
    const swapped = hostKeyPolicy(
      `198.18.2.2 ${fingerprintOf(otherKey)}\n198.18.2.3 ${fp} comment\n`,
      true
    )
    const refused = verifyHostKey(swapped, '198.18.2.2', 22, key)
    assert.ok(!refused.ok)
    assert.match(refused.reason, /not among the 1 fingerprint\(s\) pinned for this host/)
    assert.match(refused.reason, /pinned for 198\.18\.2\.3 only/)
    // patterns as known_hosts writes them: [host]:port, lists, wildcards, negation
    const patterns = hostKeyPolicy(`[vm1.test]:2223,*.lab.test,!bad.lab.test ${fp}\n`, true)
    assert.equal(verifyHostKey(patterns, 'vm1.test', 2223, key).ok, true)
    assert.equal(verifyHostKey(patterns, 'vm1.test', 22, key).ok, false)
    assert.equal(verifyHostKey(patterns, 'vm2.lab.test', 22, key).ok, true)
    assert.equal(verifyHostKey(patterns, 'bad.lab.test', 22, key).ok, false)
    // a bare fingerprint is a problem of the input and trusted for no host
    const bare = parseHostKeyInput(`# pins\n${fp}\n198.18.2.2 ${pub}\nh SHA256:short\n`)
    assert.deepEqual(bare.pins, [])
    assert.equal(bare.problems.length, 2)
    assert.match(bare.problems[0] ?? '', /^line 2: a fingerprint pin must name its host/)
    assert.match(bare.problems[1] ?? '', /^line 4: not a pin/)
    assert.ok(!bare.problems.join().includes(fp.slice(7)), 'the problem does not echo the pin')
    const unbound = hostKeyPolicy(`${fp}\n`, true)
    assert.equal(verifyHostKey(unbound, '198.18.2.2', 22, key).ok, false)
  })

  test('hashed names pin too', () => {
    const file = join(dir, 'known_hosts_pins')
    writeFileSync(file, `vm9.example.test ${pub}\n`)
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' })
    const hashed = readFileSync(file, 'utf8').split(' ')[0] ?? ''
    assert.match(hashed, /^\|1\|/)
    const policy = hostKeyPolicy(`${hashed} ${fingerprintOf(otherKey)}\n`, true)
    assert.equal(verifyHostKey(policy, 'vm9.example.test', 22, otherKey).ok, true)
    assert.equal(verifyHostKey(policy, 'vm8.example.test', 22, otherKey).ok, false)
  })

  test('a changed key is refused first, even when a pin for that host matches it', () => {
    const policy = hostKeyPolicy(`198.18.2.2 ${pub}\n198.18.2.2 ${fingerprintOf(otherKey)}\n`, true)
    const verdict = verifyHostKey(policy, '198.18.2.2', 22, otherKey)
    assert.ok(!verdict.ok)
    assert.match(verdict.reason, /the key changed/)
    assert.match(verdict.reason, /a pin does not override a changed key/)
    assert.ok(verdict.reason.includes(fingerprintOf(key)))
    // a pin for a key of a type known_hosts does not list for that host is trusted
    const typed = hostKeyPolicy(`198.18.2.2 ${rsaPub}\n198.18.2.2 ${fingerprintOf(key)}\n`, true)
    assert.equal(verifyHostKey(typed, '198.18.2.2', 22, key).ok, true)
    // @revoked wins over a key line and a pin
    const revoked = hostKeyPolicy(`198.18.2.2 ${fingerprintOf(key)}\n@revoked * ${pub}\n`, true)
    const r = verifyHostKey(revoked, '198.18.2.2', 22, key)
    assert.ok(!r.ok && /@revoked/.test(r.reason))
  })

  test('a key of a type known_hosts does not list for the host is refused, naming both', () => {
    const content = `198.18.2.2 ${rsaPub}\n`
    const verdict = verifyHostKey({ kind: 'known_hosts', content }, '198.18.2.2', 22, key)
    assert.ok(!verdict.ok)
    assert.match(
      verdict.reason,
      /known_hosts has SHA256:\S+ \(ssh-rsa\) for it, no ssh-ed25519 key/
    )
  })

  test("off port 22, the bare host's lines count when [host]:port has none (OpenSSH)", () => {
    const bare: HostKeyPolicy = { kind: 'known_hosts', content: `198.18.2.2 ${pub}\n` }
    assert.equal(verifyHostKey(bare, '198.18.2.2', 2223, key).ok, true)
    assert.deepEqual(hostKeyAlgorithms(bare, '198.18.2.2', 2223), ['ssh-ed25519'])
    const both: HostKeyPolicy = {
      kind: 'known_hosts',
      content: `198.18.2.2 ${pub}\n[198.18.2.2]:2223 ${other}\n`
    }
    assert.equal(verifyHostKey(both, '198.18.2.2', 2223, otherKey).ok, true)
    assert.equal(verifyHostKey(both, '198.18.2.2', 2223, key).ok, false)
    assert.equal(verifyHostKey(both, '198.18.2.2', 22, key).ok, true)
  })

  test("host-key algorithms: only the types known for that host, in OpenSSH's order", () => {
    const content = [
      `198.18.2.2 ${rsaPub}`,
      `198.18.2.3 ${rsaPub}`,
      `198.18.2.3 ${pub}`,
      `198.18.2.4 ${ecdsaPub}`,
      `[198.18.2.5]:2200 ${pub}`,
      `@revoked 198.18.2.6 ${pub}`,
      `@cert-authority 198.18.2.7 ${pub}`,
      `198.18.2.8 ${fingerprintOf(key)}`,
      `198.18.2.9 ${rsaPub}`,
      `198.18.2.9 ${fingerprintOf(key)}`
    ].join('\n')
    const policy = hostKeyPolicy(content, true)
    const algorithms = (host: string, port = 22): string[] | undefined =>
      hostKeyAlgorithms(policy, host, port)
    const all = [
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521',
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa'
    ]
    assert.deepEqual(algorithms('198.18.2.2'), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'])
    // the file's order does not matter: OpenSSH's does
    assert.deepEqual(algorithms('198.18.2.3'), [
      'ssh-ed25519',
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa'
    ])
    assert.deepEqual(algorithms('198.18.2.4'), ['ecdsa-sha2-nistp384'])
    assert.deepEqual(algorithms('198.18.2.5', 2200), ['ssh-ed25519'])
    // nothing usable for the host: every algorithm (the key it presents is then refused)
    assert.deepEqual(algorithms('198.18.2.5'), all)
    assert.deepEqual(algorithms('198.18.2.6'), all)
    assert.deepEqual(algorithms('198.18.2.7'), all)
    // a pin says no key type: pins alone, every algorithm; with lines, their types first
    assert.deepEqual(algorithms('198.18.2.8'), all)
    assert.deepEqual(algorithms('198.18.2.9'), [
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521'
    ])
    assert.equal(hostKeyAlgorithms({ kind: 'insecure' }, '198.18.2.2', 22), undefined)
  })

  test('the opt-out accepts any key with a loud warning', () => {
    const verdict = verifyHostKey(hostKeyPolicy('', false), 'h', 22, key)
    assert.ok(verdict.ok && verdict.warning?.includes('OFF'))
  })
})
