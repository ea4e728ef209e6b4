// The soak's runner (issue 17): the product's engine in a process of its own, as the CLI or an
// Action step runs it, so that its descriptors and memory are the product's alone and not those of
// the lab's servers (the sandbox API, istiod's stand-in) that the soak's process hosts. Forked by
// ./soak.ts with an IPC channel: it runs `apply`, `verify` and `cleanup` on request and measures
// itself on request. It lives as long as the soak: growth across cycles is what is measured.
import { readdir, readFile, readlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { runInNewContext } from 'node:vm'
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8'
import { connect } from '../../src/cluster/connection.ts'
import { parseDescription } from '../../src/config/index.ts'
import type { RunReport } from '../../src/engine/report.ts'
import { apply, cleanup, verify, type EngineOptions } from '../../src/engine/run.ts'
import { count, type Figure, type Figures } from './growth.ts'

export type RunnerCommand = 'apply' | 'verify' | 'cleanup'

/** What the soak asks of its runner. */
export type RunnerRequest =
  | {
      id: number
      command: RunnerCommand
      /** the description's text (parsed here, as the CLI parses its file) */
      description: string
      kubeconfigPath: string
      owner: string
      env: Record<string, string>
      /** apply checks too (verify always does) */
      verify: boolean
      readyTimeoutSec: number
    }
  | { id: number; command: 'figures' }

export type RunnerReply =
  | { id: number; report: RunReport; lines: string[] }
  | { id: number; figures: Figures }
  | { id: number; error: string }

const commands = { apply, verify, cleanup }

async function answer(request: RunnerRequest): Promise<RunnerReply> {
  if (request.command === 'figures') return { id: request.id, figures: await runnerFigures() }
  const parsed = parseDescription(request.description, 'soak.yaml')
  if (!parsed.ok) return { id: request.id, error: parsed.errors.map(e => e.message).join('; ') }
  const lines: string[] = []
  const options: EngineOptions = {
    owner: request.owner,
    env: request.env,
    log: line => lines.push(line),
    warn: line => lines.push(`warning: ${line}`),
    onSecret: () => undefined,
    verify: request.verify,
    readyTimeoutSec: request.readyTimeoutSec
  }
  // each command opens its connection and closes it at its end, as the CLI's runs do
  const access = () => connect({ kubeconfigPath: request.kubeconfigPath })
  const report = await commands[request.command](parsed.description, access, options)
  return { id: request.id, report, lines }
}

/** A forced collection: the heap figure is then one of live objects, not of when V8 last ran. */
let gc: (() => void) | undefined
function collect(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc')
    gc = runInNewContext('gc') as () => void
  }
  gc()
}

/** The address of a /proc/net/tcp entry (`0100007F:1F90`), as `127.0.0.1:8080`. */
export function procAddress(hex: string): string {
  const [ip = '', port = '0'] = hex.split(':')
  const p = parseInt(port, 16)
  // an ephemeral port differs every time: the other end is what names the connection
  const shownPort = p >= 32768 ? '*' : String(p)
  if (ip.length === 8)
    return `${[6, 4, 2, 0].map(i => parseInt(ip.slice(i, i + 2), 16)).join('.')}:${shownPort}`
  return `[${ip}]:${shownPort}`
}

const TCP_STATES: Record<string, string> = {
  '01': 'ESTABLISHED',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '0A': 'LISTEN'
}

/** inode → `tcp LOCAL REMOTE STATE` for this process's TCP sockets. */
async function tcpSockets(): Promise<Map<string, string>> {
  const byInode = new Map<string, string>()
  for (const file of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '')
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10) continue
      const state = TCP_STATES[f[3] ?? ''] ?? `state ${f[3]}`
      byInode.set(f[9] ?? '', `tcp ${procAddress(f[1] ?? '')} ${procAddress(f[2] ?? '')} ${state}`)
    }
  }
  return byInode
}

export async function runnerFigures(): Promise<Figures> {
  const fds = await readdir('/proc/self/fd')
  const sockets = await tcpSockets()
  const targets = await Promise.all(
    fds.map(fd =>
      readlink(`/proc/self/fd/${fd}`).then(
        // socket:[1234] and pipe:[99] differ every time: what the socket joins, or the kind
        t => sockets.get(/^socket:\[(\d+)\]$/.exec(t)?.[1] ?? '') ?? t.replace(/:\[\d+\]$/, ''),
        () => 'closed while read'
      )
    )
  )
  const children: string[] = []
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
    const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat)
    if (m && Number(m[2]) === process.pid) children.push(m[1] ?? '')
  }
  collect()
  const memory = process.memoryUsage()
  const space = (name: string): Figure => ({
    value: getHeapSpaceStatistics().find(x => x.space_name === name)?.space_used_size ?? 0,
    kind: 'context'
  })
  return {
    'runner: open file descriptors': count(targets),
    'runner: active handles': count(process.getActiveResourcesInfo()),
    'runner: child processes': count(children),
    'runner: temporary files': count(await readdir(tmpdir()).catch(() => [] as string[])),
    'runner: RSS (bytes)': { value: memory.rss, kind: 'bytes' },
    'runner: heap used after GC (bytes)': { value: memory.heapUsed, kind: 'bytes' },
    // Buffers and native objects held from JavaScript: live memory outside the V8 heap
    'runner: external after GC (bytes)': { value: memory.external, kind: 'bytes' },
    // where the heap is: compiled code grows as V8 optimises more, objects in old space
    'runner: V8 old space (bytes)': space('old_space'),
    'runner: V8 code space (bytes)': space('code_space'),
    // what the RSS is made of, to tell a leak from an allocator that keeps freed pages: the
    // heap V8 has committed (used or not), and the resident pages that are anonymous (malloc,
    // V8, OpenSSL) or mapped from files (the node binary and libraries, touched once)
    'runner: V8 heap committed (bytes)': { value: memory.heapTotal, kind: 'context' },
    ...(await residentKinds())
  }
}

/** RssAnon and RssFile of /proc/self/status, as context figures (none where it is missing). */
async function residentKinds(): Promise<Figures> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '')
  const kib = (field: string): number | undefined => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)
    return m ? Number(m[1]) * 1024 : undefined
  }
  const out: Figures = {}
  const anon = kib('RssAnon')
  const file = kib('RssFile')
  if (anon !== undefined) out['runner: RSS anonymous (bytes)'] = { value: anon, kind: 'context' }
  if (file !== undefined) out['runner: RSS file-backed (bytes)'] = { value: file, kind: 'context' }
  return out
}

// Started by the soak (marked, with an IPC channel): answer until the channel closes.
export const RUNNER_MARK = 'MX_SOAK_RUNNER'
if (process.send && process.env[RUNNER_MARK] === '1') {
  const send = process.send.bind(process)
  process.on('message', (request: RunnerRequest) => {
    answer(request).then(
      reply => send(reply),
      (error: unknown) =>
        send({ id: request.id, error: error instanceof Error ? error.message : String(error) })
    )
  })
  process.on('disconnect', () => process.exit(0))
}
