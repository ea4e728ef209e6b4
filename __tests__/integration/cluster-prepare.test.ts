// Preparation against the sandbox API: plan writes nothing, apply creates every object once,
// a second apply makes zero writes (the request log proves it), cleanup leaves nothing managed.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import {
  apply,
  cleanup,
  desiredObjects,
  discover,
  managedSelector,
  plan,
  prepareCluster,
  renderDiscovery,
  renderPlan,
  serviceAccountObject,
  type Discovery
} from '../../src/cluster/index.ts'
import type { SandboxCluster } from '../../lab/cluster/index.ts'
import {
  BASIC,
  connectTo,
  describe_,
  sandbox,
  type Connected,
  writeCount
} from './cluster-helpers.ts'
import { peakInFlight, sequentialRounds, spansOf } from '../helpers/requestSpans.ts'

const writes = writeCount

describe('preparation: plan, apply, apply again, cleanup', () => {
  let sb: SandboxCluster
  let c: Connected
  let discovery: Discovery
  const description = describe_(BASIC)
  const own = { owner: 'run-42', createdAt: '2026-11-23T10:00:00Z' }

  before(async () => {
    sb = await sandbox()
    c = await connectTo(sb.kubeconfig)
    discovery = await discover(c.connection.client, description.cluster)
  })
  after(async () => {
    await c?.connection.close()
    await sb?.close()
  })

  test('plan computes every object and writes nothing', async () => {
    sb.requestLog.clear()
    const desired = desiredObjects(description, discovery, own)
    const p = await plan(c.connection.client, desired)
    assert.equal(writes(sb), 0)
    const kinds = p.entries.map(e => `${e.kind}/${e.name}:${e.action}`)
    assert.deepEqual(kinds, [
      'Namespace/vm:create',
      'ServiceAccount/mysql:create',
      'ServiceAccount/web:create',
      'WorkloadGroup/mysql:create',
      'WorkloadGroup/web:create',
      'Gateway/istiod-gateway:create',
      'VirtualService/istiod-vs:create',
      'ServiceEntry/mysql:create',
      'Service/web:create',
      'WorkloadEntry/mysql-1:create',
      'WorkloadEntry/mysql-2:create'
    ])
    const text = renderPlan(p)
    assert.match(text, /\+ WorkloadGroup vm\/mysql: create/)
    assert.match(
      text,
      /\+ spec.template.ports: {"tcp-mysql":3306}|\+ spec.template.ports.tcp-mysql: 3306/
    )
    assert.match(text, /11 to create, 0 to update, 0 unchanged/)
  })

  test('apply writes each object once; every object is labelled and annotated', async () => {
    sb.requestLog.clear()
    const p = await plan(c.connection.client, desiredObjects(description, discovery, own))
    const result = await apply(c.connection.client, p)
    assert.equal(result.written.length, 11)
    assert.equal(sb.requestLog.count({ verb: 'patch' }), 11)
    for (const e of sb.requestLog.filter({ verb: 'patch' }))
      assert.match(e.path, /fieldManager=mesh-expansion/)
    const wg = sb.store.get('workloadgroups', 'vm', 'mysql')
    assert.equal(wg?.metadata?.labels?.['app.kubernetes.io/managed-by'], 'mesh-expansion')
    assert.equal(wg?.metadata?.labels?.['mesh-expansion.io/owner'], 'run-42')
    assert.equal(wg?.metadata?.annotations?.['mesh-expansion.io/created-at'], own.createdAt)
    const we = sb.store.get('workloadentries', 'vm', 'mysql-1')
    assert.equal(we?.metadata?.annotations?.['proxy.istio.io/health-checks-enabled'], 'true')
    assert.equal((we?.spec as { address?: string }).address, '198.18.2.2')
    const vs = sb.store.get('virtualservices', 'istio-system', 'istiod-vs')
    assert.ok(vs, 'the istiod VirtualService exists')
  })

  test('a second apply (a new run time) makes zero writes', async () => {
    sb.requestLog.clear()
    const later = { owner: 'run-42', createdAt: '2026-11-23T11:00:00Z' }
    const again = await discover(c.connection.client, description.cluster)
    const p = await plan(c.connection.client, desiredObjects(description, again, later))
    assert.deepEqual(
      p.entries
        .filter(e => e.action !== 'unchanged')
        .map(e => `${e.kind}/${e.name}:${e.action}:${e.diff}`),
      []
    )
    const result = await apply(c.connection.client, p)
    assert.equal(result.written.length, 0)
    assert.equal(writes(sb), 0)
    assert.ok(sb.requestLog.count() > 0, 'it did read')
  })

  test('a changed port is an update of that object only, and keeps created-at', async () => {
    const changed = describe_(BASIC.replace('tcp-mysql: 3306}', 'tcp-mysql: 3307}'))
    const p = await plan(
      c.connection.client,
      desiredObjects(changed, discovery, { owner: 'run-42', createdAt: 'later' })
    )
    const updates = p.entries.filter(e => e.action === 'update')
    assert.deepEqual(
      updates.map(e => `${e.kind}/${e.name}`),
      [
        'WorkloadGroup/mysql',
        'ServiceEntry/mysql',
        'WorkloadEntry/mysql-1',
        'WorkloadEntry/mysql-2'
      ]
    )
    assert.match(updates[0]?.diff ?? '', /~ spec.template.ports.tcp-mysql: 3306 -> 3307/)
    sb.requestLog.clear()
    await apply(c.connection.client, p)
    assert.equal(writes(sb), 4)
    const wg = sb.store.get('workloadgroups', 'vm', 'mysql')
    assert.equal(wg?.metadata?.annotations?.['mesh-expansion.io/created-at'], own.createdAt)
  })

  test('cleanup deletes everything of the owner in dependency order; a second cleanup deletes nothing', async () => {
    sb.requestLog.clear()
    const result = await cleanup(c.connection.client, 'run-42')
    assert.equal(result.deleted.length, 11)
    const order = sb.requestLog.filter({ verb: 'delete' }).map(e => e.resource)
    const first = (r: string): number => order.indexOf(r)
    assert.ok(first('workloadentries') < first('workloadgroups'))
    assert.ok(first('serviceentries') < first('workloadgroups'))
    assert.ok(first('workloadgroups') < first('serviceaccounts'))
    assert.ok(first('serviceaccounts') < first('namespaces'))
    assert.equal(order.at(-1), 'namespaces')
    for (const plural of [
      'namespaces',
      'serviceaccounts',
      'workloadgroups',
      'workloadentries',
      'serviceentries',
      'services',
      'gateways',
      'virtualservices'
    ]) {
      const left = sb.store.list(plural, undefined, { labelSelector: managedSelector() })
      assert.equal(left.length, 0, `${plural} left`)
    }
    const second = await cleanup(c.connection.client, 'run-42')
    assert.equal(second.deleted.length, 0)
  })
})

