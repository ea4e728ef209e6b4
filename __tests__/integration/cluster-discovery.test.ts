// Discovery against sandbox clusters seeded in different shapes: default, revisioned, another
// istio namespace, a hostname-only gateway, a network, only v1beta1 served, overrides.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ClusterError, discover, renderDiscovery, type Discovery } from '../../src/cluster/index.ts'
import type { ClusterConfig } from '../../src/config/index.ts'
import type { SandboxClusterOptions } from '../../lab/cluster/index.ts'
import { connectTo, describe_, sandbox } from './cluster-helpers.ts'
import { peakInFlight, sequentialRounds, spansOf } from '../helpers/requestSpans.ts'

const AUTO: ClusterConfig = describe_(`
workloadGroups: [{name: g, namespace: vm, ports: {http: 8080}}]
vms: [{name: v, host: 198.18.2.2}]
`).cluster

async function discoverIn(
  options: SandboxClusterOptions,
  cluster: Partial<ClusterConfig> = {},
  resolveHost?: (h: string) => Promise<string[]>
): Promise<Discovery> {
  const sb = await sandbox(options)
  const c = await connectTo(sb.kubeconfig)
  try {
    return await discover(
      c.connection.client,
      { ...AUTO, ...cluster },
      resolveHost ? { resolveHost } : {}
    )
  } finally {
    await c.connection.close()
    await sb.close()
  }
}

