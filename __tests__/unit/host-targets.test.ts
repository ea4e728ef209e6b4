// From the description's ssh settings and environment variables to host targets: secrets read
// from the variables it names (with clear errors, never the values), host-key policy from the
// known-hosts variable (pins and lines), and `host: local` without SSH.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { SshConfig, Vm } from '../../src/config/defaults.ts'
import { LocalTransport } from '../../src/host/local.ts'
import { hostKeyPolicy, hostTarget, sshSecretsFrom } from '../../src/host/targets.ts'

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

  test('the known-hosts variable mixes pins and known_hosts lines', () => {
    const pin = `SHA256:${'A'.repeat(43)}`
    const policy = hostKeyPolicy(`${pin}\n198.18.2.2 ssh-ed25519 AAAA\n`, true)
    assert.equal(policy.kind, 'known_hosts')
    assert.ok(policy.kind === 'known_hosts')
    assert.deepEqual(policy.fingerprints, [pin])
    assert.match(policy.content, /^198\.18\.2\.2 ssh-ed25519 AAAA$/m)
    assert.doesNotMatch(policy.content, /SHA256/)
    assert.deepEqual(hostKeyPolicy('', false), { kind: 'insecure' })
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
