// pods/exec over WebSocket with the v5 and v4 channel protocols: stdin 0, stdout 1, stderr 2,
// status 3 (a V1Status), v5 close frames (255, channel). The command runs inside the pod's network
// namespace (`ip netns exec NAME …`) or, without one, directly on the host.
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, statSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { delimiter, join } from 'node:path'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { isObject } from './fields.ts'
import { pilotDiscoveryRequest } from './serviceProxy.ts'
import { ApiError, badRequest, notFound } from './status.ts'
import type { KubeObject } from './store.ts'
import {
  authenticate,
  faultError,
  authorizeRequest,
  parseRequest,
  refuseUpgrade,
  sleep,
  unauthorized,
  type ServerContext,
  type UserInfo
} from './server.ts'

/** Pod annotation: the network namespace its commands run in ('' = the host). */
export const netnsAnnotation = 'lab.mesh-expansion.dev/netns'
/** Pod annotation: comma-separated executables the pod "has" (absent = whatever the host has). */
export const executablesAnnotation = 'lab.mesh-expansion.dev/executables'

export interface ExecOptions {
  /** default network namespace for pod commands; undefined = run on the host */
  podNetns?: string
  /** upper bound of one command's run time (default 10 minutes) */
  maxDurationMs?: number
}

const StatusChannel = 3
const CloseChannel = 255
const protocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io']

