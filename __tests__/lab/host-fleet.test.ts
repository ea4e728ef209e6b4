// Ten VMs behind an emulated 100 ms round trip, onboarded as two shards (what a job matrix of
// 2 does): every VM in exactly one shard, all ready, 2 channels each (the small package travels
// inside the second exec); then a re-run of
// the whole fleet that changes nothing, one exec per VM. The timings are printed.
import assert from 'node:assert/strict'
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { labTestOptions } from '../helpers/lab.ts'
import { createLabCa, type LabCa } from '../../lab/pki.ts'
import { buildSidecarDeb } from '../../lab/mesh/deb.ts'
import { startIstiod, type Istiod } from '../../lab/mesh/istiod.ts'
import { createLocalTokenAuthority } from '../../lab/mesh/tokens.ts'
import { GATEWAY_ADDRESS, downLab, upLab, type LabState, type LabVm } from '../../lab/vms/index.ts'
import { parseWorkloadGroupYaml, renderVmFiles } from '../../src/istio/index.ts'
import { fanOut, selectShard } from '../../src/host/fanout.ts'
import { onboardHost, type HostResult } from '../../src/host/onboard.ts'
import { connectSsh } from '../../src/host/ssh.ts'

const VERSION = '1.30.3'
const VMS = 10
const workloadGroup = parseWorkloadGroupYaml(`apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata:
  name: fleet
  namespace: vm
spec:
  template:
    serviceAccount: fleet
    ports:
      http: 8080
`)

describe('a fleet of ten VMs at 100 ms RTT, in two shards', labTestOptions(), () => {
  let lab: LabState
  let ca: LabCa
  let istiod: Istiod | undefined
  let workdir: string
  let deb: string
  const tokens = createLocalTokenAuthority()

  before(async () => {
    ca = await createLabCa()
    workdir = await mkdtemp(join(tmpdir(), 'mx-host-fleet-'))
    await chmod(workdir, 0o755)
    deb = await buildSidecarDeb(workdir, { version: VERSION })
    lab = await upLab({ vms: VMS, latencyMs: 100 })
    istiod = await startIstiod({
      host: GATEWAY_ADDRESS,
      port: 15012,
      ca,
      reviewer: tokens.reviewer,
      names: () => ({}),
      heartbeatSeconds: 1
    })
  })

  after(async () => {
    await istiod?.close()
    await downLab()
    if (workdir) await rm(workdir, { recursive: true, force: true })
  })

  async function run(vms: LabVm[]): Promise<{ results: HostResult[]; ms: number; ok: boolean }> {
    const knownHosts = await readFile(lab.knownHostsPath, 'utf8')
    const started = Date.now()
    const report = await fanOut(
      vms.map(v => ({
        name: v.name,
        connect: () =>
          connectSsh({
            host: v.sshHost,
            port: v.sshPort,
            user: v.user,
            privateKey: v.privateKey,
            hostKeys: { kind: 'known_hosts', content: knownHosts },
            connectTimeoutMs: 10_000
          })
      })),
      target =>
        onboardHost(target, {
          files: renderVmFiles({
            workloadGroup,
            meshConfig: 'defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\n',
            clusterID: 'Kubernetes',
            ingress: GATEWAY_ADDRESS,
            rootCert: ca.certPem,
            token: tokens.mint({ namespace: 'vm', serviceAccount: 'fleet' })
          }).files,
          version: VERSION,
          package: { kind: 'push', path: deb },
          commandTimeoutMs: 180_000,
          readyTimeoutSec: 60
        }),
      { parallelism: 10, failFast: false, maxFailures: null }
    )
    return { results: report.results, ms: Date.now() - started, ok: report.ok }
  }

  test('two shards cover the fleet; all ready; then a re-run changes nothing', async () => {
    const shards = [1, 2].map(index => selectShard(lab.vms, { index, count: 2 }))
    assert.equal(shards[0]!.length + shards[1]!.length, VMS)
    assert.equal(new Set([...shards[0]!, ...shards[1]!].map(v => v.name)).size, VMS)
    const first = await Promise.all(shards.map(run))
    const results = first.flatMap(r => r.results)
    assert.ok(
      first.every(r => r.ok),
      JSON.stringify(results.filter(r => r.status !== 'ok').map(r => [r.host, r.error, r.logs]))
    )
    for (const r of results) {
      assert.equal(r.ready, true)
      assert.equal(r.stats.connections, 1)
      assert.equal(r.stats.channels, 2)
    }
    const again = await run(lab.vms)
    assert.equal(again.ok, true)
    for (const r of again.results) {
      assert.deepEqual([r.changed, r.restarted, r.stats.channels], [false, false, 1], r.host)
    }
    const slowest = Math.max(...results.map(r => r.totalMs))
    const phases = results
      .find(r => r.totalMs === slowest)
      ?.phases.map(p => `${p.name} ${p.ms}`)
      .join(', ')
    process.stderr.write(`slowest host's phases (ms): ${phases}\n`)
    process.stderr.write(
      `fleet of ${VMS} at 100 ms RTT: install ${Math.max(...first.map(r => r.ms))} ms (slowest host ${slowest} ms), unchanged re-run ${again.ms} ms\n`
    )
  })
})
