// The `.global` address allocator and DNS stub edits of the multinetwork-1.4 generation
// (src/istio/legacy/multiNetwork.ts): stability across runs, no collisions, edge cases.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { parse } from 'yaml'
import {
  LegacyInputError,
  allocateGlobalAddresses,
  allocationsFromServiceEntries,
  globalHost,
  ensureCorefileGlobalStub,
  renderGlobalServiceEntry,
  renderKubeDnsStub,
  type ServiceEntryView
} from '../../src/istio/legacy/index.ts'

const hosts = ['httpbin.bar.global', 'details.bookinfo.global', 'mongo.db.global', 'a.b.global']

function inRange(address: string): boolean {
  const m = /^127\.255\.(\d+)\.(\d+)$/.exec(address)
  if (!m) return false
  const off = Number(m[1]) * 256 + Number(m[2])
  return off >= 1 && off <= 65534
}

describe('allocateGlobalAddresses', () => {
  test('the same hosts get the same addresses on every run, whatever their order', () => {
    const a = allocateGlobalAddresses(hosts)
    const b = allocateGlobalAddresses([...hosts].reverse())
    assert.deepEqual(a.allocations, b.allocations)
    assert.deepEqual(Object.keys(a.allocations), [...hosts].sort())
    for (const address of Object.values(a.allocations)) assert.ok(inRange(address), address)
  })

  test('feeding the result back changes nothing and assigns nothing', () => {
    const first = allocateGlobalAddresses(hosts)
    const again = allocateGlobalAddresses(hosts, first.allocations)
    assert.deepEqual(again.allocations, first.allocations)
    assert.deepEqual(again.assigned, [])
    assert.deepEqual(again.released, [])
  })

  test('a new host leaves the others where they were; a dropped host is released', () => {
    const first = allocateGlobalAddresses(hosts)
    const next = allocateGlobalAddresses([...hosts.slice(1), 'new.ns.global'], first.allocations)
    for (const h of hosts.slice(1)) assert.equal(next.allocations[h], first.allocations[h])
    assert.deepEqual(next.assigned, ['new.ns.global'])
    assert.deepEqual(next.released, [hosts[0]])
  })

  test('never an address used elsewhere: a previous one taken meanwhile moves, a hashed slot probes on', () => {
    const first = allocateGlobalAddresses(['httpbin.bar.global'])
    const slot = first.allocations['httpbin.bar.global'] as string
    const moved = allocateGlobalAddresses(['httpbin.bar.global'], first.allocations, [slot])
    assert.notEqual(moved.allocations['httpbin.bar.global'], slot)
    assert.deepEqual(moved.assigned, ['httpbin.bar.global'])
    const fresh = allocateGlobalAddresses(['httpbin.bar.global'], {}, [slot])
    assert.notEqual(fresh.allocations['httpbin.bar.global'], slot)
  })

  test('two previous hosts on one address: the first in sorted order keeps it', () => {
    const r = allocateGlobalAddresses(['a.x.global', 'b.x.global'], {
      'a.x.global': '127.255.0.3',
      'b.x.global': '127.255.0.3'
    })
    assert.equal(r.allocations['a.x.global'], '127.255.0.3')
    assert.notEqual(r.allocations['b.x.global'], '127.255.0.3')
    assert.deepEqual(r.assigned, ['b.x.global'])
  })

  test('a previous address outside 127.255.0.1–127.255.255.254 is replaced', () => {
    for (const bad of ['127.0.0.1', '127.255.0.0', '127.255.255.255', '127.255.01.2', 'x']) {
      const r = allocateGlobalAddresses(['a.x.global'], { 'a.x.global': bad })
      assert.notEqual(r.allocations['a.x.global'], bad)
      assert.ok(inRange(r.allocations['a.x.global'] as string))
    }
  })

  test('2000 hosts: all distinct, all in range, none on a used address', () => {
    const many = Array.from({ length: 2000 }, (_, i) => `svc${i}.ns${i % 7}.global`)
    const used = Array.from({ length: 500 }, (_, i) => `127.255.${i >> 8}.${(i & 255) + 0}`)
    const r = allocateGlobalAddresses(many, {}, used)
    const addresses = Object.values(r.allocations)
    assert.equal(addresses.length, 2000)
    assert.equal(new Set(addresses).size, 2000)
    const usedSet = new Set(used)
    for (const a of addresses) {
      assert.ok(inRange(a), a)
      assert.ok(!usedSet.has(a), a)
    }
  })

  test('an exhausted range and a malformed host are errors', () => {
    const all = Array.from({ length: 65534 }, (_, i) => {
      const off = i + 1
      return `127.255.${off >> 8}.${off & 255}`
    })
    assert.throws(() => allocateGlobalAddresses(['a.x.global'], {}, all), /exhausted/)
    assert.throws(
      () => allocateGlobalAddresses(['httpbin.bar.svc.cluster.local']),
      LegacyInputError
    )
    assert.throws(() => allocateGlobalAddresses(['Bad.ns.global']), LegacyInputError)
  })
})

