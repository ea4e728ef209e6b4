// The sandbox cluster's pure parts: selectors, field ownership and server-side apply, patches, the
// store, tokens, and echo.py on loopback.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { startEcho, type EchoReply } from '../../lab/cluster/echo.ts'
import {
  jsonPatch,
  mergePatch,
  serverSideApply,
  trackUpdate,
  type Obj
} from '../../lab/cluster/fields.ts'
import {
  compareVersions,
  findType,
  istioVersionsFor,
  resourceTypes
} from '../../lab/cluster/resources.ts'
import { matchesLabels, parseLabelSelector } from '../../lab/cluster/selectors.ts'
import { ApiError } from '../../lab/cluster/status.ts'
import { ObjectStore } from '../../lab/cluster/store.ts'
import { TokenAuthority } from '../../lab/cluster/tokens.ts'
import { validateGeneric, validateIstio } from '../../lab/cluster/validate.ts'

const now = '2026-11-23T00:00:00Z'

function managers(obj: Obj): Record<string, string> {
  const entries =
    (
      obj.metadata as {
        managedFields?: Array<{ manager: string; operation: string; fieldsV1: unknown }>
      }
    ).managedFields ?? []
  return Object.fromEntries(
    entries.map(e => [`${e.manager}/${e.operation}`, JSON.stringify(e.fieldsV1)])
  )
}

describe('label selectors', () => {
  const labels = { app: 'mysql', version: 'v1', 'topology.istio.io/network': 'net1' }
  for (const [selector, expected] of [
    ['', true],
    ['app=mysql', true],
    ['app==mysql', true],
    ['app!=mysql', false],
    ['app=mysql,version=v2', false],
    ['version in (v1, v2)', true],
    ['version notin (v1)', false],
    ['tier notin (web)', true],
    ['tier', false],
    ['!tier', true],
    ['topology.istio.io/network=net1', true],
    ['app in (mysql),!tier,version', true]
  ] as const) {
    test(`"${selector}" → ${expected}`, () => {
      assert.equal(matchesLabels(labels, parseLabelSelector(selector)), expected)
    })
  }
  test('bad selectors are refused', () => {
    assert.throws(() => parseLabelSelector('a b c'))
    assert.throws(() => parseLabelSelector('=x'))
  })
})

describe('server-side apply', () => {
  const cm = (data: Record<string, string>, labels?: Record<string, string>): Obj => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'x', namespace: 'ns', ...(labels ? { labels } : {}) },
    data
  })

  test('create records the applied fields as FieldsV1', () => {
    const created = serverSideApply(undefined, cm({ a: '1' }, { app: 'x' }), 'mx', false, 'v1', now)
    assert.deepEqual(managers(created), {
      'mx/Apply': JSON.stringify({
        'f:data': { 'f:a': {} },
        'f:metadata': { 'f:labels': { 'f:app': {} } }
      })
    })
    assert.equal((created.metadata as Obj).name, 'x')
  })

  test('shared ownership on equal values; conflict on different ones; force takes over', () => {
    const live = serverSideApply(undefined, cm({ a: '1', b: '2' }), 'first', false, 'v1', now)
    const shared = serverSideApply(live, cm({ a: '1' }), 'second', false, 'v1', now)
    assert.ok(managers(shared)['first/Apply']?.includes('f:a'))
    assert.ok(managers(shared)['second/Apply']?.includes('f:a'))
    assert.throws(
      () => serverSideApply(shared, cm({ a: '9', b: '8' }), 'third', false, 'v1', now),
      (e: unknown) =>
        e instanceof ApiError &&
        e.code === 409 &&
        /Apply failed with 3 conflicts/.test(e.message) &&
        /conflicts with "first" using v1:\n- \.data\.a\n- \.data\.b/.test(e.message) &&
        e.details?.causes?.length === 3
    )
    const forced = serverSideApply(shared, cm({ a: '9' }), 'third', true, 'v1', now)
    assert.equal((forced.data as Obj).a, '9')
    assert.equal(managers(forced)['second/Apply'], undefined, 'second lost its only field')
    assert.equal(managers(forced)['first/Apply'], JSON.stringify({ 'f:data': { 'f:b': {} } }))
  })

  test('fields dropped from the applied config are removed unless someone else owns them', () => {
    const live = serverSideApply(
      undefined,
      cm({ a: '1', b: '2' }, { app: 'x' }),
      'mx',
      false,
      'v1',
      now
    )
    const other = serverSideApply(live, cm({ b: '2' }), 'other', false, 'v1', now)
    const shrunk = serverSideApply(other, cm({}), 'mx', false, 'v1', now)
    assert.deepEqual(shrunk.data, { b: '2' })
    assert.equal((shrunk.metadata as Obj).labels, undefined)
  })

  test('updates take ownership of the fields they change', () => {
    const live = serverSideApply(undefined, cm({ a: '1', b: '2' }), 'mx', false, 'v1', now)
    const next = mergePatch(live, { data: { a: 'edited' } }) as Obj
    trackUpdate(live, next, 'kubectl-edit', 'v1', now)
    assert.equal(managers(next)['kubectl-edit/Update'], JSON.stringify({ 'f:data': { 'f:a': {} } }))
    assert.equal(managers(next)['mx/Apply'], JSON.stringify({ 'f:data': { 'f:b': {} } }))
  })
})

