// The ownership contract against the sandbox API (docs/cluster.md, "Ownership"): an object that
// exists and is not ours (no managed-by label, or another owner's) is a conflict in the plan;
// apply stops in preflight before any write and the objects stay byte for byte; cleanup of any
// owner leaves them; a namespace we created survives cleanup while it holds anything of someone
// else's, of any resource type the API serves; settings.adopt takes an object over, said so.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { cleanup, sweep, type Connection } from '../../src/cluster/index.ts'
import { planCommand } from '../../src/commands/cluster.ts'
import type { Command } from '../../src/commands/types.ts'
import type { Description } from '../../src/config/index.ts'
import { apply as applyRun, plan as planRun } from '../../src/engine/run.ts'
import type { RunReport } from '../../src/engine/report.ts'
import {
  customResourceType,
  type KubeObject,
  type SandboxCluster
} from '../../lab/cluster/index.ts'
import { connectTo, describe_, sandbox, writeCount } from './cluster-helpers.ts'

/** One group of each kind of service, no VMs: the cluster side alone. */
const SHOP = `
workloadGroups:
  - name: cart
    namespace: shop
    ports: {http: 8080}
    service: {kind: Service}
  - name: stock
    namespace: shop
    ports: {http: 8080}
    service: {kind: ServiceEntry}
`

const MANAGED = 'app.kubernetes.io/managed-by'
const OWNER = 'mesh-expansion.io/owner'

/** The objects of SHOP someone else made: a Service, a WorkloadGroup, a ServiceEntry. */
function theirs(labels: Record<string, string> = {}): KubeObject[] {
  const meta = (name: string): KubeObject['metadata'] => ({
    name,
    namespace: 'shop',
    labels: { team: 'payments', ...labels }
  })
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta('cart'),
      spec: { selector: { app: 'cart' }, ports: [{ name: 'http', port: 80, targetPort: 9090 }] }
    },
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadGroup',
      metadata: meta('cart'),
      spec: { metadata: { labels: { app: 'cart' } }, template: { serviceAccount: 'cart' } }
    },
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: meta('stock'),
      spec: {
        hosts: ['stock.example.internal'],
        ports: [{ name: 'http', number: 80, protocol: 'HTTP' }],
        resolution: 'DNS'
      }
    }
  ]
}

const PLURAL: Readonly<Record<string, string>> = {
  Service: 'services',
  WorkloadGroup: 'workloadgroups',
  ServiceEntry: 'serviceentries'
}

/** The stored form of each object, as JSON text: "byte for byte unchanged" compares these. */
function stored(sb: SandboxCluster, objects: readonly KubeObject[]): string[] {
  return objects.map(o =>
    JSON.stringify(
      sb.store.get(PLURAL[o.kind ?? ''] ?? '', o.metadata?.namespace, o.metadata?.name ?? '')
    )
  )
}

function engineOptions(owner: string, lines: string[]) {
  return {
    owner,
    env: {},
    log: (line: string) => lines.push(line),
    warn: (line: string) => lines.push(`warning: ${line}`),
    onSecret: () => undefined,
    verify: false
  }
}

async function runEngine(
  run: typeof applyRun,
  description: Description,
  connection: Connection,
  owner: string
): Promise<{ report: RunReport; lines: string[] }> {
  const lines: string[] = []
  const report = await run(description, connection, engineOptions(owner, lines))
  return { report, lines }
}

