// The istiod stand-in's fault switch on loopback: refusing new connections (nothing listens:
// ECONNREFUSED, what the agent words `connect: connection refused`), stalling them (accepted,
// never answered: the client's TLS handshake times out, the agent's `i/o timeout`), both for a
// while only, a stream opened before the fault kept, and close() while refusing or stalling.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { connect } from 'node:tls'
import { createLabCa, type LabCa } from '../../lab/pki.ts'
import { startIstiod, type Istiod } from '../../lab/mesh/istiod.ts'
import { createLocalTokenAuthority } from '../../lab/mesh/tokens.ts'

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

describe('istiod stand-in faults', () => {
  let ca: LabCa
  let istiod: Istiod

  before(async () => {
    ca = await createLabCa()
    istiod = await startIstiod({
      host: '127.0.0.1',
      port: 0,
      ca,
      reviewer: createLocalTokenAuthority().reviewer,
      names: () => ({})
    })
  })
  after(async () => {
    await istiod?.close()
  })

  /** A TLS handshake with istiod: 'ok', 'timeout' or the error code. */
  function handshake(timeoutMs = 800): Promise<string> {
    return new Promise(resolve => {
      const socket = connect({
        host: '127.0.0.1',
        port: istiod.port,
        ca: ca.certPem,
        servername: 'istiod.istio-system.svc',
        timeout: timeoutMs
      })
      socket.on('secureConnect', () => {
        socket.destroy()
        resolve('ok')
      })
      socket.on('timeout', () => {
        socket.destroy()
        resolve('timeout')
      })
      socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message))
    })
  }

  test('stall: accepted, never answered, for a while', async () => {
    assert.equal(await handshake(), 'ok')
    istiod.faults.stallNew(1200)
    assert.equal(istiod.faults.counts().stalling, true)
    assert.equal(await handshake(), 'timeout')
    assert.equal(istiod.faults.counts().stalled, 1)
    await sleep(500)
    assert.equal(await handshake(), 'ok')
  })

  test('refuse: nothing listens for a while; an open connection stays', async () => {
    const open = connect({
      host: '127.0.0.1',
      port: istiod.port,
      ca: ca.certPem,
      servername: 'istiod.istio-system.svc'
    })
    await new Promise<void>((resolve, reject) => {
      open.once('secureConnect', () => resolve())
      open.once('error', reject)
    })
    istiod.faults.refuseNew(400)
    assert.equal(await handshake(), 'ECONNREFUSED')
    assert.equal(open.destroyed, false)
    await sleep(500)
    assert.equal(istiod.faults.counts().refusing, false)
    assert.equal(await handshake(), 'ok')
    open.destroy()
    // clear() listens again at once
    istiod.faults.refuseNew(60_000)
    istiod.faults.clear()
    await sleep(50)
    assert.equal(await handshake(), 'ok')
  })

  test('close() while refusing or stalling ends at once', async () => {
    const other = await startIstiod({
      host: '127.0.0.1',
      port: 0,
      ca,
      reviewer: createLocalTokenAuthority().reviewer,
      names: () => ({})
    })
    other.faults.stallNew(60_000)
    const held = connect({ host: '127.0.0.1', port: other.port, rejectUnauthorized: false })
    held.on('error', () => undefined)
    await sleep(100)
    other.faults.refuseNew(60_000)
    const started = Date.now()
    await other.close()
    assert.ok(Date.now() - started < 1000)
    held.destroy()
  })
})
