// The Action end to end on the lab, as GitHub runs it: apply, a second apply that changes
// nothing, the post step's cleanup, and no secret anywhere in what a user can read.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { labTestOptions } from '../helpers/lab.ts'
import { startLabEnvironment, type LabEnvironment } from '../../lab/environment.ts'
import { runAction, type ActionRun } from '../../lab/github.ts'
import { runInVm } from '../../lab/vms/index.ts'
import type { RunReport } from '../../src/engine/report.ts'

const JWT = /eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}/

describe('the Action on the lab', labTestOptions(), () => {
  let env: LabEnvironment
  let inputs: Record<string, string>
  const runs: ActionRun[] = []

  before(async () => {
    env = await startLabEnvironment({ vms: 3, meshedPod: true })
    inputs = {
      'config-file': 'examples/lab.yaml',
      command: 'apply',
      cleanup: 'always',
      kubeconfig: readFileSync(env.kubeconfigPath, 'utf8'),
      'ssh-private-key': env.secrets.SSH_PRIVATE_KEY,
      'known-hosts': env.secrets.SSH_KNOWN_HOSTS
    }
  })
  after(async () => {
    await env?.close()
  })

  async function main(): Promise<{ run: ActionRun; report: RunReport }> {
    const run = await runAction('main', { inputs, timeoutMs: 180_000 })
    runs.push(run)
    assert.ok(run.outputs.report, `no report output:\n${run.stdout}\n${run.stderr}`)
    return { run, report: JSON.parse(run.outputs.report ?? '') as RunReport }
  }

  test('apply: every host ready, every check passed, and the summary shows them', async () => {
    const { run, report } = await main()
    assert.equal(run.code, 0, run.stdout)
    assert.deepEqual(JSON.parse(run.outputs['ready-hosts'] ?? ''), ['vm-1', 'vm-2', 'vm-3'])
    assert.deepEqual(JSON.parse(run.outputs['failed-hosts'] ?? ''), [])
    const failed = report.checks.filter(check => check.status !== 'pass')
    assert.deepEqual(failed, [], 'every check passes')
    // readiness, istiod connection and entry health per VM, plus the two described checks
    assert.equal(report.checks.length, 3 * 3 + 2)
    for (const host of report.hosts) {
      assert.equal(host.stats.connections, 1, `${host.host}: one SSH connection`)
      assert.ok(host.stats.channels <= 3, `${host.host}: at most 3 exec channels`)
    }
    for (const vm of ['vm-1', 'vm-2', 'vm-3'])
      assert.match(run.summary, new RegExp(`<td>${vm}</td><td>ready</td>`))
    assert.match(run.summary, /<td>cluster to vm-2<\/td><td>pass<\/td>/)
    assert.match(run.stdout, /::group::hosts: onboarding 3 of 3 VM\(s\)/)
  })

  test('a second apply writes nothing to the cluster and restarts nothing', async () => {
    const { run, report } = await main()
    assert.equal(run.code, 0, run.stdout)
    assert.equal(report.cluster?.writes, 0)
    for (const host of report.hosts) {
      assert.equal(host.changed, false, `${host.host} unchanged`)
      assert.equal(host.restarted, false, `${host.host} not restarted`)
    }
  })

  test('post: no managed object left in the cluster, no sidecar on the hosts', async () => {
    const post = await runAction('post', {
      inputs,
      state: runs[0]?.state ?? {},
      timeoutMs: 180_000
    })
    runs.push(post)
    assert.equal(post.code, 0, post.stdout)
    const managed = [
      'namespaces',
      'serviceaccounts',
      'workloadgroups',
      'workloadentries',
      'serviceentries',
      'services'
    ]
      .flatMap(resource => env.cluster.store.list(resource))
      .filter(object => object.metadata?.labels?.['mesh-expansion.io/owner'] === 'run-4242')
    assert.deepEqual(
      managed.map(o => `${o.kind}/${o.metadata?.name}`),
      []
    )
    for (const vm of env.vms) {
      const installed = await runInVm(vm, 'dpkg -s istio-sidecar >/dev/null 2>&1')
      assert.notEqual(installed.code, 0, `${vm.name} still has the sidecar`)
      const hosts = await runInVm(vm, 'cat /etc/hosts')
      assert.doesNotMatch(hosts.stdout, /mesh-expansion/, `${vm.name} still has our hosts block`)
    }
  })

  // The runner stand-in already failed any run above in which a secret it knows (the key and
  // its lines, the kubeconfig token, any JWT such as a bootstrap token) was readable; this
  // checks the same by hand, and that the secrets were masked, not merely absent.
  test('no secret in any log, summary, output or report', () => {
    const kubeconfig = inputs.kubeconfig ?? ''
    const adminToken = /token: (\S+)/.exec(kubeconfig)?.[1] ?? ''
    const keyLines = (inputs['ssh-private-key'] ?? '')
      .split('\n')
      .filter(line => line.length >= 16 && !line.startsWith('-----'))
    assert.ok(adminToken.length > 8 && keyLines.length > 0, 'the test knows the secrets')
    assert.equal(runs.length, 3)
    for (const run of runs) assert.ok(run.masks.includes(adminToken), 'the token was masked')
    for (const run of runs) {
      // ::add-mask:: lines are how secrets reach the runner's masker; the runner never shows them
      const visible = [run.stdout, run.stderr, run.summary, ...Object.values(run.outputs)]
        .join('\n')
        .split('\n')
        .filter(line => !line.startsWith('::add-mask::'))
        .join('\n')
      assert.ok(!visible.includes(adminToken), 'the kubeconfig token leaked')
      for (const line of keyLines) assert.ok(!visible.includes(line), 'a private key line leaked')
      assert.doesNotMatch(visible, JWT, 'a service-account token leaked')
    }
  })
})
