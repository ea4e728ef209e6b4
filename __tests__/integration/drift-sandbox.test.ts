// `drift` against the sandbox API, with the runner itself as the host (`host: local`): nothing
// is written to the cluster (only reads; no token minted), the objects a description wants but
// the cluster lacks are drift of the cluster, and a host never onboarded is drift of the host
// (or, where this runner has no passwordless sudo, not checked). Exit 3 either way.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { SandboxCluster } from '../../lab/cluster/index.ts'
import { isWrite } from '../../lab/cluster/observe.ts'
import { drift } from '../../src/drift/run.ts'
import { driftExitCode } from '../../src/drift/types.ts'
import { driftLines } from '../../src/report/drift.ts'
import { connectTo, describe_, sandbox } from './cluster-helpers.ts'

const YAML = `
workloadGroups:
  - name: shop
    namespace: vm
    labels: {app: shop}
    ports: {http: 8080}
    service: {kind: ServiceEntry}
vms:
  - name: runner
    host: local
    address: 127.0.0.1
`

describe('drift against the sandbox API', () => {
  let sb: SandboxCluster
  before(async () => {
    sb = await sandbox()
  })
  after(async () => {
    await sb?.close()
  })

  test('reads only; what the cluster lacks and the host never got is drift', async () => {
    const writesBefore = sb.requestLog.entries.filter(isWrite).length
    const { report, invalid } = await drift(
      describe_(YAML),
      async () => (await connectTo(sb.kubeconfig)).connection,
      { owner: 'drift-it', env: {}, log: () => undefined, warn: () => undefined }
    )
    assert.equal(invalid, false)
    assert.equal(sb.requestLog.entries.filter(isWrite).length, writesBefore, 'drift wrote')
    assert.ok(!sb.requestLog.entries.some(e => /\/token$/.test(e.path)), 'drift minted a token')
    const text = driftLines(report).join('\n')
    assert.equal(driftExitCode(report, invalid), 3, text)
    assert.equal(report.cluster.status, 'drift', text)
    for (const subject of ['WorkloadGroup vm/shop', 'ServiceEntry vm/shop', 'Namespace vm'])
      assert.ok(
        report.cluster.findings.some(
          f => f.subject === subject && f.state === 'drift' && /^missing/.test(f.detail)
        ),
        `${subject}\n${text}`
      )
    const host = report.hosts[0]
    assert.equal(host?.host, 'runner')
    if (host?.status === 'drift') {
      // this machine has no sidecar: the package and the files we place are missing
      assert.ok(
        host.findings.some(f => f.area === 'package' && /^not installed/.test(f.detail)),
        text
      )
      assert.deepEqual(report.driftedHosts, ['runner'])
    } else assert.equal(host?.status, 'unchecked', text)
  })
})
