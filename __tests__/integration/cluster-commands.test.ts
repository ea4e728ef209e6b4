// The cluster commands in-process against the sandbox: plan prints discovery and the diff and
// writes nothing; cleanup and sweep delete what they should and say so.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { cleanupCommand, parseAge, planCommand, sweepCommand } from '../../src/commands/cluster.ts'
import { apply, desiredObjects, discover, managedSelector, plan } from '../../src/cluster/index.ts'
import type { Command } from '../../src/commands/types.ts'
import type { SandboxCluster } from '../../lab/cluster/index.ts'
import { BASIC, connectTo, describe_, sandbox } from './cluster-helpers.ts'

describe('cluster commands', () => {
  let sb: SandboxCluster
  let dir: string
  let env: NodeJS.ProcessEnv
  before(async () => {
    sb = await sandbox()
    dir = await mkdtemp(join(tmpdir(), 'cluster-commands-test-'))
    await sb.writeKubeconfig(join(dir, 'kubeconfig'))
    await writeFile(join(dir, 'mesh.yaml'), `${BASIC}settings: {owner: pr-77}\n`)
    env = { KUBECONFIG: join(dir, 'kubeconfig') }
  })
  after(async () => {
    await sb?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  async function run(
    command: Command,
    args: string[]
  ): Promise<{ code: number; out: string; err: string }> {
    let out = ''
    let err = ''
    const code = await command(args, {
      cwd: dir,
      env,
      stdout: t => (out += t),
      stderr: t => (err += t)
    })
    return { code, out, err }
  }

  test('plan shows what was found and what would change, and writes nothing', async () => {
    sb.requestLog.clear()
    const r = await run(planCommand, ['-c', 'mesh.yaml'])
    assert.equal(r.code, 0, r.err)
    assert.match(r.out, /^Istio 1\.30\.3 \(modern\), revision default/)
    assert.match(
      r.out,
      /\+ WorkloadGroup vm\/mysql: create\n {4}\+ metadata\.labels\.app\.kubernetes\.io\/managed-by: mesh-expansion/
    )
    assert.match(r.out, /\+ metadata\.labels\.mesh-expansion\.io\/owner: pr-77/)
    assert.match(r.out, /11 to create, 0 to update, 0 unchanged, 0 left alone\n$/)
    assert.equal(sb.requestLog.filter().filter(e => !['get', 'list'].includes(e.verb)).length, 0)
    const json = await run(planCommand, ['-c', 'mesh.yaml', '--json'])
    const parsed = JSON.parse(json.out) as {
      plan: { action: string }[]
      discovery: { clusterID: string }
    }
    assert.equal(parsed.plan.length, 11)
    assert.equal(parsed.discovery.clusterID, 'Kubernetes')
  })

  test('cleanup --owner deletes what that owner created', async () => {
    const c = await connectTo(sb.kubeconfig)
    try {
      const description = describe_(BASIC)
      const d = await discover(c.connection.client, description.cluster)
      await apply(
        c.connection.client,
        await plan(
          c.connection.client,
          desiredObjects(description, d, { owner: 'pr-77', createdAt: new Date().toISOString() })
        )
      )
    } finally {
      await c.connection.close()
    }
    const r = await run(cleanupCommand, ['-c', 'mesh.yaml'])
    assert.equal(r.code, 0, r.err)
    assert.match(r.out, /deleted WorkloadGroup vm\/mysql\n/)
    assert.match(r.out, /owner pr-77: 11 deleted, 0 kept\n$/)
    assert.equal(
      sb.store.list('workloadgroups', undefined, { labelSelector: managedSelector() }).length,
      0
    )
    const again = await run(cleanupCommand, ['--owner', 'pr-77'])
    assert.match(again.out, /^owner pr-77: 0 deleted, 0 kept\n$/)
  })

  test('sweep --older-than', async () => {
    const c = await connectTo(sb.kubeconfig)
    try {
      const description = describe_(BASIC)
      const d = await discover(c.connection.client, description.cluster)
      const old = new Date(Date.now() - 2 * 86_400_000).toISOString()
      await apply(
        c.connection.client,
        await plan(
          c.connection.client,
          desiredObjects(description, d, { owner: 'pr-1', createdAt: old })
        )
      )
    } finally {
      await c.connection.close()
    }
    const none = await run(sweepCommand, ['--older-than', '3d'])
    assert.match(none.out, /^0 owners swept\n$/)
    const spared = await run(sweepCommand, ['--older-than', '1d', '--except', 'pr-1'])
    assert.match(spared.out, /^0 owners swept\n$/)
    const r = await run(sweepCommand, ['--older-than', '1d'])
    assert.match(r.out, /owner pr-1: 11 deleted, 0 kept\n1 owner swept\n$/)
    await assert.rejects(run(sweepCommand, []), /missing --older-than AGE/)
  })

  test('ages', () => {
    assert.equal(parseAge('90'), 90)
    assert.equal(parseAge('15m'), 900)
    assert.equal(parseAge('24h'), 86400)
    assert.equal(parseAge('7d'), 604800)
    assert.throws(() => parseAge('1w'), /not a duration/)
  })
})
