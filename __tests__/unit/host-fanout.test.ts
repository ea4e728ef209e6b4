// Fan-out: bounded concurrency, results in input order, failures isolated, failFast and
// maxFailures, and shards that are deterministic and cover every host exactly once.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { fanOut, selectShard, shardOf } from '../../src/host/fanout.ts'
import { emptyResult, type HostResult } from '../../src/host/onboard.ts'

const hosts = Array.from({ length: 50 }, (_, i) => ({ name: `vm-${i + 1}` }))
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

function outcome(name: string, ok: boolean): HostResult {
  const result = emptyResult(name, ok ? 'ok' : 'failed')
  if (!ok) result.error = { phase: 'connect', message: 'refused' }
  return result
}

describe('fan-out', () => {
  test('never more than `parallelism` at once; results in input order', async () => {
    let running = 0
    let peak = 0
    const report = await fanOut(
      hosts,
      async host => {
        running++
        peak = Math.max(peak, running)
        await sleep(Math.random() * 5)
        running--
        return outcome(host.name, true)
      },
      { parallelism: 7, failFast: false, maxFailures: null }
    )
    assert.equal(peak, 7)
    assert.deepEqual(
      report.results.map(r => r.host),
      hosts.map(h => h.name)
    )
    assert.equal(report.ok, true)
    assert.equal(report.succeeded, 50)
  })

  test('a failed host (even a throwing worker) does not stop the others; the run is not ok', async () => {
    const report = await fanOut(
      hosts.slice(0, 5),
      async host => {
        if (host.name === 'vm-2') return outcome(host.name, false)
        if (host.name === 'vm-4') throw new Error('bug')
        return outcome(host.name, true)
      },
      { parallelism: 2, failFast: false, maxFailures: null }
    )
    assert.deepEqual(
      report.results.map(r => r.status),
      ['ok', 'failed', 'ok', 'failed', 'ok']
    )
    assert.equal(report.results[3]?.error?.phase, 'internal')
    assert.equal(report.failed, 2)
    assert.equal(report.ok, false)
  })

  test('failFast starts no new host after the first failure', async () => {
    const report = await fanOut(
      hosts.slice(0, 6),
      async host => outcome(host.name, host.name !== 'vm-1'),
      {
        parallelism: 1,
        failFast: true,
        maxFailures: null
      }
    )
    assert.equal(report.failed, 1)
    assert.equal(report.skipped, 5)
    assert.equal(report.results[5]?.status, 'skipped')
  })

  test('maxFailures stops after that many failed hosts', async () => {
    const report = await fanOut(
      hosts.slice(0, 10),
      async host => outcome(host.name, !['vm-2', 'vm-3', 'vm-5'].includes(host.name)),
      {
        parallelism: 1,
        failFast: false,
        maxFailures: 2
      }
    )
    assert.equal(report.failed, 2)
    assert.deepEqual(
      report.results.map(r => r.status),
      [
        'ok',
        'failed',
        'failed',
        'skipped',
        'skipped',
        'skipped',
        'skipped',
        'skipped',
        'skipped',
        'skipped'
      ]
    )
  })

  test('shards partition the fleet, independent of order', () => {
    const seen = new Map<string, number>()
    for (let i = 1; i <= 5; i++) {
      for (const host of selectShard(hosts, { index: i, count: 5 })) {
        assert.equal(seen.has(host.name), false)
        seen.set(host.name, i)
      }
    }
    assert.equal(seen.size, hosts.length)
    const shuffled = [...hosts].reverse()
    assert.deepEqual(
      selectShard(shuffled, { index: 2, count: 5 })
        .map(h => h.name)
        .sort(),
      selectShard(hosts, { index: 2, count: 5 })
        .map(h => h.name)
        .sort()
    )
    // every shard gets some of 50 hosts
    for (let i = 1; i <= 5; i++) assert.ok(selectShard(hosts, { index: i, count: 5 }).length > 0)
    assert.equal(shardOf('vm-1', 1), 1)
    assert.deepEqual(selectShard(hosts, { index: 1, count: 1 }), hosts)
    assert.throws(() => selectShard(hosts, { index: 6, count: 5 }), /not i\/n/)
  })
})
