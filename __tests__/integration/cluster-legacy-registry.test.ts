// The older generations' host-service registry against the sandbox API: istioctl register /
// deregister semantics without their defects (scripts-0.8 cluster), the 1.1 host service
// (STATIC ServiceEntry + selector-less Service), and an owner's cleanup of what they made.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { ClusterError, cleanup, type ClusterClient } from '../../src/cluster/index.ts'
import {
  applyHostService,
  deregisterVm,
  registerVm,
  type HostServiceInput,
  type RegisterInput
} from '../../src/cluster/legacy/registry.ts'
import type { SandboxCluster } from '../../lab/cluster/index.ts'
import { asSomeoneElse, connectTo, sandbox, writeCount, type Connected } from './cluster-helpers.ts'

const writes = writeCount

const own = { owner: 'vm-reg-1', createdAt: '2026-12-01T10:00:00Z' }
const mysql: RegisterInput = {
  namespace: 'onprem',
  service: 'mysql',
  address: '198.18.2.10',
  ports: [{ port: 3306 }],
  serviceAccount: 'mysql-sa',
  labels: { app: 'mysql' },
  ownership: own
}

function endpointIPs(sb: SandboxCluster, ns: string, name: string): string[] {
  const ep = sb.store.get('endpoints', ns, name) as { subsets?: { addresses?: { ip: string }[] }[] }
  return (ep.subsets ?? []).flatMap(s => (s.addresses ?? []).map(a => a.ip))
}

