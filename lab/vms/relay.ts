// A delaying TCP relay that emulates network latency in user space (the kernel here has no
// netem): each chunk is forwarded after `delayMs` in each direction, in order. Run as a
// detached process by the lab: `node relay.ts CONFIG.json`; it serves until killed.
import { readFileSync } from 'node:fs'
import { createServer, connect, type Socket } from 'node:net'

export interface RelayRoute {
  listenHost: string
  listenPort: number
  targetHost: string
  targetPort: number
}

export interface RelayConfig {
  /** One-way delay added to every chunk (half the round-trip latency). */
  delayMs: number
  routes: RelayRoute[]
}

function pipeDelayed(from: Socket, to: Socket, delayMs: number): void {
  let ended = false
  // Timers of one duration fire in the order they were set, which keeps the stream in order.
  from.on('data', (chunk: Buffer) => {
    setTimeout(() => {
      if (!to.destroyed) to.write(chunk)
    }, delayMs)
  })
  from.on('end', () => {
    if (ended) return
    ended = true
    setTimeout(() => to.end(), delayMs)
  })
  from.on('error', () => to.destroy())
  from.on('close', () => setTimeout(() => to.destroy(), delayMs + 10))
}

export function startRelay(config: RelayConfig): Promise<() => Promise<void>> {
  const servers = config.routes.map(route =>
    createServer(client => {
      const upstream = connect({ host: route.targetHost, port: route.targetPort })
      pipeDelayed(client, upstream, config.delayMs)
      pipeDelayed(upstream, client, config.delayMs)
    })
  )
  return Promise.all(
    servers.map(
      (s, i) =>
        new Promise<void>((resolve, reject) => {
          const r = config.routes[i]!
          s.once('error', reject)
          s.listen(r.listenPort, r.listenHost, () => resolve())
        })
    )
  ).then(
    () => () =>
      Promise.all(servers.map(s => new Promise<void>(r => s.close(() => r())))).then(() => {})
  )
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = process.argv[2]
  if (path === undefined) {
    console.error('usage: relay.ts CONFIG.json')
    process.exit(2)
  }
  const config = JSON.parse(readFileSync(path, 'utf8')) as RelayConfig
  startRelay(config).then(
    () => console.log(`relay: ${config.routes.length} routes, ${config.delayMs} ms each way`),
    (e: Error) => {
      console.error(`relay: ${e.message}`)
      process.exit(1)
    }
  )
}
