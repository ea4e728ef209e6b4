// The multinetwork-1.4 cluster side against the sandbox API: `.global` ServiceEntries with
// 127.255 addresses (stable across runs, avoiding addresses others use, 0 writes on a re-run),
// and the `.global` DNS stub in CoreDNS or kube-dns: check, fix, revert.
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, test } from 'node:test'
import { ClusterError, cleanup, type ClusterClient } from '../../src/cluster/index.ts'
import {
  checkGlobalDnsStub,
  ensureGlobalServiceEntries,
  revertGlobalDnsStub,
  type GlobalNamesInput
} from '../../src/cluster/legacy/global.ts'
import { allocateGlobalAddresses } from '../../src/istio/legacy/multiNetwork.ts'
import type { SandboxCluster } from '../../lab/cluster/index.ts'
import {
  asSomeoneElse,
  connectTo,
  sandbox,
  writeCount,
  type ApiObject,
  type Connected
} from './cluster-helpers.ts'

const writes = writeCount

const service = (name: string, namespace: string, ports: Record<string, unknown>[]): ApiObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace },
  spec: { selector: { app: name }, ports }
})

const own = { owner: 'mn-1', createdAt: '2026-12-01T12:00:00Z' }
const input = (over: Partial<GlobalNamesInput> = {}): GlobalNamesInput => ({
  services: [
    { name: 'httpbin', namespace: 'bar' },
    { name: 'productpage', namespace: 'bookinfo' }
  ],
  gateway: '198.18.0.2',
  networkingVersion: 'v1alpha3',
  ownership: own,
  ...over
})

interface GlobalEntry {
  apiVersion: string
  metadata: { labels: Record<string, string> }
  spec: {
    hosts: string[]
    location: string
    resolution: string
    addresses: string[]
    ports: { name: string; number: number; protocol: string }[]
    endpoints: { address: string; ports: Record<string, number> }[]
  }
}

