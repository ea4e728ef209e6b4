// The lab's VMs as a library: `upLab` boots N Debian VMs (systemd-nspawn on overlayfs, each in
// its own network namespace on the lab bridge) reachable over SSH with strict host-key
// checking; `downLab` removes everything the lab made; per-VM helpers for tests.
import { spawn } from 'node:child_process'
import {
  existsSync,
  openSync,
  closeSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
  mkdirSync
} from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pLimit from 'p-limit'
import { run, sleep, withLock, type RunResult } from './exec.ts'
import { ensureHostPackages, raiseInotifyLimits } from './host.ts'
import { ensureImage, imageReady, VM_USER } from './image.ts'
import type { LabHostKeyType } from './vm.ts'
import {
  BRIDGE,
  BRIDGE_ADDRESS,
  CLUSTER_ADDRESS,
  CLUSTER_NETNS,
  GATEWAY_ADDRESS,
  POD_CIDR,
  SERVICE_CIDR,
  createNetns,
  deleteLabNetwork,
  deleteNetns,
  ensureBridge,
  ensureClusterNetns,
  listLabNetns,
  vmAddress,
  vmName,
  vmVeth
} from './net.ts'
import {
  RUN_DIR,
  isAlive,
  processRef,
  readState,
  writeState,
  type Bind,
  type ProcessRef,
  type HostKeyRecord,
  type StateFile,
  type VmRecord
} from './state.ts'
import {
  fingerprint,
  generateHostKey,
  generateKeyPair,
  initPid,
  knownHostsLines,
  mergedDir,
  mountOverlay,
  provision,
  removeCgroups,
  startVm,
  stopVm,
  unmountOverlay,
  waitForSshBanner
} from './vm.ts'

export {
  BRIDGE,
  BRIDGE_ADDRESS,
  CLUSTER_ADDRESS,
  CLUSTER_NETNS,
  GATEWAY_ADDRESS,
  POD_CIDR,
  SERVICE_CIDR,
  addClusterAddress,
  removeClusterAddress,
  vmAddress
} from './net.ts'
export { RUN_DIR, STATE_FILE } from './state.ts'
export type { Bind, HostKeyRecord } from './state.ts'
export { VM_SSHD_CONFIG, type LabHostKeyType } from './vm.ts'
export type { RunResult } from './exec.ts'

/** Where the runner's Node binary appears inside a VM started with `nodeBinary`. */
export const VM_NODE_PATH = '/opt/node/bin/node'
/** The relay for VM i listens on 198.18.0.1:(RELAY_BASE_PORT + i). */
export const RELAY_BASE_PORT = 2200

export interface LabVm {
  name: string
  /** 1-based */
  index: number
  /** The VM's own address on the lab network (what the mesh uses to reach it). */
  address: string
  /** Where to connect for SSH: the VM itself, or the latency relay in front of it. */
  sshHost: string
  sshPort: number
  user: string
  /** The lab's private key (the same for every VM), path and content. */
  privateKeyPath: string
  privateKey: string
  /** A known_hosts file with this VM's host key, for its address and for the relay if any. */
  knownHostsPath: string
  hostKeyFingerprint: string
  /** The port sshd listens on inside the VM (22 unless the VM's spec says otherwise). */
  sshdPort: number
  /** Every host key the VM's sshd offers (ed25519 first), with its public line and fingerprint. */
  hostKeys: HostKeyRecord[]
  netns: string
}

/** How one VM differs from the others (every field optional: absent = the default VM). */
export interface VmSpec {
  /** sshd listens on this port only, inside the VM (default 22). */
  sshPort?: number
  /** Host key types sshd offers (default ['ed25519']; ed25519 is always among them). */
  hostKeyTypes?: LabHostKeyType[]
}

export interface LabState {
  bridge: string
  bridgeAddress: string
  gatewayAddress: string
  clusterNetns: string
  clusterAddress: string
  podCidr: string
  serviceCidr: string
  runDir: string
  latencyMs: number
  privateKeyPath: string
  /** A known_hosts file with every VM's host key. */
  knownHostsPath: string
  vms: LabVm[]
  /** Milliseconds from the start of `upLab` until every VM answered (when measured). */
  readyMs?: number
}

