// The lab's east-west gateway for two revisions: real TLS ClientHellos from Node's TLS client,
// routed by their server name to the revision's backend, the rest to the default one.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { after, before, describe, test } from 'node:test'
import { serverNameOf, startSniRouter, type SniRouter } from '../../lab/mesh/sniRouter.ts'

/** A backend that keeps the first bytes of each connection it gets, then closes it. */
async function backend(): Promise<{ server: Server; port: number; hellos: Buffer[] }> {
  const hellos: Buffer[] = []
  const server = createServer(socket => {
    socket.once('data', chunk => {
      hellos.push(chunk)
      socket.destroy()
    })
    socket.on('error', () => undefined)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, port: (server.address() as AddressInfo).port, hellos }
}

/** Starts a TLS handshake through the router; the backend closes it, so it ends in an error. */
async function hello(port: number, servername?: string): Promise<void> {
  const socket = tlsConnect({
    host: '127.0.0.1',
    port,
    ...(servername !== undefined ? { servername } : {}),
    rejectUnauthorized: false
  })
  await new Promise<void>(resolve => {
    socket.on('error', () => resolve())
    socket.on('close', () => resolve())
  })
}

describe('lab east-west gateway: istiod by SNI', () => {
  let defaultBackend: Awaited<ReturnType<typeof backend>>
  let canaryBackend: Awaited<ReturnType<typeof backend>>
  let router: SniRouter
  let port = 0

  before(async () => {
    defaultBackend = await backend()
    canaryBackend = await backend()
    const probe = createServer()
    probe.listen(0, '127.0.0.1')
    await once(probe, 'listening')
    port = (probe.address() as AddressInfo).port
    probe.close()
    router = await startSniRouter({
      host: '127.0.0.1',
      port,
      route: name => ({
        host: '127.0.0.1',
        port: name === 'istiod-canary.istio-system.svc' ? canaryBackend.port : defaultBackend.port
      })
    })
  })
  after(async () => {
    await router.close()
    defaultBackend.server.close()
    canaryBackend.server.close()
  })

  test("the revision's istiod name goes to its backend, the ClientHello unchanged", async () => {
    await hello(port, 'istiod-canary.istio-system.svc')
    assert.equal(canaryBackend.hellos.length, 1)
    assert.equal(defaultBackend.hellos.length, 0)
    const first = canaryBackend.hellos[0] ?? Buffer.alloc(0)
    assert.equal(serverNameOf(first), 'istiod-canary.istio-system.svc')
  })

  test('another name, and a hello without one (a client dialing an IP), go to the default', async () => {
    await hello(port, 'istiod.istio-system.svc')
    await hello(port)
    assert.equal(defaultBackend.hellos.length, 2)
    assert.equal(
      serverNameOf(defaultBackend.hellos[0] ?? Buffer.alloc(0)),
      'istiod.istio-system.svc'
    )
    assert.equal(serverNameOf(defaultBackend.hellos[1] ?? Buffer.alloc(0)), null)
    assert.equal(canaryBackend.hellos.length, 1)
  })

  test('serverNameOf: a partial record needs more bytes; not TLS is null', () => {
    const first = canaryBackend.hellos[0] ?? Buffer.alloc(0)
    assert.equal(serverNameOf(first.subarray(0, 3)), undefined)
    assert.equal(serverNameOf(first.subarray(0, first.length - 1)), undefined)
    assert.equal(serverNameOf(Buffer.from('GET / HTTP/1.1\r\n\r\n')), null)
  })
})
