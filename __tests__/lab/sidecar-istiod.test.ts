// The istiod stand-in's protocol on loopback: certificates only for a token that a TokenReview
// accepts for audience istio-ca and whose service account matches the CSR; names and the
// connection stream only with an issued client certificate; connected proxies listed while
// their stream is open.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request, type RequestOptions } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { X509Certificate } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { labTestOptions } from '../helpers/lab.ts'
import { createLabCa, type LabCa } from '../../lab/pki.ts'
import { startIstiod, type Istiod } from '../../lab/mesh/istiod.ts'
import { createLocalTokenAuthority } from '../../lab/mesh/tokens.ts'

const tokens = createLocalTokenAuthority()

function csr(dir: string, uri: string): { csrPem: string; keyPem: string } {
  const keyPath = join(dir, `key-${Math.random().toString(36).slice(2)}.pem`)
  const out = spawnSync(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyPath,
      '-subj',
      '/O=lab',
      '-addext',
      `subjectAltName=URI:${uri}`
    ],
    { encoding: 'utf8' }
  )
  assert.equal(out.status, 0, out.stderr)
  return { csrPem: out.stdout, keyPem: readFileSync(keyPath, 'utf8') }
}

interface Reply {
  status: number
  body: string
  res: IncomingMessage
  peer: X509Certificate | undefined
}

function call(
  istiod: Istiod,
  ca: LabCa,
  method: string,
  path: string,
  body?: unknown,
  extra: RequestOptions = {},
  firstLineOnly = false
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? '' : JSON.stringify(body)
    const req = request(
      {
        host: istiod.host,
        port: istiod.port,
        method,
        path,
        ca: ca.certPem,
        servername: 'istiod.istio-system.svc',
        headers: { 'content-type': 'application/json' },
        timeout: 5000,
        ...extra
      },
      res => {
        const peer = (res.socket as TLSSocket).getPeerX509Certificate()
        let data = ''
        res.on('data', (chunk: Buffer) => {
          data += chunk.toString()
          if (firstLineOnly && data.includes('\n'))
            resolve({ status: res.statusCode ?? 0, body: data, res, peer })
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data, res, peer }))
      }
    )
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', reject)
    req.end(text)
  })
}