export interface UpOptions {
  vms: number
  /** Round-trip latency emulated in front of each VM's sshd (a delaying relay), in ms. */
  latencyMs?: number
  /** Wait until `systemctl is-system-running` says `running` in every VM (default true). */
  waitRunning?: boolean
  /** Bind-mounts this Node binary read-only at /opt/node/bin/node in every VM (a CI runner VM). */
  nodeBinary?: string
  /** How long to wait for another live process's lab to be taken down (default 10 min). */
  waitForLabMs?: number
  /**
   * The calling process owns the lab until downLab (default true): another process's upLab
   * waits for it. The CLI passes false, so a later `up` or test takes its lab over.
   */
  ownLab?: boolean
  /** More bind mounts into every VM. */
  binds?: Bind[]
  /** Per VM, by position (vmSpecs[0] is mxlab-vm1): another sshd port, more host key types. */
  vmSpecs?: (VmSpec | undefined)[]
  log?: (line: string) => void
}

const LOCK = `${RUN_DIR}.lock`
const LOCK_WAIT_MS = 25 * 60_000
const relayScript = fileURLToPath(new URL('./relay.ts', import.meta.url))

function toLabState(s: StateFile): LabState {
  const privateKey = existsSync(s.privateKeyPath) ? readFileSync(s.privateKeyPath, 'utf8') : ''
  const state: LabState = {
    bridge: BRIDGE,
    bridgeAddress: BRIDGE_ADDRESS,
    gatewayAddress: GATEWAY_ADDRESS,
    clusterNetns: CLUSTER_NETNS,
    clusterAddress: CLUSTER_ADDRESS,
    podCidr: POD_CIDR,
    serviceCidr: SERVICE_CIDR,
    runDir: RUN_DIR,
    latencyMs: s.latencyMs,
    privateKeyPath: s.privateKeyPath,
    knownHostsPath: s.knownHostsPath,
    vms: s.vms.map(v => ({
      name: v.name,
      index: v.index,
      address: v.address,
      sshHost: v.sshHost,
      sshPort: v.sshPort,
      user: s.user,
      privateKeyPath: s.privateKeyPath,
      privateKey,
      knownHostsPath: v.knownHostsPath,
      hostKeyFingerprint: v.hostKeyFingerprint,
      sshdPort: v.sshdPort ?? 22,
      hostKeys: v.hostKeys ?? [],
      netns: v.netns
    }))
  }
  if (s.readyMs !== undefined) state.readyMs = s.readyMs
  return state
}