describe('server-side apply of associative lists', () => {
  const svc = (ports: Array<Record<string, unknown>>): Obj => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 's', namespace: 'ns' },
    spec: { ports }
  })

  test('Service ports are owned and merged per port/protocol', () => {
    const a = serverSideApply(
      undefined,
      svc([{ port: 80, targetPort: 8080 }]),
      'a',
      false,
      'v1',
      now
    )
    assert.equal(
      managers(a)['a/Apply'],
      JSON.stringify({
        'f:spec': {
          'f:ports': {
            'k:{"port":80,"protocol":"TCP"}': { 'f:port': {}, 'f:targetPort': {}, '.': {} }
          }
        }
      })
    )
    const both = serverSideApply(
      a,
      svc([{ port: 443, protocol: 'TCP', targetPort: 8443 }]),
      'b',
      false,
      'v1',
      now
    )
    assert.deepEqual((both.spec as { ports: unknown[] }).ports, [
      { port: 80, targetPort: 8080 },
      { port: 443, protocol: 'TCP', targetPort: 8443 }
    ])
    assert.throws(
      () => serverSideApply(both, svc([{ port: 80, targetPort: 9090 }]), 'b', false, 'v1', now),
      (e: unknown) =>
        e instanceof ApiError &&
        e.message.includes('.spec.ports[port=80,protocol="TCP"].targetPort')
    )
    const dropped = serverSideApply(both, svc([]), 'a', false, 'v1', now)
    assert.deepEqual((dropped.spec as { ports: unknown[] }).ports, [
      { port: 443, protocol: 'TCP', targetPort: 8443 }
    ])
  })

  test('container env entries are keyed by name', () => {
    const deploy = (env: Array<Record<string, string>>): Obj => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd', namespace: 'ns' },
      spec: { template: { spec: { containers: [{ name: 'app', env }] } } }
    })
    const first = serverSideApply(
      undefined,
      deploy([{ name: 'A', value: '1' }]),
      'one',
      false,
      'apps/v1',
      now
    )
    const second = serverSideApply(
      first,
      deploy([{ name: 'B', value: '2' }]),
      'two',
      false,
      'apps/v1',
      now
    )
    const env = (o: Obj): unknown =>
      (((o.spec as Obj).template as Obj).spec as { containers: Array<{ env: unknown }> })
        .containers[0]?.env
    assert.deepEqual(env(second), [
      { name: 'A', value: '1' },
      { name: 'B', value: '2' }
    ])
  })

  test('Istio lists stay atomic', () => {
    const se = (hosts: string[]): Obj => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'x', namespace: 'ns' },
      spec: { hosts, ports: [{ number: 80, name: 'http' }] }
    })
    const first = serverSideApply(undefined, se(['a']), 'one', false, 'v1', now)
    assert.equal(
      managers(first)['one/Apply'],
      JSON.stringify({ 'f:spec': { 'f:hosts': {}, 'f:ports': {} } })
    )
  })
})

