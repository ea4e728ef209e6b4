// The preflight's access check against the sandbox API with RBAC on: a run whose identity lacks
// permissions stops in preflight, before its first write, listing every missing permission with
// the rule that grants it; with exactly the printed RBAC it passes; an API that does not answer
// the reviews gets a warning, not a refusal.
//
// Stand-in behaviour relied on (kubernetes/kubernetes v1.33): a SelfSubjectAccessReview is
// answered from the authorizer and stores nothing
// (pkg/registry/authorization/selfsubjectaccessreview/rest.go); RBAC rule matching as
// plugin/pkg/auth/authorizer/rbac/rbac.go; every authenticated user may create the reviews
// (bootstrap ClusterRole system:basic-user, plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go).
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, beforeEach, describe, test } from 'node:test'
import { parseAllDocuments } from 'yaml'
import { describePermission, permissionsFor } from '../../src/cluster/permissions.ts'
import type { Connection } from '../../src/cluster/connection.ts'
import type { KubeObject } from '../../src/cluster/types.ts'
import { cleanupCommand, sweepCommand } from '../../src/commands/cluster.ts'
import { renderRbac } from '../../src/commands/rbac.ts'
import type { Command } from '../../src/commands/types.ts'
import { apply, cleanup, plan } from '../../src/engine/run.ts'
import type { RunReport } from '../../src/engine/report.ts'
import type { SandboxCluster } from '../../lab/cluster/index.ts'
import { isWrite } from '../../lab/cluster/observe.ts'
import { connectTo, describe_, sandbox } from './cluster-helpers.ts'

const SA = { kind: 'ServiceAccount' as const, namespace: 'ci', name: 'mesh-bot' }

// no VMs: the cluster side alone (apply writes the group's objects, then has no host to onboard)
const DESCRIPTION = describe_(`
cluster: {generation: auto}
workloadGroups:
  - name: mysql
    namespace: vm
    labels: {app: mysql}
    ports: {tcp-mysql: 3306}
    service: {kind: ServiceEntry}
vms: []
`)

/** requests that change something: reviews are POSTs that store nothing */
function writes(sb: SandboxCluster, since: number): string[] {
  return sb.requestLog.entries
    .slice(since)
    .filter(isWrite)
    .map(e => `${e.verb} ${e.resource} ${e.namespace ?? ''}/${e.name ?? ''}`)
}

interface Role {
  kind: string
  metadata: { name: string; namespace?: string }
  rules?: Array<{ apiGroups?: string[]; resources?: string[]; verbs: string[] }>
}

