// A run that converges when the control plane throttles (issue 18): four VMs at parallelism 4,
// the istiod stand-in stalling every new connection for a while from the moment the first host
// starts (the sidecars' dials time out: `dial tcp istiod.istio-system.svc:15012: i/o timeout`).
// The run slows down (the concurrency series shrinks), the hosts that failed for the control
// plane are tried again, and every host ends ready in the one run. Then, with the stand-in
// refusing one host's CSR for a reason of that host's (`CSR signing error`), that host fails at
// once, on its first attempt, with the agent's line as its diagnosis; the others end ready.
// The engine runs in this process (apply, as the CLI calls it), so the stand-in's fault switch
// and the run's report are both at hand. Timings are printed.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { labTestOptions } from '../helpers/lab.ts'
import {
  LAB_SIDECAR_PACKAGE,
  startLabEnvironment,
  type LabEnvironment
} from '../../lab/environment.ts'
import { connect } from '../../src/cluster/connection.ts'
import { parseDescription, type Description } from '../../src/config/index.ts'
import { apply, cleanup, type EngineOptions } from '../../src/engine/run.ts'
import type { RunReport } from '../../src/engine/report.ts'
import { concurrencySummary, reportLines } from '../../src/report/terminal.ts'

const VMS = 4
/** The sidecar's readiness budget in these runs (install.sh MX_READY_TIMEOUT). */
const READY_SEC = 15
/**
 * The stand-in stalls every new connection from the first host's start until it has stalled
 * twice as many as there are hosts, then answers again. The agent's dial gives up after 10 s and
 * tries again 1 s later, so a host with two stalled dials in one attempt is not ready within
 * READY_SEC: with 2 × VMS stalls at least one host had two (pigeonhole), whatever the machine's
 * load; and no host can use up its attempts before the release, which comes within a few dials.
 * (A stall of fixed length passed unnoticed on a loaded machine: sidecars started late.)
 */
const STALLS = 2 * VMS
/** The longest the stall can last if the count is never reached: the run then fails clearly. */
const STALL_LIMIT_MS = 120_000