describe('renderGlobalServiceEntry', () => {
  const svc = { name: 'httpbin', namespace: 'bar', ports: { http: 8000 } }
  test('refuses an address outside 127.255.0.0/16, no gateway, an unknown protocol port', () => {
    assert.throws(() => renderGlobalServiceEntry(svc, '10.0.0.3', ['198.18.0.1']), /127\.255/)
    assert.throws(() => renderGlobalServiceEntry(svc, '127.255.0.3', []), /gateway/)
    assert.throws(
      () =>
        renderGlobalServiceEntry({ ...svc, protocols: { grpc: 'GRPC' } }, '127.255.0.3', [
          '198.18.0.1'
        ]),
      /unknown port "grpc"/
    )
  })
})

describe('DNS stub', () => {
  test('kube-dns: global replaced, other stub domains kept; bad JSON refused', () => {
    const out = renderKubeDnsStub('10.0.0.53', '{"global":["10.0.0.1"],"corp":["10.1.1.1"]}')
    assert.match(out, /stubDomains: '\{"corp":\["10\.1\.1\.1"\],"global":\["10\.0\.0\.53"\]\}'/)
    assert.match(renderKubeDnsStub('10.0.0.53'), /\{"global":\["10\.0\.0\.53"\]\}/)
    assert.throws(() => renderKubeDnsStub('10.0.0.53', '{'), /not JSON/)
    assert.throws(() => renderKubeDnsStub('10.0.0.53', '[]'), /not a JSON object/)
    assert.throws(() => renderKubeDnsStub('istiocoredns'), /not an IP/)
  })

  test('Corefile: adding twice is idempotent; a file without a final newline; an unclosed block', () => {
    const once = ensureCorefileGlobalStub('.:53 {\n    errors\n}', '10.0.0.53')
    assert.equal(once.changed, true)
    assert.equal(
      once.corefile,
      '.:53 {\n    errors\n}\nglobal:53 {\n    errors\n    cache 30\n    forward . 10.0.0.53\n}\n'
    )
    const twice = ensureCorefileGlobalStub(once.corefile, '10.0.0.53')
    assert.equal(twice.changed, false)
    assert.equal(twice.corefile, once.corefile)
    assert.throws(
      () => ensureCorefileGlobalStub('global:53 {\n  errors\n', '10.0.0.53'),
      /closing brace/
    )
  })
})

describe('allocationsFromServiceEntries', () => {
  test('a run reads back what the previous run applied and allocates the same addresses', () => {
    const services = [
      { name: 'httpbin', namespace: 'bar', ports: { http: 8000 } },
      { name: 'details', namespace: 'bookinfo', ports: { http: 9080 } }
    ]
    const foreign = {
      metadata: { labels: { app: 'legacy' } },
      spec: { hosts: ['old.thing.global'], addresses: ['127.255.7.7', '10.0.0.1'] }
    }
    const first = allocateGlobalAddresses(
      services.map(globalHost),
      {},
      allocationsFromServiceEntries([foreign]).usedElsewhere
    )
    const applied = services.map(
      s =>
        parse(
          renderGlobalServiceEntry(s, first.allocations[globalHost(s)] as string, ['198.18.0.1'])
        ) as ServiceEntryView
    )
    const read = allocationsFromServiceEntries([...applied, foreign])
    assert.deepEqual(read.previous, first.allocations)
    assert.deepEqual(read.usedElsewhere, ['10.0.0.1', '127.255.7.7'])
    const second = allocateGlobalAddresses(
      services.map(globalHost),
      read.previous,
      read.usedElsewhere
    )
    assert.deepEqual(second.allocations, first.allocations)
    assert.deepEqual(second.assigned, [])
  })

  test('a second entry of ours for the same host counts as used, not as the allocation', () => {
    const ours = { 'app.kubernetes.io/managed-by': 'mesh-expansion' }
    const read = allocationsFromServiceEntries([
      { metadata: { labels: ours }, spec: { hosts: ['a.x.global'], addresses: ['127.255.0.5'] } },
      { metadata: { labels: ours }, spec: { hosts: ['a.x.global'], addresses: ['127.255.0.6'] } }
    ])
    assert.deepEqual(read.previous, { 'a.x.global': '127.255.0.5' })
    assert.deepEqual(read.usedElsewhere, ['127.255.0.6'])
  })
})