describe('preflight: the permissions a run needs, asked before its first write', () => {
  let sb: SandboxCluster
  let admin: Connection
  let bot: Connection
  const rbac = renderRbac(DESCRIPTION, {
    subject: SA,
    commands: ['apply', 'cleanup'],
    name: 'mesh-expansion'
  })
  const objects = parseAllDocuments(rbac)
    .map(d => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null)

  async function grant(edit: (role: Role) => void = () => undefined): Promise<void> {
    for (const object of objects) {
      const copy = structuredClone(object) as unknown as Role
      if (copy.kind === 'Role' || copy.kind === 'ClusterRole') edit(copy)
      await admin.client.apply(copy as unknown as KubeObject, { force: true })
    }
  }

  async function run(
    engine: typeof apply,
    verify = false
  ): Promise<{ report: RunReport; lines: string[] }> {
    const lines: string[] = []
    const report = await engine(DESCRIPTION, bot, {
      owner: 'access-test',
      env: {},
      log: line => lines.push(line),
      warn: line => lines.push(`warning: ${line}`),
      onSecret: () => undefined,
      verify
    })
    return { report, lines }
  }

  before(async () => {
    sb = await sandbox({ authorization: 'RBAC' })
    admin = (await connectTo(sb.kubeconfig)).connection
    sb.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ci' } })
    await grant()
    const token = sb.mintServiceAccountToken({ namespace: 'ci', serviceAccount: 'mesh-bot' })
    bot = (await connectTo(sb.kubeconfigFor(token, 'mesh-bot'))).connection
  })
  after(async () => {
    await bot?.close()
    await admin?.close()
    await sb?.close()
  })
  beforeEach(() => grant())

  test('with exactly the printed RBAC: apply and cleanup pass preflight and succeed', async () => {
    const applied = await run(apply)
    assert.equal(applied.report.ok, true, applied.report.problems.join('\n'))
    assert.ok(
      applied.lines.some(l => /^permissions: all \d+ granted/.test(l)),
      applied.lines.join('\n')
    )
    assert.ok(sb.store.get('workloadgroups', 'vm', 'mysql'), 'the WorkloadGroup was written')
    const cleaned = await run(cleanup)
    assert.equal(cleaned.report.ok, true, cleaned.report.problems.join('\n'))
    assert.equal(sb.store.get('workloadgroups', 'vm', 'mysql'), undefined)
  })

  test('three rules removed: apply fails in preflight, lists all three, writes nothing', async () => {
    await grant(role => {
      role.rules = (role.rules ?? []).filter(
        r =>
          !(r.resources ?? []).some(x =>
            ['serviceaccounts/token', 'workloadgroups', 'serviceentries'].includes(x)
          )
      )
    })
    const since = sb.requestLog.entries.length
    const { report } = await run(apply)
    assert.equal(report.ok, false)
    assert.equal(report.failedPhase, 'preflight')
    assert.deepEqual(writes(sb, since), [])
    const needed = permissionsFor(DESCRIPTION, { commands: ['apply'], checks: false }).filter(p =>
      ['token', 'workloadgroups', 'serviceentries'].some(
        x => p.subresource === x || p.resource === x
      )
    )
    assert.ok(needed.length >= 3)
    for (const p of needed)
      for (const name of p.resourceNames ?? [undefined]) {
        const text = describePermission(p, name)
        assert.ok(
          report.problems.some(line => line.includes(text)),
          `missing ${text} in:\n${report.problems.join('\n')}`
        )
      }
    // each line says how to grant it
    const token = report.problems.find(l => l.includes('serviceaccounts/token'))
    assert.match(token ?? '', /a Role in namespace vm with the rule \{apiGroups: \[""\]/)
    // nothing was asked that the run would not use: only reviews and reads
    assert.equal(sb.store.get('workloadgroups', 'vm', 'mysql'), undefined)
  })

  test('a permission discovery needs: fails before discovery, naming it', async () => {
    await grant(role => {
      role.rules = (role.rules ?? []).filter(r => !(r.resources ?? []).includes('deployments'))
    })
    const since = sb.requestLog.entries.length
    const { report } = await run(plan)
    assert.equal(report.failedPhase, 'preflight')
    assert.ok(
      report.problems.some(l => l.startsWith('permission missing: list deployments.apps ')),
      report.problems.join('\n')
    )
    assert.ok(report.problems.some(l => l.includes('cluster.generation is auto')))
    // discovery was not attempted: no read of istiod's Deployments
    const lists = sb.requestLog.entries.slice(since).filter(e => e.resource === 'deployments')
    assert.deepEqual(lists, [])
  })

  test('runs that create their namespace: checked cluster-wide, then created and removed', async () => {
    // the RBAC for runs that create (and cleanup removes) the namespace: all cluster-wide
    const wide = parseAllDocuments(
      renderRbac(DESCRIPTION, {
        subject: SA,
        commands: ['apply', 'cleanup'],
        name: 'mesh-expansion-wide',
        createNamespaces: true
      })
    )
      .map(d => d.toJS() as Role | null)
      .filter((o): o is Role => o !== null && o.kind !== 'ServiceAccount')
    assert.ok(
      !wide.some(o => o.kind === 'Namespace' || o.metadata.namespace === 'vm'),
      'nothing in the namespace the runs create'
    )
    const applyAll = async (edit: (rule: { resources?: string[]; verbs: string[] }) => void) => {
      for (const o of wide) {
        const copy = structuredClone(o)
        for (const rule of copy.rules ?? []) edit(rule)
        await admin.client.apply(copy as unknown as KubeObject, { force: true })
      }
    }
    await admin.client.delete({ apiVersion: 'v1', kind: 'Namespace', name: 'vm' })
    // everything but the patch that creates the namespace
    await applyAll(rule => {
      if ((rule.resources ?? []).includes('namespaces'))
        rule.verbs = rule.verbs.filter(v => v !== 'patch')
    })
    const since = sb.requestLog.entries.length
    const refused = await run(apply)
    assert.equal(refused.report.failedPhase, 'preflight')
    assert.deepEqual(writes(sb, since), [])
    assert.deepEqual(
      refused.report.problems.map(l => l.replace(/, needed by .*/, '')),
      ['permission missing: patch namespaces "vm" cluster-wide']
    )
    assert.match(refused.report.problems[0] ?? '', /granted by a ClusterRole with the rule/)
    // granted: apply creates the namespace, cleanup removes it (it is the owner's)
    await applyAll(() => undefined)
    const applied = await run(apply)
    assert.equal(applied.report.ok, true, applied.report.problems.join('\n'))
    assert.equal(
      sb.store.get('namespaces', undefined, 'vm')?.metadata?.labels?.['mesh-expansion.io/owner'],
      'access-test'
    )
    const cleaned = await run(cleanup)
    assert.equal(cleaned.report.ok, true, cleaned.report.problems.join('\n'))
    assert.equal(sb.store.get('namespaces', undefined, 'vm'), undefined)
    // the wide grant goes: the next tests hold exactly the default RBAC
    for (const o of wide)
      await admin.client.delete({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: o.kind,
        name: o.metadata.name,
        ...(o.metadata.namespace !== undefined ? { namespace: o.metadata.namespace } : {})
      })
  })

  test('an API that refuses the reviews: a warning, and the run goes on', async () => {
    const undo = sb.deny(`system:serviceaccount:ci:mesh-bot`, 'create', 'selfsubjectaccessreviews')
    try {
      const { report, lines } = await run(plan)
      assert.equal(report.ok, true, report.problems.join('\n'))
      assert.ok(
        lines.some(l => l.startsWith('warning: permissions not checked before writing')),
        lines.join('\n')
      )
    } finally {
      undo()
    }
  })

  test('cleanup --owner and sweep: every list and delete asked first; one refused, nothing done', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'preflight-access-'))
    try {
      const kubeconfig = join(dir, 'kubeconfig')
      const token = sb.mintServiceAccountToken({ namespace: 'ci', serviceAccount: 'mesh-bot' })
      await writeFile(kubeconfig, sb.kubeconfigFor(token, 'mesh-bot'), { mode: 0o600 })
      const cli = async (command: Command, args: string[]) => {
        let out = ''
        let err = ''
        const code = await command([...args, '--kubeconfig', kubeconfig], {
          cwd: dir,
          env: {},
          stdout: t => (out += t),
          stderr: t => (err += t)
        })
        return { code, out, err }
      }
      /** cleanup --owner, then sweep: each refused (exit 1) with a line matching `line` */
      const bothRefused = async (line: RegExp) => {
        const runs = []
        for (const [command, args] of [
          [cleanupCommand, ['--owner', 'access-test']],
          [sweepCommand, ['--older-than', '0s']]
        ] as const) {
          const since = sb.requestLog.entries.length
          const refused = await cli(command, [...args])
          assert.equal(refused.code, 1, refused.err + refused.out)
          assert.match(refused.err, line)
          runs.push({ ...refused, since })
        }
        return runs
      }
      const applied = await run(apply)
      assert.equal(applied.report.ok, true, applied.report.problems.join('\n'))
      // the Role of the workload namespace without the ServiceEntry's delete
      await grant(role => {
        for (const rule of role.rules ?? [])
          if ((rule.resources ?? []).includes('serviceentries'))
            rule.verbs = rule.verbs.filter(v => v !== 'delete')
        role.rules = (role.rules ?? []).filter(rule => rule.verbs.length > 0)
      })
      for (const refused of await bothRefused(
        /^permission missing: delete serviceentries\.networking\.istio\.io "mysql" in namespace vm, needed by (cleanup|sweep)/m
      )) {
        assert.match(refused.err, /nothing was deleted/)
        assert.deepEqual(writes(sb, refused.since), [])
      }
      // the ClusterRole without the cluster-wide list of ServiceEntries: refused before any list
      await grant(role => {
        if (role.kind !== 'ClusterRole') return
        for (const rule of role.rules ?? [])
          if ((rule.resources ?? []).includes('serviceentries'))
            rule.verbs = rule.verbs.filter(v => v !== 'list')
        role.rules = (role.rules ?? []).filter(rule => rule.verbs.length > 0)
      })
      for (const refused of await bothRefused(
        /^permission missing: list serviceentries\.networking\.istio\.io cluster-wide, needed by (cleanup|sweep): find the owner's objects/m
      )) {
        const listed = sb.requestLog.entries.slice(refused.since).filter(e => e.verb === 'list')
        assert.deepEqual(listed, [], 'nothing listed before the check')
      }
      await grant()
      const swept = await cli(sweepCommand, ['--older-than', '0s'])
      assert.equal(swept.code, 0, swept.err)
      assert.match(swept.out, /1 owner swept/)
      assert.equal(sb.store.get('serviceentries', 'vm', 'mysql'), undefined)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
