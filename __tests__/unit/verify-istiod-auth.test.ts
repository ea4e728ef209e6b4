// istiod's debug endpoint from 1.11 (pilot/pkg/xds/debug.go, allowAuthenticatedOrLocalhost):
// through the API server's service proxy it answers 401, so the check asks in the istiod pod on
// localhost (`pilot-discovery request GET /debug/connections`), and reports "cannot tell" (a
// skip, never a failure) when it cannot. Against the sandbox API on loopback (no root).
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { KubeConfig } from '@kubernetes/client-node'
import {
  debugConnections,
  startSandboxCluster,
  type SandboxCluster
} from '../../lab/cluster/index.ts'
import { createClusterClient } from '../../src/cluster/client.ts'
import { parseDescription } from '../../src/config/index.ts'
import { createKubeVerifyClients } from '../../src/verify/podExec.ts'
import { runChecks } from '../../src/verify/index.ts'

const proxies = [{ podName: 'vm-1', namespace: 'vm', remoteAddress: '198.18.2.2' }]

async function sandbox(istioVersion: string): Promise<{
  cluster: SandboxCluster
  kc: KubeConfig
  clients: ReturnType<typeof createKubeVerifyClients>
}> {
  const cluster = await startSandboxCluster({
    echo: false,
    istioVersion,
    istiodDebug: path => (path === '/debug/connections' ? debugConnections(proxies) : undefined)
  })
  const kc = new KubeConfig()
  kc.loadFromString(cluster.kubeconfig)
  const clients = createKubeVerifyClients(kc, {
    client: await createClusterClient(kc),
    istioNamespace: 'istio-system',
    istiodService: 'istiod',
    istiodRevision: '',
    networkingApiVersion: 'networking.istio.io/v1'
  })
  return { cluster, kc, clients }
}

describe('istiod debug authentication (1.11+)', () => {
  const open: SandboxCluster[] = []
  after(async () => {
    for (const c of open) await c.close()
  })

  test('1.12+: the service proxy answers 401; the list comes from the istiod pod on localhost', async () => {
    const { cluster, clients } = await sandbox('1.12.0')
    open.push(cluster)
    assert.deepEqual(await clients.controlPlane.connectedProxies(), [
      { id: 'vm-1.vm', ip: '198.18.2.2' }
    ])
    const log = cluster.requestLog.entries
    assert.ok(log.some(e => e.resource === 'services/proxy' && e.status === 401))
    assert.ok(
      log.some(
        e =>
          e.resource === 'pods/exec' &&
          e.namespace === 'istio-system' &&
          e.name?.startsWith('istiod-') &&
          e.status === 101
      )
    )
  })

  test('checks asking at the same moment share one ask; a later one asks again', async () => {
    const { cluster, clients } = await sandbox('1.12.0')
    open.push(cluster)
    const execs = (): number =>
      cluster.requestLog.entries.filter(e => e.resource === 'pods/exec').length
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => clients.controlPlane.connectedProxies())
    )
    for (const answer of answers) assert.deepEqual(answer, [{ id: 'vm-1.vm', ip: '198.18.2.2' }])
    const istiods = cluster.store
      .list('pods', 'istio-system')
      .filter(p => p.metadata?.name?.startsWith('istiod-') === true).length
    assert.ok(istiods >= 1)
    // one exec per istiod pod for the eight, not eight per pod
    assert.equal(execs(), istiods)
    await clients.controlPlane.connectedProxies()
    assert.equal(execs(), 2 * istiods)
  })

  test('1.10: the service proxy still answers, no exec', async () => {
    const { cluster, clients } = await sandbox('1.10.0')
    open.push(cluster)
    assert.deepEqual(await clients.controlPlane.connectedProxies(), [
      { id: 'vm-1.vm', ip: '198.18.2.2' }
    ])
    assert.equal(cluster.requestLog.entries.filter(e => e.resource === 'pods/exec').length, 0)
  })

  test('401 and no exec right in istio-system: the istiod check is a skip that says why', async () => {
    const { cluster, clients } = await sandbox('1.30.3')
    open.push(cluster)
    cluster.deny('admin', 'create', 'pods/exec')
    const answer = await clients.controlPlane.connectedProxies()
    assert.ok(answer !== null && !Array.isArray(answer), JSON.stringify(answer))
    assert.match(
      answer.cannotTell,
      /^istiod answers HTTP 401 to \/debug\/connections through the API server .*pilot-discovery request GET \/debug\/connections` in istio-system\/istiod-\S+ failed .*needs create on pods\/exec in istio-system/
    )
    const parsed = parseDescription(
      `workloadGroups:
  - {name: vm-app, namespace: vm, ports: {http: 8080}}
vms:
  - {name: vm-1, host: 198.18.2.2, user: mesh}
`,
      'auth.yaml'
    )
    assert.ok(parsed.ok)
    const ready = 'HTTP/1.1 200 OK\r\n\r\n\n__mx_remote_ip=127.0.0.1\n'
    const results = await runChecks(parsed.description, {
      host: () => ({
        async run(command) {
          if (command.includes('for t in curl')) return { code: 0, stdout: 'curl\n', stderr: '' }
          if (command === 'hostname -s') return { code: 0, stdout: 'vm-1\n', stderr: '' }
          return { code: 0, stdout: ready, stderr: '' }
        }
      }),
      vmAddress: () => '198.18.2.2',
      controlPlane: clients.controlPlane,
      retryDelayMs: 1
    })
    const istiod = results.find(r => r.kind === 'istiod-connection')
    assert.equal(istiod?.status, 'skip')
    assert.match(istiod?.diagnosis ?? '', /^cannot tell: istiod answers HTTP 401/)
  })
})
