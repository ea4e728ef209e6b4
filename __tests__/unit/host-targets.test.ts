// From the description's ssh settings and environment variables to host targets: secrets read
// from the variables it names (with clear errors, never the values), host-key policy from the
// known-hosts variable (pins and lines), and `host: local` without SSH.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { SshConfig, Vm } from '../../src/config/defaults.ts'
import { LocalTransport } from '../../src/host/local.ts'
import { checkKnownHostsCover } from '../../src/host/preflight.ts'
import { hostKeyPolicy, hostTarget, sshSecretsFrom } from '../../src/host/targets.ts'

/** A known_hosts key line for a made-up ed25519 key (a well-formed blob). */
function keyLine(names: string, seed: number): string {
  const type = Buffer.from('ssh-ed25519')
  const blob = Buffer.alloc(4 + type.length + 4 + 32, seed)
  blob.writeUInt32BE(type.length, 0)
  type.copy(blob, 4)
  blob.writeUInt32BE(32, 4 + type.length)
  return `${names} ssh-ed25519 ${blob.toString('base64')}`
}

const ssh: SshConfig = {
  user: 'ubuntu',
  port: 22,
  privateKeyEnv: 'SSH_PRIVATE_KEY',
  privateKeyPath: null,
  passphraseEnv: null,
  knownHostsEnv: 'SSH_KNOWN_HOSTS',
  strictHostKeyChecking: true,
  connectTimeout: 10,
  commandTimeout: 600,
  keepalive: 15,
  jump: []
}

const vm: Vm = {
  name: 'runner',
  group: 'g',
  host: 'local',
  port: 22,
  user: 'ubuntu',
  address: 'auto',
  network: '',
  jump: [],
  sidecar: { version: 'auto', package: null }
}

describe('host targets from the description', () => {
  test('secrets come from the named variables; errors name the variable, not the value', () => {
    const env = { SSH_PRIVATE_KEY: 'KEY', SSH_KNOWN_HOSTS: 'h ssh-ed25519 AAAA', PASS: 'pw' }
    assert.deepEqual(sshSecretsFrom(ssh, env), {
      privateKey: 'KEY',
      knownHosts: 'h ssh-ed25519 AAAA'
    })
    assert.deepEqual(sshSecretsFrom({ ...ssh, passphraseEnv: 'PASS' }, env).passphrase, 'pw')
    assert.throws(() => sshSecretsFrom(ssh, {}), /the variable SSH_PRIVATE_KEY is empty or unset/)
    assert.throws(
      () => sshSecretsFrom({ ...ssh, passphraseEnv: 'NOPE' }, env),
      /NOPE \(SSH key passphrase\) is unset/
    )
    assert.throws(
      () => sshSecretsFrom(ssh, { SSH_PRIVATE_KEY: 'KEY' }),
      e =>
        e instanceof Error &&
        /strict host-key checking needs/.test(e.message) &&
        !e.message.includes('KEY\n')
    )
    assert.equal(
      sshSecretsFrom({ ...ssh, strictHostKeyChecking: false }, { SSH_PRIVATE_KEY: 'KEY' })
        .knownHosts,
      ''
    )
    assert.equal(
      sshSecretsFrom({ ...ssh, privateKeyPath: '/keys/id' }, env, path => `content of ${path}`)
        .privateKey,
      'content of /keys/id'
    )
  })

  test('the known-hosts variable mixes pins bound to hosts and known_hosts lines', () => {
    const fingerprint = `SHA256:${'A'.repeat(43)}`
    const policy = hostKeyPolicy(
      `198.18.2.3 ${fingerprint}\n198.18.2.2 ssh-ed25519 AAAA\n${fingerprint}\n`,
      true
    )
    assert.equal(policy.kind, 'known_hosts')
    assert.ok(policy.kind === 'known_hosts')
    assert.deepEqual(policy.pins, [{ patterns: ['198.18.2.3'], fingerprint }])
    assert.match(policy.content, /^198\.18\.2\.2 ssh-ed25519 AAAA$/m)
    assert.doesNotMatch(policy.content, /SHA256/)
    assert.deepEqual(hostKeyPolicy('', false), { kind: 'insecure' })
  })

  test('preflight: a line or a pin for every host and jump host; a bare pin is a problem', () => {
    const fingerprint = `SHA256:${'B'.repeat(43)}`
    const vms: Vm[] = [
      { ...vm, name: 'a', host: '198.18.2.2' },
      { ...vm, name: 'b', host: '198.18.2.3', port: 2223 },
      {
        ...vm,
        name: 'c',
        host: '198.18.2.4',
        jump: [{ host: '198.18.2.9', port: 22, user: 'hop' }]
      },
      { ...vm, name: 'd', host: '198.18.2.5', port: 2223 }
    ]
    const text = [
      `198.18.2.2 ${fingerprint}`,
      keyLine('198.18.2.3', 1), // bare host: it covers port 2223 too (OpenSSH)
      keyLine('[198.18.2.4]:22,198.18.2.4', 2),
      keyLine('[198.18.2.5]:2200', 3),
      fingerprint
    ].join('\n')
    assert.deepEqual(
      checkKnownHostsCover(vms, text, ssh).map(p => p.replace(/"HOST .*/, 'HOST…')),
      [
        'SSH_KNOWN_HOSTS: line 5: a fingerprint pin must name its host: write HOST…',
        'jump host of c: SSH_KNOWN_HOSTS has no known_hosts line for 198.18.2.9 (and no pin)',
        'd: SSH_KNOWN_HOSTS has no known_hosts line for [198.18.2.5]:2223 (and no pin)'
      ]
    )
    assert.deepEqual(checkKnownHostsCover(vms, text, { ...ssh, strictHostKeyChecking: false }), [])
  })

  test('host: local is the runner itself, no SSH and no secrets needed', async () => {
    const target = hostTarget(vm, ssh, undefined, () => {})
    assert.equal(target.name, 'runner')
    assert.ok((await target.connect()) instanceof LocalTransport)
    assert.throws(
      () => hostTarget({ ...vm, host: '198.18.2.2' }, ssh, undefined, () => {}),
      /SSH secrets are needed/
    )
  })
})
