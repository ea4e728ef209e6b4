// The east-west gateway's istiod routes when more than one revision is installed: TLS on 15012
// passed through by SNI (Istio's expose-istiod-rev sample routes `istiod-<rev>.<ns>.svc` to that
// revision's istiod), the rest to the default revision. The gateway never terminates TLS, so
// this router only reads the server name of the ClientHello and pipes the bytes.
import { connect, createServer, type Server, type Socket } from 'node:net'

/** Enough for any ClientHello the lab's clients send; more is not a ClientHello we route. */
const HELLO_LIMIT = 16 * 1024
const HELLO_TIMEOUT_MS = 5_000

/**
 * The SNI host name of a TLS ClientHello (RFC 8446 4.1.2, RFC 6066 3). undefined: more bytes are
 * needed; null: a complete hello without one, or not a ClientHello at all.
 */
export function serverNameOf(data: Buffer): string | null | undefined {
  if (data.length < 5) return undefined
  if (data[0] !== 0x16) return null // not a handshake record
  const recordEnd = 5 + data.readUInt16BE(3)
  if (data.length < recordEnd) return undefined
  let at = 5
  if (data[at] !== 0x01) return null // not a ClientHello
  at += 4 + 2 + 32 // handshake header, legacy_version, random
  const skip = (lengthBytes: 1 | 2): boolean => {
    if (at + lengthBytes > recordEnd) return false
    at += lengthBytes + (lengthBytes === 1 ? (data[at] ?? 0) : data.readUInt16BE(at))
    return at <= recordEnd
  }
  // session id, cipher suites, compression methods
  if (!skip(1) || !skip(2) || !skip(1)) return null
  if (at + 2 > recordEnd) return null
  const extensionsEnd = Math.min(recordEnd, at + 2 + data.readUInt16BE(at))
  at += 2
  while (at + 4 <= extensionsEnd) {
    const type = data.readUInt16BE(at)
    const length = data.readUInt16BE(at + 2)
    at += 4
    if (type === 0 && at + 5 <= extensionsEnd) {
      // server_name_list: length, then entries of type (0 = host_name), length, name
      const nameType = data[at + 2]
      const nameLength = data.readUInt16BE(at + 3)
      if (nameType !== 0 || at + 5 + nameLength > extensionsEnd) return null
      return data.subarray(at + 5, at + 5 + nameLength).toString('ascii')
    }
    at += length
  }
  return null
}

export interface SniRoute {
  port: number
  host: string
}

export interface SniRouter {
  close(): Promise<void>
}

/**
 * Listens on `host:port`; each connection goes to `route(serverName)` (null: no server name).
 * Both sides are closed together; a client that sends no ClientHello in time is dropped.
 */
export async function startSniRouter(options: {
  host: string
  port: number
  route: (serverName: string | null) => SniRoute
}): Promise<SniRouter> {
  const open = new Set<Socket>()
  const track = (socket: Socket): void => {
    open.add(socket)
    socket.on('close', () => open.delete(socket))
  }
  const server: Server = createServer(client => {
    track(client)
    let buffered = Buffer.alloc(0)
    const timer = setTimeout(() => client.destroy(), HELLO_TIMEOUT_MS)
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk])
      const name = serverNameOf(buffered)
      if (name === undefined && buffered.length < HELLO_LIMIT) return
      clearTimeout(timer)
      client.off('data', onData)
      client.pause()
      const target = options.route(name ?? null)
      const upstream = connect(target.port, target.host)
      track(upstream)
      upstream.on('connect', () => {
        upstream.write(buffered)
        client.pipe(upstream)
        upstream.pipe(client)
        client.resume()
      })
      const both = (): void => {
        client.destroy()
        upstream.destroy()
      }
      upstream.on('error', both)
      upstream.on('close', both)
      client.on('close', both)
    }
    client.on('data', onData)
    client.on('error', () => client.destroy())
    client.on('close', () => clearTimeout(timer))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => resolve())
  })
  return {
    async close() {
      await new Promise<void>(resolve => {
        server.close(() => resolve())
        for (const socket of open) socket.destroy()
      })
    }
  }
}
