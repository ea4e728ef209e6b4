// From the description (src/config) to HostTargets: a VM with host "local" is the runner
// itself; every other VM is reached over SSH with the secrets named in `ssh`.
import { readFileSync } from 'node:fs'
import type { SshConfig, Vm } from '../config/defaults.ts'
import { normalizeFingerprint, type HostKeyPolicy } from './knownHosts.ts'
import { LocalTransport } from './local.ts'
import type { HostTarget } from './onboard.ts'
import { connectSsh } from './ssh.ts'

export interface SshSecrets {
  privateKey: string
  passphrase?: string
  /** known_hosts lines and/or lines of SHA256 fingerprints. */
  knownHosts: string
}

/** Reads the secrets from the variables the description names (or the key file). */
export function sshSecretsFrom(
  ssh: SshConfig,
  env: Record<string, string | undefined>,
  readFile: (path: string) => string = path => readFileSync(path, 'utf8')
): SshSecrets {
  const privateKey =
    ssh.privateKeyPath !== null ? readFile(ssh.privateKeyPath) : (env[ssh.privateKeyEnv] ?? '')
  if (privateKey.trim() === '') {
    throw new Error(
      ssh.privateKeyPath !== null
        ? `the SSH key file ${ssh.privateKeyPath} is empty`
        : `no SSH private key: the variable ${ssh.privateKeyEnv} is empty or unset`
    )
  }
  const secrets: SshSecrets = { privateKey, knownHosts: env[ssh.knownHostsEnv] ?? '' }
  if (ssh.passphraseEnv !== null) {
    const passphrase = env[ssh.passphraseEnv]
    if (passphrase === undefined)
      throw new Error(`the variable ${ssh.passphraseEnv} (SSH key passphrase) is unset`)
    secrets.passphrase = passphrase
  }
  if (ssh.strictHostKeyChecking && secrets.knownHosts.trim() === '') {
    throw new Error(
      `strict host-key checking needs known_hosts lines or SHA256 fingerprints in ${ssh.knownHostsEnv} (or set ssh.strictHostKeyChecking: false, which is unsafe)`
    )
  }
  return secrets
}

/** Lines that are only a fingerprint ("SHA256:...") are pins; the rest is known_hosts. */
export function hostKeyPolicy(knownHosts: string, strict: boolean): HostKeyPolicy {
  if (!strict) return { kind: 'insecure' }
  const fingerprints: string[] = []
  const lines: string[] = []
  for (const line of knownHosts.split(/\r?\n/)) {
    const pin = /^\s*SHA256:/i.test(line) ? normalizeFingerprint(line) : undefined
    if (pin) fingerprints.push(pin)
    else lines.push(line)
  }
  return { kind: 'known_hosts', content: lines.join('\n'), fingerprints }
}

export function hostTarget(
  vm: Vm,
  ssh: SshConfig,
  secrets: SshSecrets | undefined,
  warn: (message: string) => void
): HostTarget {
  if (vm.host === 'local') return { name: vm.name, connect: async () => new LocalTransport() }
  if (!secrets) throw new Error(`${vm.name}: SSH secrets are needed for ${vm.host}`)
  const policy = hostKeyPolicy(secrets.knownHosts, ssh.strictHostKeyChecking)
  return {
    name: vm.name,
    connect: () =>
      connectSsh({
        host: vm.host,
        port: vm.port,
        user: vm.user,
        privateKey: secrets.privateKey,
        ...(secrets.passphrase !== undefined ? { passphrase: secrets.passphrase } : {}),
        hostKeys: policy,
        jump: vm.jump,
        connectTimeoutMs: ssh.connectTimeout * 1000,
        keepaliveMs: ssh.keepalive * 1000,
        warn
      })
  }
}
