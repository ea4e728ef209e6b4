// Pure parts of the cluster side: the desired objects, the field comparison, the plan rendering
// and the proxy rules.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseDescription, type Description } from '../../src/config/index.ts'
import {
  covers,
  desiredObjects,
  diffFields,
  istiodExposureObjects,
  noProxyMatches,
  planEntry,
  proxyFor,
  renderPlan,
  type Discovery,
  type KubeObject
} from '../../src/cluster/index.ts'

function desc(yaml: string): Description {
  const r = parseDescription(yaml, 't.yaml')
  if (!r.ok) throw new Error(r.errors.map(e => e.message).join('\n'))
  return r.description
}

const DISCOVERY: Discovery = {
  istioVersion: '1.30.3',
  generation: 'modern',
  revision: '',
  revisionSource: 'default',
  istioNamespace: 'istio-system',
  clusterID: 'Kubernetes',
  clusterIDSource: 'injector',
  meshConfig: '',
  trustDomain: 'cluster.local',
  meshId: '',
  discoveryAddress: 'istiod.istio-system.svc:15012',
  network: 'net1',
  gateway: {
    service: 'istio-eastwestgateway',
    namespace: 'istio-system',
    address: '198.18.0.2',
    source: 'load-balancer-ip'
  },
  istiodExposed: false,
  networkingVersion: 'v1beta1',
  workloadGroupVersion: 'v1alpha3',
  warnings: []
}
const OWN = { owner: 'pr-12', createdAt: '2026-11-23T10:00:00Z' }

const YAML = `
cluster: {exposeIstiod: true}
workloadGroups:
  - name: db
    namespace: vm
    ports: {tcp: 5432}
    proxyConfig: {holdApplicationUntilProxyStarts: true}
  - name: auto
    namespace: vm
    network: vm-net
    serviceAccount: db
    ports: {http: 80}
    registration: auto
    service: {kind: none}
vms:
  - {name: db-1, group: db, host: 198.18.2.2}
  - {name: auto-1, group: auto, host: 198.18.2.3, address: 198.18.2.3}
`