describe('preparation on an older, revisioned cluster serving only v1beta1', () => {
  test('objects at v1beta1, a revision-aware istiod exposure, 0 writes the second time, 0 left after cleanup', async () => {
    const sb = await sandbox({
      istioVersion: '1.20.8',
      istioNetworkingVersions: ['v1beta1'],
      revision: '1-20',
      istioNamespace: 'istio-mesh'
    })
    const c = await connectTo(sb.kubeconfig)
    try {
      const description = describe_(
        BASIC.replace('  exposeIstiod: true', '  exposeIstiod: true\n  istioNamespace: istio-mesh')
      )
      const discovery = await discover(c.connection.client, description.cluster)
      assert.equal(discovery.networkingVersion, 'v1beta1')
      assert.equal(discovery.revision, '1-20')
      const own = { owner: 'pr-5', createdAt: '2026-11-23T10:00:00Z' }
      await apply(
        c.connection.client,
        await plan(c.connection.client, desiredObjects(description, discovery, own))
      )
      assert.ok(sb.store.get('workloadgroups', 'vm', 'mysql'))
      const vs = sb.store.get('virtualservices', 'istio-mesh', 'istiod-vs-1-20')
      const host = (vs?.spec as { tls: { route: { destination: { host: string } }[] }[] }).tls[0]
        ?.route[0]?.destination.host
      assert.equal(host, 'istiod-1-20.istio-mesh.svc.cluster.local')
      sb.requestLog.clear()
      await apply(
        c.connection.client,
        await plan(c.connection.client, desiredObjects(description, discovery, own))
      )
      assert.equal(writes(sb), 0)
      await cleanup(c.connection.client, 'pr-5')
      for (const plural of [
        'namespaces',
        'serviceaccounts',
        'workloadgroups',
        'workloadentries',
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
    } finally {
      await c.connection.close()
      await sb.close()
    }
  })
})

describe('prepareCluster', () => {
  test('a dry run plans and writes nothing; a real run applies; the token of the kubeconfig is in no log', async () => {
    const sb = await sandbox()
    const c = await connectTo(sb.kubeconfig)
    const lines: string[] = []
    try {
      const description = describe_(BASIC)
      const dry = await prepareCluster(c.connection.client, description, {
        owner: 'cli',
        dryRun: true,
        log: l => lines.push(l)
      })
      assert.equal(dry.applied, null)
      assert.equal(writes(sb), 0)
      assert.match(
        renderDiscovery(dry.discovery).join('\n'),
        /east-west gateway istio-system\/istio-eastwestgateway: 198\.18\.0\.2/
      )
      const real = await prepareCluster(c.connection.client, description, {
        owner: 'cli',
        addresses: new Map([['mysql-1', '198.18.2.12']]),
        log: l => lines.push(l)
      })
      assert.equal(real.applied?.written.length, dry.plan.entries.length)
      assert.equal(
        (sb.store.get('workloadentries', 'vm', 'mysql-1')?.spec as { address: string }).address,
        '198.18.2.12'
      )
      assert.ok(lines.includes('created WorkloadGroup vm/mysql'), lines.join('\n'))
      assert.ok(!lines.join('\n').includes(sb.adminToken))
      assert.ok(c.secrets.includes(sb.adminToken))
    } finally {
      await c.connection.close()
      await sb.close()
    }
  })
})

describe('bounded parallelism', () => {
  test('plan of 48 objects keeps at most 16 requests in flight', async () => {
    const sb = await sandbox()
    const c = await connectTo(sb.kubeconfig)
    try {
      const own = { owner: 'many', createdAt: '2026-11-23T10:00:00Z' }
      const desired = Array.from({ length: 48 }, (_, i) =>
        serviceAccountObject(`sa-${i}`, 'default', own)
      )
      sb.faults.add({ match: { resource: 'serviceaccounts' }, delayMs: 100 })
      sb.requestLog.clear()
      const p = await plan(c.connection.client, desired)
      assert.equal(p.entries.length, 48)
      // each read is held 100 ms: 16 at once makes 3 rounds (all at once 1, one by one 48)
      const spans = spansOf(sb.requestLog.filter({ resource: 'serviceaccounts' }))
      const peak = peakInFlight(spans)
      assert.ok(peak <= 16 && peak > 1, `peak ${peak}`)
      const rounds = sequentialRounds(spans)
      assert.ok(rounds >= 3 && rounds < 48, `${rounds} rounds`)
    } finally {
      await c.connection.close()
      await sb.close()
    }
  })
})
