// One VM: an overlay on the image, per-VM files (hostname, machine ID, host key, the lab's
// authorized key), and systemd-nspawn booting it inside its network namespace.
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmdirSync,
  writeFileSync
} from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { must, run, sleep } from './exec.ts'
import { VM_USER } from './image.ts'
import { isAlive, processRef, type Bind, type ProcessRef, type VmRecord } from './state.ts'

export interface KeyPair {
  privateKeyPath: string
  publicKey: string
}

/** Makes an ed25519 key pair with ssh-keygen (no passphrase). */
export async function generateKeyPair(path: string, comment: string): Promise<KeyPair> {
  return generateHostKey(path, comment, 'ed25519')
}

/** The host key types a lab VM can offer (ssh-keygen's -t). */
export type LabHostKeyType = 'ed25519' | 'rsa' | 'ecdsa'

/** Makes a key pair of a type with ssh-keygen (no passphrase; RSA 3072, ECDSA P-256). */
export async function generateHostKey(
  path: string,
  comment: string,
  type: LabHostKeyType
): Promise<KeyPair> {
  const bits = type === 'rsa' ? ['-b', '3072'] : type === 'ecdsa' ? ['-b', '256'] : []
  await must(['ssh-keygen', '-q', '-t', type, ...bits, '-N', '', '-C', comment, '-f', path])
  return { privateKeyPath: path, publicKey: readFileSync(`${path}.pub`, 'utf8').trim() }
}

/** OpenSSH's SHA256 fingerprint of a public key line ("ssh-ed25519 AAAA... comment"). */
export function fingerprint(publicKeyLine: string): string {
  const blob = publicKeyLine.trim().split(/\s+/)[1]
  if (blob === undefined) throw new Error('not an OpenSSH public key line')
  const digest = createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64')
  return `SHA256:${digest.replace(/=+$/, '')}`
}

/**
 * known_hosts lines for host keys: the VM's own address (`[address]:port` when its sshd is not
 * on 22), and the relay in front of it if any.
 */
export function knownHostsLines(
  vm: Pick<VmRecord, 'address' | 'sshHost' | 'sshPort'> & { sshdPort?: number },
  publicKeys: string | readonly string[]
): string {
  const sshdPort = vm.sshdPort ?? 22
  const own = sshdPort === 22 ? vm.address : `[${vm.address}]:${sshdPort}`
  const names = [own]
  if (vm.sshHost !== vm.address || vm.sshPort !== sshdPort)
    names.push(`[${vm.sshHost}]:${vm.sshPort}`)
  const keys = typeof publicKeys === 'string' ? [publicKeys] : publicKeys
  return keys
    .flatMap(publicKey => {
      const [type, blob] = publicKey.trim().split(/\s+/)
      return names.map(n => `${n} ${type} ${blob}\n`)
    })
    .join('')
}

export function mergedDir(vm: VmRecord): string {
  return join(vm.dir, 'merged')
}

export function isMounted(path: string): boolean {
  const mounts = readFileSync('/proc/mounts', 'utf8')
  return mounts.split('\n').some(l => l.split(' ')[1] === path)
}

export async function mountOverlay(vm: VmRecord, image: string): Promise<void> {
  for (const d of ['upper', 'work', 'merged']) mkdirSync(join(vm.dir, d), { recursive: true })
  const merged = mergedDir(vm)
  if (isMounted(merged)) return
  const opts = `lowerdir=${image},upperdir=${join(vm.dir, 'upper')},workdir=${join(vm.dir, 'work')}`
  await must(['mount', '-t', 'overlay', 'overlay', '-o', opts, merged])
}

export async function unmountOverlay(vm: VmRecord): Promise<void> {
  const merged = mergedDir(vm)
  for (let i = 0; i < 10 && isMounted(merged); i++) {
    const r = await run(['umount', merged])
    if (r.code !== 0) await sleep(200)
  }
  if (isMounted(merged)) await run(['umount', '-l', merged]) // still busy: detach it
}

function idsOf(root: string, user: string): { uid: number; gid: number } {
  const line = readFileSync(join(root, 'etc/passwd'), 'utf8')
    .split('\n')
    .find(l => l.startsWith(`${user}:`))
  if (line === undefined) throw new Error(`the image has no user ${user}`)
  const f = line.split(':')
  return { uid: Number(f[2]), gid: Number(f[3]) }
}

