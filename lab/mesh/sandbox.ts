// A light stand-in for a VM, to run the sidecar stand-in without lab/vms: a network namespace
// joined to the runner by a veth pair (198.18.254.0/24, point-to-point /30 links), and a
// directory that plays the VM's root file system for the agent's relative paths. Commands run in
// the namespace inside a private mount namespace where /etc/hosts, /etc/resolv.conf,
// /etc/passwd, /etc/group and /etc/shadow are the sandbox's own (an istio-proxy user included),
// so istio-start.sh runs unchanged: sources the env files, installs iptables, su to istio-proxy.
// Nothing is written outside the sandbox's directory; close() removes the namespace, every
// process in it, and the directory.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { SIDECAR_LAYOUT, sidecarSourceDir } from './deb.ts'

const run = promisify(execFile)

/** uid and gid of istio-proxy inside sandboxes (Istio's own default for sidecars). */
export const SANDBOX_PROXY_UID = 1337

export interface SandboxOptions {
  /** Lines of the sandbox's /etc/hosts beyond localhost (e.g. the istiod entry). */
  hosts?: string[]
}

export interface CommandResult {
  code: number
  stdout: string
  stderr: string
}

export interface AgentSandbox {
  /** Network namespace name. */
  netns: string
  /** The directory that stands for the VM's `/` (the agent's working directory). */
  root: string
  /** The sandbox's address (the "VM"). */
  address: string
  /** The runner's end of the link: services on the runner listen here. */
  gateway: string
  /** Runs a command in the sandbox (namespace + its /etc files), with cwd = root. */
  exec(
    argv: string[],
    options?: { env?: Record<string, string>; timeoutMs?: number }
  ): Promise<CommandResult>
  /** Starts a long-running command in the sandbox; close() stops it. */
  spawn(argv: string[], env?: Record<string, string>): ChildProcess
  /** Writes a file under root (path relative to the VM's `/`). */
  writeFile(
    path: string,
    content: string,
    owner?: 'root' | 'istio-proxy',
    mode?: number
  ): Promise<void>
  readFile(path: string): Promise<string>
  setHosts(lines: string[]): Promise<void>
  close(): Promise<void>
}

const SUBNET = '198.18.254'

async function freeSlot(): Promise<number> {
  const { stdout } = await run('ip', ['-o', 'link', 'show'])
  for (let slot = 1; slot < 63; slot++) {
    if (!stdout.includes(`mxmesh${slot}h`)) return slot
  }
  throw new Error('no free sandbox slot (63 in use): remove stale mxmesh* links')
}