describe('discovery', () => {
  test('two revisions installed: the default tag keeps auto on its revision; an explicit revision finds its own istiod and mesh config', async () => {
    const options: SandboxClusterOptions = {
      istioVersion: '1.30.3',
      clusterID: 'Kubernetes',
      moreRevisions: [{ revision: 'canary', istioVersion: '1.30.4' }]
    }
    const auto = await discoverIn(options)
    assert.equal(auto.revision, '')
    assert.equal(auto.istioVersion, '1.30.3')
    assert.equal(auto.discoveryAddress, 'istiod.istio-system.svc:15012')
    const canary = await discoverIn(options, { revision: 'canary' })
    assert.equal(canary.revision, 'canary')
    assert.equal(canary.revisionSource, 'explicit')
    assert.equal(canary.istioVersion, '1.30.4')
    assert.equal(canary.discoveryAddress, 'istiod-canary.istio-system.svc:15012')
    assert.equal(canary.clusterID, 'Kubernetes')
    assert.equal(canary.gateway.address, '198.18.0.2')
    assert.deepEqual(
      canary.warnings.filter(w => /canary/.test(w)),
      [],
      canary.warnings.join('\n')
    )
  })

  test('a default install', async () => {
    const d = await discoverIn({ istioVersion: '1.30.3', clusterID: 'Kubernetes' })
    assert.equal(d.istioVersion, '1.30.3')
    assert.equal(d.generation, 'modern')
    assert.equal(d.revision, '')
    assert.equal(d.revisionSource, 'tag-webhook')
    assert.equal(d.istioNamespace, 'istio-system')
    assert.equal(d.clusterID, 'Kubernetes')
    assert.equal(d.clusterIDSource, 'injector')
    assert.equal(d.trustDomain, 'cluster.local')
    assert.equal(d.discoveryAddress, 'istiod.istio-system.svc:15012')
    assert.equal(d.network, '')
    assert.deepEqual(d.gateway, {
      service: 'istio-eastwestgateway',
      namespace: 'istio-system',
      address: '198.18.0.2',
      source: 'load-balancer-ip'
    })
    assert.equal(d.istiodExposed, false)
    assert.equal(d.networkingVersion, 'v1')
    assert.equal(d.workloadGroupVersion, 'v1')
    assert.match(renderDiscovery(d).join('\n'), /Istio 1\.30\.3 \(modern\), revision default/)
  })

  test('a revisioned install: the tag webhook names the revision', async () => {
    const d = await discoverIn({
      revision: 'canary',
      istioVersion: '1.29.6',
      meshId: 'mesh1',
      trustDomain: 'example.org'
    })
    assert.equal(d.revision, 'canary')
    assert.equal(d.revisionSource, 'tag-webhook')
    assert.equal(d.istioVersion, '1.29.6')
    assert.equal(d.discoveryAddress, 'istiod-canary.istio-system.svc:15012')
    assert.equal(d.meshId, 'mesh1')
    assert.equal(d.trustDomain, 'example.org')
    assert.match(d.meshConfig, /discoveryAddress: istiod-canary/)
  })

  test('an explicit revision wins; an unknown one finds no istiod and says so', async () => {
    const d = await discoverIn({ revision: 'canary' }, { revision: 'blue' })
    assert.equal(d.revision, 'blue')
    assert.equal(d.revisionSource, 'explicit')
    assert.equal(d.istioVersion, null)
    assert.ok(d.warnings.some(w => /no istiod-blue deployment/.test(w)))
  })

  test('an istio namespace other than istio-system', async () => {
    const d = await discoverIn(
      { istioNamespace: 'mesh-control', revision: '1-30' },
      { istioNamespace: 'mesh-control' }
    )
    assert.equal(d.istioNamespace, 'mesh-control')
    assert.equal(d.revision, '1-30')
    assert.equal(d.discoveryAddress, 'istiod-1-30.mesh-control.svc:15012')
    assert.equal(d.gateway.namespace, 'mesh-control')
    assert.equal(d.gateway.address, '198.18.0.2')
  })

  test('a missing istio namespace is a clear error', async () => {
    await assert.rejects(
      discoverIn({}, { istioNamespace: 'nowhere' }),
      (e: unknown) =>
        e instanceof ClusterError && /istio namespace nowhere does not exist/.test(e.message)
    )
  })

  test('a hostname-only gateway is resolved on the runner', async () => {
    const asked: string[] = []
    const d = await discoverIn({ eastWestGateway: { hostname: 'gw.mesh.test' } }, {}, async h => {
      asked.push(h)
      return h === 'gw.mesh.test' ? ['198.18.0.77'] : []
    })
    assert.deepEqual(asked, ['gw.mesh.test'])
    assert.deepEqual(d.gateway, {
      service: 'istio-eastwestgateway',
      namespace: 'istio-system',
      address: '198.18.0.77',
      source: 'load-balancer-hostname',
      hostname: 'gw.mesh.test'
    })
  })

  test('a hostname that does not resolve leaves the address empty, with a warning', async () => {
    const d = await discoverIn({ eastWestGateway: { hostname: 'gw.mesh.test' } }, {}, async () => {
      throw new Error('getaddrinfo ENOTFOUND gw.mesh.test')
    })
    assert.equal(d.gateway.address, '')
    assert.ok(d.warnings.some(w => /cannot resolve gw\.mesh\.test/.test(w)))
  })

  test('no gateway, and an explicit istiod address override', async () => {
    const none = await discoverIn({ eastWestGateway: 'none' })
    assert.equal(none.gateway.source, 'none')
    assert.ok(none.warnings.some(w => /no east-west gateway Service/.test(w)))
    const override = await discoverIn(
      { eastWestGateway: 'none' },
      { istiodAddress: '198.18.0.9:15012' }
    )
    assert.deepEqual(override.gateway, {
      service: 'istio-eastwestgateway',
      namespace: 'istio-system',
      address: '198.18.0.9',
      source: 'override'
    })
  })

  test('network from the istio namespace label; explicit cluster ID wins', async () => {
    const d = await discoverIn({ network: 'net-east', clusterID: 'east' }, { clusterID: 'mine' })
    assert.equal(d.network, 'net-east')
    assert.equal(d.clusterID, 'mine')
    assert.equal(d.clusterIDSource, 'explicit')
  })

  test('a cluster serving only v1beta1; an old one gets WorkloadGroup v1alpha3', async () => {
    const beta = await discoverIn({ istioNetworkingVersions: ['v1beta1'], istioVersion: '1.20.0' })
    assert.equal(beta.networkingVersion, 'v1beta1')
    assert.equal(beta.workloadGroupVersion, 'v1beta1')
    const old = await discoverIn({
      istioNetworkingVersions: ['v1beta1', 'v1alpha3'],
      istioVersion: '1.10.0'
    })
    assert.equal(old.networkingVersion, 'v1beta1')
    assert.equal(old.workloadGroupVersion, 'v1alpha3')
  })

  test('older generations are told apart by their control plane', async () => {
    const meshExpansion = await discoverIn({ istioVersion: '1.1.17' })
    assert.equal(meshExpansion.generation, 'meshexpansion-1.1')
    assert.equal(meshExpansion.istioVersion, '1.1.17')
    assert.equal(meshExpansion.discoveryAddress, 'istio-pilot.istio-system:15011')
    const scripts = await discoverIn({ istioVersion: '0.8.0' })
    assert.equal(scripts.generation, 'scripts-0.8')
    const modern = await discoverIn({ istioVersion: '1.8.6' })
    assert.equal(modern.generation, 'modern')
    const forced = await discoverIn({ istioVersion: '1.30.3' }, { generation: 'multinetwork-1.4' })
    assert.equal(forced.generation, 'multinetwork-1.4')
  })

  test('istiod already exposed by a Gateway of someone else', async () => {
    const sb = await sandbox()
    const c = await connectTo(sb.kubeconfig)
    try {
      sb.store.put({
        apiVersion: 'networking.istio.io/v1',
        kind: 'Gateway',
        metadata: { name: 'istiod-gateway', namespace: 'istio-system' },
        spec: {
          selector: { istio: 'eastwestgateway' },
          servers: [
            {
              port: { name: 'tls-istiod', number: 15012, protocol: 'TLS' },
              tls: { mode: 'PASSTHROUGH' },
              hosts: ['*']
            }
          ]
        }
      })
      const d = await discover(c.connection.client, AUTO)
      assert.equal(d.istiodExposed, true)
    } finally {
      await c.connection.close()
      await sb.close()
    }
  })

  test('requests go out in parallel: two rounds, not one request after another', async () => {
    const sb = await sandbox()
    const c = await connectTo(sb.kubeconfig)
    try {
      sb.faults.add({ delayMs: 150 })
      sb.requestLog.clear()
      await discover(c.connection.client, AUTO)
      const spans = spansOf(sb.requestLog.filter({}))
      assert.ok(spans.length >= 8, `${spans.length} requests`)
      // each is held 150 ms: a request sent only after another was answered starts a new round
      const rounds = sequentialRounds(spans)
      assert.ok(rounds <= 2, `${rounds} rounds for ${spans.length} requests`)
      assert.ok(peakInFlight(spans) >= spans.length / 2, `peak ${peakInFlight(spans)}`)
    } finally {
      await c.connection.close()
      await sb.close()
    }
  })
})
