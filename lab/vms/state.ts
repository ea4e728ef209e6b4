// The lab's state file: written before each resource is made, so that a crashed run can be
// cleaned up by the next `up` or `down` from what it lists.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const RUN_DIR = '/run/mesh-expansion-lab'
export const STATE_FILE = join(RUN_DIR, 'state.json')

/** A process recorded with its start time, so a reused pid is never mistaken for ours. */
export interface ProcessRef {
  pid: number
  startTime: string
}

export interface VmRecord {
  name: string
  index: number
  netns: string
  veth: string
  address: string
  sshHost: string
  sshPort: number
  dir: string
  hostKeyFingerprint: string
  knownHostsPath: string
  /** The port sshd listens on inside the VM (absent: 22). */
  sshdPort?: number
  /** Every host key sshd offers (absent: the ed25519 one of hostKeyFingerprint). */
  hostKeys?: HostKeyRecord[]
  nspawn?: ProcessRef
  binds: Bind[]
}

export interface HostKeyRecord {
  /** The key type as known_hosts writes it: ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256. */
  type: string
  /** The public key line ("TYPE BASE64 COMMENT"). */
  publicKey: string
  fingerprint: string
}

export interface Bind {
  host: string
  vm: string
  readOnly: boolean
}

export interface StateFile {
  version: 1
  createdAt: string
  image: string
  latencyMs: number
  user: string
  privateKeyPath: string
  knownHostsPath: string
  relay?: ProcessRef
  /** The process that called upLab and owns the lab until downLab. */
  owner?: ProcessRef
  vms: VmRecord[]
  readyMs?: number
}

export function readState(): StateFile | undefined {
  if (!existsSync(STATE_FILE)) return undefined
  try {
    const s = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as StateFile
    return s.version === 1 && Array.isArray(s.vms) ? s : undefined
  } catch {
    return undefined // unreadable: the fallback cleanup by name still runs
  }
}

export function writeState(state: StateFile): void {
  mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 })
  const tmp = `${STATE_FILE}.tmp`
  writeFileSync(tmp, JSON.stringify(state, null, 2), { mode: 0o600 })
  renameSync(tmp, STATE_FILE)
}

/** The start time of a process (field 22 of /proc/PID/stat), or undefined when it is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the command name (field 2) may hold spaces and parentheses: split after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[19]
  } catch {
    return undefined
  }
}

export function processRef(pid: number): ProcessRef | undefined {
  const startTime = processStartTime(pid)
  return startTime === undefined ? undefined : { pid, startTime }
}

export function isAlive(ref: ProcessRef | undefined): boolean {
  if (ref === undefined) return false
  const st = processStartTime(ref.pid)
  if (st !== ref.startTime) return false
  // a zombie has exited; only its parent's wait is missing
  try {
    const status = readFileSync(`/proc/${ref.pid}/status`, 'utf8')
    return !/^State:\s+Z/m.test(status)
  } catch {
    return false
  }
}