describe('istiod stand-in', labTestOptions(), () => {
  let ca: LabCa
  let istiod: Istiod
  let dir: string
  const identity = 'spiffe://cluster.local/ns/vm/sa/vm-sa'

  before(async () => {
    ca = await createLabCa()
    dir = mkdtempSync(join(tmpdir(), 'mxmesh-istiod-'))
    istiod = await startIstiod({
      host: '127.0.0.1',
      port: 0,
      ca,
      reviewer: tokens.reviewer,
      revision: 'canary',
      names: () => ({ 'echo.sample.svc.cluster.local': '198.19.0.10' }),
      heartbeatSeconds: 1
    })
  })

  after(async () => {
    await istiod.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('its serving certificate names istiod, the revision and the address', async () => {
    const reply = await call(istiod, ca, 'GET', '/ready')
    assert.equal(reply.status, 200)
    const cert = reply.peer
    assert.ok(cert)
    for (const name of ['istiod.istio-system.svc', 'istiod-canary.istio-system.svc']) {
      assert.equal(cert.checkHost(name), name)
    }
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1')
    assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey))
  })

  test('issues a SPIFFE certificate for a valid token and a matching CSR', async () => {
    const token = tokens.mint({ namespace: 'vm', serviceAccount: 'vm-sa' })
    const { csrPem } = csr(dir, identity)
    const reply = await call(
      istiod,
      ca,
      'POST',
      '/v1/certificates',
      { csr: csrPem, node: { podName: 'vm-1' } },
      {
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }
      }
    )
    assert.equal(reply.status, 200, reply.body)
    const chain = (JSON.parse(reply.body) as { certChain: string[] }).certChain
    assert.equal(chain.length, 2)
    assert.equal(chain[1], ca.certPem)
    const leaf = new X509Certificate(chain[0] ?? '')
    assert.equal(leaf.subjectAltName, `URI:${identity}`)
    assert.ok(leaf.verify(new X509Certificate(ca.certPem).publicKey))
    assert.ok(istiod.events().some(e => e.kind === 'certificate-issued' && e.identity === identity))
  })

  test('refuses: no token, an expired token, another audience, another service account', async () => {
    const { csrPem } = csr(dir, identity)
    const cases: Array<[string | undefined, RegExp]> = [
      [undefined, /no bearer token/],
      [
        tokens.mint({ namespace: 'vm', serviceAccount: 'vm-sa', expirationSeconds: -10 }),
        /expired/
      ],
      [tokens.mint({ namespace: 'vm', serviceAccount: 'vm-sa', audiences: ['api'] }), /audiences/],
      [tokens.mint({ namespace: 'vm', serviceAccount: 'other' }), /does not match/],
      ['not-a-token', /invalid bearer token/]
    ]
    for (const [token, reason] of cases) {
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (token) headers['authorization'] = `Bearer ${token}`
      const reply = await call(istiod, ca, 'POST', '/v1/certificates', { csr: csrPem }, { headers })
      assert.equal(reply.status, 401, reply.body)
      const error = JSON.parse(reply.body) as { code: string; message: string }
      assert.equal(error.code, 'Unauthenticated')
      assert.match(error.message, /^authentication failure: /)
      assert.match(error.message, reason)
    }
  })

  test('a valid client certificate authenticates first, whatever the token; an expired one fails like the handshake', async () => {
    const { csrPem } = csr(dir, identity)
    const expiredToken = tokens.mint({
      namespace: 'vm',
      serviceAccount: 'vm-sa',
      expirationSeconds: -10
    })
    const ask = async (validForSeconds: number): Promise<Reply> => {
      const client = await ca.issue({ commonName: 'vm-sa', uris: [identity], validForSeconds })
      return call(
        istiod,
        ca,
        'POST',
        '/v1/certificates',
        { csr: csrPem },
        {
          cert: client.certPem,
          key: client.keyPem,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${expiredToken}` }
        }
      )
    }
    const valid = await ask(3600)
    assert.equal(valid.status, 200, valid.body)
    const expired = await ask(-60)
    assert.equal(expired.status, 503, expired.body)
    assert.match(expired.body, /tls: bad certificate/)
  })

  test('names and the stream need an issued client certificate; the stream lists the proxy', async () => {
    assert.equal((await call(istiod, ca, 'GET', '/v1/names')).status, 401)
    assert.equal((await call(istiod, ca, 'POST', '/v1/connect', { node: {} })).status, 401)
    assert.ok(istiod.events().some(e => e.kind === 'rejected'))

    const token = tokens.mint({ namespace: 'vm', serviceAccount: 'vm-sa' })
    const { csrPem, keyPem } = csr(dir, identity)
    const issued = await call(
      istiod,
      ca,
      'POST',
      '/v1/certificates',
      { csr: csrPem },
      {
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }
      }
    )
    const [leaf] = (JSON.parse(issued.body) as { certChain: string[] }).certChain
    const client = { cert: leaf, key: keyPem }

    // Renewal: the issued certificate authenticates a new CSR for the same identity only.
    const renewal = await call(
      istiod,
      ca,
      'POST',
      '/v1/certificates',
      { csr: csr(dir, identity).csrPem },
      client
    )
    assert.equal(renewal.status, 200, renewal.body)
    const other = csr(dir, 'spiffe://cluster.local/ns/vm/sa/other').csrPem
    assert.equal(
      (await call(istiod, ca, 'POST', '/v1/certificates', { csr: other }, client)).status,
      401
    )

    const names = await call(istiod, ca, 'GET', '/v1/names', undefined, client)
    assert.equal(names.status, 200)
    assert.deepEqual(JSON.parse(names.body), {
      names: { 'echo.sample.svc.cluster.local': '198.19.0.10' }
    })

    const node = { podName: 'vm-1', workloadName: 'vm-app', ip: '198.18.2.2', namespace: 'vm' }
    const stream = await call(istiod, ca, 'POST', '/v1/connect', { node }, client, true)
    try {
      assert.equal(stream.status, 200)
      assert.deepEqual(JSON.parse(stream.body.split('\n')[0] ?? ''), {
        names: { 'echo.sample.svc.cluster.local': '198.19.0.10' }
      })
      const proxy = await istiod.waitForProxy(p => p.podName === 'vm-1', 2000)
      assert.equal(proxy.spiffeId, identity)
      assert.equal(proxy.namespace, 'vm')
      assert.equal(proxy.serviceAccount, 'vm-sa')
      assert.equal(proxy.workloadName, 'vm-app')
      assert.equal(proxy.ip, '198.18.2.2')
    } finally {
      stream.res.destroy()
    }
    const deadline = Date.now() + 3000
    while (istiod.connectedProxies().length > 0 && Date.now() < deadline)
      await new Promise(r => setTimeout(r, 50))
    assert.deepEqual(istiod.connectedProxies(), [])
    assert.ok(istiod.events().some(e => e.kind === 'disconnected' && e.identity === identity))
  })
})