describe('ownership: objects that are not ours', () => {
  let sb: SandboxCluster
  let connection: Connection
  let dir: string
  const description = describe_(SHOP)

  before(async () => {
    sb = await sandbox()
    connection = (await connectTo(sb.kubeconfig)).connection
    dir = await mkdtemp(join(tmpdir(), 'cluster-ownership-test-'))
    await sb.writeKubeconfig(join(dir, 'kubeconfig'))
    await writeFile(join(dir, 'shop.yaml'), `${SHOP}settings: {owner: pr-1}\n`)
    sb.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } })
  })
  after(async () => {
    await connection?.close()
    await sb?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  async function cli(command: Command, args: string[]) {
    let out = ''
    let err = ''
    const code = await command(args, {
      stdout: t => (out += t),
      stderr: t => (err += t),
      env: { KUBECONFIG: join(dir, 'kubeconfig') },
      cwd: dir
    })
    return { code, out, err }
  }

  for (const [what, labels, reason] of [
    ['unlabelled', {}, /exists, not managed by mesh-expansion/],
    ['another owner’s', { [MANAGED]: 'mesh-expansion', [OWNER]: 'pr-9' }, /owned by pr-9/]
  ] as const) {
    test(`${what} Service, WorkloadGroup and ServiceEntry: conflicts, apply stops in preflight, nothing written`, async () => {
      const objects = theirs(labels)
      for (const o of objects) sb.store.put(o, { manager: 'someone-else' })
      const before = stored(sb, objects)
      try {
        // the plan command: every conflict shown, exit 1, nothing written
        sb.requestLog.clear()
        const p = await cli(planCommand, ['-c', 'shop.yaml'])
        assert.equal(p.code, 1, p.err)
        for (const line of [
          /! Service shop\/cart: conflict: /,
          /! WorkloadGroup shop\/cart: conflict: /,
          /! ServiceEntry shop\/stock: conflict: /
        ])
          assert.match(p.out, line)
        assert.match(p.out, reason)
        assert.match(p.out, /3 conflicts: apply would change nothing/)
        assert.match(p.err, /take it over with settings\.adopt/)
        assert.equal(writeCount(sb), 0)

        // the engine's apply: stopped in preflight, every conflict listed, zero writes
        for (const owner of ['pr-1', 'mesh-expansion']) {
          sb.requestLog.clear()
          const { report } = await runEngine(applyRun, description, connection, owner)
          assert.equal(report.ok, false)
          assert.equal(report.failedPhase, 'preflight')
          assert.equal(report.invalid, false)
          const conflicts = report.problems.filter(p => p.startsWith('conflict: '))
          assert.equal(conflicts.length, 3, report.problems.join('\n'))
          for (const c of conflicts) assert.match(c, reason)
          assert.deepEqual(
            report.cluster?.plan.filter(e => e.action === 'conflict').map(e => e.name),
            ['cart', 'cart', 'stock']
          )
          assert.equal(writeCount(sb), 0, JSON.stringify(sb.requestLog.entries.slice(-5)))
        }
        // the plan through the engine stops the same way
        const planned = await runEngine(planRun, description, connection, 'pr-1')
        assert.equal(planned.report.failedPhase, 'preflight')
        assert.deepEqual(stored(sb, objects), before)

        // cleanup of any owner, and a sweep of every owner, leaves them all
        sb.requestLog.clear()
        for (const owner of ['pr-1', 'mesh-expansion', 'run-42']) {
          const result = await cleanup(connection.client, owner)
          assert.deepEqual(result.deleted, [])
        }
        if (labels[OWNER] === undefined) {
          const swept = await sweep(connection.client, 0)
          assert.deepEqual(swept, [])
        }
        assert.equal(sb.requestLog.count({ verb: 'delete' }), 0)
        assert.deepEqual(stored(sb, objects), before)
      } finally {
        for (const o of objects) {
          const type = sb.store.types.find(t => t.kind === o.kind)
          if (type) sb.store.remove(type, 'shop', o.metadata?.name ?? '')
        }
      }
    })
  }

  test('settings.adopt takes an object over, and the plan and the report say so', async () => {
    const objects = theirs()
    for (const o of objects) sb.store.put(o, { manager: 'someone-else' })
    const [service, group] = stored(sb, objects)
    const adopting = describe_(
      `${SHOP}settings:\n  adopt:\n    - {kind: ServiceEntry, namespace: shop, name: stock}\n`
    )
    // two objects left: still a conflict each, and nothing is taken over
    sb.requestLog.clear()
    const refused = await runEngine(applyRun, adopting, connection, 'pr-1')
    assert.equal(refused.report.failedPhase, 'preflight')
    assert.equal(refused.report.problems.filter(p => p.startsWith('conflict: ')).length, 2)
    assert.equal(writeCount(sb), 0)

    const all = describe_(
      `${SHOP}settings:\n  adopt:\n` +
        '    - {kind: Service, namespace: shop, name: cart}\n' +
        '    - {kind: WorkloadGroup, namespace: shop, name: cart}\n' +
        '    - {kind: ServiceEntry, namespace: shop, name: stock}\n'
    )
    const { report, lines } = await runEngine(applyRun, all, connection, 'pr-1')
    assert.equal(report.failedPhase, null, report.problems.join('\n'))
    const adopted = report.cluster?.plan.filter(e => e.action === 'adopt') ?? []
    assert.deepEqual(
      adopted.map(e => `${e.kind}/${e.name}`),
      ['WorkloadGroup/cart', 'Service/cart', 'ServiceEntry/stock']
    )
    for (const e of adopted)
      assert.equal(e.reason, 'taken over (settings.adopt): was not managed by mesh-expansion')
    assert.ok(lines.some(l => /taking over Service shop\/cart \(settings\.adopt\)/.test(l)))
    const live = sb.store.get('services', 'shop', 'cart')
    assert.equal(live?.metadata?.labels?.[OWNER], 'pr-1')
    assert.equal(live?.metadata?.labels?.team, 'payments', 'their other labels stay')
    const ports = (live?.spec as { ports: { port: number }[] } | undefined)?.ports ?? []
    assert.deepEqual(
      ports.map(p => p.port),
      [8080],
      'the ports are the description’s alone'
    )
    assert.notEqual(JSON.stringify(live), service)
    assert.notEqual(stored(sb, [objects[1] as KubeObject])[0], group)

    // ours now: a second apply writes nothing, and the owner's cleanup deletes them
    sb.requestLog.clear()
    const again = await runEngine(planRun, all, connection, 'pr-1')
    assert.equal(again.report.failedPhase, null, again.report.problems.join('\n'))
    assert.ok(
      again.report.cluster?.plan.every(e => e.action === 'unchanged' || e.action === 'skip'),
      JSON.stringify(again.report.cluster?.plan)
    )
    const result = await cleanup(connection.client, 'pr-1')
    assert.deepEqual(result.deleted.map(r => `${r.kind}/${r.name}`).sort(), [
      'Service/cart',
      'ServiceAccount/cart',
      'ServiceAccount/stock',
      'ServiceEntry/stock',
      'WorkloadGroup/cart',
      'WorkloadGroup/stock'
    ])
    assert.ok(sb.store.get('namespaces', undefined, 'shop'), 'a namespace we did not create stays')
  })
})

