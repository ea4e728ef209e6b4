// What the runner can check of the hosts' inputs before any connection and any write: the SSH
// secrets (present, the key readable with its passphrase, known_hosts covering every host and
// jump host when host keys are checked) and every pushed package (a readable regular file,
// hashed now so onboarding reuses the hash). Every problem is listed, not the first only.
import { stat } from 'node:fs/promises'
import type { SshConfig, Vm } from '../config/defaults.ts'
import { errorMessage, fileErrorReason } from '../util/errors.ts'
import { knownForHost, knownHostsName, parseHostKeyInput } from './knownHosts.ts'
import { packageSha256 } from './package.ts'
import { readPrivateKey } from './ssh.ts'
import { hostKeyPolicy, type SshSecrets } from './targets.ts'

/** The key parses (with its passphrase): a wrong or truncated secret is found before any write. */
export function checkPrivateKey(secrets: SshSecrets): string[] {
  try {
    readPrivateKey(secrets.privateKey, secrets.passphrase)
    return []
  } catch (error) {
    return [errorMessage(error)]
  }
}

/**
 * The known-hosts text is usable and covers every SSH host and jump host: a known_hosts key line
 * or a pin names each (as OpenSSH finds them: `[host]:port` off port 22, else the bare host).
 * A pin that names no host, or cannot be read, is a problem: it would be trusted for nothing.
 */
export function checkKnownHostsCover(
  vms: readonly Vm[],
  knownHosts: string,
  ssh: SshConfig
): string[] {
  if (knownHosts.trim() === '') return [] // said once already, by readSshSecrets
  if (!ssh.strictHostKeyChecking) return []
  const input = parseHostKeyInput(knownHosts)
  const problems = input.problems.map(p => `${ssh.knownHostsEnv}: ${p}`)
  const policy = hostKeyPolicy(knownHosts, true)
  const seen = new Set<string>()
  for (const vm of vms.filter(vm => vm.host !== 'local')) {
    for (const hop of [...vm.jump, { host: vm.host, port: vm.port }]) {
      const key = `${hop.host}:${hop.port}`
      if (seen.has(key)) continue
      seen.add(key)
      const known = knownForHost(policy, hop.host, hop.port)
      if (known.keys.length === 0 && known.pins.length === 0) {
        const what =
          hop.host === vm.host && hop.port === vm.port ? vm.name : `jump host of ${vm.name}`
        problems.push(
          `${what}: ${ssh.knownHostsEnv} has no known_hosts line for ${knownHostsName(hop.host, hop.port)} (and no pin)`
        )
      }
    }
  }
  return problems
}

export interface PackageFile {
  readonly path: string
  readonly bytes: number
  readonly sha256: string
}

/** Every package pushed from the runner: a readable regular file, its size and hash. */
export async function checkPackageFiles(
  vms: readonly Vm[]
): Promise<{ files: PackageFile[]; problems: string[] }> {
  const paths = [
    ...new Set(
      vms
        .map(vm => vm.sidecar.package)
        .filter((p): p is string => p !== null && !/^https?:\/\//.test(p))
    )
  ]
  const files: PackageFile[] = []
  const problems: string[] = []
  await Promise.all(
    paths.map(async path => {
      const users = vms.filter(vm => vm.sidecar.package === path).map(vm => vm.name)
      try {
        const info = await stat(path)
        if (!info.isFile()) throw Object.assign(new Error('not a regular file'), { code: '' })
        files.push({ path, bytes: info.size, sha256: await packageSha256(path) })
      } catch (error) {
        problems.push(
          `sidecar.package of ${users.join(', ')}: cannot read ${path}: ${fileErrorReason(error)}`
        )
      }
    })
  )
  return { files, problems }
}
