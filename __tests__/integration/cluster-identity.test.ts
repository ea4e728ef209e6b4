// Identity and registration against the sandbox API: TokenRequest (audience istio-ca, duration),
// masking before use, the token in no log; the root certificate; manual WorkloadEntries applied
// once; the bounded wait for an auto-registered entry; sweep of old owners.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import {
  apply,
  cleanup,
  ClusterError,
  desiredObjects,
  discover,
  managedSelector,
  mintToken,
  plan,
  registerWorkloadEntries,
  rootCert,
  sweep,
  waitForAutoRegistration,
  type Discovery
} from '../../src/cluster/index.ts'
import type { SandboxCluster } from '../../lab/cluster/index.ts'
import { BASIC, connectTo, describe_, sandbox, type Connected } from './cluster-helpers.ts'

function jwtClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<
    string,
    unknown
  >
}

describe('identity, registration, sweep', () => {
  let sb: SandboxCluster
  let c: Connected
  let discovery: Discovery
  const description = describe_(BASIC)
  const own = { owner: 'run-7', createdAt: new Date().toISOString() }

  before(async () => {
    sb = await sandbox()
    c = await connectTo(sb.kubeconfig)
    discovery = await discover(c.connection.client, description.cluster)
    await apply(
      c.connection.client,
      await plan(c.connection.client, desiredObjects(description, discovery, own))
    )
  })
  after(async () => {
    await c?.connection.close()
    await sb?.close()
  })

  test('a token for the group service account, audience istio-ca, masked first, in no log', async () => {
    const masked: string[] = []
    const token = await mintToken(c.connection.client, 'vm', 'mysql', {
      seconds: 1800,
      onSecret: value => masked.push(value)
    })
    assert.deepEqual(masked, [token])
    const review = sb.reviewToken(token, ['istio-ca'])
    assert.equal(review.authenticated, true)
    assert.equal(review.user?.username, 'system:serviceaccount:vm:mysql')
    const claims = jwtClaims(token)
    assert.equal(Number(claims.exp) - Number(claims.iat), 1800)
    assert.deepEqual(claims.aud, ['istio-ca'])
    // default: one hour
    const hour = jwtClaims(await mintToken(c.connection.client, 'vm', 'mysql'))
    assert.equal(Number(hour.exp) - Number(hour.iat), 3600)
    assert.ok(!JSON.stringify(sb.requestLog.entries).includes(token), 'token in the request log')
    assert.ok(!c.logs.join('\n').includes(token), 'token in our log')
  })

  test('a missing service account is named', async () => {
    await assert.rejects(
      mintToken(c.connection.client, 'vm', 'nobody'),
      /could not create a token under service account nobody in namespace vm/
    )
  })

  test('the root certificate comes byte for byte from istio-ca-root-cert of the workload namespace', async () => {
    assert.equal(await rootCert(c.connection.client, 'vm'), sb.ca.certPem)
    await assert.rejects(
      rootCert(c.connection.client, 'no-such-ns'),
      /configmap istio-ca-root-cert was not found in namespace no-such-ns/
    )
  })

  test('manual WorkloadEntries for addresses found later; registering again writes nothing', async () => {
    const extra = describe_(BASIC.replace('    address: 198.18.2.3\n', ''))
    const addresses = new Map([['mysql-2', '198.18.2.33']])
    const first = await registerWorkloadEntries(
      c.connection.client,
      extra,
      discovery,
      own,
      addresses
    )
    assert.deepEqual(
      first.written.map(e => e.name),
      ['mysql-2']
    )
    assert.equal(
      (sb.store.get('workloadentries', 'vm', 'mysql-2')?.spec as { address: string }).address,
      '198.18.2.33'
    )
    sb.requestLog.clear()
    const second = await registerWorkloadEntries(
      c.connection.client,
      extra,
      discovery,
      own,
      addresses
    )
    assert.equal(second.written.length, 0)
    assert.equal(sb.requestLog.count({ verb: 'patch' }), 0)
  })

  test('auto-registration: the wait ends when istiod creates the entry', async () => {
    const timer = setTimeout(() => {
      sb.store.put({
        apiVersion: 'networking.istio.io/v1',
        kind: 'WorkloadEntry',
        metadata: {
          name: 'web-198.18.2.4',
          namespace: 'vm',
          annotations: { 'istio.io/autoRegistrationGroup': 'web' }
        },
        spec: { address: '198.18.2.4', serviceAccount: 'web', labels: { app: 'web' } }
      })
    }, 150)
    try {
      const entry = await waitForAutoRegistration(c.connection.client, {
        namespace: 'vm',
        group: 'web',
        address: '198.18.2.4',
        apiVersion: 'networking.istio.io/v1',
        timeoutMs: 5000,
        intervalMs: 50
      })
      assert.equal(entry.metadata.name, 'web-198.18.2.4')
    } finally {
      clearTimeout(timer)
    }
  })

  test('auto-registration: the wait is bounded', async () => {
    sb.requestLog.clear()
    const started = Date.now()
    await assert.rejects(
      waitForAutoRegistration(c.connection.client, {
        namespace: 'vm',
        group: 'web',
        address: '198.18.2.99',
        apiVersion: 'networking.istio.io/v1',
        timeoutMs: 300,
        intervalMs: 50
      }),
      (e: unknown) =>
        e instanceof ClusterError &&
        e.kind === 'timeout' &&
        /no WorkloadEntry for 198\.18\.2\.99/.test(e.message)
    )
    assert.ok(Date.now() - started < 2000)
    assert.ok(sb.requestLog.count({ resource: 'workloadentries' }) <= 8)
  })

  test('cleanup also removes the entries istiod created for our groups, and keeps a namespace others use', async () => {
    sb.store.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'someone-elses', namespace: 'vm' },
      data: {}
    })
    const result = await cleanup(c.connection.client, 'run-7')
    assert.ok(result.deleted.some(r => r.name === 'web-198.18.2.4'))
    assert.deepEqual(
      result.kept.map(k => k.ref.name),
      ['vm']
    )
    assert.match(result.kept[0]?.reason ?? '', /ConfigMap someone-elses/)
    assert.equal(sb.store.list('workloadentries', 'vm').length, 0)
    for (const plural of [
      'serviceaccounts',
      'workloadgroups',
      'serviceentries',
      'services',
      'gateways',
      'virtualservices'
    ]) {
      assert.equal(
        sb.store.list(plural, undefined, { labelSelector: managedSelector() }).length,
        0,
        plural
      )
    }
    sb.store.remove(
      sb.store.types.find(t => t.plural === 'configmaps')!,
      'vm',
      'someone-elses'
    )
    const again = await cleanup(c.connection.client, 'run-7')
    assert.deepEqual(
      again.deleted.map(r => `${r.kind}/${r.name}`),
      ['Namespace/vm']
    )
  })

  test('sweep removes owners older than the age, and only those', async () => {
    const day = 86_400_000
    const now = Date.parse('2026-11-23T12:00:00Z')
    const old = describe_(BASIC.replaceAll('namespace: vm', 'namespace: pr-1'))
    const fresh = describe_(BASIC.replaceAll('namespace: vm', 'namespace: pr-2'))
    const d = { ...discovery, istiodExposed: true }
    for (const [desc, owner, at] of [
      [old, 'pr-1', now - 3 * day],
      [fresh, 'pr-2', now - 3_600_000]
    ] as const) {
      await apply(
        c.connection.client,
        await plan(
          c.connection.client,
          desiredObjects(desc, d, { owner, createdAt: new Date(at).toISOString() })
        )
      )
    }
    const swept = await sweep(c.connection.client, 86_400, { now })
    assert.deepEqual(
      swept.map(s => s.owner),
      ['pr-1']
    )
    assert.equal(
      sb.store.list('workloadgroups', undefined, { labelSelector: managedSelector('pr-1') }).length,
      0
    )
    assert.equal(sb.store.get('namespaces', undefined, 'pr-1'), undefined)
    assert.equal(
      sb.store.list('workloadgroups', undefined, { labelSelector: managedSelector('pr-2') }).length,
      2
    )
    await cleanup(c.connection.client, 'pr-2')
    for (const plural of [
      'namespaces',
      'serviceaccounts',
      'workloadgroups',
      'workloadentries',
      'serviceentries',
      'services'
    ]) {
      assert.equal(
        sb.store.list(plural, undefined, { labelSelector: managedSelector() }).length,
        0,
        plural
      )
    }
  })
})
