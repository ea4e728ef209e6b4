// Canary across revisions on the lab (issue 19): the cluster runs two istiod revisions at once
// (the default one and `canary`, each its own istiod stand-in behind the east-west gateway's
// 15012, told apart by SNI as the gateway's per-revision routes do). 6 VMs onboarded by the real
// CLI on the default revision; the description moved to `canary` with batches of 1, then 50%:
// - while the canary revision's CA refuses the VMs' certificates, batch 1 fails, its host goes
//   back to its default-revision files and is ready there again, the 5 others are not touched,
//   exit 1;
// - once it signs, the batches of 1, 3 and 2 hosts move in order and every host ends connected
//   to the canary istiod, none to the default one; a re-run changes nothing;
// - with `revision: auto` the default tag decides: it names the default revision, so the same
//   batches move every host back.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { labTestOptions } from '../helpers/lab.ts'
import { assertBatchOrder, batchesOf, batchesOfSix } from '../helpers/rollout.ts'
import { labApply, sidecarState, type LabApply } from '../helpers/labCli.ts'
import { until } from '../helpers/wait.ts'
import {
  LAB_SIDECAR_PACKAGE,
  startLabEnvironment,
  type LabEnvironment
} from '../../lab/environment.ts'
import type { LabIstiod } from '../../lab/mesh/index.ts'
import type { LabVm } from '../../lab/vms/index.ts'

const OWNER = 'canary-revision-lab'
const IDENTITY = 'spiffe://cluster.local/ns/vm/sa/canary'