describe('legacy register / deregister (scripts-0.8 cluster)', () => {
  let sb: SandboxCluster
  let c: Connected
  let client: ClusterClient
  before(async () => {
    sb = await sandbox({ istioVersion: '0.8.0' })
    c = await connectTo(sb.kubeconfig)
    client = c.connection.client
    await asSomeoneElse(sb, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'onprem' }
    })
  })
  after(async () => {
    await c.connection.close()
    await sb.close()
  })

  test('register creates a selector-less Service and Endpoints labelled for the owner', async () => {
    sb.requestLog.clear()
    const log: string[] = []
    const r = await registerVm(client, mysql, l => log.push(l))
    assert.deepEqual(r, { written: 2, outcome: 'registered' })
    assert.equal(writes(sb), 2)
    const svc = sb.store.get('services', 'onprem', 'mysql')
    assert.ok(svc)
    const spec = svc.spec as { selector?: unknown; ports: { name: string; port: number }[] }
    assert.equal(spec.selector, undefined)
    assert.deepEqual(
      spec.ports.map(p => [p.name, p.port]),
      [['mysql', 3306]]
    )
    for (const o of [svc, sb.store.get('endpoints', 'onprem', 'mysql')]) {
      assert.equal(o?.metadata?.labels?.['app.kubernetes.io/managed-by'], 'mesh-expansion')
      assert.equal(o?.metadata?.labels?.['mesh-expansion.io/owner'], 'vm-reg-1')
      assert.equal(o?.metadata?.labels?.['app'], 'mysql')
      assert.equal(o?.metadata?.annotations?.['mesh-expansion.io/created-at'], own.createdAt)
      assert.equal(
        o?.metadata?.annotations?.['alpha.istio.io/kubernetes-serviceaccounts'],
        'mysql-sa'
      )
    }
    assert.deepEqual(endpointIPs(sb, 'onprem', 'mysql'), ['198.18.2.10'])
    assert.ok(log.some(l => /created Endpoints onprem\/mysql/.test(l)))
  })

  test('registering the same address again writes nothing and lists it once', async () => {
    sb.requestLog.clear()
    const r = await registerVm(client, mysql)
    assert.deepEqual(r, { written: 0, outcome: 'already-registered' })
    assert.equal(writes(sb), 0)
    assert.deepEqual(endpointIPs(sb, 'onprem', 'mysql'), ['198.18.2.10'])
  })

  test('a second address joins the same subset; the Service is not rewritten', async () => {
    sb.requestLog.clear()
    const r = await registerVm(client, { ...mysql, address: '198.18.2.11' })
    assert.deepEqual(r, { written: 1, outcome: 'registered' })
    assert.deepEqual(
      sb.requestLog.filter({ verb: 'patch' }).map(e => e.resource),
      ['endpoints']
    )
    assert.deepEqual(endpointIPs(sb, 'onprem', 'mysql'), ['198.18.2.10', '198.18.2.11'])
  })

  test('an unknown address is reported, not ignored, and writes nothing', async () => {
    sb.requestLog.clear()
    const log: string[] = []
    const r = await deregisterVm(
      client,
      { namespace: 'onprem', service: 'mysql', address: '198.18.2.99' },
      l => log.push(l)
    )
    assert.deepEqual(r, { outcome: 'unknown-address', written: 0 })
    assert.equal(writes(sb), 0)
    assert.ok(
      log.some(l => /198\.18\.2\.99 is not registered for onprem\/mysql/.test(l)),
      log.join('\n')
    )
  })

  test('deregistering one of two addresses keeps the objects', async () => {
    const r = await deregisterVm(client, {
      namespace: 'onprem',
      service: 'mysql',
      address: '198.18.2.10'
    })
    assert.deepEqual(r, { outcome: 'removed', written: 1 })
    assert.deepEqual(endpointIPs(sb, 'onprem', 'mysql'), ['198.18.2.11'])
    assert.ok(sb.store.get('services', 'onprem', 'mysql'))
  })

  test('deregistering the last address deletes what register created', async () => {
    const log: string[] = []
    const r = await deregisterVm(
      client,
      { namespace: 'onprem', service: 'mysql', address: '198.18.2.11' },
      l => log.push(l)
    )
    assert.deepEqual(r, { outcome: 'deleted', written: 2 })
    assert.equal(sb.store.get('endpoints', 'onprem', 'mysql'), undefined)
    assert.equal(sb.store.get('services', 'onprem', 'mysql'), undefined)
    assert.ok(log.some(l => /deleted Service onprem\/mysql/.test(l)))
  })

  test('deregistering from a service that has no Endpoints says missing', async () => {
    const r = await deregisterVm(client, {
      namespace: 'onprem',
      service: 'mysql',
      address: '198.18.2.11'
    })
    assert.deepEqual(r, { outcome: 'missing', written: 0 })
  })

  test('a Service with a selector is refused with a clear error, nothing written', async () => {
    await asSomeoneElse(sb, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'onprem' },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 8080 }] }
    })
    sb.requestLog.clear()
    await assert.rejects(
      registerVm(client, { ...mysql, service: 'web', ports: [{ port: 8080 }] }),
      (e: unknown) =>
        e instanceof ClusterError &&
        e.kind === 'invalid' &&
        /Service onprem\/web has a selector/.test(e.message)
    )
    assert.equal(writes(sb), 0)
    assert.equal(sb.store.get('endpoints', 'onprem', 'web'), undefined)
  })

  test("someone else's Service and Endpoints: used, never labelled as ours, emptied not deleted", async () => {
    await asSomeoneElse(sb, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'legacy-db', namespace: 'onprem', labels: { team: 'db' } },
      spec: { ports: [{ name: 'tcp-db', port: 5432 }] }
    })
    await asSomeoneElse(sb, {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'legacy-db', namespace: 'onprem', labels: { team: 'db' } },
      subsets: [{ addresses: [{ ip: '198.18.2.20' }], ports: [{ name: 'tcp-db', port: 5432 }] }]
    })
    const input = {
      ...mysql,
      service: 'legacy-db',
      address: '198.18.2.21',
      ports: [{ name: 'tcp-db', port: 5432 }]
    }
    assert.deepEqual(await registerVm(client, input), { written: 1, outcome: 'registered' })
    const ep = sb.store.get('endpoints', 'onprem', 'legacy-db')
    assert.equal(ep?.metadata?.labels?.['app.kubernetes.io/managed-by'], undefined)
    assert.equal(ep?.metadata?.labels?.['team'], 'db')
    assert.deepEqual(endpointIPs(sb, 'onprem', 'legacy-db'), ['198.18.2.20', '198.18.2.21'])
    const where = { namespace: 'onprem', service: 'legacy-db' }
    assert.equal(
      (await deregisterVm(client, { ...where, address: '198.18.2.20' })).outcome,
      'removed'
    )
    assert.deepEqual(await deregisterVm(client, { ...where, address: '198.18.2.21' }), {
      outcome: 'removed',
      written: 1
    })
    assert.ok(sb.store.get('endpoints', 'onprem', 'legacy-db'), 'Endpoints kept')
    assert.ok(sb.store.get('services', 'onprem', 'legacy-db'), 'Service kept')
    assert.deepEqual(endpointIPs(sb, 'onprem', 'legacy-db'), [])
  })

  test('a selector-less Service of someone else without Endpoints: ours are created and later deleted, theirs kept', async () => {
    await asSomeoneElse(sb, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'cache', namespace: 'onprem' },
      spec: { ports: [{ name: 'redis', port: 6379 }] }
    })
    const input = { ...mysql, service: 'cache', ports: [{ name: 'redis', port: 6379 }] }
    assert.deepEqual(await registerVm(client, input), { written: 1, outcome: 'registered' })
    const ep = sb.store.get('endpoints', 'onprem', 'cache')
    assert.equal(ep?.metadata?.labels?.['mesh-expansion.io/owner'], 'vm-reg-1')
    assert.deepEqual(
      await deregisterVm(client, { namespace: 'onprem', service: 'cache', address: mysql.address }),
      { outcome: 'deleted', written: 1 }
    )
    assert.equal(sb.store.get('endpoints', 'onprem', 'cache'), undefined)
    assert.ok(sb.store.get('services', 'onprem', 'cache'))
  })

  test('an invalid address is a clear error', async () => {
    await assert.rejects(
      registerVm(client, { ...mysql, address: '198.18.2' }),
      (e: unknown) =>
        e instanceof ClusterError && /"198\.18\.2" is not an IP address/.test(e.message)
    )
  })
})

