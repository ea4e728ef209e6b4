// `drift` on the lab (issue 19): two VMs onboarded by the real CLI, then one change at a time
// behind the product's back: a file edited, the package downgraded, a token about to expire, the
// sidecar stopped, a WorkloadEntry deleted, a capture rule flushed, the description's labels
// changed. Each is reported on the right host (or the cluster) with its diagnosis and exit 3;
// the following apply repairs it, and drift exits 0 again. The CLI runs from the sources in a
// child process (the sandbox API answers from this one). Timings are printed.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { labTestOptions } from '../helpers/lab.ts'
import { inVm, labCli, type CliRun } from '../helpers/labCli.ts'
import {
  LAB_SIDECAR_PACKAGE,
  startLabEnvironment,
  type LabEnvironment
} from '../../lab/environment.ts'
import { buildSidecarDeb } from '../../lab/mesh/deb.ts'
import type { LabVm } from '../../lab/vms/index.ts'
import { connect } from '../../src/cluster/connection.ts'
import type { DriftFinding, DriftReport } from '../../src/drift/types.ts'
import type { RunReport } from '../../src/engine/report.ts'

const OWNER = 'drift-lab'

describe('drift on the lab', labTestOptions(), () => {
  let env: LabEnvironment
  let dir = ''
  let vm1: LabVm
  let vm2: LabVm
  const started = Date.now()

  /** The description: labels as given; a 2-day token, above the default 1-day threshold. */
  function description(labels = '{app: drift}'): string {
    return `cluster: {istioNamespace: istio-system}
workloadGroups:
  - name: drift
    namespace: vm
    serviceAccount: drift
    labels: ${labels}
    ports: {http-echo: 8080}
    probe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 2}
    registration: manual
    service: {kind: ServiceEntry, hosts: [drift.vm.svc.cluster.local]}
    sidecar: {package: ${LAB_SIDECAR_PACKAGE}}
vms:
  - {name: ${vm1.name}, host: ${vm1.address}}
  - {name: ${vm2.name}, host: ${vm2.address}}
ssh: {user: ${vm1.user}}
settings: {tokenDuration: 172800, parallelism: 2}
`
  }

  function cli(command: 'apply' | 'drift', yaml = description()): Promise<CliRun> {
    return labCli(env, { command, yaml, dir, owner: OWNER, file: 'drift.yaml' })
  }

  async function apply(yaml?: string): Promise<RunReport> {
    const t = Date.now()
    const run = await cli('apply', yaml)
    assert.equal(
      run.code,
      0,
      `apply: exit ${run.code}\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-2000)}`
    )
    console.log(`  apply: ${((Date.now() - t) / 1000).toFixed(1)} s`)
    return JSON.parse(run.stdout) as RunReport
  }

  async function drift(yaml?: string): Promise<{ code: number; report: DriftReport; raw: string }> {
    const t = Date.now()
    const run = await cli('drift', yaml)
    let report: DriftReport
    try {
      report = JSON.parse(run.stdout) as DriftReport
    } catch {
      assert.fail(`drift printed no JSON report: exit ${run.code}\n${run.stdout}\n${run.stderr}`)
    }
    console.log(`  drift: exit ${run.code} in ${((Date.now() - t) / 1000).toFixed(1)} s`)
    const raw = JSON.stringify(
      {
        drifted: report.driftedHosts,
        problems: report.problems,
        findings: [
          ...report.hosts.flatMap(h =>
            h.findings.filter(f => f.state !== 'ok').map(f => ({ host: h.host, ...f }))
          ),
          ...report.cluster.findings.filter(f => f.state !== 'ok')
        ]
      },
      null,
      1
    )
    return { code: run.code, report, raw }
  }

  /** drift exits 0: nothing differs, everything was checked. */
  async function clean(yaml?: string): Promise<void> {
    const { code, report, raw } = await drift(yaml)
    assert.equal(code, 0, raw)
    assert.equal(report.ok, true, raw)
    assert.deepEqual(report.driftedHosts, [])
  }

  /** drift exits 0 within a while (a restarted sidecar reports its health after it is ready). */
  async function untilClean(): Promise<void> {
    const deadline = Date.now() + 60_000
    for (;;) {
      const { code, raw } = await drift()
      if (code === 0) return
      if (Date.now() > deadline) assert.fail(`drift did not come back clean:\n${raw}`)
      await new Promise(resolve => setTimeout(resolve, 2000))
    }
  }

  /** drift exits 3 with these hosts drifted and a finding of `area` on `host` matching `detail`. */
  async function drifted(
    hosts: string[],
    expected: {
      host: string | 'cluster'
      area: DriftFinding['area']
      subject?: RegExp
      detail: RegExp
    }[],
    yaml?: string
  ): Promise<void> {
    const { code, report, raw } = await drift(yaml)
    assert.equal(code, 3, raw)
    assert.equal(report.drifted, true, raw)
    assert.deepEqual([...report.driftedHosts].sort(), [...hosts].sort(), raw)
    for (const e of expected) {
      const findings =
        e.host === 'cluster'
          ? report.cluster.findings
          : (report.hosts.find(h => h.host === e.host)?.findings ?? [])
      const hit = findings.find(
        f =>
          f.state === 'drift' &&
          f.area === e.area &&
          (e.subject === undefined || e.subject.test(f.subject)) &&
          e.detail.test(f.detail)
      )
      assert.ok(hit, `${e.host}: no ${e.area} drift matching ${e.detail}\n${raw}`)
    }
    // nothing secret in what a user reads
    assert.doesNotMatch(JSON.stringify(report), /eyJ[\w-]{8,}\.[\w-]{8,}/, 'a token leaked')
  }

  before(async () => {
    env = await startLabEnvironment({ vms: 2 })
    const [a, b] = env.vms
    assert.ok(a && b)
    vm1 = a
    vm2 = b
    dir = mkdtempSync(join(tmpdir(), 'mx-drift-'))
    console.log(`  lab up: ${((Date.now() - started) / 1000).toFixed(1)} s`)
  })

  after(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true })
    await env?.close()
    console.log(`  drift lab test: ${((Date.now() - started) / 1000).toFixed(1)} s in all`)
  })

  test('after a clean apply, drift exits 0, and every comparison could be made', async () => {
    await apply()
    const { code, report, raw } = await drift()
    assert.equal(code, 0, raw)
    // nothing "unknown": the probe read every file, the token's exp, the certificate, the rules
    const notOk = report.hosts.flatMap(h => h.findings.filter(f => f.state !== 'ok'))
    assert.deepEqual(notOk, [], raw)
    for (const host of report.hosts)
      for (const area of [
        'file',
        'token',
        'certificate',
        'package',
        'version',
        'capture',
        'registration'
      ])
        assert.ok(
          host.findings.some(f => f.area === area),
          `${host.host}: no ${area} finding`
        )
  })

  test('a file edited on a host', async () => {
    await inVm(vm1, "echo '# edited by hand' >> /var/lib/istio/envoy/cluster.env")
    await drifted(
      [vm1.name],
      [
        {
          host: vm1.name,
          area: 'file',
          subject: /cluster\.env$/,
          detail: /differs from what the description renders now/
        }
      ]
    )
    await apply()
    await clean()
  })

  test('a package downgraded', async () => {
    const older = await buildSidecarDeb(dir, { version: '1.29.0', fileName: 'older.deb' })
    await inVm(vm2, 'cat > /tmp/older.deb', readFileSync(older))
    await inVm(
      vm2,
      'DEBIAN_FRONTEND=noninteractive dpkg -i /tmp/older.deb >/dev/null && rm -f /tmp/older.deb'
    )
    await drifted(
      [vm2.name],
      [
        {
          host: vm2.name,
          area: 'package',
          detail: /^1\.29\.0 installed, 1\.30\.3 wanted \(downgraded/
        }
      ]
    )
    await apply()
    await clean()
  })

  test('a token about to expire', async () => {
    // a token of the same account, valid for an hour, placed where apply puts its own
    const connection = await connect({ kubeconfigPath: env.kubeconfigPath })
    let token: string
    try {
      token = await connection.client.createToken('vm', 'drift', {
        audiences: ['istio-ca'],
        expirationSeconds: 3600
      })
    } finally {
      await connection.close()
    }
    for (const path of [
      '/var/run/secrets/tokens/istio-token',
      '/var/lib/mesh-expansion/istio-token'
    ])
      await inVm(vm1, `cat > ${path}`, token)
    await drifted(
      [vm1.name],
      [
        {
          host: vm1.name,
          area: 'token',
          detail: /^expires in (59|60) min .*within settings\.tokenRefreshWithin \(1 d\)/
        }
      ]
    )
    await apply()
    await clean()
  })

  test('a sidecar stopped', async () => {
    await inVm(vm2, 'systemctl stop istio')
    await drifted(
      [vm2.name],
      [
        { host: vm2.name, area: 'service', detail: /the sidecar is (inactive|failed)/ },
        { host: vm2.name, area: 'readiness', detail: /does not answer ready/ }
      ]
    )
    await apply()
    await clean()
  })

  test('a WorkloadEntry deleted', async () => {
    const connection = await connect({ kubeconfigPath: env.kubeconfigPath })
    try {
      const gone = await connection.client.delete({
        apiVersion: 'networking.istio.io/v1',
        kind: 'WorkloadEntry',
        namespace: 'vm',
        name: vm1.name
      })
      assert.equal(gone, true)
    } finally {
      await connection.close()
    }
    await drifted(
      [vm1.name],
      [
        { host: vm1.name, area: 'registration', detail: /^missing/ },
        {
          host: 'cluster',
          area: 'cluster',
          subject: new RegExp(`WorkloadEntry vm/${vm1.name}`),
          detail: /missing/
        }
      ]
    )
    // apply registers the entry again; a sidecar that stayed connected would report its health
    // only when it changes (the new entry would stay without a Healthy condition, and istiod
    // send it no traffic), so apply restarts the sidecar of that host, and of no other
    const report = await apply()
    const restarted = report.hosts.filter(h => h.restarted).map(h => h.host)
    assert.deepEqual(restarted, [vm1.name])
    await untilClean()
  })

  test('a capture rule flushed', async () => {
    await inVm(vm2, 'iptables -t nat -F ISTIO_INBOUND')
    await drifted(
      [vm2.name],
      [{ host: vm2.name, area: 'capture', detail: /missing: inbound capture of port 8080/ }]
    )
    await apply()
    await clean()
  })

  test("the description's labels changed", async () => {
    const changed = description('{app: drift, tier: backend}')
    await drifted(
      [vm1.name, vm2.name],
      [
        { host: 'cluster', area: 'cluster', subject: /^WorkloadGroup vm\/drift$/, detail: /tier/ },
        { host: vm1.name, area: 'file', subject: /cluster\.env$/, detail: /differs/ }
      ],
      changed
    )
    await apply(changed)
    await clean(changed)
  })
})
