// The ownership contract in the planner, without a cluster: what is ours, what is a conflict,
// what settings.adopt takes over, and that apply refuses a plan with a conflict before any write.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { foreignReason } from '../../src/cluster/objects.ts'
import { apply, planConflicts, planEntry, renderPlan } from '../../src/cluster/plan.ts'
import type { ClusterClient, KubeObject } from '../../src/cluster/types.ts'

const OURS = {
  'app.kubernetes.io/managed-by': 'mesh-expansion',
  'mesh-expansion.io/owner': 'pr-12'
}

const desired: KubeObject = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'cart', namespace: 'shop', labels: { ...OURS } },
  spec: { selector: { app: 'cart' }, ports: [{ name: 'http', port: 8080 }] }
}

function live(labels: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'cart', namespace: 'shop', labels, resourceVersion: '7' },
    spec: {
      selector: { app: 'cart' },
      ports: [{ name: 'web', port: 80 }],
      clusterIP: '198.19.0.9'
    },
    status: { loadBalancer: {} }
  }
}

describe('ownership in the plan', () => {
  test('ours only with our managed-by label and this owner', () => {
    assert.equal(foreignReason(live(OURS), 'pr-12'), null)
    assert.equal(foreignReason(live({}), 'pr-12'), 'exists, not managed by mesh-expansion')
    assert.equal(foreignReason(live(OURS), 'pr-13'), 'owned by pr-12')
    assert.equal(
      foreignReason(live({ 'mesh-expansion.io/owner': 'pr-12' }), 'pr-12'),
      'exists, not managed by mesh-expansion'
    )
  })

  test('an object not ours is a conflict, never an update', () => {
    const unlabelled = planEntry(desired, live({ team: 'payments' }))
    assert.equal(unlabelled.action, 'conflict')
    assert.equal(unlabelled.reason, 'exists, not managed by mesh-expansion')
    const theirs = planEntry(desired, live({ ...OURS, 'mesh-expansion.io/owner': 'pr-9' }))
    assert.equal(theirs.action, 'conflict')
    assert.equal(theirs.reason, 'owned by pr-9')
    const text = renderPlan({ entries: [unlabelled, theirs] })
    assert.match(text, /! Service shop\/cart: conflict: exists, not managed by mesh-expansion\n/)
    assert.match(text, /! Service shop\/cart: conflict: owned by pr-9\n/)
    assert.match(text, /2 conflicts: apply would change nothing\n$/)
    assert.deepEqual(planConflicts({ entries: [unlabelled, theirs] }), [
      'Service shop/cart: exists, not managed by mesh-expansion',
      'Service shop/cart: owned by pr-9'
    ])
  })

  test('ours: an update applied with force; a create without', () => {
    const update = planEntry(desired, live(OURS))
    assert.equal(update.action, 'update')
    assert.equal(update.force, true)
    assert.equal(planEntry(desired, null).force, undefined)
  })

  test('adopted: the live object with ours laid over, then ours', () => {
    const adopt = [{ kind: 'Service', namespace: 'shop', name: 'cart' }]
    const entry = planEntry(desired, live({ team: 'payments' }), { adopt })
    assert.equal(entry.action, 'update')
    assert.equal(entry.adopted, 'was not managed by mesh-expansion')
    assert.match(renderPlan({ entries: [entry] }), /adopted: was not managed by mesh-expansion/)
    const put = entry.takeOver
    assert.ok(put)
    assert.deepEqual(put.metadata.labels, { team: 'payments', ...OURS })
    assert.equal(put.metadata.resourceVersion, '7', 'the precondition')
    assert.deepEqual(put['spec'], {
      selector: { app: 'cart' },
      ports: [{ name: 'http', port: 8080 }],
      clusterIP: '198.19.0.9'
    })
    assert.equal(put['status'], undefined)
    // another name is not adopted
    const other = planEntry({ ...desired, metadata: { ...desired.metadata, name: 'x' } }, null, {
      adopt
    })
    assert.equal(other.action, 'create')
    const notListed = planEntry(desired, live({}), {
      adopt: [{ kind: 'Service', namespace: 'other', name: 'cart' }]
    })
    assert.equal(notListed.action, 'conflict')
  })

  test('apply refuses a plan with a conflict before its first request', async () => {
    let requests = 0
    const client = new Proxy({} as ClusterClient, {
      get: () => () => {
        requests++
        return Promise.resolve({})
      }
    })
    await assert.rejects(
      apply(client, {
        entries: [planEntry(desired, null), planEntry(desired, live({}))]
      }),
      /conflict: Service shop\/cart: exists, not managed by mesh-expansion; .*settings\.adopt/
    )
    assert.equal(requests, 0)
  })
})