describe('ownership: a namespace we created is deleted only when nothing in it is someone else’s', () => {
  let sb: SandboxCluster
  let connection: Connection
  const widget = customResourceType('widgets.example.test', 'Widget', ['v1alpha1'])

  before(async () => {
    sb = await sandbox({ customResources: [widget] })
    connection = (await connectTo(sb.kubeconfig)).connection
  })
  after(async () => {
    await connection?.close()
    await sb?.close()
  })

  const SOMEONES: Readonly<Record<string, KubeObject>> = {
    Secret: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db-password', namespace: 'shop' },
      type: 'Opaque',
      data: { password: Buffer.from('hunter2').toString('base64') }
    },
    Widget: {
      apiVersion: 'widgets.example.test/v1alpha1',
      kind: 'Widget',
      metadata: { name: 'gizmo', namespace: 'shop' },
      spec: { size: 3 }
    }
  }

  for (const [kind, object] of Object.entries(SOMEONES)) {
    test(`someone else’s ${kind} keeps the namespace, and the report says why`, async () => {
      const { report } = await runEngine(applyRun, describe_(SHOP), connection, 'pr-5')
      assert.equal(report.failedPhase, null, report.problems.join('\n'))
      assert.equal(sb.store.get('namespaces', undefined, 'shop')?.metadata?.labels?.[OWNER], 'pr-5')
      sb.store.put(object, { manager: 'someone-else' })
      const result = await cleanup(connection.client, 'pr-5')
      assert.deepEqual(
        result.kept.map(k => k.ref.name),
        ['shop']
      )
      assert.match(result.kept[0]?.reason ?? '', new RegExp(`${kind} ${object.metadata?.name}`))
      assert.ok(result.deleted.some(r => r.kind === 'WorkloadGroup'))
      assert.ok(sb.store.get('namespaces', undefined, 'shop'))
      const plural = kind === 'Secret' ? 'secrets' : widget.plural
      assert.deepEqual(
        sb.store.get(plural, 'shop', object.metadata?.name ?? '')?.spec ??
          sb.store.get(plural, 'shop', object.metadata?.name ?? '')?.data,
        object.spec ?? object.data
      )
      // once it is gone, the next cleanup deletes the namespace
      const type = sb.store.types.find(t => t.kind === kind)
      if (type) sb.store.remove(type, 'shop', object.metadata?.name ?? '')
      const again = await cleanup(connection.client, 'pr-5')
      assert.deepEqual(
        again.deleted.map(r => `${r.kind}/${r.name}`),
        ['Namespace/shop']
      )
    })
  }

  test('every namespaced type the API serves is listed; events, defaults and account secrets do not count', async () => {
    const { report } = await runEngine(applyRun, describe_(SHOP), connection, 'pr-6')
    assert.equal(report.failedPhase, null, report.problems.join('\n'))
    sb.store.put({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'cart.1', namespace: 'shop' },
      reason: 'Created'
    })
    // what the cluster writes for accounts: Citadel's istio.<sa> of ours, a token of default
    sb.store.put({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'istio.io/key-and-cert',
      metadata: {
        name: 'istio.cart',
        namespace: 'shop',
        annotations: { 'istio.io/service-account.name': 'cart' }
      }
    })
    sb.store.put({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/service-account-token',
      metadata: {
        name: 'default-token',
        namespace: 'shop',
        annotations: { 'kubernetes.io/service-account.name': 'default' }
      }
    })
    sb.requestLog.clear()
    const result = await cleanup(connection.client, 'pr-6')
    assert.deepEqual(result.kept, [])
    assert.ok(result.deleted.some(r => r.kind === 'Namespace' && r.name === 'shop'))
    const listed = new Set(
      sb.requestLog.entries
        .filter(e => e.verb === 'list' && e.namespace === 'shop')
        .map(e => `${e.group}/${e.resource}`)
    )
    for (const t of sb.store.types.filter(t => t.namespaced && t.verbs.includes('list')))
      assert.ok(listed.has(`${t.group}/${t.plural}`), `${t.group}/${t.plural} was not listed`)
  })
})

describe('ownership: when discovery fails, the namespace is kept', () => {
  test('API discovery refused: the namespace is kept, with the reason', async () => {
    const sb = await sandbox()
    let connection: Connection | undefined
    try {
      connection = (await connectTo(sb.kubeconfig)).connection
      const { report } = await runEngine(applyRun, describe_(SHOP), connection, 'pr-7')
      assert.equal(report.failedPhase, null, report.problems.join('\n'))
      // API discovery of the core group refused: nobody can say what the namespace holds
      sb.faults.add({ match: { path: /^\/api\/v1(\?|$)/ }, status: 403 })
      const result = await cleanup(connection.client, 'pr-7')
      assert.deepEqual(
        result.kept.map(k => k.ref.name),
        ['shop']
      )
      assert.match(result.kept[0]?.reason ?? '', /cannot tell whether it holds others' objects/)
      assert.ok(sb.store.get('namespaces', undefined, 'shop'))
    } finally {
      await connection?.close()
      await sb.close()
    }
  })
})
