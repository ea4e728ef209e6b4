// The Secret istio.<sa> Citadel writes before Istio 1.5: waited for (bounded), decoded, the key
// handed to onSecret; errors for a secret that never comes and for one missing a key.
import assert from 'node:assert/strict'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { describe, test } from 'node:test'
import { legacyCertificates, pollUntil } from '../../src/cluster/legacy/certificates.ts'
import type { ClusterClient } from '../../src/cluster/types.ts'
import type { SandboxCluster, SandboxClusterOptions } from '../../lab/cluster/index.ts'
import { withSandbox } from './cluster-helpers.ts'

function withCluster(
  options: SandboxClusterOptions,
  fn: (sb: SandboxCluster, client: ClusterClient) => Promise<void>
): Promise<void> {
  return withSandbox({ istioVersion: '0.8.0', ...options }, fn)
}

const b64 = (s: string): string => Buffer.from(s).toString('base64')

describe('legacy certificates', () => {
  for (const version of ['0.8.0', '1.1.0', '1.4.0']) {
    test(`${version}: a new service account's secret, signed by the cluster CA with its SPIFFE URI`, async () => {
      await withCluster({ istioVersion: version }, async (sb, client) => {
        // the engine creates the account first; Citadel writes the secret a moment later
        await client.apply({
          apiVersion: 'v1',
          kind: 'ServiceAccount',
          metadata: { name: 'mysql', namespace: 'sample' }
        })
        const secrets: string[] = []
        const certs = await legacyCertificates(client, {
          namespace: 'sample',
          serviceAccount: 'mysql',
          timeoutMs: 5000,
          onSecret: v => secrets.push(v)
        })
        assert.equal(certs.secret, 'istio.mysql')
        assert.equal(certs.rootCert, sb.ca.certPem)
        const leaf = new X509Certificate(certs.certChain)
        assert.ok(leaf.verify(new X509Certificate(sb.ca.certPem).publicKey))
        assert.match(
          leaf.subjectAltName ?? '',
          /URI:spiffe:\/\/cluster\.local\/ns\/sample\/sa\/mysql/
        )
        assert.ok(leaf.checkPrivateKey(createPrivateKey(certs.key)))
        assert.deepEqual(secrets, [certs.key])
      })
    })
  }

  test('an existing account (default) and a trust domain of the cluster', async () => {
    await withCluster({ trustDomain: 'example.org' }, async (_sb, client) => {
      const certs = await legacyCertificates(client, {
        namespace: 'sample',
        serviceAccount: 'default'
      })
      assert.match(
        new X509Certificate(certs.certChain).subjectAltName ?? '',
        /URI:spiffe:\/\/example\.org\/ns\/sample\/sa\/default/
      )
    })
  })

  test('another prefix (ISTIO_SECRET_PREFIX)', async () => {
    await withCluster({}, async (sb, client) => {
      const chain = await legacyCertificates(client, {
        namespace: 'sample',
        serviceAccount: 'echo'
      })
      sb.store.put({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'custom.echo', namespace: 'sample' },
        data: {
          'root-cert.pem': b64(chain.rootCert),
          'cert-chain.pem': b64(chain.certChain),
          'key.pem': b64(chain.key)
        }
      })
      const certs = await legacyCertificates(client, {
        namespace: 'sample',
        serviceAccount: 'echo',
        prefix: 'custom.',
        timeoutMs: 500
      })
      assert.equal(certs.secret, 'custom.echo')
      assert.equal(certs.certChain, chain.certChain)
    })
  })

  test('no Citadel (1.5+): the wait is bounded and the error names the secret and Citadel', async () => {
    await withCluster({ istioVersion: '1.30.3' }, async (_sb, client) => {
      const started = Date.now()
      const secrets: string[] = []
      await assert.rejects(
        legacyCertificates(client, {
          namespace: 'sample',
          serviceAccount: 'echo',
          timeoutMs: 400,
          onSecret: v => secrets.push(v)
        }),
        /secret istio\.echo did not appear in namespace sample within 400 ms: Citadel writes it .*is Citadel/
      )
      assert.ok(Date.now() - started < 3000)
      assert.deepEqual(secrets, [])
    })
  })

  test('a service account that does not exist: Citadel writes nothing, the error says so', async () => {
    await withCluster({}, async (_sb, client) => {
      await assert.rejects(
        legacyCertificates(client, {
          namespace: 'sample',
          serviceAccount: 'nobody',
          timeoutMs: 300
        }),
        /istio\.nobody.*does the service account exist/
      )
    })
  })

  test('a secret missing key.pem: the error names the key, never the content', async () => {
    await withCluster({}, async (sb, client) => {
      const ok = sb.store.get('secrets', 'sample', 'istio.echo')
      assert.ok(ok)
      const data = ok.data as Record<string, string>
      delete data['key.pem']
      sb.store.put(ok)
      const secrets: string[] = []
      await assert.rejects(
        legacyCertificates(client, {
          namespace: 'sample',
          serviceAccount: 'echo',
          timeoutMs: 300,
          onSecret: v => secrets.push(v)
        }),
        (error: Error) => {
          assert.match(error.message, /secret sample\/istio\.echo has no key\.pem/)
          assert.doesNotMatch(error.message, /BEGIN/)
          return true
        }
      )
      assert.deepEqual(secrets, [])
    })
  })

  test('pollUntil is bounded by time and count', async () => {
    let calls = 0
    const started = Date.now()
    const value = await pollUntil(
      async () => {
        calls++
        return undefined
      },
      { timeoutMs: 200, intervalMs: 50 }
    )
    assert.equal(value, undefined)
    assert.ok(calls >= 2 && calls <= 6, `calls ${calls}`)
    assert.ok(Date.now() - started < 1000)
  })
})
