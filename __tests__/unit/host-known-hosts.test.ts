// Host-key trust: fingerprints as OpenSSH prints them, known_hosts matching (plain, hashed,
// [host]:port, wildcards, negation, @revoked) and the fail-closed message with the key seen.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  fingerprintOf,
  hostMatches,
  normalizeFingerprint,
  parseKnownHosts,
  verifyHostKey
} from '../../src/host/knownHosts.ts'
import { hostKeyPolicy } from '../../src/host/targets.ts'

describe('known_hosts and fingerprints', () => {
  let dir: string
  let pub: string
  let other: string
  let key: Buffer
  let otherKey: Buffer

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

  test('pinned fingerprints, alone or mixed into the known_hosts input', () => {
    const pins = { kind: 'fingerprints' as const, fingerprints: [fingerprintOf(key)] }
    assert.equal(verifyHostKey(pins, 'any', 22, key).ok, true)
    const refused = verifyHostKey(pins, 'any', 22, otherKey)
    assert.ok(!refused.ok && refused.reason.includes(fingerprintOf(otherKey)))
    const mixed = hostKeyPolicy(`${fingerprintOf(otherKey)}\n198.18.2.2 ${pub}\n`, true)
    assert.equal(verifyHostKey(mixed, '198.18.2.5', 22, otherKey).ok, true)
    assert.equal(verifyHostKey(mixed, '198.18.2.2', 22, key).ok, true)
    assert.equal(verifyHostKey(mixed, '198.18.2.5', 22, key).ok, false)
  })

  test('the opt-out accepts any key with a loud warning', () => {
    const verdict = verifyHostKey(hostKeyPolicy('', false), 'h', 22, key)
    assert.ok(verdict.ok && verdict.warning?.includes('OFF'))
  })
})