describe('patches', () => {
  test('RFC 7386 merge patch examples', () => {
    assert.deepEqual(mergePatch({ a: 'b' }, { a: 'c' }), { a: 'c' })
    assert.deepEqual(mergePatch({ a: 'b' }, { b: 'c' }), { a: 'b', b: 'c' })
    assert.deepEqual(mergePatch({ a: 'b' }, { a: null }), {})
    assert.deepEqual(mergePatch({ a: [{ b: 'c' }] }, { a: [1] }), { a: [1] })
    assert.deepEqual(mergePatch({ e: null }, { a: 1 }), { e: null, a: 1 })
  })
  test('RFC 6902 JSON patch', () => {
    const doc = { spec: { list: [1, 2], name: 'x' } }
    assert.deepEqual(
      jsonPatch(doc, [
        { op: 'add', path: '/spec/list/-', value: 3 },
        { op: 'add', path: '/spec/list/0', value: 0 },
        { op: 'copy', from: '/spec/name', path: '/spec/copy' },
        { op: 'move', from: '/spec/name', path: '/spec/moved' },
        { op: 'test', path: '/spec/copy', value: 'x' },
        { op: 'add', path: '/spec/a~1b', value: 1 }
      ]),
      { spec: { list: [0, 1, 2, 3], copy: 'x', moved: 'x', 'a/b': 1 } }
    )
    assert.throws(() => jsonPatch(doc, [{ op: 'remove', path: '/spec/missing' }]), ApiError)
    assert.throws(() => jsonPatch(doc, [{ op: 'replace', path: '/nope/x', value: 1 }]), ApiError)
  })
})

describe('store', () => {
  test('a write that changes nothing keeps the resourceVersion; namespaces cascade', () => {
    const store = new ObjectStore()
    store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } })
    const first = store.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'a' },
      data: { k: 'v' }
    })
    const same = store.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'a' },
      data: { k: 'v' }
    })
    assert.equal(same.metadata?.resourceVersion, first.metadata?.resourceVersion)
    const changed = store.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'a' },
      data: { k: 'w' }
    })
    assert.ok(Number(changed.metadata?.resourceVersion) > Number(first.metadata?.resourceVersion))
    assert.equal(changed.metadata?.uid, first.metadata?.uid)
    assert.throws(
      () =>
        store.put({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'c', namespace: 'ghost' }
        }),
      /namespaces "ghost" not found/
    )
    store.delete('ns', undefined, 'a')
    assert.equal(store.get('cm', 'a', 'c'), undefined)
  })
  test('Services get ClusterIPs in 198.19.0.0/16', () => {
    const store = new ObjectStore()
    store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } })
    const svc = store.put({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 's', namespace: 'a' },
      spec: { ports: [{ port: 80 }] }
    })
    assert.match(String((svc.spec as Obj).clusterIP), /^198\.19\.\d+\.\d+$/)
    assert.deepEqual((svc.spec as { ports: unknown[] }).ports, [
      { protocol: 'TCP', targetPort: 80, port: 80 }
    ])
  })
})

describe('tokens', () => {
  const authority = new TokenAuthority()
  const uid = '0d6a4a37-1111-2222-3333-444455556666'
  const lookup = (ns: string, name: string): string | undefined =>
    ns === 'vm' && name === 'mysql' ? uid : undefined
  const { token } = authority.mint({
    namespace: 'vm',
    serviceAccount: 'mysql',
    serviceAccountUid: uid,
    audiences: ['istio-ca'],
    expirationSeconds: 600
  })
  test('a fresh token passes for its audience only', () => {
    assert.equal(authority.review(token, ['istio-ca'], lookup).authenticated, true)
    assert.equal(
      authority.review(token, [], lookup).authenticated,
      false,
      'not for the API audience'
    )
  })
  test('expiry, another signer, a deleted or recreated ServiceAccount fail', () => {
    assert.match(
      authority.review(token, ['istio-ca'], lookup, Date.now() + 601_000).error ?? '',
      /expired/
    )
    assert.equal(new TokenAuthority().review(token, ['istio-ca'], lookup).authenticated, false)
    assert.equal(authority.review(token, ['istio-ca'], () => undefined).authenticated, false)
    assert.equal(authority.review(token, ['istio-ca'], () => 'another-uid').authenticated, false)
  })
})