/** A host key for the VM: its type and both halves (the private one goes into the VM only). */
export interface VmHostKey {
  type: LabHostKeyType
  private: string
  public: string
}

/** The sshd drop-in of a VM that differs from the image's (another port, more host keys). */
export const VM_SSHD_CONFIG = '/etc/ssh/sshd_config.d/mesh-expansion-lab-vm.conf'

/**
 * Writes the per-VM files into the overlay: identity, host keys, the lab's authorized key, and
 * for a VM whose sshd differs from the image's (another port, more key types) a drop-in that
 * says so. The image's sshd loads ssh_host_ed25519_key; a `Port` line replaces port 22.
 */
export function provision(
  vm: VmRecord,
  hostKey: { private: string; public: string } | readonly VmHostKey[],
  labPublicKey: string
): void {
  const hostKeys: readonly VmHostKey[] =
    'private' in hostKey ? [{ type: 'ed25519', ...hostKey }] : hostKey
  const root = mergedDir(vm)
  writeFileSync(join(root, 'etc/hostname'), `${vm.name}\n`)
  writeFileSync(
    join(root, 'etc/hosts'),
    `127.0.0.1 localhost\n127.0.1.1 ${vm.name}\n${vm.address} ${vm.name}\n::1 localhost ip6-localhost ip6-loopback\n`
  )
  // No name server: the lab routes nowhere outside itself (the runner's resolv.conf would name one).
  writeFileSync(
    join(root, 'etc/resolv.conf'),
    '# the lab has no DNS server; names come from /etc/hosts\n'
  )
  writeFileSync(join(root, 'etc/machine-id'), `${randomBytes(16).toString('hex')}\n`)
  const config: string[] = []
  if ((vm.sshdPort ?? 22) !== 22) config.push(`Port ${vm.sshdPort}`)
  for (const key of hostKeys) {
    const path = `/etc/ssh/ssh_host_${key.type}_key`
    writeFileSync(join(root, path), key.private, { mode: 0o600 })
    writeFileSync(join(root, `${path}.pub`), `${key.public}\n`, { mode: 0o644 })
    if (key.type !== 'ed25519') config.push(`HostKey ${path}`)
  }
  if (config.length > 0) {
    writeFileSync(join(root, VM_SSHD_CONFIG), `${config.join('\n')}\n`, { mode: 0o644 })
  }
  const { uid, gid } = idsOf(root, VM_USER)
  const sshDir = join(root, 'home', VM_USER, '.ssh')
  mkdirSync(sshDir, { recursive: true, mode: 0o700 })
  chownSync(sshDir, uid, gid)
  const authorized = join(sshDir, 'authorized_keys')
  writeFileSync(authorized, `${labPublicKey}\n`, { mode: 0o600 })
  chownSync(authorized, uid, gid)
}

/** The cgroup hierarchies of this machine (v2 alone, or v1's name=systemd plus v2 "unified"). */
function cgroupRoots(): string[] {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return ['/sys/fs/cgroup']
  return ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified'].filter(d =>
    existsSync(join(d, 'cgroup.procs'))
  )
}

export const CGROUP_NAME = 'mesh-expansion-lab'

function vmCgroups(vm: Pick<VmRecord, 'name'>): string[] {
  return cgroupRoots().map(r => join(r, CGROUP_NAME, vm.name))
}

/** Removes a cgroup directory and its children, deepest first (only empty cgroups can go). */
function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) removeCgroupTree(join(dir, e.name))
  }
  try {
    rmdirSync(dir)
  } catch {
    // still has processes: left for the next cleanup
  }
}

/** Removes the lab's cgroups (all VMs' when no VM is named). */
export function removeCgroups(vm?: Pick<VmRecord, 'name'>): void {
  const dirs = vm ? vmCgroups(vm) : cgroupRoots().map(r => join(r, CGROUP_NAME))
  for (const d of dirs) removeCgroupTree(d)
}

/**
 * Boots the VM with systemd-nspawn in a detached process; its console goes to console.log.
 * Each VM gets its own cgroup first: with --keep-unit nspawn stays in its caller's cgroup, and
 * VMs sharing one would remove each other's unit cgroups (units fail at random with 219/CGROUP).
 */
