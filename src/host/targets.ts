// From the description (src/config) to HostTargets: a VM with host "local" is the runner
// itself; every other VM is reached over SSH with the secrets named in `ssh`.
import type { SshConfig, Vm } from '../config/defaults.ts'
import { InputFileError, KEY_MAX_BYTES, readInputFile, shownName } from '../config/inputFile.ts'
import { fileErrorReason } from '../util/errors.ts'
import { parseHostKeyInput, type HostKeyPolicy } from './knownHosts.ts'
import { LocalTransport } from './local.ts'
import type { HostTarget } from './onboard.ts'
import { connectSsh } from './ssh.ts'

export interface SshSecrets {
  privateKey: string
  passphrase?: string
  /** known_hosts lines and/or pins bound to hosts (`HOSTPATTERNS SHA256:…` lines). */
  knownHosts: string
}

export interface SecretsCheck {
  /** undefined when a problem keeps them from being used */
  readonly secrets: SshSecrets | undefined
  readonly problems: readonly string[]
}

/** A key file: a regular file of at most KEY_MAX_BYTES, checked before it is opened. */
const readKeyFile = (path: string): string =>
  readInputFile(path, { what: 'the SSH key file', maxBytes: KEY_MAX_BYTES })

/** Reads the secrets the description names; every problem of them, in one list. */
export function readSshSecrets(
  ssh: SshConfig,
  env: Record<string, string | undefined>,
  readFile: (path: string) => string = readKeyFile
): SecretsCheck {
  const problems: string[] = []
  let privateKey = ''
  if (ssh.privateKeyPath !== null) {
    const shown = shownName(ssh.privateKeyPath)
    try {
      privateKey = readFile(ssh.privateKeyPath)
      if (privateKey.trim() === '') problems.push(`the SSH key file ${shown} is empty`)
    } catch (error) {
      const why = error instanceof InputFileError ? error.reason : fileErrorReason(error)
      problems.push(`ssh.privateKeyPath: cannot read ${shown}: ${why}`)
    }
  } else {
    privateKey = env[ssh.privateKeyEnv] ?? ''
    if (privateKey.trim() === '')
      problems.push(`no SSH private key: the variable ${ssh.privateKeyEnv} is empty or unset`)
  }
  let passphrase: string | undefined
  if (ssh.passphraseEnv !== null) {
    passphrase = env[ssh.passphraseEnv]
    if (passphrase === undefined)
      problems.push(`the variable ${ssh.passphraseEnv} (SSH key passphrase) is unset`)
  }
  const knownHosts = env[ssh.knownHostsEnv] ?? ''
  if (ssh.strictHostKeyChecking && knownHosts.trim() === '') {
    problems.push(
      `strict host-key checking needs known_hosts lines or "HOST SHA256:…" pins in ${ssh.knownHostsEnv} (or set ssh.strictHostKeyChecking: false, which is unsafe)`
    )
  }
  if (problems.length > 0) return { secrets: undefined, problems }
  return {
    secrets: { privateKey, knownHosts, ...(passphrase !== undefined ? { passphrase } : {}) },
    problems
  }
}

/** The secrets, or the first problem with them as an error. */
export function sshSecretsFrom(
  ssh: SshConfig,
  env: Record<string, string | undefined>,
  readFile?: (path: string) => string
): SshSecrets {
  const { secrets, problems } = readSshSecrets(ssh, env, readFile)
  if (!secrets) throw new Error(problems[0] ?? 'no SSH secrets')
  return secrets
}

/**
 * The host-key policy of the known-hosts text: known_hosts lines, and `HOSTPATTERNS SHA256:…`
 * lines that pin a key for the hosts they name (see parseHostKeyInput). A line that is only a
 * fingerprint pins nothing (preflight reports it): a pin never holds for every host.
 */
export function hostKeyPolicy(knownHosts: string, strict: boolean): HostKeyPolicy {
  if (!strict) return { kind: 'insecure' }
  const { content, pins } = parseHostKeyInput(knownHosts)
  return { kind: 'known_hosts', content, pins }
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