describe('canary across istiod revisions on the lab', labTestOptions(), () => {
  let env: LabEnvironment
  let dir = ''
  let vms: LabVm[] = []
  const started = Date.now()

  function description(revision: string): string {
    const first = vms[0]
    assert.ok(first)
    return `cluster: {istioNamespace: istio-system, revision: ${revision}}
workloadGroups:
  - name: canary
    namespace: vm
    serviceAccount: canary
    labels: {app: canary}
    ports: {http-echo: 8080}
    registration: manual
    service: {kind: ServiceEntry, hosts: [canary.vm.svc.cluster.local]}
    sidecar: {package: ${LAB_SIDECAR_PACKAGE}}
vms:
${vms.map(vm => `  - {name: ${vm.name}, host: ${vm.address}}`).join('\n')}
ssh: {user: ${first.user}}
settings: {parallelism: 6, rollout: {firstBatch: 1, batchSize: "50%"}}
`
  }

  const apply = (yaml: string): Promise<LabApply> => labApply(env, { yaml, dir, owner: OWNER })

  /** The istiod a host's files name (CA_ADDR; none: the default revision) and its sidecar. */
  async function host(vm: LabVm): Promise<{ caAddr: string; since: number; ready: boolean }> {
    const { first, since, ready } = await sidecarState(
      vm,
      `printf '%s\\n' "$(sed -n "s/^CA_ADDR=//p" /var/lib/istio/envoy/cluster.env | tr -d "'")"`
    )
    return { caAddr: first, since, ready }
  }
  const all = (): Promise<Array<{ caAddr: string; since: number; ready: boolean }>> =>
    Promise.all(vms.map(host))

  /** The VMs an istiod lists as connected (by the proxy's host name). */
  const connectedTo = (istiod: LabIstiod): string[] =>
    istiod
      .connectedProxies()
      .map(p => p.podName)
      .sort()
  const canaryIstiod = (): LabIstiod => {
    const found = env.revisionIstiods.get('canary')
    assert.ok(found, 'the lab serves the canary revision')
    return found
  }
  const names = (list: readonly LabVm[]): string[] => list.map(vm => vm.name).sort()

  before(async () => {
    env = await startLabEnvironment({ vms: 6, moreRevisions: ['canary'] })
    vms = [...env.vms]
    assert.equal(vms.length, 6)
    dir = mkdtempSync(join(tmpdir(), 'mx-canary-rev-'))
    console.log(`  lab up: ${((Date.now() - started) / 1000).toFixed(1)} s`)
  })

  after(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true })
    await env?.close()
    console.log(
      `  canary revision lab test: ${((Date.now() - started) / 1000).toFixed(1)} s in all`
    )
  })

  test('6 new hosts on the default revision: all ready, all connected to the default istiod', async () => {
    const { code, why } = await apply(description('default'))
    assert.equal(code, 0, why)
    for (const [i, s] of (await all()).entries()) {
      assert.equal(s.caAddr, '', `${vms[i]?.name}: no CA_ADDR names the default istiod`)
      assert.equal(s.ready, true, `${vms[i]?.name}`)
    }
    assert.deepEqual(connectedTo(env.istiod), names(vms))
    assert.deepEqual(connectedTo(canaryIstiod()), [])
  })

  test("the canary revision's CA refuses: batch 1 fails and goes back to the default revision; the others are not touched; exit 1", async () => {
    const before = await all()
    const refusal = canaryIstiod().faults.refuseCertificate(
      { identity: IDENTITY },
      'the canary revision is not trusted yet'
    )
    try {
      const { code, report, why } = await apply(description('canary'))
      assert.equal(code, 1, why)
      assert.equal(report.failedPhase, 'hosts', why)
      const rollout = report.rollout
      assert.ok(rollout, why)
      assert.deepEqual(batchesOf(report), batchesOfSix(vms, ['failed', 'not run', 'not run']), why)
      assert.match(rollout.upgrades[0]?.differs ?? '', /revision default → canary/, why)
      assert.deepEqual(rollout.batches[0]?.rolledBack, [vms[0]?.name], why)
      assert.ok(refusal.hits() > 0, 'the canary istiod was asked for a certificate')
    } finally {
      refusal.remove()
    }
    const now = await all()
    assert.equal(now[0]?.caAddr, '', 'the canary host is back on the default revision')
    assert.equal(now[0]?.ready, true)
    for (let i = 1; i < vms.length; i++)
      assert.deepEqual(now[i], before[i], `${vms[i]?.name} was touched`)
    await until('every host connected to the default istiod again', 30_000, async () =>
      connectedTo(env.istiod).join() === names(vms).join() ? true : undefined
    )
    assert.deepEqual(connectedTo(canaryIstiod()), [])
  })

  test('the canary revision signs: batches of 1, 3 and 2 in order, every host on canary', async () => {
    const { code, report, why } = await apply(description('canary'))
    assert.equal(code, 0, why)
    const rollout = report.rollout
    assert.ok(rollout, why)
    assert.deepEqual(batchesOf(report), batchesOfSix(vms, ['passed', 'passed', 'passed']), why)
    // each batch's checks asked the canary istiod (its pod, by its revision label)
    for (const batch of rollout.batches) assert.ok(batch.checks.passed >= batch.hosts.length, why)
    const now = await all()
    for (const [i, s] of now.entries()) {
      assert.equal(s.caAddr, 'istiod-canary.istio-system.svc:15012', `${vms[i]?.name}: ${why}`)
      assert.equal(s.ready, true, `${vms[i]?.name}`)
    }
    assertBatchOrder(report, name => now[vms.findIndex(vm => vm.name === name)]?.since ?? NaN, why)
    await until('every host connected to the canary istiod only', 30_000, async () =>
      connectedTo(canaryIstiod()).join() === names(vms).join() &&
      connectedTo(env.istiod).length === 0
        ? true
        : undefined
    )
    const again = await apply(description('canary'))
    assert.equal(again.code, 0, again.why)
    assert.deepEqual(again.report.rollout?.batches, [], again.why)
    assert.ok(
      again.report.hosts.every(h => !h.changed && !h.restarted),
      again.why
    )
  })

  test('revision auto follows the default tag: it names the default revision, so the batches move every host back', async () => {
    const tag = env.cluster.store.get(
      'mutatingwebhookconfigurations',
      '',
      'istio-revision-tag-default'
    ) as { metadata?: { labels?: Record<string, string> } } | undefined
    assert.equal(tag?.metadata?.labels?.['istio.io/rev'], 'default')
    const { code, report, why } = await apply(description('auto'))
    assert.equal(code, 0, why)
    assert.deepEqual(batchesOf(report), batchesOfSix(vms, ['passed', 'passed', 'passed']), why)
    assert.match(report.rollout?.upgrades[0]?.differs ?? '', /revision canary → default/, why)
    for (const [i, s] of (await all()).entries()) {
      assert.equal(s.caAddr, '', `${vms[i]?.name}: ${why}`)
      assert.equal(s.ready, true, `${vms[i]?.name}`)
    }
    await until('every host connected to the default istiod only', 30_000, async () =>
      connectedTo(env.istiod).join() === names(vms).join() &&
      connectedTo(canaryIstiod()).length === 0
        ? true
        : undefined
    )
  })
})
