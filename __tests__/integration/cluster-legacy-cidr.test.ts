// The service CIDR of clusters without a cloud CLI: ServiceCIDR objects where served, else the
// API server's refusal of a dry-run Service outside the range, else the kube-apiserver pod's flags.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  cidrFromApiserverArgs,
  cidrFromDryRunMessage,
  cidrsFromServiceCidrObjects,
  discoverServiceCidr,
  type ServiceCidr
} from '../../src/cluster/legacy/serviceCidr.ts'
import type { SandboxCluster, SandboxClusterOptions } from '../../lab/cluster/index.ts'
import { withSandbox } from './cluster-helpers.ts'

function withCluster<T>(
  options: SandboxClusterOptions,
  fn: (sb: SandboxCluster, run: () => Promise<ServiceCidr>) => Promise<T>
): Promise<T> {
  return withSandbox({ istioVersion: '0.8.0', ...options }, (sb, client) =>
    fn(sb, () => discoverServiceCidr(client))
  )
}

const serviceCount = (sb: SandboxCluster): number => sb.store.list('services').length

describe('service CIDR: parsers', () => {
  test('the dry-run refusal, old and new wording, dual stack', () => {
    assert.deepEqual(
      cidrFromDryRunMessage(
        'create services in namespace default: HTTP 422: Service "p" is invalid: spec.clusterIP: Invalid value: "1.1.1.1": provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12'
      ),
      ['10.96.0.0/12']
    )
    assert.deepEqual(
      cidrFromDryRunMessage(
        'spec.clusterIPs: Invalid value: []string{"1.1.1.1"}: failed to allocate IP 1.1.1.1: provided IP is not in the valid range. The range of valid IPs is 172.21.0.0/16'
      ),
      ['172.21.0.0/16']
    )
    assert.deepEqual(
      cidrFromDryRunMessage('The range of valid IPs is [10.0.0.0/16 fd00:10:96::/112].'),
      ['10.0.0.0/16', 'fd00:10:96::/112']
    )
    assert.deepEqual(cidrFromDryRunMessage('provided IP is already allocated'), [])
    assert.deepEqual(cidrFromDryRunMessage('The range of valid IPs is 10.0.0.0/99'), [])
  })

  test('the apiserver flag, = and separate forms, comma lists, malformed', () => {
    assert.deepEqual(
      cidrFromApiserverArgs(['kube-apiserver', '--service-cluster-ip-range=10.96.0.0/12']),
      ['10.96.0.0/12']
    )
    assert.deepEqual(
      cidrFromApiserverArgs(['--service-cluster-ip-range', '10.0.0.0/16,fd00::/108']),
      ['10.0.0.0/16', 'fd00::/108']
    )
    assert.deepEqual(cidrFromApiserverArgs(['--service-cluster-ip-range=banana']), [])
    assert.deepEqual(cidrFromApiserverArgs(['--secure-port=6443']), [])
  })

  test('ServiceCIDR objects: kubernetes first, deleting ones skipped', () => {
    const sc = (name: string, cidrs: string[], deleting = false) => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'ServiceCIDR',
      metadata: { name, ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
      spec: { cidrs }
    })
    assert.deepEqual(
      cidrsFromServiceCidrObjects([
        sc('extra', ['10.100.0.0/16']),
        sc('kubernetes', ['10.96.0.0/16']),
        sc('gone', ['10.200.0.0/16'], true)
      ]),
      ['10.96.0.0/16', '10.100.0.0/16']
    )
  })
})

describe('service CIDR: discovery against the sandbox', () => {
  test('ServiceCIDR objects where the API serves them (v1)', async () => {
    const found = await withCluster({ serviceCidrVersions: ['v1'] }, async (_sb, run) => run())
    assert.deepEqual(found, { cidrs: ['198.19.0.0/16'], source: 'servicecidr' })
  })

  test('ServiceCIDR objects in v1beta1 (1.31/1.32 with the gate)', async () => {
    const found = await withCluster({ serviceCidrVersions: ['v1beta1'] }, async (_sb, run) => run())
    assert.deepEqual(found, { cidrs: ['198.19.0.0/16'], source: 'servicecidr' })
  })

  test('no ServiceCIDR: the dry-run refusal names the range, and nothing is stored', async () => {
    await withCluster({}, async (sb, run) => {
      const before = serviceCount(sb)
      const rv = sb.store.currentResourceVersion
      sb.requestLog.clear()
      const found = await run()
      const creates = sb.requestLog.entries.filter(e => e.verb === 'create')
      assert.equal(creates.length, 1)
      assert.equal(creates[0]?.status, 422)
      assert.match(creates[0]?.path ?? '', /dryRun=All/)
      assert.deepEqual(found, { cidrs: ['198.19.0.0/16'], source: 'dry-run' })
      assert.equal(serviceCount(sb), before)
      assert.equal(sb.store.currentResourceVersion, rv)
      assert.equal(
        sb.store.list('services', 'default').filter(s => /cidr-probe/.test(s.metadata?.name ?? ''))
          .length,
        0
      )
    })
  })

  test('dry run refused by a webhook: the kube-apiserver pod flags', async () => {
    const found = await withCluster({ dryRunRefusedBy: 'policy.example.com' }, async (_sb, run) =>
      run()
    )
    assert.deepEqual(found, { cidrs: ['198.19.0.0/16'], source: 'apiserver-flags' })
  })

  test('a flag in args (not command) is found too', async () => {
    await withCluster({ dryRunRefusedBy: 'policy.example.com' }, async (sb, run) => {
      const pod = sb.store.get('pods', 'kube-system', 'kube-apiserver-sandbox-node')
      assert.ok(pod)
      const spec = pod.spec as { containers: Array<Record<string, unknown>> }
      spec.containers = [
        {
          name: 'kube-apiserver',
          command: ['kube-apiserver'],
          args: ['--service-cluster-ip-range', '10.43.0.0/16']
        }
      ]
      sb.store.put(pod)
      assert.deepEqual(await run(), { cidrs: ['10.43.0.0/16'], source: 'apiserver-flags' })
    })
  })

  test('nothing answers: the error says what was tried and to set the CIDR', async () => {
    await withCluster(
      { dryRunRefusedBy: 'policy.example.com', apiserverPod: false },
      async (_sb, run) => {
        await assert.rejects(run(), (error: Error) => {
          assert.match(error.message, /ServiceCIDR objects: networking\.k8s\.io is not served/)
          assert.match(error.message, /dry-run Service.*does not support dry run/)
          assert.match(
            error.message,
            /kube-apiserver pod flags: no pod labelled component=kube-apiserver/
          )
          assert.match(error.message, /cluster\.legacy\.serviceCidrs/)
          return true
        })
      }
    )
  })
})
