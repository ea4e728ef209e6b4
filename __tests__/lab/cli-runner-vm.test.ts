// The runner as a host: the built CLI runs inside a lab VM that plays the CI runner and onboards
// that same VM with `host: local` (sudo, no SSH: sshd is stopped first).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, copyFile, cp, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { labTestOptions } from '../helpers/lab.ts'
import {
  LAB_SIDECAR_PACKAGE,
  startLabEnvironment,
  type LabEnvironment
} from '../../lab/environment.ts'
import { repoRoot } from '../../lab/github.ts'
import { runInVm, stopSshd, VM_NODE_PATH } from '../../lab/vms/index.ts'
import type { RunReport } from '../../src/engine/report.ts'

describe('the CLI on a VM that plays the runner', labTestOptions(), () => {
  let env: LabEnvironment
  let share: string

  before(async () => {
    share = await mkdtemp(join(tmpdir(), 'mx-runner-vm-'))
    await chmod(share, 0o755) // the VM's ordinary user reads from it
    await cp(join(repoRoot, 'dist'), join(share, 'dist'), { recursive: true })
    env = await startLabEnvironment({
      vms: 1,
      vmOptions: {
        nodeBinary: process.execPath,
        binds: [{ host: share, vm: '/opt/mx', readOnly: true }]
      }
    })
    await copyFile(LAB_SIDECAR_PACKAGE, join(share, 'istio-sidecar.deb'))
    await writeFile(join(share, 'kubeconfig'), env.cluster.kubeconfig, { mode: 0o644 })
    const vm = env.vms[0]
    assert.ok(vm)
    await writeFile(
      join(share, 'runner.yaml'),
      `workloadGroups:
  - name: runner
    namespace: ci
    ports: {http: 8080}
    sidecar: {package: /opt/mx/istio-sidecar.deb}
vms:
  - name: runner
    host: local
    address: ${vm.address}
checks:
  - name: the runner reaches the cluster
    from: vm/runner
    url: http://echo.sample.svc.cluster.local/
`
    )
  })
  after(async () => {
    await env?.close()
    if (share) await rm(share, { recursive: true, force: true })
  })

  test('apply with host "local": ready, checks pass, no SSH involved', async () => {
    const vm = env.vms[0]
    assert.ok(vm)
    await stopSshd(vm)
    const run = await runInVm(
      vm,
      [
        VM_NODE_PATH,
        '/opt/mx/dist/cli.js',
        'apply',
        '-c',
        '/opt/mx/runner.yaml',
        '--kubeconfig',
        '/opt/mx/kubeconfig',
        '--json'
      ],
      { user: vm.user, timeoutMs: 180_000 }
    )
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`)
    const report = JSON.parse(run.stdout) as RunReport
    const [host] = report.hosts
    assert.ok(host)
    assert.equal(host.host, 'runner')
    assert.equal(host.ready, true)
    assert.equal(host.stats.connections, 0, 'the local transport opens no SSH connection')
    assert.deepEqual(
      report.checks.filter(check => check.status !== 'pass').map(check => check.name),
      [],
      JSON.stringify(report.checks, null, 1)
    )
    assert.equal((await runInVm(vm, 'systemctl is-active istio')).stdout.trim(), 'active')
  })
})