describe('desiredObjects', () => {
  test('objects in apply order, owned, versions from discovery, a WorkloadEntry only with an address', () => {
    const objects = desiredObjects(desc(YAML), DISCOVERY, OWN)
    assert.deepEqual(
      objects.map(
        o => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`
      ),
      [
        'v1 Namespace /vm',
        'v1 ServiceAccount vm/db',
        'networking.istio.io/v1alpha3 WorkloadGroup vm/db',
        'networking.istio.io/v1alpha3 WorkloadGroup vm/auto',
        'networking.istio.io/v1beta1 Gateway istio-system/istiod-gateway',
        'networking.istio.io/v1beta1 VirtualService istio-system/istiod-vs',
        'networking.istio.io/v1beta1 ServiceEntry vm/db'
      ]
    )
    for (const o of objects) {
      assert.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'mesh-expansion')
      assert.equal(o.metadata.labels?.['mesh-expansion.io/owner'], 'pr-12')
      assert.equal(o.metadata.annotations?.['mesh-expansion.io/created-at'], OWN.createdAt)
    }
    const wg = objects[2] as KubeObject & {
      spec: { metadata: { annotations: Record<string, string> }; template: { network?: string } }
    }
    assert.equal(
      wg.spec.metadata.annotations['proxy.istio.io/config'],
      '{"holdApplicationUntilProxyStarts":true}'
    )
    // the VMs' network is what the description says, not the cluster's
    assert.equal(wg.spec.template.network, undefined)
    const withAddress = desiredObjects(desc(YAML), DISCOVERY, OWN, {
      addresses: new Map([['db-1', '198.18.2.2']])
    })
    const entry = withAddress.at(-1)
    assert.equal(entry?.kind, 'WorkloadEntry')
    assert.equal((entry?.spec as { address: string }).address, '198.18.2.2')
    assert.equal((entry?.spec as { network?: string }).network, undefined)
  })

  test('istiod exposure is left out when the cluster already exposes it', () => {
    const objects = desiredObjects(desc(YAML), { ...DISCOVERY, istiodExposed: true }, OWN)
    assert.ok(!objects.some(o => o.kind === 'Gateway' || o.kind === 'VirtualService'))
  })

  test('a revision gets its own exposure that matches only its istiod', () => {
    const [gw, vs] = istiodExposureObjects(
      { istioNamespace: 'mesh', revision: 'canary', apiVersion: 'v1' },
      OWN
    )
    assert.equal(gw?.metadata.name, 'istiod-gateway-canary')
    assert.equal(vs?.metadata.name, 'istiod-vs-canary')
    const tls = (
      vs?.spec as {
        tls: {
          match: { sniHosts: string[] }[]
          route: { destination: { host: string; port: { number: number } } }[]
        }[]
      }
    ).tls
    assert.deepEqual(tls[0]?.match[0]?.sniHosts, [
      'istiod-canary.mesh.svc',
      'istiod-canary.mesh.svc.cluster.local'
    ])
    assert.equal(tls[0]?.route[0]?.destination.host, 'istiod-canary.mesh.svc.cluster.local')
    assert.equal(tls[1]?.route[0]?.destination.port.number, 443)
    const [plain] = istiodExposureObjects(
      { istioNamespace: 'istio-system', revision: 'default', apiVersion: 'v1' },
      OWN
    )
    assert.equal(plain?.metadata.name, 'istiod-gateway')
  })
})

describe('comparison', () => {
  test('live may hold more than we set; arrays must match in length', () => {
    assert.equal(covers({ a: 1, b: { c: 'x' } }, { a: 1, b: { c: 'x', d: 2 }, e: 3 }), true)
    assert.equal(covers({ a: [{ n: 1 }] }, { a: [{ n: 1, extra: true }] }), true)
    assert.equal(covers({ a: [1] }, { a: [1, 2] }), false)
    assert.equal(covers({ a: 1 }, { a: '1' }), false)
  })
  test('diff lines name the field', () => {
    assert.deepEqual(
      diffFields({ spec: { port: 2, name: 'x', add: true } }, { spec: { port: 1, name: 'x' } }),
      ['~ spec.port: 1 -> 2', '+ spec.add: true']
    )
  })
})

describe('planEntry', () => {
  const desired: KubeObject = {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: {
      name: 'db',
      namespace: 'vm',
      labels: {
        'app.kubernetes.io/managed-by': 'mesh-expansion',
        'mesh-expansion.io/owner': 'pr-12'
      },
      annotations: { 'mesh-expansion.io/created-at': 'now' }
    }
  }
  test('create, unchanged (created-at ignored and kept), skip when not ours', () => {
    assert.equal(planEntry(desired, null).action, 'create')
    const live = {
      ...desired,
      metadata: {
        ...desired.metadata,
        uid: 'u',
        annotations: { 'mesh-expansion.io/created-at': 'before' }
      }
    }
    const same = planEntry(desired, live)
    assert.equal(same.action, 'unchanged')
    assert.equal(same.object.metadata.annotations?.['mesh-expansion.io/created-at'], 'before')
    const foreign = planEntry(desired, { ...desired, metadata: { name: 'db', namespace: 'vm' } })
    assert.equal(foreign.action, 'skip')
    assert.match(foreign.reason ?? '', /not created by mesh-expansion/)
    const otherOwner = planEntry(desired, {
      ...desired,
      metadata: {
        ...desired.metadata,
        labels: {
          'app.kubernetes.io/managed-by': 'mesh-expansion',
          'mesh-expansion.io/owner': 'pr-9'
        }
      }
    })
    assert.equal(otherOwner.action, 'skip')
    assert.match(otherOwner.reason ?? '', /owner pr-9/)
  })
  test('renderPlan: a line per object, changed fields below, totals', () => {
    const text = renderPlan({ entries: [planEntry(desired, null)] })
    assert.match(
      text,
      /^\+ ServiceAccount vm\/db: create\n {4}\+ metadata\.labels\.app\.kubernetes\.io\/managed-by: mesh-expansion\n/
    )
    assert.match(text, /1 to create, 0 to update, 0 unchanged, 0 left alone\n$/)
  })
})

describe('proxy rules', () => {
  test('NO_PROXY forms', () => {
    const u = new URL('https://api.k8s.example.com:6443')
    assert.equal(noProxyMatches(u, 'example.com'), true)
    assert.equal(noProxyMatches(u, '.example.com'), true)
    assert.equal(noProxyMatches(u, '*.k8s.example.com'), true)
    assert.equal(noProxyMatches(u, 'other.com,*'), true)
    assert.equal(noProxyMatches(u, 'ample.com'), false)
    assert.equal(noProxyMatches(u, 'example.com:443'), false)
    assert.equal(noProxyMatches(u, 'example.com:6443'), true)
    const ip = new URL('https://198.18.0.1:6443')
    assert.equal(noProxyMatches(ip, '198.18.0.0/15'), true)
    assert.equal(noProxyMatches(ip, '198.20.0.0/16'), false)
    assert.equal(noProxyMatches(new URL('https://[::1]:6443'), '::1'), true)
  })
  test('NO_PROXY with IPv6: CIDRs, other spellings of one address, [address]:port', () => {
    const v6 = new URL('https://[2001:db8:0:1::10]:6443')
    assert.equal(noProxyMatches(v6, '2001:db8::/32'), true)
    assert.equal(noProxyMatches(v6, '2001:db8:0:1::/64'), true)
    assert.equal(noProxyMatches(v6, '2001:db8:0:2::/64'), false)
    assert.equal(noProxyMatches(v6, '2001:DB8:0:1:0:0:0:10'), true)
    assert.equal(noProxyMatches(v6, '[2001:db8:0:1::10]:6443'), true)
    assert.equal(noProxyMatches(v6, '[2001:db8:0:1::10]:443'), false)
    // an IPv4 range never covers an IPv6 server, and a bad prefix covers nothing
    assert.equal(noProxyMatches(v6, '0.0.0.0/0'), false)
    assert.equal(noProxyMatches(new URL('https://198.18.0.1:6443'), '198.18.0.0/33'), false)
  })
  test('HTTPS_PROXY for https servers; lower-case names too', () => {
    assert.equal(proxyFor('https://a.test', { HTTPS_PROXY: 'http://p:3128' }), 'http://p:3128')
    assert.equal(
      proxyFor('https://a.test', { https_proxy: 'http://p:3128', NO_PROXY: 'a.test' }),
      undefined
    )
    assert.equal(proxyFor('https://a.test', {}), undefined)
    assert.equal(proxyFor('http://a.test', { HTTPS_PROXY: 'http://p:3128' }), undefined)
  })
})

describe('networks', () => {
  test('a group on its own network carries it to the group and its entries', () => {
    const objects = desiredObjects(desc(YAML), DISCOVERY, OWN)
    const auto = objects.find(o => o.kind === 'WorkloadGroup' && o.metadata.name === 'auto')
    assert.equal((auto?.spec as { template: { network?: string } }).template.network, 'vm-net')
  })
})

describe('service accounts', () => {
  test('the default service account is never one of ours', () => {
    const objects = desiredObjects(
      desc(`
workloadGroups:
  - {name: a, namespace: vm, serviceAccount: default, ports: {http: 80}}
vms: [{name: a-1, host: 198.18.2.2}]
`),
      DISCOVERY,
      OWN
    )
    assert.ok(!objects.some(o => o.kind === 'ServiceAccount'))
  })
})
