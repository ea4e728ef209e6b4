// The istiod stand-in's WorkloadEntry gate on loopback, as istiod 1.18+ does it
// (pilot/pkg/autoregistration/controller.go, OnConnect): a proxy whose ISTIO_META_WORKLOAD_ENTRY
// names a missing entry is refused its XDS connection; one naming an existing entry connects; an
// entry with health checks enabled must carry the proxy's own service account.
import assert from 'node:assert/strict'
import { request } from 'node:https'
import { after, before, describe, test } from 'node:test'
import { labTestOptions } from '../helpers/lab.ts'
import { createLabCa, type LabCa } from '../../lab/pki.ts'
import { startIstiod, type Istiod, type WorkloadEntryView } from '../../lab/mesh/istiod.ts'
import { createLocalTokenAuthority } from '../../lab/mesh/tokens.ts'

describe('istiod stand-in: the WorkloadEntry gate on XDS', labTestOptions(), () => {
  let ca: LabCa
  let istiod: Istiod
  const entries = new Map<string, WorkloadEntryView>()

  before(async () => {
    ca = await createLabCa()
    istiod = await startIstiod({
      host: '127.0.0.1',
      port: 0,
      ca,
      reviewer: createLocalTokenAuthority().reviewer,
      names: () => ({}),
      heartbeatSeconds: 1,
      findWorkloadEntry: async (namespace, name) => entries.get(`${namespace}/${name}`) ?? null
    })
  })
  after(async () => {
    await istiod.close()
  })

  /** One HTTPS POST; a stream resolves at its first line, and is closed then. */
  function call(
    path: string,
    body: unknown,
    headers: Record<string, string>,
    client?: { cert: string; key: string }
  ): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: istiod.host,
          port: istiod.port,
          method: 'POST',
          path,
          ca: ca.certPem,
          servername: 'istiod.istio-system.svc',
          headers: { 'content-type': 'application/json', ...headers },
          timeout: 5000,
          ...client
        },
        res => {
          let data = ''
          res.on('data', (chunk: Buffer) => {
            data += chunk.toString()
            if (data.includes('\n')) {
              res.destroy()
              resolve({ status: res.statusCode ?? 0, body: data })
            }
          })
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }))
        }
      )
      req.on('timeout', () => req.destroy(new Error('timed out')))
      req.on('error', reject)
      req.end(JSON.stringify(body))
    })
  }

  /** The workload certificate istiod would issue to vm/vm-sa (the stand-in checks only the CA). */
  async function clientCertificate(): Promise<{ cert: string; key: string }> {
    const issued = await ca.issue({
      commonName: 'vm-sa',
      uris: ['spiffe://cluster.local/ns/vm/sa/vm-sa']
    })
    return { cert: issued.certPem, key: issued.keyPem }
  }

  test('refuses a proxy naming a missing entry, accepts it once the entry exists', async () => {
    const client = await clientCertificate()
    const node = { podName: 'vm-1', namespace: 'vm', ip: '198.18.2.2', workloadEntry: 'vm-1' }
    const refused = await call('/v1/connect', { node }, {}, client)
    assert.equal(refused.status, 500)
    assert.match(
      refused.body,
      /proxy metadata indicates that it must correspond to an existing WorkloadEntry, however WorkloadEntry vm\/vm-1 is not found/
    )
    assert.deepEqual(istiod.connectedProxies(), [])
    assert.ok(istiod.events().some(e => e.kind === 'rejected' && /vm\/vm-1/.test(e.detail ?? '')))

    // health checks on: the entry must be the proxy's own (ensureProxyCanControlEntry)
    entries.set('vm/vm-1', { serviceAccount: 'other-sa', healthChecks: true })
    const foreign = await call('/v1/connect', { node }, {}, client)
    assert.equal(foreign.status, 500)
    assert.match(
      (JSON.parse(foreign.body) as { message: string }).message,
      /service account mismatch: "vm-sa" vs "other-sa"/
    )

    entries.set('vm/vm-1', { serviceAccount: 'vm-sa', healthChecks: true })
    const admitted = await call('/v1/connect', { node }, {}, client)
    assert.equal(admitted.status, 200, admitted.body)

    // a proxy that names no entry is not asked about one
    const plain = await call('/v1/connect', { node: { ...node, workloadEntry: '' } }, {}, client)
    assert.equal(plain.status, 200, plain.body)
  })
})
