// Canary upgrades on the lab (issue 19, settings.rollout): 6 VMs onboarded by the real CLI on
// sidecar version A, then the description moved to a version whose sidecar never becomes ready
// with batches of 1, then 50%: the first batch fails, its host is rolled back and ready on A,
// the 5 others were not touched (same package, same sidecar process since the same moment), exit
// 1 with a per-batch report. A version that becomes ready but breaks the VM's outbound traffic:
// batch 1's check fails and its host is put back on A after the fact (install.sh's rollback
// mode), the others untouched, exit 1. Then the description moved to a good version B: the
// batches run in order (each batch's sidecars started after the previous batch's), every host
// ends on B and ready. The CLI runs from the sources in a child process. Timings are printed.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { labTestOptions } from '../helpers/lab.ts'
import { assertBatchOrder, batchesOf, batchesOfSix } from '../helpers/rollout.ts'
import { inVm, labApply, sidecarState, type LabApply } from '../helpers/labCli.ts'
import { startLabEnvironment, type LabEnvironment } from '../../lab/environment.ts'
import { buildSidecarDeb } from '../../lab/mesh/deb.ts'
import type { LabVm } from '../../lab/vms/index.ts'

const OWNER = 'canary-lab'
const A = '1.30.3'
const B = '1.30.4'
const NEVER_READY = '1.30.5'
const BROKEN_OUTBOUND = '1.30.6'