describe('.global ServiceEntries (multinetwork-1.4 cluster)', () => {
  let sb: SandboxCluster
  let c: Connected
  let client: ClusterClient
  // the address httpbin.bar.global would hash to: someone else's entry takes it first
  const hashed = allocateGlobalAddresses(['httpbin.bar.global']).allocations[
    'httpbin.bar.global'
  ] as string
  before(async () => {
    sb = await sandbox({ istioVersion: '1.4.0', network: 'network1' })
    c = await connectTo(sb.kubeconfig)
    client = c.connection.client
    for (const ns of ['bar', 'bookinfo', 'other'])
      await asSomeoneElse(sb, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    await asSomeoneElse(
      sb,
      service('httpbin', 'bar', [
        { name: 'http', port: 8000 },
        { name: 'dns', port: 53, protocol: 'UDP' }
      ])
    )
    await asSomeoneElse(sb, service('productpage', 'bookinfo', [{ port: 9080 }]))
    await asSomeoneElse(sb, service('reviews', 'bookinfo', [{ name: 'http', port: 9080 }]))
    await asSomeoneElse(sb, {
      apiVersion: 'networking.istio.io/v1alpha3',
      kind: 'ServiceEntry',
      metadata: { name: 'legacy-vip', namespace: 'other' },
      spec: {
        hosts: ['legacy.example'],
        addresses: [hashed],
        ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
        resolution: 'DNS'
      }
    })
  })
  after(async () => {
    await c.connection.close()
    await sb.close()
  })

  let first: Record<string, string> = {}

  test('one entry per service, addresses that avoid what others use', async () => {
    sb.requestLog.clear()
    const r = await ensureGlobalServiceEntries(client, input())
    first = r.allocations
    assert.deepEqual(Object.keys(r.allocations).sort(), [
      'httpbin.bar.global',
      'productpage.bookinfo.global'
    ])
    assert.equal(r.written, 2)
    assert.equal(writes(sb), 2)
    assert.notEqual(r.allocations['httpbin.bar.global'], hashed)
    for (const a of Object.values(r.allocations)) assert.match(a, /^127\.255\.\d+\.\d+$/)
    assert.notEqual(
      r.allocations['httpbin.bar.global'],
      r.allocations['productpage.bookinfo.global']
    )
    const se = sb.store.get('serviceentries', 'bar', 'httpbin.bar.forvms') as unknown as GlobalEntry
    assert.equal(se.apiVersion, 'networking.istio.io/v1alpha3')
    assert.deepEqual(se.spec.hosts, ['httpbin.bar.global'])
    assert.equal(se.spec.location, 'MESH_INTERNAL')
    assert.equal(se.spec.resolution, 'DNS')
    assert.deepEqual(se.spec.addresses, [r.allocations['httpbin.bar.global']])
    // the UDP port cannot cross the gateway's TLS port: left out
    assert.deepEqual(se.spec.ports, [{ name: 'http', number: 8000, protocol: 'HTTP' }])
    assert.deepEqual(se.spec.endpoints, [{ address: '198.18.0.2', ports: { http: 15443 } }])
    assert.equal(se.metadata.labels['mesh-expansion.io/owner'], 'mn-1')
    const pp = sb.store.get(
      'serviceentries',
      'bookinfo',
      'productpage.bookinfo.forvms'
    ) as unknown as GlobalEntry
    assert.deepEqual(pp.spec.ports, [{ name: 'tcp-9080', number: 9080, protocol: 'TCP' }])
    assert.deepEqual(pp.spec.endpoints, [{ address: '198.18.0.2', ports: { 'tcp-9080': 15443 } }])
  })

  test('a re-run: the same addresses, 0 writes', async () => {
    sb.requestLog.clear()
    const r = await ensureGlobalServiceEntries(
      client,
      input({ ownership: { owner: 'mn-1', createdAt: '2026-12-03T00:00:00Z' } })
    )
    assert.deepEqual(r, { allocations: first, written: 0 })
    assert.equal(writes(sb), 0)
  })

  test('another service added: the earlier ones keep their addresses', async () => {
    const services = [...input().services, { name: 'reviews', namespace: 'bookinfo' }].reverse()
    const r = await ensureGlobalServiceEntries(client, input({ services }))
    assert.equal(r.written, 1)
    assert.equal(r.allocations['httpbin.bar.global'], first['httpbin.bar.global'])
    assert.equal(r.allocations['productpage.bookinfo.global'], first['productpage.bookinfo.global'])
    assert.equal(new Set([...Object.values(r.allocations), hashed]).size, 4)
  })

  test('a service left out keeps its entry and its address stays taken', async () => {
    const r = await ensureGlobalServiceEntries(
      client,
      input({ services: [{ name: 'reviews', namespace: 'bookinfo' }] })
    )
    assert.equal(r.written, 0)
    assert.ok(sb.store.get('serviceentries', 'bar', 'httpbin.bar.forvms'))
  })

  test('a dry run allocates and writes nothing', async () => {
    await asSomeoneElse(sb, service('ratings', 'bookinfo', [{ name: 'http', port: 9080 }]))
    sb.requestLog.clear()
    const r = await ensureGlobalServiceEntries(
      client,
      input({ services: [{ name: 'ratings', namespace: 'bookinfo' }], dryRun: true })
    )
    assert.equal(r.written, 0)
    assert.match(r.allocations['ratings.bookinfo.global'] ?? '', /^127\.255\./)
    assert.equal(writes(sb), 0)
    assert.equal(sb.store.get('serviceentries', 'bookinfo', 'ratings.bookinfo.forvms'), undefined)
  })

  test('a hostname gateway becomes the endpoint address', async () => {
    const r = await ensureGlobalServiceEntries(
      client,
      input({ services: [{ name: 'ratings', namespace: 'bookinfo' }], gateway: 'gw.mesh.test' })
    )
    assert.equal(r.written, 1)
    const se = sb.store.get(
      'serviceentries',
      'bookinfo',
      'ratings.bookinfo.forvms'
    ) as unknown as GlobalEntry
    assert.deepEqual(se.spec.endpoints, [{ address: 'gw.mesh.test', ports: { http: 15443 } }])
  })

  test('a missing Service is a clear error, nothing written', async () => {
    sb.requestLog.clear()
    await assert.rejects(
      ensureGlobalServiceEntries(client, input({ services: [{ name: 'nope', namespace: 'bar' }] })),
      (e: unknown) =>
        e instanceof ClusterError &&
        e.kind === 'not-found' &&
        /Service bar\/nope does not exist/.test(e.message)
    )
    assert.equal(writes(sb), 0)
  })

  test('a .global host someone else declared is refused', async () => {
    await asSomeoneElse(sb, service('details', 'bookinfo', [{ name: 'http', port: 9080 }]))
    await asSomeoneElse(sb, {
      apiVersion: 'networking.istio.io/v1alpha3',
      kind: 'ServiceEntry',
      metadata: { name: 'details-by-hand', namespace: 'bookinfo' },
      spec: {
        hosts: ['details.bookinfo.global'],
        addresses: ['127.255.0.9'],
        ports: [{ number: 9080, name: 'http', protocol: 'HTTP' }],
        resolution: 'DNS'
      }
    })
    await assert.rejects(
      ensureGlobalServiceEntries(
        client,
        input({ services: [{ name: 'details', namespace: 'bookinfo' }] })
      ),
      (e: unknown) =>
        e instanceof ClusterError &&
        /ServiceEntry bookinfo\/details-by-hand already declares details\.bookinfo\.global/.test(
          e.message
        )
    )
  })
})

describe('.global entries and the owner cleanup', () => {
  test("cleanup of the owner deletes its .global entries and leaves others' entries", async () => {
    const sb = await sandbox({ istioVersion: '1.4.0', network: 'network1' })
    const c = await connectTo(sb.kubeconfig)
    try {
      await asSomeoneElse(sb, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bar' } })
      await asSomeoneElse(sb, service('httpbin', 'bar', [{ name: 'http', port: 8000 }]))
      await asSomeoneElse(sb, {
        apiVersion: 'networking.istio.io/v1alpha3',
        kind: 'ServiceEntry',
        metadata: { name: 'theirs', namespace: 'bar' },
        spec: {
          hosts: ['theirs.example'],
          ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
          resolution: 'DNS'
        }
      })
      const services = [{ name: 'httpbin', namespace: 'bar' }]
      assert.equal(
        (await ensureGlobalServiceEntries(c.connection.client, input({ services }))).written,
        1
      )
      const result = await cleanup(c.connection.client, 'mn-1')
      assert.deepEqual(
        result.deleted.map(r => `${r.kind} ${r.namespace}/${r.name}`),
        ['ServiceEntry bar/httpbin.bar.forvms']
      )
      assert.ok(sb.store.get('serviceentries', 'bar', 'theirs'))
      assert.ok(sb.store.get('services', 'bar', 'httpbin'))
    } finally {
      await c.connection.close()
      await sb.close()
    }
  })
})

const COREFILE = `.:53 {
    errors
    health
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
}
`
const PROXY_COREFILE = COREFILE.replace('forward . /etc/resolv.conf', 'proxy . /etc/resolv.conf')

describe('the .global DNS stub', () => {
  let sb: SandboxCluster
  let c: Connected
  let client: ClusterClient
  const options = { istioNamespace: 'istio-system', owner: 'mn-1' }
  const configMap = (name: string, data: Record<string, string>): ApiObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
    data
  })
  const data = (name: string): Record<string, string> | undefined =>
    sb.store.get('configmaps', 'kube-system', name)?.data as Record<string, string> | undefined
  const annotations = (name: string): Record<string, string> =>
    (sb.store.get('configmaps', 'kube-system', name)?.metadata?.annotations ?? {}) as Record<
      string,
      string
    >
  before(async () => {
    sb = await sandbox({ istioVersion: '1.4.0', network: 'network1' })
    c = await connectTo(sb.kubeconfig)
    client = c.connection.client
  })
  beforeEach(async () => {
    for (const name of ['coredns', 'kube-dns'])
      await client.delete({ apiVersion: 'v1', kind: 'ConfigMap', name, namespace: 'kube-system' })
  })
  after(async () => {
    await c.connection.close()
    await sb.close()
  })

  test('no DNS ConfigMap at all: where none, missing', async () => {
    const s = await checkGlobalDnsStub(client, { ...options, fix: true })
    assert.equal(s.where, 'none')
    assert.equal(s.status, 'missing')
    assert.match(s.message, /198\.19\.0\.53/)
  })

  test('CoreDNS: missing, fixed (recorded), ok, reverted byte for byte', async () => {
    await asSomeoneElse(sb, configMap('coredns', { Corefile: COREFILE, other: 'kept' }))
    sb.requestLog.clear()
    const checked = await checkGlobalDnsStub(client, { ...options, fix: false })
    assert.deepEqual([checked.where, checked.status], ['coredns', 'missing'])
    assert.match(checked.message, /no global:53 block/)
    const dry = await checkGlobalDnsStub(client, { ...options, fix: true, dryRun: true })
    assert.equal(dry.status, 'missing')
    assert.equal(writes(sb), 0)
    const fixed = await checkGlobalDnsStub(client, { ...options, fix: true })
    assert.deepEqual([fixed.where, fixed.status], ['coredns', 'fixed'])
    assert.equal(writes(sb), 1)
    const now = data('coredns')
    assert.ok(now?.Corefile?.startsWith(COREFILE))
    assert.match(
      now?.Corefile ?? '',
      /global:53 \{\n {4}errors\n {4}cache 30\n {4}forward \. 198\.19\.0\.53\n\}\n$/
    )
    assert.equal(now?.other, 'kept')
    assert.ok(annotations('coredns')['mesh-expansion.io/global-stub-mn-1'])
    assert.equal(
      sb.store.get('configmaps', 'kube-system', 'coredns')?.metadata?.labels?.['k8s-app'],
      'kube-dns'
    )
    sb.requestLog.clear()
    const ok = await checkGlobalDnsStub(client, { ...options, fix: true })
    assert.deepEqual([ok.where, ok.status], ['coredns', 'ok'])
    assert.equal(writes(sb), 0)
    assert.equal(await revertGlobalDnsStub(client, 'someone-else'), false)
    assert.equal(await revertGlobalDnsStub(client, 'mn-1'), true)
    assert.deepEqual(data('coredns'), { Corefile: COREFILE, other: 'kept' })
    assert.equal(annotations('coredns')['mesh-expansion.io/global-stub-mn-1'], undefined)
    assert.equal(
      sb.store.get('configmaps', 'kube-system', 'coredns')?.metadata?.labels?.['k8s-app'],
      'kube-dns'
    )
    assert.equal(await revertGlobalDnsStub(client, 'mn-1'), false)
  })

  test('an old CoreDNS (proxy) gets a proxy block; a block pointing elsewhere is replaced and restored', async () => {
    const elsewhere = `${PROXY_COREFILE}global:53 {\n    proxy . 10.0.0.9\n}\n`
    await asSomeoneElse(sb, configMap('coredns', { Corefile: elsewhere }))
    const s = await checkGlobalDnsStub(client, { ...options, fix: true })
    assert.equal(s.status, 'fixed')
    assert.match(s.message, /forwards to 10\.0\.0\.9, not 198\.19\.0\.53/)
    assert.match(
      data('coredns')?.Corefile ?? '',
      /global:53 \{\n {4}errors\n {4}cache 30\n {4}proxy \. 198\.19\.0\.53\n\}\n$/
    )
    assert.doesNotMatch(data('coredns')?.Corefile ?? '', /10\.0\.0\.9/)
    assert.equal(await revertGlobalDnsStub(client, 'mn-1'), true)
    assert.equal(data('coredns')?.Corefile, elsewhere)
  })

  test('a stub someone wrote by hand is ok, and there is nothing to revert', async () => {
    const byHand = `${COREFILE}global:53 {\n  errors\n  forward . dns://198.19.0.53:53\n}\n`
    await asSomeoneElse(sb, configMap('coredns', { Corefile: byHand }))
    const s = await checkGlobalDnsStub(client, { ...options, fix: true })
    assert.deepEqual([s.where, s.status], ['coredns', 'ok'])
    assert.equal(data('coredns')?.Corefile, byHand)
    assert.equal(await revertGlobalDnsStub(client, 'mn-1'), false)
  })

  test('a change made after the fix is kept: no revert', async () => {
    await asSomeoneElse(sb, configMap('coredns', { Corefile: COREFILE }))
    assert.equal((await checkGlobalDnsStub(client, { ...options, fix: true })).status, 'fixed')
    const live = sb.store.get('configmaps', 'kube-system', 'coredns')
    const changed = `${data('coredns')?.Corefile ?? ''}# edited by an operator\n`
    await asSomeoneElse(
      sb,
      { ...(live as unknown as ApiObject), data: { Corefile: changed } },
      'PUT'
    )
    assert.equal(await revertGlobalDnsStub(client, 'mn-1'), false)
    assert.equal(data('coredns')?.Corefile, changed)
  })

  test('kube-dns: other stub domains kept, fixed, ok, reverted', async () => {
    const stubs = '{"acme.local":["10.1.2.3"]}'
    await asSomeoneElse(sb, configMap('kube-dns', { stubDomains: stubs }))
    const missing = await checkGlobalDnsStub(client, { ...options, fix: false })
    assert.deepEqual([missing.where, missing.status], ['kube-dns', 'missing'])
    const fixed = await checkGlobalDnsStub(client, { ...options, fix: true })
    assert.deepEqual([fixed.where, fixed.status], ['kube-dns', 'fixed'])
    assert.deepEqual(JSON.parse(data('kube-dns')?.stubDomains ?? ''), {
      'acme.local': ['10.1.2.3'],
      global: ['198.19.0.53']
    })
    sb.requestLog.clear()
    assert.equal((await checkGlobalDnsStub(client, { ...options, fix: true })).status, 'ok')
    assert.equal(writes(sb), 0)
    assert.equal(await revertGlobalDnsStub(client, 'mn-1'), true)
    assert.deepEqual(data('kube-dns'), { stubDomains: stubs })
  })

  test('kube-dns without stubDomains: the key is added, and removed by the revert', async () => {
    await asSomeoneElse(sb, configMap('kube-dns', { upstreamNameservers: '["8.8.8.8"]' }))
    assert.equal((await checkGlobalDnsStub(client, { ...options, fix: true })).status, 'fixed')
    assert.equal(data('kube-dns')?.stubDomains, '{"global":["198.19.0.53"]}')
    assert.equal(await revertGlobalDnsStub(client, 'mn-1'), true)
    assert.deepEqual(data('kube-dns'), { upstreamNameservers: '["8.8.8.8"]' })
    assert.deepEqual(annotations('kube-dns'), {})
  })

  test('kube-dns already sending global to istiocoredns: ok, nothing written', async () => {
    await asSomeoneElse(sb, configMap('kube-dns', { stubDomains: '{"global": ["198.19.0.53"]}' }))
    sb.requestLog.clear()
    const s = await checkGlobalDnsStub(client, { ...options, fix: true })
    assert.deepEqual([s.where, s.status], ['kube-dns', 'ok'])
    assert.equal(writes(sb), 0)
  })

  test('an owner that cannot name an annotation is refused', async () => {
    await assert.rejects(
      checkGlobalDnsStub(client, { ...options, owner: 'x'.repeat(60), fix: true }),
      (e: unknown) => e instanceof ClusterError && /cannot name an annotation/.test(e.message)
    )
  })
})

describe('the .global DNS stub without istiocoredns', () => {
  test('a meshexpansion-1.1 install is not multi-network: clear error', async () => {
    const sb = await sandbox({ istioVersion: '1.1.0' })
    const c = await connectTo(sb.kubeconfig)
    try {
      await assert.rejects(
        checkGlobalDnsStub(c.connection.client, {
          istioNamespace: 'istio-system',
          fix: true,
          owner: 'mn-1'
        }),
        (e: unknown) =>
          e instanceof ClusterError &&
          e.kind === 'not-found' &&
          /istio-system\/istiocoredns does not exist: this is not a multi-network/.test(e.message)
      )
    } finally {
      await c.connection.close()
      await sb.close()
    }
  })
})