function onPath(command: string): boolean {
  const candidates = command.includes('/')
    ? [command]
    : (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
        .split(delimiter)
        .map(d => join(d, command))
  if (command === '' || command.includes('\0')) return false
  return candidates.some(c => {
    try {
      accessSync(c, constants.X_OK)
      return statSync(c).isFile()
    } catch {
      return false
    }
  })
}

export class ExecServer {
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: offered => protocols.find(p => offered.has(p)) ?? false
  })
  private readonly children = new Set<ChildProcess>()
  private readonly ctx: ServerContext
  private readonly options: ExecOptions

  constructor(ctx: ServerContext, options: ExecOptions) {
    this.ctx = ctx
    this.options = options
  }

  /** Handles an HTTP upgrade on the API server; refuses what is not a valid pods/exec request. */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const started = Date.now()
    // a client resetting the connection must not become an uncaught error
    socket.on('error', () => socket.destroy())
    const info = parseRequest(
      this.ctx,
      req.method ?? 'GET',
      req.url ?? '/',
      req.headers['user-agent']
    )
    let user: UserInfo | undefined
    let status = 101
    try {
      const fault = this.ctx.faults.take(info)
      if (fault?.delayMs) await sleep(fault.delayMs)
      if (fault?.drop) {
        status = 0
        socket.destroy()
        return
      }
      if (fault?.status) throw faultError(fault.status, fault.retryAfterSeconds)
      user = authenticate(this.ctx, req.headers.authorization)
      if (!user) throw unauthorized()
      if (info.subresource !== 'exec' || info.type?.plural !== 'pods' || info.type.group !== '') {
        throw badRequest('only pods/exec accepts WebSocket upgrades here')
      }
      authorizeRequest(this.ctx, user, info)
      const pod = this.ctx.store.get('pods', info.namespace, info.name ?? '')
      if (!pod) throw notFound('', 'pods', info.name ?? '')
      const containers = podContainers(pod)
      const container =
        info.query.get('container') ||
        (pod.metadata?.annotations?.['kubectl.kubernetes.io/default-container'] ?? '')
      if (container === '' && containers.length > 1) {
        throw badRequest(
          `a container name must be specified for pod ${info.name ?? ''}, choose one of: [${containers.join(' ')}]`
        )
      }
      if (container !== '' && !containers.includes(container)) {
        throw badRequest(`container ${container} is not valid for pod ${info.name ?? ''}`)
      }
      const command = info.query.getAll('command')
      if (command.length === 0) throw badRequest('you must specify at least 1 command')
      const offered = String(req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map(s => s.trim())
      if (!protocols.some(p => offered.includes(p))) {
        throw badRequest(
          `unsupported exec protocols [${offered.join(', ')}]: this server speaks ${protocols.join(', ')}`
        )
      }
      const wants = {
        stdin: ['true', '1'].includes(info.query.get('stdin') ?? ''),
        stdout: info.query.get('stdout') !== 'false' && info.query.get('stdout') !== '0',
        stderr: info.query.get('stderr') !== 'false' && info.query.get('stderr') !== '0'
      }
      this.wss.handleUpgrade(req, socket, head, ws => this.run(ws, pod, command, wants))
    } catch (error) {
      const apiError =
        error instanceof ApiError ? error : new ApiError(500, 'InternalError', String(error))
      status = apiError.code
      refuseUpgrade(socket, apiError)
    } finally {
      this.ctx.requestLog.add({
        method: info.method,
        path: info.path,
        verb: info.verb,
        resource: info.resource,
        group: info.group,
        namespace: info.namespace,
        name: info.name,
        userAgent: info.userAgent,
        status,
        time: new Date(started).toISOString(),
        durationMs: Date.now() - started,
        user: user?.username
      })
    }
  }

  private run(
    ws: WebSocket,
    pod: KubeObject,
    command: string[],
    wants: { stdin: boolean; stdout: boolean; stderr: boolean }
  ): void {
    const v5 = ws.protocol === 'v5.channel.k8s.io'
    const frame = (channel: number, data: Buffer | string): void => {
      if (ws.readyState === ws.OPEN)
        ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]))
    }
    const finish = (status: Record<string, unknown>): void => {
      frame(StatusChannel, JSON.stringify(status))
      if (ws.readyState === ws.OPEN) ws.close(1000)
    }
    const annotations = pod.metadata?.annotations ?? {}
    const allowed = annotations[executablesAnnotation]
    const program = command[0] ?? ''
    const base = program.split('/').pop() ?? program
    // istiod's own binary asks its debug endpoint on localhost, in process
    const istiod = pod.metadata?.labels?.['app'] === 'istiod'
    const rev = pod.metadata?.labels?.['istio.io/rev'] ?? 'default'
    const answer = istiod
      ? pilotDiscoveryRequest(command, this.ctx.istiodDebug, rev === 'default' ? '' : rev)
      : undefined
    if (answer) {
      if (answer.stdout !== '') frame(1, answer.stdout)
      if (answer.stderr !== '') frame(2, answer.stderr)
      finish(
        answer.code === 0
          ? { metadata: {}, status: 'Success' }
          : {
              metadata: {},
              status: 'Failure',
              message: `command terminated with non-zero exit code: exit status ${answer.code}`,
              reason: 'NonZeroExitCode',
              details: { causes: [{ reason: 'ExitCode', message: String(answer.code) }] }
            }
      )
      return
    }
    if (
      (allowed !== undefined &&
        !allowed
          .split(',')
          .map(s => s.trim())
          .includes(base)) ||
      !onPath(program)
    ) {
      finish({
        metadata: {},
        status: 'Failure',
        message: `Internal error occurred: error executing command in container: failed to exec in container: failed to start exec: OCI runtime exec failed: exec failed: unable to start container process: exec: "${program}": executable file not found in $PATH: unknown`,
        reason: 'InternalError',
        details: {
          causes: [{ message: `exec: "${program}": executable file not found in $PATH` }]
        },
        code: 500
      })
      return
    }
    const netns = annotations[netnsAnnotation] ?? this.options.podNetns ?? ''
    const argv = netns !== '' ? ['ip', 'netns', 'exec', netns, ...command] : command
    let child: ChildProcess
    try {
      child = spawn(argv[0] ?? '', argv.slice(1), {
        stdio: [wants.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
        detached: true,
        env: {
          PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
          HOSTNAME: pod.metadata?.name ?? '',
          HOME: '/root',
          LANG: 'C.UTF-8'
        }
      })
    } catch (error) {
      finish({
        metadata: {},
        status: 'Failure',
        message: `Internal error occurred: ${error instanceof Error ? error.message : String(error)}`,
        reason: 'InternalError',
        code: 500
      })
      return
    }
    this.children.add(child)
    const kill = (): void => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
    }
    const timer = setTimeout(kill, this.options.maxDurationMs ?? 600_000)
    child.stdout?.on('data', (d: Buffer) => wants.stdout && frame(1, d))
    child.stderr?.on('data', (d: Buffer) => wants.stderr && frame(2, d))
    child.stdin?.on('error', () => undefined)
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const buf = isBinary ? data : Buffer.from(data.toString('utf8'))
      const channel = buf[0]
      if (channel === 0) child.stdin?.write(buf.subarray(1))
      else if (channel === CloseChannel && v5 && buf[1] === 0) child.stdin?.end()
    })
    ws.on('close', () => kill())
    ws.on('error', () => kill())
    let spawnError: Error | undefined
    child.on('error', err => {
      spawnError = err
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      this.children.delete(child)
      if (spawnError) {
        finish({
          metadata: {},
          status: 'Failure',
          message: `Internal error occurred: ${spawnError.message}`,
          reason: 'InternalError',
          code: 500
        })
      } else if (code === 0) {
        finish({ metadata: {}, status: 'Success' })
      } else {
        const exit = code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)
        finish({
          metadata: {},
          status: 'Failure',
          message: `command terminated with non-zero exit code: exit status ${exit}`,
          reason: 'NonZeroExitCode',
          details: { causes: [{ reason: 'ExitCode', message: String(exit) }] }
        })
      }
    })
  }

  /** Kills every running command and closes open sessions. */
  close(): void {
    for (const child of this.children) {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
    }
    for (const ws of this.wss.clients) ws.terminate()
    this.wss.close()
  }
}

function podContainers(pod: KubeObject): string[] {
  const spec = pod.spec
  if (!isObject(spec) || !Array.isArray(spec.containers)) return []
  return spec.containers.filter(isObject).map(c => String(c.name ?? ''))
}