describe('versions', () => {
  test('Istio API versions by release', () => {
    assert.ok(compareVersions('1.9', '1.22') < 0)
    assert.deepEqual(istioVersionsFor('1.30.3').networking, ['v1', 'v1beta1', 'v1alpha3'])
    assert.deepEqual(istioVersionsFor('1.12.0').networking, ['v1beta1', 'v1alpha3'])
    assert.deepEqual(istioVersionsFor('1.4.6').networking, ['v1alpha3'])
  })
})

describe('echo.py', () => {
  test('serves on two loopback ports and echoes headers', async () => {
    const echo = await startEcho({ python: true, host: '127.0.0.1', ports: [0, 0], name: 'vm-app' })
    try {
      assert.equal(echo.addresses.length, 2)
      for (const a of echo.addresses) {
        const res = await fetch(`http://127.0.0.1:${a.port}/x?y=1`, {
          method: 'POST',
          body: 'abc',
          headers: { 'x-test': 'yes' }
        })
        const reply = (await res.json()) as EchoReply
        assert.equal(reply.method, 'POST')
        assert.equal(reply.path, '/x?y=1')
        assert.equal(reply.headers['x-test'], 'yes')
        assert.equal(reply.host, 'vm-app')
        assert.equal(reply.bodyBytes, 3)
      }
    } finally {
      await echo.close()
    }
  })
})

describe('validation', () => {
  const types = resourceTypes()
  const se = findType(types, 'networking.istio.io', 'serviceentries')
  const we = findType(types, 'networking.istio.io', 'workloadentries')
  const cm = findType(types, '', 'configmaps')
  assert.ok(se && we && cm)
  test('Istio schema: enums, required fields, types, port ranges, CEL-like rules', () => {
    assert.deepEqual(
      validateIstio(se, 'v1', {
        metadata: { name: 'x' },
        spec: {
          hosts: ['a'],
          resolution: 'STATIC',
          ports: [{ name: 'tcp', number: 3306, protocol: 'TCP' }]
        }
      }),
      []
    )
    const [bad] = validateIstio(se, 'v1', {
      metadata: { name: 'x' },
      spec: { hosts: ['a'], resolution: 'BOGUS' }
    })
    assert.equal(bad?.field, 'spec.resolution')
    assert.match(
      bad?.message ?? '',
      /^Unsupported value: "BOGUS": supported values: "NONE", "STATIC"/
    )
    assert.deepEqual(
      validateIstio(se, 'v1', {
        metadata: { name: 'x' },
        spec: { hosts: ['a'], ports: [{ number: 80 }] }
      }).map(c => c.field),
      ['spec.ports[0].name']
    )
    assert.deepEqual(
      validateIstio(se, 'v1', { metadata: { name: 'x' }, spec: { hosts: [] } }).map(c => c.field),
      ['spec.hosts']
    )
    assert.deepEqual(
      validateIstio(we, 'v1beta1', {
        metadata: { name: 'x' },
        spec: { address: '198.18.2.2', ports: { http: 70000 } }
      }).map(c => c.field),
      ['spec.ports.http']
    )
    assert.deepEqual(
      validateIstio(we, 'v1alpha3', { metadata: { name: 'x' }, spec: { network: 'net2' } }),
      []
    )
  })
  test('names, labels and ConfigMap data', () => {
    assert.deepEqual(validateGeneric(cm, { metadata: { name: 'ok.name-1' }, data: { a: 'b' } }), [])
    assert.deepEqual(
      validateGeneric(cm, { metadata: { name: 'Not_OK' } }).map(c => c.field),
      ['metadata.name']
    )
    assert.deepEqual(
      validateGeneric(cm, { metadata: { name: 'x', labels: { app: 'bad value' } } }).map(
        c => c.field
      ),
      ['metadata.labels']
    )
    assert.deepEqual(
      validateGeneric(cm, { metadata: { name: 'x' }, data: { n: 1 } }).map(c => c.field),
      ['data[n]']
    )
  })
})