/** The OpenSSH command that reaches a VM with strict host-key checking. */
export function sshCommand(vm: LabVm): string[] {
  return [
    'ssh',
    '-i',
    vm.privateKeyPath,
    '-o',
    `UserKnownHostsFile=${vm.knownHostsPath}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'IdentitiesOnly=yes',
    ...(vm.sshPort === 22 ? [] : ['-p', String(vm.sshPort)]),
    `${vm.user}@${vm.sshHost}`
  ]
}

/** Boots the lab: cleans up any earlier (or crashed) lab first, then N VMs, ready for SSH. */
export async function upLab(options: UpOptions): Promise<LabState> {
  const log = options.log ?? (() => {})
  const count = options.vms
  if (!Number.isInteger(count) || count < 0 || count > 500) {
    throw new Error(`--vms must be a whole number from 0 to 500, got ${count}`)
  }
  const latencyMs = options.latencyMs ?? 0
  if (!(latencyMs >= 0 && latencyMs <= 10_000))
    throw new Error(`latency must be 0..10000 ms, got ${latencyMs}`)
  checkVmSpecs(options.vmSpecs ?? [], count)
  await ensureHostPackages(!imageReady(), log)
  mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 })
  // Another live process that called upLab owns the lab until it calls downLab: wait for it
  // (bounded) rather than pull the VMs from under its tests. A lab whose owner is gone (a CLI
  // `up` that exited, a crashed test) is taken over.
  const leaseDeadline = Date.now() + (options.waitForLabMs ?? 10 * 60_000)
  let waitingLogged = false
  for (;;) {
    const result = await withLock(LOCK, LOCK_WAIT_MS, async () => {
      const owner = readState()?.owner
      if (owner !== undefined && owner.pid !== process.pid && isAlive(owner)) return owner
      return bootLab(options, count, latencyMs, log)
    })
    if ('vms' in result) return result
    if (Date.now() > leaseDeadline) {
      throw new Error(
        `the lab is in use by process ${result.pid}, which called upLab and has not called downLab yet`
      )
    }
    if (!waitingLogged) log(`waiting for process ${result.pid} to take its lab down`)
    waitingLogged = true
    await sleep(1000)
  }
}

const HOST_KEY_TYPES: readonly LabHostKeyType[] = ['ed25519', 'ecdsa', 'rsa']

function checkVmSpecs(specs: readonly (VmSpec | undefined)[], count: number): void {
  if (specs.length > count) throw new Error(`vmSpecs has ${specs.length} entries for ${count} VMs`)
  specs.forEach((spec, i) => {
    const port = spec?.sshPort ?? 22
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new Error(`vmSpecs[${i}].sshPort must be a port number, got ${port}`)
    const types = spec?.hostKeyTypes ?? ['ed25519']
    if (!types.includes('ed25519') || types.some(t => !HOST_KEY_TYPES.includes(t)))
      throw new Error(
        `vmSpecs[${i}].hostKeyTypes must include ed25519 and name only ${HOST_KEY_TYPES.join(', ')}`
      )
  })
}

/** The VM's host keys, made on the runner: the VM keeps the private halves, the runner none. */
async function makeHostKeys(
  vm: VmRecord,
  types: readonly LabHostKeyType[]
): Promise<{ type: LabHostKeyType; private: string; public: string }[]> {
  // ed25519 first: hostKeyFingerprint stays the ed25519 key's, as on a default VM
  const ordered = HOST_KEY_TYPES.filter(t => types.includes(t))
  return Promise.all(
    ordered.map(async type => {
      const path = join(vm.dir, `ssh_host_${type}_key`)
      const pair = await generateHostKey(path, vm.name, type)
      const key = { type, private: readFileSync(path, 'utf8'), public: pair.publicKey }
      rmSync(path) // the VM holds its private key; the runner keeps only the public one
      rmSync(`${path}.pub`, { force: true })
      return key
    })
  )
}

async function bootLab(
  options: UpOptions,
  count: number,
  latencyMs: number,
  log: (line: string) => void
): Promise<LabState> {
  {
    await cleanup(log)
    raiseInotifyLimits()
    const image = await ensureImage({ log })
    const started = Date.now()
    mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 })
    const labKey = await generateKeyPair(join(RUN_DIR, 'id_ed25519'), 'mesh-expansion-lab')
    const binds: Bind[] = [...(options.binds ?? [])]
    if (options.nodeBinary !== undefined)
      binds.push({ host: options.nodeBinary, vm: VM_NODE_PATH, readOnly: true })
    const state: StateFile = {
      version: 1,
      createdAt: new Date().toISOString(),
      image,
      latencyMs,
      user: VM_USER,
      privateKeyPath: labKey.privateKeyPath,
      knownHostsPath: join(RUN_DIR, 'known_hosts'),
      vms: []
    }
    const owner = processRef(process.pid)
    if (owner !== undefined && options.ownLab !== false) state.owner = owner
    for (let i = 1; i <= count; i++) {
      const name = vmName(i)
      const address = vmAddress(i)
      const sshdPort = options.vmSpecs?.[i - 1]?.sshPort ?? 22
      state.vms.push({
        name,
        index: i,
        netns: name,
        veth: vmVeth(i),
        address,
        sshHost: latencyMs > 0 ? BRIDGE_ADDRESS : address,
        sshPort: latencyMs > 0 ? RELAY_BASE_PORT + i : sshdPort,
        sshdPort,
        dir: join(RUN_DIR, 'vms', name),
        hostKeyFingerprint: '',
        knownHostsPath: join(RUN_DIR, 'vms', name, 'known_hosts'),
        binds
      })
    }
    writeState(state) // before anything is made: a crash from here on is cleaned up from it
    try {
      await ensureBridge()
      await ensureClusterNetns()
      const limit = pLimit(16)
      await Promise.all(
        state.vms.map(vm =>
          limit(async () => {
            mkdirSync(vm.dir, { recursive: true, mode: 0o700 })
            await createNetns(vm.netns, vm.veth, vm.address, true)
            await mountOverlay(vm, image)
            const types = options.vmSpecs?.[vm.index - 1]?.hostKeyTypes ?? ['ed25519']
            const hostKeys = await makeHostKeys(vm, types)
            provision(vm, hostKeys, labKey.publicKey)
            vm.hostKeys = hostKeys.map(k => ({
              type: k.public.split(' ')[0] ?? '',
              publicKey: k.public,
              fingerprint: fingerprint(k.public)
            }))
            vm.hostKeyFingerprint = vm.hostKeys[0]?.fingerprint ?? ''
            writeFileSync(
              vm.knownHostsPath,
              knownHostsLines(
                vm,
                hostKeys.map(k => k.public)
              )
            )
            vm.nspawn = startVm(vm)
            writeState(state)
          })
        )
      )
      writeFileSync(
        state.knownHostsPath,
        state.vms.map(vm => readFileSync(vm.knownHostsPath, 'utf8')).join('')
      )
      if (latencyMs > 0 && count > 0) {
        state.relay = startRelayProcess(state, latencyMs / 2)
        writeState(state)
      }
      const waitMs = 60_000 + 1_000 * count
      await Promise.all(
        state.vms.map(async vm => {
          await waitForSshBanner(vm.sshHost, vm.sshPort, waitMs).catch((e: Error) => {
            throw new Error(`${vm.name}: ${e.message}${consoleTail(vm)}`)
          })
          if (options.waitRunning ?? true) await waitRunning(vm, waitMs)
        })
      )
      state.readyMs = Date.now() - started
      writeState(state)
      log(`${count} VM(s) reachable over SSH ${(state.readyMs / 1000).toFixed(1)} s after start`)
      return toLabState(state)
    } catch (e) {
      log(`lab up failed, cleaning up: ${(e as Error).message}`)
      await cleanup(log).catch(() => {})
      throw e
    }
  }
}

function consoleTail(vm: VmRecord): string {
  try {
    const lines = readFileSync(join(vm.dir, 'console.log'), 'utf8').trim().split('\n').slice(-10)
    return `\nlast console lines of ${vm.name}:\n${lines.join('\n')}`
  } catch {
    return ''
  }
}

async function waitRunning(vm: VmRecord, timeoutMs: number): Promise<void> {
  const pid = initPid(vm.nspawn)
  if (pid === undefined) throw new Error(`${vm.name} is not running${consoleTail(vm)}`)
  const r = await nsenter(pid, ['systemctl', 'is-system-running', '--wait'], { timeoutMs })
  const status = r.stdout.trim()
  if (status === 'running') return
  const failed = await nsenter(pid, ['systemctl', '--failed', '--no-legend', '--plain'], {})
  throw new Error(
    `${vm.name}: systemctl is-system-running says "${status}"; failed units: ${failed.stdout.trim() || 'none'}`
  )
}

function startRelayProcess(state: StateFile, oneWayMs: number): ProcessRef {
  const config = {
    delayMs: oneWayMs,
    routes: state.vms.map(vm => ({
      listenHost: vm.sshHost,
      listenPort: vm.sshPort,
      targetHost: vm.address,
      targetPort: vm.sshdPort ?? 22
    }))
  }
  const configPath = join(RUN_DIR, 'relay.json')
  writeFileSync(configPath, JSON.stringify(config))
  const log = openSync(join(RUN_DIR, 'relay.log'), 'a')
  const child = spawn(process.execPath, [relayScript, configPath], {
    detached: true,
    stdio: ['ignore', log, log]
  })
  closeSync(log)
  child.unref()
  const ref = child.pid === undefined ? undefined : processRef(child.pid)
  if (ref === undefined)
    throw new Error('the latency relay did not start (see relay.log in the run dir)')
  return ref
}

/** SIGTERM to all, then SIGKILL to those still there after `graceMs`; bounded in time. */
async function killAll(refs: (ProcessRef | undefined)[], graceMs: number): Promise<void> {
  const live = refs.filter((r): r is ProcessRef => isAlive(r))
  const signal = (sig: NodeJS.Signals): void => {
    for (const r of live) {
      if (!isAlive(r)) continue
      try {
        process.kill(r.pid, sig)
      } catch {
        // gone meanwhile
      }
    }
  }
  signal('SIGTERM')
  const deadline = Date.now() + graceMs
  while (live.some(isAlive) && Date.now() < deadline) await sleep(50)
  if (!live.some(isAlive)) return
  signal('SIGKILL')
  const hard = Date.now() + 5_000
  while (live.some(isAlive) && Date.now() < hard) await sleep(50)
}

function cmdline(pid: string): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
  } catch {
    return []
  }
}

/** Lab processes not (or no longer) in the state file: nspawns of mxlab-* VMs and relays. */
function strayProcesses(): { nspawn: ProcessRef[]; relays: ProcessRef[] } {
  const nspawn: ProcessRef[] = []
  const relays: ProcessRef[] = []
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue
    const argv = cmdline(pid)
    const ref = processRef(Number(pid))
    if (ref === undefined) continue
    const m = argv.indexOf('-M')
    if (argv[0]?.endsWith('systemd-nspawn') && m >= 0 && argv[m + 1]?.startsWith('mxlab-'))
      nspawn.push(ref)
    else if (argv[1] === relayScript && argv[2]?.startsWith(RUN_DIR)) relays.push(ref)
  }
  return { nspawn, relays }
}

function labMounts(): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map(l => l.split(' ')[1] ?? '')
    .filter(p => p.startsWith(`${RUN_DIR}/`))
}

/** Removes everything the lab made: from the state file, then anything named like ours. */
async function cleanup(log: (line: string) => void): Promise<void> {
  const state = readState()
  if (state) log(`cleaning up the lab from ${state.createdAt} (${state.vms.length} VMs)`)
  await killAll([state?.relay], 2_000)
  await Promise.all((state?.vms ?? []).map(vm => stopVm(vm)))
  const stray = strayProcesses()
  await killAll(stray.relays, 2_000)
  await Promise.all(
    stray.nspawn.map((ref, i) =>
      stopVm({ name: `stray nspawn ${ref.pid}`, nspawn: ref } as VmRecord).catch((e: Error) =>
        log(`stray ${i}: ${e.message}`)
      )
    )
  )
  // Processes someone started inside the lab's namespaces (e.g. the cluster's pods) go too.
  await Promise.all(
    (await listLabNetns()).map(async ns => {
      const pids = (await run(['ip', 'netns', 'pids', ns])).stdout
        .split('\n')
        .filter(p => /^\d+$/.test(p))
        .map(p => processRef(Number(p)))
      // A VM's processes here lost their nspawn in a crash (systemd as init ignores SIGTERM,
      // and the VM is thrown away): SIGKILL. The cluster's pods get a SIGTERM first.
      await killAll(pids, ns === CLUSTER_NETNS ? 2_000 : 0)
    })
  )
  removeCgroups()
  for (const vm of state?.vms ?? []) await unmountOverlay(vm)
  for (const mount of labMounts().sort().reverse()) {
    const r = await run(['umount', mount])
    if (r.code !== 0) await run(['umount', '-l', mount])
  }
  for (const vm of state?.vms ?? []) await deleteNetns(vm.netns)
  await deleteLabNetwork()
  const left = labMounts()
  if (left.length > 0) throw new Error(`cannot unmount: ${left.join(' ')}`)
  rmSync(RUN_DIR, { recursive: true, force: true })
}

/**
 * Makes the lab network without VMs and without cleaning anything up first: the bridge and the
 * cluster namespace (idempotent). For cluster-only tests; `upLab` does this too.
 */
export async function ensureLabNetwork(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the lab network needs root')
  await ensureBridge()
  await ensureClusterNetns()
}

/**
 * Stops every VM and removes every namespace, bridge, mount, process and file the lab made.
 * A lab owned by another live process (it called upLab) is left alone unless `force` is set
 * (the CLI's `down` forces): a test's `after` hook never pulls another test's lab away.
 */
export async function downLab(
  options: { log?: (line: string) => void; force?: boolean } = {}
): Promise<void> {
  const log = options.log ?? (() => {})
  if (process.getuid?.() !== 0) throw new Error('the lab needs root to take it down')
  await withLock(LOCK, LOCK_WAIT_MS, async () => {
    const owner = readState()?.owner
    if (!options.force && owner && owner.pid !== process.pid && isAlive(owner)) {
      log(`the lab belongs to process ${owner.pid}; left alone`)
      return
    }
    await cleanup(log)
  })
}

export interface LabStatus {
  /** A state file is there and every VM's nspawn is alive. */
  up: boolean
  state?: LabState
  vms: { name: string; address: string; running: boolean }[]
  /** Leftovers with no (or a stale) state file: namespaces named mxlab-*. */
  strayNetns: string[]
}

export async function labStatus(): Promise<LabStatus> {
  const s = readState()
  const netns = await listLabNetns().catch(() => [])
  const known = new Set([CLUSTER_NETNS, ...(s?.vms.map(v => v.netns) ?? [])])
  const vms = (s?.vms ?? []).map(v => ({
    name: v.name,
    address: v.address,
    running: isAlive(v.nspawn)
  }))
  const status: LabStatus = {
    up: s !== undefined && vms.every(v => v.running),
    vms,
    strayNetns: netns.filter(n => !known.has(n) || s === undefined)
  }
  if (s) status.state = toLabState(s)
  return status
}

/** The running lab, read from its state file (for tests in another process than `up`). */
export function currentLab(): LabState | undefined {
  const s = readState()
  return s ? toLabState(s) : undefined
}

function record(vm: LabVm | string): VmRecord {
  const name = typeof vm === 'string' ? vm : vm.name
  const rec = readState()?.vms.find(v => v.name === name)
  if (rec === undefined) throw new Error(`no lab VM named ${name} (is the lab up?)`)
  return rec
}

function nsenter(
  pid: number,
  argv: string[],
  options: { input?: string | Buffer; timeoutMs?: number }
): Promise<RunResult> {
  return run(
    ['nsenter', '-t', String(pid), '-m', '-u', '-i', '-n', '-p', '-r', '-w', '--', ...argv],
    {
      ...options,
      env: {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        LANG: 'C.UTF-8',
        HOME: '/root'
      }
    }
  )
}

/**
 * Runs a command inside a VM through its init's namespaces (no SSH: works when the test has
 * broken SSH on purpose), as root or as `user`. A string runs with /bin/sh -c.
 */
export async function runInVm(
  vm: LabVm | string,
  command: string[] | string,
  options: { input?: string | Buffer; timeoutMs?: number; user?: string } = {}
): Promise<RunResult> {
  const rec = record(vm)
  const pid = initPid(rec.nspawn)
  if (pid === undefined) throw new Error(`${rec.name} is not running`)
  const argv = typeof command === 'string' ? ['/bin/sh', '-c', command] : command
  const { user, ...rest } = options
  return nsenter(pid, user === undefined ? argv : ['runuser', '-u', user, '--', ...argv], rest)
}

/** Powers a VM off and boots it again on the same overlay (its files survive, like a reboot). */
export async function restartVm(
  vm: LabVm | string,
  options: { waitRunning?: boolean } = {}
): Promise<void> {
  await withLock(LOCK, LOCK_WAIT_MS, async () => {
    const state = readState()
    const rec = state?.vms.find(v => v.name === (typeof vm === 'string' ? vm : vm.name))
    if (state === undefined || rec === undefined) throw new Error(`no lab VM named ${String(vm)}`)
    await stopVm(rec, 20_000)
    rec.nspawn = startVm(rec)
    writeState(state)
    await waitForSshBanner(rec.sshHost, rec.sshPort, 60_000)
    if (options.waitRunning ?? true) await waitRunning(rec, 60_000)
  })
}

/** Stops sshd in a VM (for tests of an unreachable host). */
export async function stopSshd(vm: LabVm | string): Promise<void> {
  const r = await runInVm(vm, ['systemctl', 'stop', 'ssh.service'], { timeoutMs: 30_000 })
  if (r.code !== 0) throw new Error(`cannot stop sshd: ${r.stderr.trim()}`)
}

/** Starts sshd again in a VM. */
export async function startSshd(vm: LabVm | string): Promise<void> {
  const r = await runInVm(vm, ['systemctl', 'start', 'ssh.service'], { timeoutMs: 30_000 })
  if (r.code !== 0) throw new Error(`cannot start sshd: ${r.stderr.trim()}`)
}

/** The merged root of a VM's overlay on the runner (to inspect its files from outside). */
export function vmRootDir(vm: LabVm | string): string {
  return mergedDir(record(vm))
}