/** Creates the sandbox; the caller must close() it (also after a failure). */
export async function createAgentSandbox(options: SandboxOptions = {}): Promise<AgentSandbox> {
  // the agent installs its capture with this machine's iptables; without it the agent dies at
  // start and a test would only see a readiness timeout
  const hasIptables = await run('sh', ['-c', 'command -v iptables'])
    .then(() => true)
    .catch(() => false)
  if (!hasIptables)
    throw new Error('the sidecar sandbox needs iptables on this machine (apt-get install iptables)')
  const slot = await freeSlot()
  const netns = `mxmesh-${slot}`
  const hostLink = `mxmesh${slot}h`
  const gateway = `${SUBNET}.${slot * 4 + 1}`
  const address = `${SUBNET}.${slot * 4 + 2}`
  const root = await mkdtemp(join(tmpdir(), 'mxmesh-root-'))
  const children = new Set<ChildProcess>()
  const etc = join(root, '.sandbox-etc')

  const cleanupNetwork = async (): Promise<void> => {
    await run('ip', ['link', 'del', hostLink]).catch(() => undefined)
    await run('ip', ['netns', 'del', netns]).catch(() => undefined)
  }

  try {
    await run('ip', ['netns', 'add', netns])
    await run('ip', ['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', `mxmesh${slot}v`])
    await run('ip', ['link', 'set', `mxmesh${slot}v`, 'netns', netns])
    await run('ip', ['addr', 'add', `${gateway}/30`, 'dev', hostLink])
    await run('ip', ['link', 'set', hostLink, 'up'])
    const inside = (...args: string[]): Promise<unknown> =>
      run('ip', ['netns', 'exec', netns, ...args])
    await inside('ip', 'link', 'set', 'lo', 'up')
    await inside('ip', 'link', 'set', `mxmesh${slot}v`, 'name', 'eth0')
    await inside('ip', 'addr', 'add', `${address}/30`, 'dev', 'eth0')
    await inside('ip', 'link', 'set', 'eth0', 'up')

    // The VM's file system: the package's directories and files, as postinst leaves them.
    for (const dir of [
      'etc/certs',
      'etc/istio/config',
      'etc/istio/proxy',
      'var/lib/istio/envoy',
      'var/lib/istio/proxy',
      'var/log/istio',
      'var/run/secrets/tokens',
      'usr/local/bin'
    ]) {
      await mkdir(join(root, dir), { recursive: true })
    }
    for (const file of SIDECAR_LAYOUT) {
      if (file.target.startsWith('DEBIAN/') || file.target.startsWith('lib/')) continue
      await copyFile(join(sidecarSourceDir(), file.source), join(root, file.target))
      await chmod(join(root, file.target), file.mode)
    }
    await writeFile(join(root, 'etc/istio/config/mesh'), '')
    for (const dir of [
      'etc/certs',
      'etc/istio/config',
      'etc/istio/config/mesh',
      'etc/istio/proxy',
      'var/lib/istio/envoy',
      'var/lib/istio/proxy',
      'var/log/istio',
      'var/run/secrets',
      'var/run/secrets/tokens'
    ]) {
      await chown(join(root, dir), SANDBOX_PROXY_UID, SANDBOX_PROXY_UID)
    }
    await chmod(root, 0o755)

    // The sandbox's own /etc files, bind-mounted over the runner's inside each command.
    await mkdir(etc)
    const passwd = await readFile('/etc/passwd', 'utf8')
    const group = await readFile('/etc/group', 'utf8')
    const shadow = await readFile('/etc/shadow', 'utf8').catch(() => '')
    const line = (text: string): string => (text.endsWith('\n') || text === '' ? text : text + '\n')
    await writeFile(
      join(etc, 'passwd'),
      line(passwd) +
        `istio-proxy:x:${SANDBOX_PROXY_UID}:${SANDBOX_PROXY_UID}::/var/lib/istio:/usr/sbin/nologin\n`
    )
    await writeFile(join(etc, 'group'), line(group) + `istio-proxy:x:${SANDBOX_PROXY_UID}:\n`)
    await writeFile(join(etc, 'shadow'), line(shadow) + 'istio-proxy:!:20000::::::\n', {
      mode: 0o640
    })
    // A nameserver on the link: without DNS capture queries get "port unreachable" at once.
    await writeFile(
      join(etc, 'resolv.conf'),
      `nameserver ${gateway}\noptions timeout:1 attempts:1\n`
    )
  } catch (error) {
    await cleanupNetwork()
    await rm(root, { recursive: true, force: true })
    throw error
  }

  const setHosts = (lines: string[]): Promise<void> =>
    writeFile(join(etc, 'hosts'), ['127.0.0.1 localhost', ...lines].join('\n') + '\n')
  await setHosts(options.hosts ?? [])

  const wrap = (argv: string[]): string[] => {
    const binds = ['hosts', 'resolv.conf', 'passwd', 'group', 'shadow']
      .map(name => `mount --bind '${etc}/${name}' /etc/${name}`)
      .join(' && ')
    return [
      'ip',
      'netns',
      'exec',
      netns,
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      `${binds} && cd '${root}' && exec "$@"`,
      'sh',
      ...argv
    ]
  }

  const sandbox: AgentSandbox = {
    netns,
    root,
    address,
    gateway,
    exec(argv, execOptions = {}) {
      const [command, ...args] = wrap(argv)
      return new Promise(resolve => {
        execFile(
          command ?? 'ip',
          args,
          { env: { ...process.env, ...execOptions.env }, timeout: execOptions.timeoutMs ?? 30_000 },
          (error, stdout, stderr) => {
            const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
            resolve({ code, stdout: String(stdout), stderr: String(stderr) })
          }
        )
      })
    },
    spawn(argv, env = {}) {
      const [command, ...args] = wrap(argv)
      const child = spawn(command ?? 'ip', args, {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true
      })
      children.add(child)
      child.on('exit', () => children.delete(child))
      return child
    },
    async writeFile(path, content, owner = 'root', mode = 0o644) {
      const target = join(root, path)
      await mkdir(join(target, '..'), { recursive: true })
      await writeFile(target, content)
      await chmod(target, mode)
      if (owner === 'istio-proxy') await chown(target, SANDBOX_PROXY_UID, SANDBOX_PROXY_UID)
    },
    readFile(path) {
      return readFile(join(root, path), 'utf8')
    },
    setHosts,
    async close() {
      for (const child of children) {
        if (child.pid !== undefined) {
          try {
            process.kill(-child.pid, 'SIGTERM')
          } catch {
            // already gone
          }
        }
      }
      // Anything else still in the namespace was started by us: stop it before deleting it.
      for (let attempt = 0; attempt < 20; attempt++) {
        const { stdout } = await run('ip', ['netns', 'pids', netns]).catch(() => ({ stdout: '' }))
        const pids = stdout.split(/\s+/).filter(Boolean).map(Number)
        if (pids.length === 0) break
        for (const pid of pids) {
          try {
            process.kill(pid, attempt < 10 ? 'SIGTERM' : 'SIGKILL')
          } catch {
            // already gone
          }
        }
        await new Promise(resolve => setTimeout(resolve, 100))
      }
      await cleanupNetwork()
      if (existsSync(root)) await rm(root, { recursive: true, force: true })
    }
  }
  return sandbox
}
