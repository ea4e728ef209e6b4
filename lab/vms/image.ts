// The lab's Debian image: built once with debootstrap, cached outside the repository under a
// name that hashes its recipe (so a changed recipe builds a new image), built in a temporary
// directory and renamed into place, under a lock so two concurrent `up`s don't both build it.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, rmSync, writeFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { must, run, withLock } from './exec.ts'

export const IMAGE_CACHE_DIR = '/var/cache/mesh-expansion-lab'

export const IMAGE_PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'openssh-server',
  'iproute2',
  'iptables',
  'curl',
  'sudo',
  'ca-certificates',
  'python3',
  'openssl',
  'hostname',
  'procps',
  'netcat-openbsd',
  'tar',
  'gzip',
  // scripts-0.8 hosts resolve the control plane through dnsmasq (disabled below)
  'dnsmasq'
]

export const VM_USER = 'mesh'

// Units that fail or wait for nothing inside a container: masked so that
// `systemctl is-system-running` answers `running`.
export const MASKED_UNITS = [
  'systemd-networkd-wait-online.service',
  'getty@.service',
  'console-getty.service',
  'serial-getty@.service',
  'container-getty@.service',
  'systemd-timesyncd.service',
  'apt-daily.timer',
  'apt-daily-upgrade.timer',
  'e2scrub_all.timer',
  'e2scrub_reap.service',
  'fstrim.timer',
  'systemd-remount-fs.service'
]

// Run inside the new root (chroot) once after debootstrap. Host keys, the SSH authorized key,
// the hostname and the machine ID are per VM and written into each VM's overlay instead.
const CUSTOMIZE = `set -eu
useradd --create-home --shell /bin/bash --user-group ${VM_USER}
printf '%s ALL=(ALL) NOPASSWD:ALL\\n' ${VM_USER} > /etc/sudoers.d/${VM_USER}
chmod 0440 /etc/sudoers.d/${VM_USER}
install -d -m 0700 -o ${VM_USER} -g ${VM_USER} /home/${VM_USER}/.ssh
rm -f /etc/ssh/ssh_host_*
printf 'HostKey /etc/ssh/ssh_host_ed25519_key\\nPasswordAuthentication no\\nKbdInteractiveAuthentication no\\nUseDNS no\\n' > /etc/ssh/sshd_config.d/mesh-expansion-lab.conf
for unit in ${MASKED_UNITS.join(' ')}; do ln -sf /dev/null /etc/systemd/system/$unit; done
# installed but off, as on a host that never ran it: onboarding a scripts-0.8 host must enable it
systemctl disable dnsmasq.service 2>/dev/null || true
rm -f /etc/systemd/system/multi-user.target.wants/dnsmasq.service
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
# debootstrap copied the build machine's name server; the lab has none
printf '# the lab has no DNS server; names come from /etc/hosts\\n' > /etc/resolv.conf
apt-get clean
`

export interface ImageRecipe {
  suite: string
  variant: string
  include: string[]
  customize: string
}

export const IMAGE_RECIPE: ImageRecipe = {
  suite: 'bookworm',
  variant: 'minbase',
  include: IMAGE_PACKAGES,
  customize: CUSTOMIZE
}

export function recipeHash(recipe: ImageRecipe = IMAGE_RECIPE): string {
  return createHash('sha256').update(JSON.stringify(recipe)).digest('hex').slice(0, 16)
}

export function imageDir(recipe: ImageRecipe = IMAGE_RECIPE): string {
  return join(IMAGE_CACHE_DIR, `image-${recipeHash(recipe)}`)
}

const READY_MARK = '.mesh-expansion-lab-image'

export function imageReady(recipe: ImageRecipe = IMAGE_RECIPE): boolean {
  return existsSync(join(imageDir(recipe), READY_MARK))
}

export interface EnsureImageOptions {
  log?: (line: string) => void
  recipe?: ImageRecipe
}

/** Returns the directory of the cached image, building it first when missing. */
export async function ensureImage(options: EnsureImageOptions = {}): Promise<string> {
  const recipe = options.recipe ?? IMAGE_RECIPE
  const log = options.log ?? (() => {})
  const dir = imageDir(recipe)
  if (imageReady(recipe)) return dir
  mkdirSync(IMAGE_CACHE_DIR, { recursive: true })
  return withLock(join(IMAGE_CACHE_DIR, 'build.lock'), 20 * 60_000, async () => {
    if (imageReady(recipe)) return dir // another `up` built it while we waited
    const tmp = `${dir}.tmp-${process.pid}`
    rmSync(tmp, { recursive: true, force: true })
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true }) // half-made, no mark
    log(`building the lab image with debootstrap (${recipe.suite}, about a minute) into ${dir}`)
    const started = Date.now()
    try {
      const r = await run(
        [
          'debootstrap',
          `--variant=${recipe.variant}`,
          `--include=${recipe.include.join(',')}`,
          recipe.suite,
          tmp
        ],
        { timeoutMs: 15 * 60_000 }
      )
      if (r.code !== 0) {
        const tail = (r.stdout + r.stderr).trim().split('\n').slice(-15).join('\n')
        throw new Error(`debootstrap failed (exit ${r.code}):\n${tail}`)
      }
      await must(['chroot', tmp, '/bin/sh', '-c', recipe.customize], {
        timeoutMs: 120_000,
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' }
      })
      writeFileSync(join(tmp, READY_MARK), JSON.stringify(recipe, null, 2))
      renameSync(tmp, dir)
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true })
      throw e
    }
    log(`image built in ${((Date.now() - started) / 1000).toFixed(0)} s`)
    return dir
  })
}
