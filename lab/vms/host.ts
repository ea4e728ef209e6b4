// What this machine needs for the lab and the tests: host packages (installed when missing and
// root, else named), and kernel limits raised for many VMs.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { run } from './exec.ts'

/**
 * Commands the lab and the tests run on this machine, and the Debian package that brings each:
 * the one list of prerequisites. `npm test` installs what is missing first (scripts/test.ts),
 * and every lab `up` does too.
 */
const TOOLS: Record<string, string> = {
  debootstrap: 'debootstrap',
  'systemd-nspawn': 'systemd-container',
  ip: 'iproute2',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  nsenter: 'util-linux',
  flock: 'util-linux',
  mount: 'mount',
  // the sidecar stand-in: its capture, its package, its certificates, the echo app, the probes
  iptables: 'iptables',
  'dpkg-deb': 'dpkg',
  openssl: 'openssl',
  python3: 'python3',
  curl: 'curl',
  // istio-start.sh starts the agent with `sudo -E -u istio-proxy`, as upstream's does
  sudo: 'sudo',
  // __tests__/unit/host-install-script.test.ts lints install.sh
  shellcheck: 'shellcheck',
  // __tests__/integration/report-render.test.ts renders the job summary headless
  chromium: 'chromium',
  // __tests__/integration/kubectl.test.ts drives the sandbox API with the real kubectl; only
  // installed when no kubectl is on PATH (Debian bookworm's is 1.20, the oldest the test takes)
  kubectl: 'kubernetes-client'
}

const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']

export function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SEARCH_PATH]
  for (const d of dirs) {
    const p = `${d}/${name}`
    if (existsSync(p)) return p
  }
  return undefined
}

/** Debian packages missing for the lab's tools (debootstrap only when the image must be built). */
export function missingHostPackages(needDebootstrap: boolean): string[] {
  const missing = new Set<string>()
  for (const [tool, pkg] of Object.entries(TOOLS)) {
    if (tool === 'debootstrap' && !needDebootstrap) continue
    if (findTool(tool) === undefined) missing.add(pkg)
  }
  return [...missing]
}

export function isRoot(): boolean {
  return process.getuid?.() === 0
}

/** Installs the missing host packages when root; otherwise throws naming what is missing. */
export async function ensureHostPackages(
  needDebootstrap: boolean,
  log: (line: string) => void = () => {}
): Promise<void> {
  const missing = missingHostPackages(needDebootstrap)
  if (!isRoot()) {
    const also =
      missing.length > 0 ? `; these host packages are missing too: ${missing.join(' ')}` : ''
    throw new Error(
      `the lab needs root (network namespaces, mounts, systemd-nspawn); run it with sudo or as root${also}`
    )
  }
  if (missing.length === 0) return
  if (findTool('apt-get') === undefined) {
    throw new Error(
      `the lab needs these Debian/Ubuntu packages, and this machine has no apt-get to install them: ${missing.join(' ')}`
    )
  }
  log(`installing host packages: ${missing.join(' ')}`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const update = await run(['apt-get', 'update', '-q'], { env, timeoutMs: 10 * 60_000 })
  if (update.code !== 0) throw new Error(`apt-get update failed: ${update.stderr.trim()}`)
  // Another lab run may be installing at the same time: wait for dpkg's lock instead of failing.
  const install = await run(
    [
      'apt-get',
      '-o',
      'DPkg::Lock::Timeout=300',
      'install',
      '-y',
      '-q',
      '--no-install-recommends',
      ...missing
    ],
    { env, timeoutMs: 10 * 60_000 }
  )
  if (install.code !== 0) {
    throw new Error(`apt-get install ${missing.join(' ')} failed: ${install.stderr.trim()}`)
  }
  const still = missingHostPackages(needDebootstrap)
  if (still.length > 0) throw new Error(`still missing after apt-get install: ${still.join(' ')}`)
}

/**
 * The step `npm test` runs first (also `node lab/vms/host.ts`): as root, installs every missing
 * package of the list; otherwise only names them, and the tests that need them fail and say why.
 */
export async function ensurePrerequisites(log: (line: string) => void): Promise<void> {
  if (isRoot()) return ensureHostPackages(true, log)
  const missing = missingHostPackages(true)
  if (missing.length > 0) log(`not root, so not installing: ${missing.join(' ')}`)
}

function raiseSysctl(path: string, atLeast: number): void {
  try {
    const now = Number(readFileSync(path, 'utf8').trim())
    if (!(now >= atLeast)) writeFileSync(path, String(atLeast))
  } catch {
    // not fatal: only many VMs need it, and the error will name inotify if it bites
  }
}

/** Each VM's systemd takes inotify instances; past about 20 VMs the defaults run out. */
export function raiseInotifyLimits(): void {
  raiseSysctl('/proc/sys/fs/inotify/max_user_instances', 8192)
  raiseSysctl('/proc/sys/fs/inotify/max_user_watches', 1048576)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await ensurePrerequisites(line => console.log(line))
}