export function startVm(vm: VmRecord): ProcessRef {
  const cgroups = vmCgroups(vm)
  removeCgroups(vm)
  for (const d of cgroups) mkdirSync(d, { recursive: true })
  const log = openSync(join(vm.dir, 'console.log'), 'a')
  const args = [
    '-q',
    '-D',
    mergedDir(vm),
    '--register=no',
    '--keep-unit',
    '--capability=CAP_NET_ADMIN',
    `--network-namespace-path=/run/netns/${vm.netns}`,
    '--resolv-conf=off',
    '--link-journal=no',
    '--console=read-only',
    ...vm.binds.map((b: Bind) => `--bind${b.readOnly ? '-ro' : ''}=${b.host}:${b.vm}`),
    '-b',
    '-M',
    vm.name
  ]
  const script =
    'IFS=:; for d in $MXLAB_CGROUPS; do echo $$ > "$d/cgroup.procs" || exit 97; done; unset MXLAB_CGROUPS; exec systemd-nspawn "$@"'
  const child = spawn('/bin/sh', ['-c', script, 'systemd-nspawn', ...args], {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, MXLAB_CGROUPS: cgroups.join(':') }
  })
  closeSync(log)
  child.unref()
  const pid = child.pid
  const ref = pid === undefined ? undefined : processRef(pid)
  if (ref === undefined)
    throw new Error(
      `systemd-nspawn for ${vm.name} did not start (see ${join(vm.dir, 'console.log')})`
    )
  return ref
}

function readStatus(pid: string): Map<string, string> | undefined {
  try {
    const m = new Map<string, string>()
    for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
      const i = line.indexOf(':')
      if (i > 0) m.set(line.slice(0, i), line.slice(i + 1).trim())
    }
    return m
  } catch {
    return undefined
  }
}

/** The host pid of the VM's init: a child of its nspawn that is pid 1 in its own pid namespace. */
export function initPid(nspawn: ProcessRef | undefined): number | undefined {
  if (!isAlive(nspawn) || nspawn === undefined) return undefined
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const st = readStatus(entry)
    if (st === undefined || st.get('PPid') !== String(nspawn.pid)) continue
    const nspid = (st.get('NSpid') ?? '').split(/\s+/)
    if (nspid.length > 1 && nspid[nspid.length - 1] === '1') return Number(entry)
  }
  return undefined
}

async function waitGone(refs: (ProcessRef | undefined)[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (refs.some(isAlive)) {
    if (Date.now() > deadline) return false
    await sleep(100)
  }
  return true
}

/**
 * Stops a VM: SIGTERM to nspawn powers it off; after `graceMs` the VM's init and nspawn get
 * SIGKILL. Resolves when both are gone (bounded), so the overlay and namespace can go next.
 */
export async function stopVm(vm: VmRecord, graceMs = 10_000): Promise<void> {
  const nspawn = vm.nspawn
  if (!isAlive(nspawn) || nspawn === undefined) return
  const init = initPid(nspawn)
  const initRef = init === undefined ? undefined : processRef(init)
  try {
    process.kill(nspawn.pid, 'SIGTERM')
  } catch {
    // gone already
  }
  if (await waitGone([nspawn, initRef], graceMs)) {
    removeCgroups(vm)
    return
  }
  for (const ref of [initRef, nspawn]) {
    if (ref && isAlive(ref)) {
      try {
        process.kill(ref.pid, 'SIGKILL')
      } catch {
        // gone already
      }
    }
  }
  if (!(await waitGone([nspawn, initRef], 5_000))) {
    throw new Error(`${vm.name}: systemd-nspawn (pid ${nspawn.pid}) did not exit after SIGKILL`)
  }
  removeCgroups(vm)
}

/** Waits until the host answers with an SSH banner (bounded). */
export async function waitForSshBanner(
  host: string,
  port: number,
  timeoutMs: number
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer'
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>(resolve => {
      const s = connect({ host, port, timeout: 1000 })
      let got = ''
      const done = (v: boolean): void => {
        s.destroy()
        resolve(v)
      }
      s.on('data', (b: Buffer) => {
        got += b.toString('latin1')
        if (got.startsWith('SSH-')) done(true)
      })
      s.on('timeout', () => ((last = 'timeout'), done(false)))
      s.on('error', e => ((last = e.message), done(false)))
      s.on('close', () => done(false))
    })
    if (ok) return
    await sleep(100)
  }
  throw new Error(`no SSH banner from ${host}:${port} within ${timeoutMs} ms (${last})`)
}