const hostService = (over: Partial<HostServiceInput> = {}): HostServiceInput => ({
  namespace: 'vm',
  name: 'vmhttp',
  ports: [{ name: 'http', number: 8080, targetPort: 80 }],
  endpoints: [{ address: '198.18.2.30', labels: { app: 'vmhttp', version: 'v1' } }],
  labels: { app: 'vmhttp' },
  serviceAccount: 'vmhttp',
  networkingVersion: 'v1alpha3',
  ownership: { owner: 'vm-host-1', createdAt: '2026-12-01T11:00:00Z' },
  ...over
})

describe('legacy host service (meshexpansion-1.1 cluster) and cleanup', () => {
  let sb: SandboxCluster
  let c: Connected
  let client: ClusterClient
  before(async () => {
    sb = await sandbox({ istioVersion: '1.1.0' })
    c = await connectTo(sb.kubeconfig)
    client = c.connection.client
    await asSomeoneElse(sb, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'vm' } })
  })
  after(async () => {
    await c.connection.close()
    await sb.close()
  })

  test('a STATIC ServiceEntry and a selector-less Service, labelled for the owner', async () => {
    sb.requestLog.clear()
    assert.deepEqual(await applyHostService(client, hostService()), { written: 2 })
    const se = sb.store.get('serviceentries', 'vm', 'vmhttp') as unknown as {
      apiVersion: string
      metadata: { labels: Record<string, string> }
      spec: {
        hosts: string[]
        resolution: string
        endpoints: { address: string; labels: unknown; ports: unknown }[]
        ports: unknown[]
      }
    }
    assert.equal(se.apiVersion, 'networking.istio.io/v1alpha3')
    assert.deepEqual(se.spec.hosts, ['vmhttp.vm.svc.cluster.local'])
    assert.equal(se.spec.resolution, 'STATIC')
    assert.deepEqual(se.spec.ports, [{ number: 8080, name: 'http', protocol: 'HTTP' }])
    assert.deepEqual(se.spec.endpoints, [
      { address: '198.18.2.30', ports: { http: 8080 }, labels: { app: 'vmhttp', version: 'v1' } }
    ])
    assert.equal(se.metadata.labels['mesh-expansion.io/owner'], 'vm-host-1')
    assert.equal(se.metadata.labels['app'], 'vmhttp')
    const svc = sb.store.get('services', 'vm', 'vmhttp')
    const spec = svc?.spec as {
      selector?: unknown
      ports: { name: string; port: number; targetPort: number }[]
    }
    assert.equal(spec.selector, undefined)
    assert.deepEqual(
      spec.ports.map(p => [p.name, p.port, p.targetPort]),
      [['http', 8080, 80]]
    )
    assert.equal(svc?.metadata?.labels?.['mesh-expansion.io/owner'], 'vm-host-1')
    assert.equal(
      svc?.metadata?.annotations?.['alpha.istio.io/kubernetes-serviceaccounts'],
      'vmhttp'
    )
  })

  test('unchanged: 0 writes; a new endpoint: one write, created-at kept', async () => {
    sb.requestLog.clear()
    assert.deepEqual(await applyHostService(client, hostService()), { written: 0 })
    assert.equal(writes(sb), 0)
    const two = hostService({
      endpoints: [{ address: '198.18.2.30' }, { address: '198.18.2.31' }],
      ownership: { owner: 'vm-host-1', createdAt: '2026-12-02T00:00:00Z' }
    })
    assert.deepEqual(await applyHostService(client, two), { written: 1 })
    const se = sb.store.get('serviceentries', 'vm', 'vmhttp')
    assert.equal(
      se?.metadata?.annotations?.['mesh-expansion.io/created-at'],
      '2026-12-01T11:00:00Z'
    )
    assert.equal((se?.spec as { endpoints: unknown[] }).endpoints.length, 2)
    sb.requestLog.clear()
    assert.deepEqual(await applyHostService(client, two), { written: 0 })
    assert.equal(writes(sb), 0)
  })

  test('explicit hosts are used', async () => {
    await applyHostService(
      client,
      hostService({
        name: 'vmgrpc',
        hosts: ['grpc.vm.example'],
        ports: [{ name: 'grpc', number: 9000 }]
      })
    )
    const se = sb.store.get('serviceentries', 'vm', 'vmgrpc')
    assert.deepEqual((se?.spec as { hosts: string[] }).hosts, ['grpc.vm.example'])
  })

  test("someone else's ServiceEntry of that name is refused, nothing written", async () => {
    await asSomeoneElse(sb, {
      apiVersion: 'networking.istio.io/v1alpha3',
      kind: 'ServiceEntry',
      metadata: { name: 'theirs', namespace: 'vm' },
      spec: {
        hosts: ['theirs.example'],
        ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
        resolution: 'DNS'
      }
    })
    sb.requestLog.clear()
    await assert.rejects(
      applyHostService(client, hostService({ name: 'theirs' })),
      (e: unknown) =>
        e instanceof ClusterError &&
        /ServiceEntry vm\/theirs exists and was not created by mesh-expansion/.test(e.message)
    )
    assert.equal(writes(sb), 0)
  })

  test("an owner's cleanup removes its Endpoints, Services and ServiceEntries, nothing else", async () => {
    const reg = {
      ...mysql,
      namespace: 'vm',
      service: 'vmdb',
      ownership: { owner: 'vm-host-1', createdAt: own.createdAt }
    }
    assert.equal((await registerVm(client, reg)).written, 2)
    // another owner's registration survives
    await registerVm(client, {
      ...reg,
      service: 'otherdb',
      ownership: { owner: 'someone', createdAt: own.createdAt }
    })
    sb.requestLog.clear()
    const result = await cleanup(client, 'vm-host-1')
    const deleted = result.deleted.map(r => `${r.kind} ${r.namespace}/${r.name}`).sort()
    assert.deepEqual(deleted, [
      'Endpoints vm/vmdb',
      'Service vm/vmdb',
      'Service vm/vmgrpc',
      'Service vm/vmhttp',
      'ServiceEntry vm/vmgrpc',
      'ServiceEntry vm/vmhttp'
    ])
    const order = sb.requestLog.filter({ verb: 'delete' }).map(e => e.resource)
    assert.ok(order.lastIndexOf('endpoints') < order.indexOf('services'), order.join(','))
    assert.ok(sb.store.get('endpoints', 'vm', 'otherdb'))
    assert.ok(sb.store.get('services', 'vm', 'otherdb'))
    assert.ok(sb.store.get('serviceentries', 'vm', 'theirs'))
    assert.equal((await cleanup(client, 'vm-host-1')).deleted.length, 0)
  })
})
