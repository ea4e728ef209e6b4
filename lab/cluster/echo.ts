// The echo app: answers with JSON naming method, path, headers and host. In-process (Node) on the
// host, or echo.py as a child process inside a network namespace (the same script runs on VMs).
// Run directly: `node lab/cluster/echo.ts [port]` serves on 127.0.0.1.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const echoScriptPath = fileURLToPath(new URL('./echo.py', import.meta.url))

export interface EchoOptions {
  /** address to bind (default 127.0.0.1; 0.0.0.0 inside a namespace) */
  host?: string
  /** ports to serve (default [0] = one ephemeral port) */
  ports?: number[]
  /** the name it reports as "host" */
  name?: string
  /** run echo.py inside this network namespace */
  netns?: string
  /** run echo.py as a child process even without a namespace */
  python?: boolean
  /** how long to wait for it to listen (default 10 s) */
  startTimeoutMs?: number
}

export interface EchoServer {
  addresses: Array<{ host: string; port: number }>
  /** http://host:port/ of the first address */
  url: string
  close(): Promise<void>
}

/** What the echo app answers. */
export interface EchoReply {
  method: string
  path: string
  headers: Record<string, string>
  host: string
  remote: string
  local: [string, number]
  bodyBytes: number
}

function handler(name: string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    let bytes = 0
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length
    })
    req.on('end', () => {
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(req.headers))
        headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v)
      const reply: EchoReply = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers,
        host: name,
        remote: req.socket.remoteAddress ?? '',
        local: [req.socket.localAddress ?? '', req.socket.localPort ?? 0],
        bodyBytes: bytes
      }
      const data = JSON.stringify(reply) + '\n'
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(data))
      })
      res.end(req.method === 'HEAD' ? undefined : data)
    })
  }
}

function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/`
}

async function startInProcess(host: string, ports: number[], name: string): Promise<EchoServer> {
  const servers: Server[] = []
  try {
    for (const port of ports) {
      const server = createServer(handler(name))
      server.keepAliveTimeout = 1000
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, host, () => resolve())
      })
      servers.push(server)
    }
  } catch (error) {
    for (const s of servers) s.close()
    throw error
  }
  const addresses = servers.map(s => {
    const a = s.address() as AddressInfo
    return { host: a.address, port: a.port }
  })
  return {
    addresses,
    url: urlOf(addresses[0]?.host ?? host, addresses[0]?.port ?? 0),
    close: async () => {
      await Promise.all(
        servers.map(
          s =>
            new Promise<void>(resolve => {
              s.closeAllConnections()
              s.close(() => resolve())
            })
        )
      )
    }
  }
}

async function startChild(
  options: EchoOptions,
  host: string,
  ports: number[],
  name: string
): Promise<EchoServer> {
  const args = [
    echoScriptPath,
    '--host',
    host,
    '--name',
    name,
    ...ports.flatMap(p => ['--port', String(p)])
  ]
  const argv = options.netns
    ? ['ip', 'netns', 'exec', options.netns, 'python3', ...args]
    : ['python3', ...args]
  const child: ChildProcess = spawn(argv[0] ?? '', argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000)
  })
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
    }
  }
  const listening = await new Promise<Array<[string, number]>>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    const timer = setTimeout(
      () => fail(new Error('the echo app did not start listening in time')),
      options.startTimeoutMs ?? 10_000
    )
    const fail = (error: Error): void => {
      clearTimeout(timer)
      lines.close()
      reject(error)
    }
    lines.once('line', line => {
      clearTimeout(timer)
      lines.close()
      try {
        resolve((JSON.parse(line) as { listening: Array<[string, number]> }).listening)
      } catch {
        reject(new Error(`the echo app said something unexpected: ${line}`))
      }
    })
    child.once('exit', code =>
      fail(new Error(`the echo app exited with ${code}: ${stderr.trim()}`))
    )
    child.once('error', err => fail(err))
  }).catch(async (error: unknown) => {
    await stop()
    throw error
  })
  child.stdout?.resume()
  const addresses = listening.map(([h, p]) => ({ host: h, port: p }))
  return { addresses, url: urlOf(addresses[0]?.host ?? host, addresses[0]?.port ?? 0), close: stop }
}

export async function startEcho(options: EchoOptions = {}): Promise<EchoServer> {
  const host = options.host ?? (options.netns ? '0.0.0.0' : '127.0.0.1')
  const ports = options.ports && options.ports.length > 0 ? options.ports : [0]
  const name = options.name ?? hostname()
  if (options.netns || options.python) return startChild(options, host, ports, name)
  return startInProcess(host, ports, name)
}

if (import.meta.main) {
  const port = Number(process.argv[2] ?? 8080)
  const echo = await startEcho({ ports: [port] })
  console.log(JSON.stringify({ listening: echo.addresses.map(a => [a.host, a.port]) }))
}
