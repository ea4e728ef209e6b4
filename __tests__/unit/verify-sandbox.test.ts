// The cluster adapters of src/verify against the sandbox API on loopback (no root): pods by
// label, exec with exit codes and missing executables, istiod's /debug/connections through the
// service proxy, WorkloadEntry health, the PeerAuthentication apply and delete.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { KubeConfig } from '@kubernetes/client-node'
import {
  debugConnections,
  startSandboxCluster,
  type SandboxCluster
} from '../../lab/cluster/index.ts'
import { createClusterClient } from '../../src/cluster/client.ts'
import { createKubeVerifyClients, type KubeVerifyClients } from '../../src/verify/podExec.ts'
import { strictPeerAuthentication, STRICT_POLICY_NAME } from '../../src/verify/index.ts'

describe('verify adapters against the sandbox API', () => {
  let cluster: SandboxCluster | undefined
  let clients: KubeVerifyClients
  const proxies = [{ podName: 'vm-1', namespace: 'vm', remoteAddress: '198.18.2.2' }]

  before(async () => {
    cluster = await startSandboxCluster({
      echo: false,
      sleepExecutables: ['sh', 'wget'],
      istiodDebug: path => (path === '/debug/connections' ? debugConnections(proxies) : undefined)
    })
    const kc = new KubeConfig()
    kc.loadFromString(cluster.kubeconfig)
    const client = await createClusterClient(kc)
    clients = createKubeVerifyClients(kc, {
      client,
      istioNamespace: 'istio-system',
      istiodService: 'istiod',
      networkingApiVersion: 'networking.istio.io/v1'
    })
  })

  after(async () => {
    await cluster?.close()
  })

  test('connected proxies through the service proxy', async () => {
    assert.deepEqual(await clients.controlPlane.connectedProxies(), [
      { id: 'vm-1.vm', ip: '198.18.2.2' }
    ])
    proxies.length = 0
    assert.deepEqual(await clients.controlPlane.connectedProxies(), [])
  })

  test('no such istiod Service: the control plane cannot tell (null), not an error', async () => {
    assert.ok(cluster)
    const kc = new KubeConfig()
    kc.loadFromString(cluster.kubeconfig)
    const other = createKubeVerifyClients(kc, {
      client: await createClusterClient(kc),
      istioNamespace: 'istio-system',
      istiodService: 'istiod-canary',
      networkingApiVersion: 'networking.istio.io/v1'
    })
    assert.equal(await other.controlPlane.connectedProxies(), null)
  })

  test('the pod by label, exec exit codes, a missing executable', async () => {
    const pod = await clients.pods.findPod('sample', 'app=sleep')
    assert.ok(pod)
    assert.equal(pod.container, 'sleep')
    assert.equal(pod.serviceAccount, 'sleep')
    assert.equal(await clients.pods.findPod('sample', 'app=nothing'), null)
    const ok = await clients.pods.exec(
      'sample',
      pod.name,
      pod.container,
      ['sh', '-c', 'echo hi; exit 3'],
      10_000
    )
    assert.equal(ok.code, 3)
    assert.equal(ok.stdout, 'hi\n')
    const missing = await clients.pods.exec(
      'sample',
      pod.name,
      pod.container,
      ['curl', '--version'],
      10_000
    )
    assert.equal(missing.code, 127)
    assert.match(missing.stderr, /not found/)
  })

  test('WorkloadEntry: missing, without a condition, unhealthy', async () => {
    assert.deepEqual(await clients.controlPlane.workloadEntryHealth('vm', 'vm-1'), {
      state: 'missing'
    })
    assert.ok(cluster)
    cluster.store.put({
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadEntry',
      metadata: { name: 'vm-1', namespace: 'sample' },
      spec: { address: '198.18.2.2' }
    })
    assert.deepEqual(await clients.controlPlane.workloadEntryHealth('sample', 'vm-1'), {
      state: 'unknown'
    })
    cluster.store.put({
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadEntry',
      metadata: { name: 'vm-1', namespace: 'sample' },
      spec: { address: '198.18.2.2' },
      status: {
        conditions: [{ type: 'Healthy', status: 'False', reason: 'Probe', message: 'refused' }]
      }
    })
    assert.deepEqual(await clients.controlPlane.workloadEntryHealth('sample', 'vm-1'), {
      state: 'unhealthy',
      reason: 'Probe',
      message: 'refused'
    })
  })

  test('STRICT PeerAuthentication: applied, then deleted; deleting twice is fine', async () => {
    assert.ok(cluster)
    await clients.policy.applyPeerAuthentication(strictPeerAuthentication('sample', 'test'))
    const stored = cluster.store.get(
      'peerauthentications.security.istio.io',
      'sample',
      STRICT_POLICY_NAME
    )
    assert.deepEqual((stored as { spec?: unknown } | undefined)?.spec, { mtls: { mode: 'STRICT' } })
    await clients.policy.deletePeerAuthentication('sample', STRICT_POLICY_NAME)
    await clients.policy.deletePeerAuthentication('sample', STRICT_POLICY_NAME)
    assert.equal(
      cluster.store.get('peerauthentications.security.istio.io', 'sample', STRICT_POLICY_NAME),
      undefined
    )
  })
})
