// The soak's verdict (bench/faults/growth.ts) and the parsing of its figures (bench/faults/soak.ts):
// a count that grows by one fails, with what was added named; memory fails only beyond its
// tolerance; a figure that shrinks, or that appears from nothing, is judged as it should be.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  compareFigures,
  growthLines,
  MEMORY_TOLERANCE,
  multisetDifference,
  values,
  type Figures
} from '../../bench/faults/growth.ts'
import { parseSections } from '../../bench/faults/soak.ts'
import { procAddress } from '../../bench/faults/soakRunner.ts'

const count = (items: string[]) => ({ value: items.length, kind: 'count' as const, items })
const bytes = (value: number) => ({ value, kind: 'bytes' as const })
const MiB = 2 ** 20

describe('soak figures: growth', () => {
  test('one more file after cleanup is growth, and the file is named', () => {
    const before: Figures = { 'vm-1: files': count(['/etc/hosts']) }
    const after: Figures = { 'vm-1: files': count(['/etc/hosts', '/var/log/istio']) }
    const [c] = compareFigures(before, after)
    assert.equal(c?.grew, true)
    assert.deepEqual(c?.added, ['/var/log/istio'])
    assert.deepEqual(growthLines(compareFigures(before, after), 'after cleanup'), [
      'after cleanup: vm-1: files grew 1 → 2 (added: /var/log/istio)'
    ])
  })

  test('the same count, or fewer, is no growth; what went is listed as removed', () => {
    const before: Figures = { fds: count(['socket', 'socket', 'pipe']) }
    assert.equal(
      compareFigures(before, { fds: count(['socket', 'pipe', 'socket']) })[0]?.grew,
      false
    )
    const fewer = compareFigures(before, { fds: count(['pipe']) })[0]
    assert.equal(fewer?.grew, false)
    assert.deepEqual(fewer?.removed, ['socket', 'socket'])
  })

  test('a count that swaps one item for another at the same total is no growth but shows both', () => {
    const [c] = compareFigures(
      { p: count(['sshd', 'cron']) },
      { p: count(['sshd', 'pilot-agent']) }
    )
    assert.equal(c?.grew, false)
    assert.deepEqual(c?.added, ['pilot-agent'])
    assert.deepEqual(c?.removed, ['cron'])
  })

  test('a figure that appears from nothing has grown from 0; one that vanished has not', () => {
    const appeared = compareFigures({}, { 'istiod: proxies': count(['spiffe://a']) })
    assert.deepEqual(
      appeared.map(c => [c.figure, c.before, c.after, c.grew]),
      [['istiod: proxies', 0, 1, true]]
    )
    const vanished = compareFigures({ x: count(['a']) }, {})
    assert.equal(vanished[0]?.grew, false)
  })

  test('memory grows only beyond both the ratio and the floor of its tolerance', () => {
    const base = 200 * MiB
    const within = base + Math.max(base * MEMORY_TOLERANCE.ratio, MEMORY_TOLERANCE.bytes)
    assert.equal(compareFigures({ rss: bytes(base) }, { rss: bytes(within) })[0]?.grew, false)
    assert.equal(compareFigures({ rss: bytes(base) }, { rss: bytes(within + 1) })[0]?.grew, true)
    // a small heap: the floor (8 MiB), not 10 %, decides
    assert.equal(compareFigures({ h: bytes(10 * MiB) }, { h: bytes(17 * MiB) })[0]?.grew, false)
    assert.equal(compareFigures({ h: bytes(10 * MiB) }, { h: bytes(19 * MiB) })[0]?.grew, true)
  })

  test('a context figure is shown and never judged', () => {
    const ctx = (value: number) => ({ value, kind: 'context' as const })
    const [c] = compareFigures({ events: ctx(10) }, { events: ctx(5000) })
    assert.deepEqual([c?.before, c?.after, c?.grew], [10, 5000, false])
  })

  test('multisetDifference counts repeats; values keeps the numbers only', () => {
    assert.deepEqual(multisetDifference(['a', 'a', 'b'], ['a']), ['a', 'b'])
    assert.deepEqual(values({ a: count(['x', 'y']), m: bytes(5) }), { a: 2, m: 5 })
  })
})

describe('soak figures: parsing', () => {
  test('the VM script output splits into its sections; empty lines are dropped', () => {
    const s = parseSections(
      '## iptables\n-A OUTPUT -j ISTIO_OUTPUT\n\n## files\n/etc/certs\n## lines\n'
    )
    assert.deepEqual(s.get('iptables'), ['-A OUTPUT -j ISTIO_OUTPUT'])
    assert.deepEqual(s.get('files'), ['/etc/certs'])
    assert.deepEqual(s.get('lines'), [])
    assert.equal(s.get('units'), undefined)
  })

  test('a /proc/net/tcp address reads as ip:port, an ephemeral port as *', () => {
    assert.equal(procAddress('0100007F:1F90'), '127.0.0.1:8080')
    assert.equal(procAddress('010012C6:0016'), '198.18.0.1:22')
    assert.equal(procAddress('0100007F:A000'), '127.0.0.1:*')
  })
})
