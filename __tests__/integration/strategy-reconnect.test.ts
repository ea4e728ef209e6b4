// The modern strategy tells a host's sidecar to connect again exactly when this run created the
// host's health-checked WorkloadEntry (deleted by hand since the last run): a sidecar that stayed
// connected sends its health only when it changes, so the new entry would stay without a Healthy
// condition. An entry that existed (unchanged or updated) keeps its conditions: no restart.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { apply, desiredObjects, discover, plan, type Discovery } from '../../src/cluster/index.ts'
import type { Vm } from '../../src/config/index.ts'
import { modernStrategy } from '../../src/engine/modern.ts'
import type { SandboxCluster } from '../../lab/cluster/index.ts'
import { BASIC, connectTo, describe_, sandbox, type Connected } from './cluster-helpers.ts'

describe('reconnect after a health-checked WorkloadEntry was made again', () => {
  let sb: SandboxCluster
  let c: Connected
  let discovery: Discovery
  // mysql-1's address is in the description (its entry is written in the cluster phase);
  // mysql-2's comes from its host (written in beforeStart)
  const description = describe_(BASIC.replace('    address: 198.18.2.3\n', ''))
  const ownership = { owner: 'run-r', createdAt: new Date().toISOString() }
  const vm = (name: string): Vm => {
    const found = description.vms.find(v => v.name === name)
    if (!found) throw new Error(`no VM ${name}`)
    return found
  }
  // one run as the engine's phases go: the cluster phase applies the description's objects,
  // then the strategy's prepare, then beforeStart per host once its address is known
  async function run(): Promise<ReturnType<typeof modernStrategy>> {
    const applied = await apply(
      c.connection.client,
      await plan(c.connection.client, desiredObjects(description, discovery, ownership))
    )
    const strategy = modernStrategy({
      client: c.connection.client,
      description,
      discovery,
      ownership,
      log: () => {},
      warn: () => {},
      onSecret: () => {},
      tokenSeconds: 3600
    })
    await strategy.prepare(new Map([['mysql-1', '198.18.2.2']]), applied.written)
    await strategy.beforeStart(vm('mysql-2'), '198.18.2.33')
    await strategy.beforeStart(vm('web-1'), '198.18.2.4')
    return strategy
  }

  before(async () => {
    sb = await sandbox()
    c = await connectTo(sb.kubeconfig)
    discovery = await discover(c.connection.client, description.cluster)
  })
  after(async () => {
    await c?.connection.close()
    await sb?.close()
  })

  test('created: reconnect; existing: not; deleted by hand and made again: reconnect', async () => {
    const first = await run()
    assert.equal(first.reconnect(vm('mysql-1')), true, 'created in the cluster phase')
    assert.equal(first.reconnect(vm('mysql-2')), true, 'created in beforeStart')
    assert.equal(first.reconnect(vm('web-1')), false, 'auto-registered: no entry of ours')

    const second = await run()
    assert.equal(second.reconnect(vm('mysql-1')), false, 'unchanged')
    assert.equal(second.reconnect(vm('mysql-2')), false, 'unchanged')

    sb.store.delete('workloadentries', 'vm', 'mysql-1')
    sb.store.delete('workloadentries', 'vm', 'mysql-2')
    const third = await run()
    assert.equal(third.reconnect(vm('mysql-1')), true, 'made again in the cluster phase')
    assert.equal(third.reconnect(vm('mysql-2')), true, 'made again in beforeStart')
    // an entry updated (its labels changed by hand) keeps its conditions: no reconnect
    const live = sb.store.get('workloadentries', 'vm', 'mysql-1')
    assert.ok(live)
    ;(live.spec as { labels?: Record<string, string> }).labels = { app: 'changed' }
    sb.store.put(live)
    const fourth = await run()
    const labels = (sb.store.get('workloadentries', 'vm', 'mysql-1')?.spec as { labels: object })
      .labels
    assert.deepEqual(labels, { app: 'mysql', version: 'v1' }, 'the run updated the entry')
    assert.equal(fourth.reconnect(vm('mysql-1')), false, 'updated')
  })
})
