// The cluster-side adapters' pure parts: istiod's /debug/connections, WorkloadEntry health,
// pod selection, exec statuses, the STRICT policy manifest; and HostShell over the local
// transport.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { LocalTransport } from '../../src/host/local.ts'
import { hostShellOverTransport } from '../../src/verify/hostShell.ts'
import {
  execExitCode,
  parseDebugConnections,
  ofRevision,
  pickPod,
  podRefOf,
  workloadEntryHealthOf
} from '../../src/verify/podExec.ts'
import { strictPeerAuthentication } from '../../src/verify/index.ts'

describe('istiod /debug/connections', () => {
  test('proxy IDs without the connection counter, addresses without the port', () => {
    const json = {
      totalClients: 3,
      clients: [
        {
          connectionId: 'vm-1.vm-12',
          connectedAt: '2026-11-23T19:00:00Z',
          address: '198.18.2.2:40122'
        },
        {
          connectionId: 'sleep-6b8f4c7d9-m3n5p.sample-3',
          connectedAt: '2026-11-23T19:00:00Z',
          address: '198.18.1.11:5555'
        },
        { connectionId: 'v6-host.vm-1', address: '[fd00::1]:15012' }
      ]
    }
    assert.deepEqual(parseDebugConnections(json), [
      { id: 'vm-1.vm', ip: '198.18.2.2' },
      { id: 'sleep-6b8f4c7d9-m3n5p.sample', ip: '198.18.1.11' },
      { id: 'v6-host.vm', ip: 'fd00::1' }
    ])
  })

  test('no clients (omitempty) is an empty list; not JSON objects are errors', () => {
    assert.deepEqual(parseDebugConnections({ totalClients: 0 }), [])
    assert.throws(() => parseDebugConnections('x'), /did not answer with a JSON object/)
    assert.throws(() => parseDebugConnections({ clients: {} }), /clients is not a list/)
  })
})

describe('WorkloadEntry health', () => {
  test('from the Healthy condition', () => {
    assert.deepEqual(workloadEntryHealthOf(null), { state: 'missing' })
    assert.deepEqual(workloadEntryHealthOf({ spec: {} }), { state: 'unknown' })
    assert.deepEqual(
      workloadEntryHealthOf({ status: { conditions: [{ type: 'Healthy', status: 'True' }] } }),
      { state: 'healthy' }
    )
    assert.deepEqual(
      workloadEntryHealthOf({
        status: {
          conditions: [{ type: 'Healthy', status: 'False', reason: 'HTTPGet', message: 'refused' }]
        }
      }),
      { state: 'unhealthy', reason: 'HTTPGet', message: 'refused' }
    )
  })
})

describe('pods', () => {
  test("istiod pods of a revision: by istio.io/rev ('' is default); unlabelled pods all count", () => {
    const istiod = (
      name: string,
      rev?: string
    ): { metadata: { name: string; labels: Record<string, string> } } => ({
      metadata: { name, labels: { app: 'istiod', ...(rev ? { 'istio.io/rev': rev } : {}) } }
    })
    const two = [istiod('istiod-1', 'default'), istiod('istiod-canary-1', 'canary')]
    const names = (pods: Array<{ metadata: { name: string } }>): string[] =>
      pods.map(p => p.metadata.name)
    assert.deepEqual(names(ofRevision(two, '')), ['istiod-1'])
    assert.deepEqual(names(ofRevision(two, 'canary')), ['istiod-canary-1'])
    assert.deepEqual(names(ofRevision(two, 'other')), [])
    const old = [istiod('istiod-1'), istiod('istiod-2')]
    assert.deepEqual(names(ofRevision(old, '')), ['istiod-1', 'istiod-2'])
  })

  const pod = (name: string, phase: string, extra: Record<string, unknown> = {}) => ({
    metadata: { name, annotations: {} as Record<string, string> },
    spec: { serviceAccountName: 'sleep', containers: [{ name: 'istio-proxy' }, { name: 'sleep' }] },
    status: { phase, podIP: '198.18.1.11' },
    ...extra
  })

  test('the first running pod; the app container, not istio-proxy; injected', () => {
    const ref = pickPod([pod('a', 'Pending'), pod('b', 'Running')])
    assert.deepEqual(ref, {
      name: 'b',
      container: 'sleep',
      serviceAccount: 'sleep',
      injected: true,
      ip: '198.18.1.11'
    })
    assert.equal(pickPod([pod('a', 'Succeeded')]), null)
  })

  test('default-container annotation, default account, no sidecar', () => {
    const ref = podRefOf({
      metadata: { name: 'p', annotations: { 'kubectl.kubernetes.io/default-container': 'b' } },
      spec: { containers: [{ name: 'a' }, { name: 'b' }] },
      status: { phase: 'Running' }
    })
    assert.deepEqual(ref, { name: 'p', container: 'b', serviceAccount: 'default', injected: false })
    const native = podRefOf({
      metadata: { name: 'n', annotations: {} },
      spec: { containers: [{ name: 'app' }], initContainers: [{ name: 'istio-proxy' }] }
    })
    assert.equal(native?.injected, true)
  })

  test('exec status: success, exit codes, executable not found', () => {
    assert.deepEqual(execExitCode({ status: 'Success' }), { code: 0 })
    assert.deepEqual(
      execExitCode({
        status: 'Failure',
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: '7' }] }
      }),
      { code: 7 }
    )
    const missing = execExitCode({
      status: 'Failure',
      message: 'exec: "curl": executable file not found in $PATH'
    })
    assert.equal(missing.code, 127)
    assert.equal(execExitCode(undefined).code, -1)
  })
})

describe('manifests', () => {
  test('STRICT PeerAuthentication labelled as ours', () => {
    assert.deepEqual(strictPeerAuthentication('vm', 'run-42'), {
      apiVersion: 'security.istio.io/v1beta1',
      kind: 'PeerAuthentication',
      metadata: {
        name: 'mesh-expansion-verify-strict',
        namespace: 'vm',
        labels: {
          'app.kubernetes.io/managed-by': 'mesh-expansion',
          'mesh-expansion.io/owner': 'run-42'
        }
      },
      spec: { mtls: { mode: 'STRICT' } }
    })
  })
})

describe('HostShell over a HostTransport', () => {
  test('runs as the login user directly, others through sudo -n', async () => {
    const transport = new LocalTransport()
    const me = (await transport.exec('id -un', { timeoutMs: 5000 })).stdout.trim()
    const shell = hostShellOverTransport(transport, me)
    const same = await shell.run('printf %s "$((1+2))"', { user: me, timeoutMs: 5000 })
    assert.deepEqual(same, { code: 0, stdout: '3', stderr: '' })
    const plain = await shell.run('exit 3', { timeoutMs: 5000 })
    assert.equal(plain.code, 3)
  })
})