describe('canary upgrades on the lab', labTestOptions(), () => {
  let env: LabEnvironment
  let dir = ''
  let vms: LabVm[] = []
  const packages = new Map<string, string>()
  const started = Date.now()

  function description(version: string, rollout = '{firstBatch: 1, batchSize: "50%"}'): string {
    const first = vms[0]
    assert.ok(first)
    return `cluster: {istioNamespace: istio-system}
workloadGroups:
  - name: canary
    namespace: vm
    serviceAccount: canary
    labels: {app: canary}
    ports: {http-echo: 8080}
    probe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 2}
    registration: manual
    service: {kind: ServiceEntry, hosts: [canary.vm.svc.cluster.local]}
    sidecar: {version: ${version}, package: ${packages.get(version) ?? ''}}
vms:
${vms.map(vm => `  - {name: ${vm.name}, host: ${vm.address}}`).join('\n')}
ssh: {user: ${first.user}}
settings: {parallelism: 6, rollout: ${rollout}}
checks:
  - {name: first vm to the cluster, from: vm/${first.name}, url: 'http://echo.sample.svc.cluster.local/'}
`
  }

  const apply = (yaml: string): Promise<LabApply> => labApply(env, { yaml, dir, owner: OWNER })

  /** The installed package version, the sidecar's start (monotonic µs) and its readiness. */
  async function sidecar(vm: LabVm): Promise<{ version: string; since: number; ready: boolean }> {
    const { first, since, ready } = await sidecarState(
      vm,
      "dpkg-query -W -f '${Version}\\n' istio-sidecar"
    )
    return { version: first, since, ready }
  }

  const all = (): Promise<{ version: string; since: number; ready: boolean }[]> =>
    Promise.all(vms.map(sidecar))

  before(async () => {
    env = await startLabEnvironment({ vms: 6 })
    vms = [...env.vms]
    assert.equal(vms.length, 6)
    dir = mkdtempSync(join(tmpdir(), 'mx-canary-'))
    packages.set(A, await buildSidecarDeb(dir, { version: A, fileName: 'a.deb' }))
    packages.set(B, await buildSidecarDeb(dir, { version: B, fileName: 'b.deb' }))
    packages.set(
      NEVER_READY,
      await buildSidecarDeb(dir, {
        version: NEVER_READY,
        fileName: 'never.deb',
        readiness: 'never'
      })
    )
    packages.set(
      BROKEN_OUTBOUND,
      await buildSidecarDeb(dir, {
        version: BROKEN_OUTBOUND,
        fileName: 'broken.deb',
        traffic: 'broken-outbound'
      })
    )
    console.log(`  lab up: ${((Date.now() - started) / 1000).toFixed(1)} s`)
  })

  after(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true })
    await env?.close()
    console.log(`  canary lab test: ${((Date.now() - started) / 1000).toFixed(1)} s in all`)
  })

  test('6 new hosts are not a canary: onboarded at once on A, all ready', async () => {
    const { code, report, why } = await apply(description(A))
    assert.equal(code, 0, why)
    assert.deepEqual(report.rollout?.batches, [], why)
    assert.deepEqual(
      report.rollout?.rest,
      vms.map(vm => vm.name),
      why
    )
    for (const [i, s] of (await all()).entries()) {
      assert.equal(s.version, A, `${vms[i]?.name}`)
      assert.equal(s.ready, true, `${vms[i]?.name}`)
    }
  })

  test('a version that never becomes ready: batch 1 fails and is rolled back to A; the others are not touched; exit 1', async () => {
    const before = await all()
    const { code, report, why } = await apply(description(NEVER_READY))
    assert.equal(code, 1, why)
    assert.equal(report.ok, false, why)
    assert.equal(report.failedPhase, 'hosts', why)
    const rollout = report.rollout
    assert.ok(rollout, why)
    assert.deepEqual(
      rollout.batches.map(b => [b.number, b.hosts, b.result]),
      [
        [1, [vms[0]?.name], 'failed'],
        [2, vms.slice(1, 4).map(vm => vm.name), 'not run'],
        [3, vms.slice(4).map(vm => vm.name), 'not run']
      ],
      why
    )
    assert.equal(rollout.stoppedAt, 1, why)
    assert.deepEqual(rollout.batches[0]?.rolledBack, [vms[0]?.name], why)
    assert.equal(rollout.upgrades.length, 6, why)
    assert.match(rollout.upgrades[0]?.differs ?? '', /package 1\.30\.3 → 1\.30\.5/, why)
    assert.ok(
      report.problems.some(p => /^rollout stopped at batch 1: 1 of 1 host\(s\) failed/.test(p)),
      why
    )
    const [first] = report.hosts
    assert.equal(first?.host, vms[0]?.name, why)
    assert.equal(first?.status, 'failed', why)
    assert.equal(first?.rolledBack, true, why)
    assert.deepEqual(
      report.skippedHosts,
      vms.slice(1).map(vm => vm.name),
      why
    )

    const now = await all()
    // the canary: back on A and ready
    assert.equal(now[0]?.version, A, why)
    assert.equal(now[0]?.ready, true, why)
    // the others: the same package, the same sidecar since the same moment, ready
    for (let i = 1; i < vms.length; i++) {
      assert.deepEqual(now[i], before[i], `${vms[i]?.name} was touched`)
      assert.equal(now[i]?.ready, true, `${vms[i]?.name}`)
    }
  })

  test("a version that is ready but breaks outbound traffic: batch 1's check fails, its host is rolled back to A after the fact; the others are not touched; exit 1", async () => {
    const before = await all()
    const { code, report, why } = await apply(description(BROKEN_OUTBOUND))
    assert.equal(code, 1, why)
    assert.equal(report.failedPhase, 'hosts', why)
    const rollout = report.rollout
    assert.ok(rollout, why)
    assert.deepEqual(batchesOf(report), batchesOfSix(vms, ['failed', 'not run', 'not run']), why)
    assert.equal(rollout.batches[0]?.checks.failed, 1, why)
    assert.deepEqual(rollout.batches[0]?.rolledBack, [vms[0]?.name], why)
    assert.ok(
      report.problems.some(p => /^check "first vm to the cluster": /.test(p)),
      why
    )
    const [first] = report.hosts
    assert.equal(first?.status, 'failed', why)
    assert.equal(first?.rolledBack, true, why)
    assert.equal(first?.error?.phase, 'checks', why)
    assert.match(first?.error?.message ?? '', /rolled back to the previous sidecar, which is ready/)
    const now = await all()
    assert.equal(now[0]?.version, A, why)
    assert.equal(now[0]?.ready, true, why)
    for (let i = 1; i < vms.length; i++)
      assert.deepEqual(now[i], before[i], `${vms[i]?.name} was touched`)
    // and the canary's traffic flows again on A
    const again = await inVm(
      vms[0] as LabVm,
      'curl -sS -o /dev/null -w "%{http_code}" --max-time 10 http://echo.sample.svc.cluster.local/'
    )
    assert.equal(again, '200')
  })

  test('a good version B: batches of 1, 3 and 2 in order, every host on B and ready', async () => {
    const { code, report, why } = await apply(description(B))
    assert.equal(code, 0, why)
    assert.equal(report.ok, true, why)
    const rollout = report.rollout
    assert.ok(rollout, why)
    assert.deepEqual(batchesOf(report), batchesOfSix(vms, ['passed', 'passed', 'passed']), why)
    // each batch's own checks ran (each VM's sidecar, istiod connection, entry health)
    for (const batch of rollout.batches) assert.ok(batch.checks.passed >= batch.hosts.length, why)
    assert.equal(rollout.stoppedAt, null, why)
    const now = await all()
    for (const [i, s] of now.entries()) {
      assert.equal(s.version, B, `${vms[i]?.name}: ${why}`)
      assert.equal(s.ready, true, `${vms[i]?.name}`)
    }
    // in order: every sidecar of a batch started after every sidecar of the batch before
    assertBatchOrder(report, name => now[vms.findIndex(vm => vm.name === name)]?.since ?? NaN, why)
    // a re-run: nothing to upgrade, no batch, nothing changed or restarted
    const again = await apply(description(B))
    assert.equal(again.code, 0, again.why)
    assert.deepEqual(again.report.rollout?.batches, [], again.why)
    assert.ok(
      again.report.hosts.every(h => !h.changed && !h.restarted),
      again.why
    )
    assert.deepEqual(await all(), now)
  })
})