describe('a run that converges when istiod throttles', labTestOptions(), () => {
  let env: LabEnvironment
  let description: Description

  before(async () => {
    env = await startLabEnvironment({ vms: VMS })
    const [first] = env.vms
    assert.ok(first)
    const parsed = parseDescription(
      `cluster: {istioNamespace: istio-system}
workloadGroups:
  - name: fleet
    namespace: vm
    serviceAccount: fleet
    labels: {app: fleet}
    ports: {http: 8080}
    service: {kind: ServiceEntry, hosts: [fleet.vm.svc.cluster.local]}
    sidecar: {package: ${LAB_SIDECAR_PACKAGE}}
vms:
${env.vms.map(vm => `  - {name: ${vm.name}, host: ${vm.address}}`).join('\n')}
ssh: {user: ${first.user}}
settings: {parallelism: ${VMS}}
`,
      'convergence.yaml'
    )
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.errors.map(e => e.message).join('; '))
    description = parsed.description
  })

  after(async () => {
    await env?.close()
  })

  async function run(
    engine: typeof apply,
    extra: Partial<EngineOptions> = {}
  ): Promise<{ report: RunReport; ms: number }> {
    const connection = await connect({ kubeconfigPath: env.kubeconfigPath })
    const started = Date.now()
    try {
      const report = await engine(description, connection, {
        owner: 'convergence',
        env: env.secrets,
        log: () => undefined,
        warn: () => undefined,
        onSecret: () => undefined,
        verify: false,
        readyTimeoutSec: READY_SEC,
        ...extra
      })
      return { report, ms: Date.now() - started }
    } finally {
      await connection.close()
    }
  }

  const hostRows = (report: RunReport): string =>
    JSON.stringify(
      report.hosts.map(h => [h.host, h.status, h.attempts, h.error?.message, h.diagnosis]),
      null,
      1
    )

  test('istiod stalls new connections at the start: the run slows down, every host ends ready', async () => {
    let armed = false
    const release = setInterval(() => {
      if (env.istiod.faults.counts().stalled < STALLS) return
      env.istiod.faults.stallNew(0)
      clearInterval(release)
    }, 100)
    let result: Awaited<ReturnType<typeof run>>
    try {
      result = await run(apply, {
        onHostStarted: () => {
          if (armed) return
          armed = true
          env.istiod.faults.stallNew(STALL_LIMIT_MS)
        }
      })
    } finally {
      clearInterval(release)
      env.istiod.faults.clear()
    }
    const { report, ms } = result
    const counts = env.istiod.faults.counts()
    console.log(
      `stalled run: ${(ms / 1000).toFixed(1)} s; ${counts.stalled} connections stalled; ` +
        `${concurrencySummary(report)}; attempts ${report.hosts.map(h => `${h.host}=${h.attempts}`).join(' ')}`
    )
    assert.ok(report.ok, `${report.problems.join('\n')}\n${hostRows(report)}`)
    assert.equal(report.hosts.length, VMS)
    for (const host of report.hosts) assert.equal(host.ready, true, host.host)
    assert.ok(counts.stalled > 0, 'the stand-in stalled no connection')
    // hosts were tried again after a control-plane failure...
    const retried = report.hosts.filter(h => (h.attempts ?? 1) > 1)
    assert.ok(retried.length > 0, hostRows(report))
    assert.ok(retried.every(h => (h.attempts ?? 0) <= 3))
    // ... after the limit shrank: the series starts at parallelism (4 = min(4, 4)) and goes down
    const limits = (report.concurrency ?? []).map(p => p.limit)
    assert.equal(limits[0], VMS)
    assert.ok(Math.min(...limits) < VMS, `no shrink: ${limits.join(' → ')}`)
    assert.ok(Math.max(...limits) <= VMS)
    const line = reportLines(report).find(l => l.startsWith('concurrency '))
    assert.match(line ?? '', /^concurrency 4 → 2\b.*tried again for the control plane\)$/)
  })

  test("istiod refuses one host's certificate: that host fails at once with its diagnosis, the others end ready", async () => {
    env.istiod.faults.clear()
    // fresh sidecars: the hosts of the run above are ready and a re-run would restart nothing
    const cleaned = await run(cleanup)
    assert.ok(cleaned.report.ok, cleaned.report.problems.join('\n'))
    const refused = env.vms[1]
    assert.ok(refused)
    const refusal = env.istiod.faults.refuseCertificate({ address: refused.address })
    let report: RunReport
    let ms: number
    try {
      ;({ report, ms } = await run(apply))
    } finally {
      refusal.remove()
    }
    const host = report.hosts.find(h => h.host === refused.name)
    console.log(
      `refused run: ${(ms / 1000).toFixed(1)} s; ${refusal.hits()} CSRs refused; ${host?.host}: ${host?.error?.message} ${JSON.stringify(host?.diagnosis)}`
    )
    assert.equal(report.ok, false)
    assert.ok(host)
    assert.equal(host.status, 'failed')
    assert.equal(host.error?.phase, 'ready')
    assert.equal(host.attempts, 1, 'a host failing for its own reason is not tried again')
    assert.equal(host.diagnosis?.cause, 'host')
    assert.match(
      host.diagnosis?.reason ?? '',
      /code = InvalidArgument desc = CSR signing error \(certificate request of .* refused/
    )
    assert.ok(refusal.hits() >= 1)
    // the problem line carries the diagnosis
    assert.ok(
      report.problems.some(
        p => p.startsWith(`${refused.name}: ready:`) && /this host: .*CSR signing error/.test(p)
      ),
      report.problems.join('\n')
    )
    for (const other of report.hosts.filter(h => h.host !== refused.name)) {
      assert.equal(other.status, 'ok', hostRows(report))
      assert.equal(other.ready, true, other.host)
      assert.equal(other.attempts, 1, other.host)
    }
    // nothing shrank: a host's own failure says nothing about the control plane
    assert.ok(
      (report.concurrency ?? []).every(p => p.limit >= VMS),
      JSON.stringify(report.concurrency)
    )
  })
})
