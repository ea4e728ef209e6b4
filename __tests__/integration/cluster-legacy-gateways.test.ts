// How VMs of the older generations reach the control plane: the mesh-expansion.yaml ILBs (0.x)
// and istio-ingressgateway's meshExpansion ports (1.0–1.4), added and reverted per owner.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  addedPortsAnnotation,
  ilbAddresses,
  meshExpansionGateway,
  revertMeshExpansionPorts
} from '../../src/cluster/legacy/gateways.ts'
import type { ClusterClient } from '../../src/cluster/types.ts'
import type { KubeObject, SandboxCluster, SandboxClusterOptions } from '../../lab/cluster/index.ts'
import { withSandbox } from './cluster-helpers.ts'

function withCluster(
  options: SandboxClusterOptions,
  fn: (sb: SandboxCluster, client: ClusterClient) => Promise<void>
): Promise<void> {
  return withSandbox(options, fn)
}

const writes = (sb: SandboxCluster): number =>
  sb.requestLog.entries.filter(e => ['create', 'update', 'patch', 'delete'].includes(e.verb)).length

function gateway(sb: SandboxCluster): KubeObject {
  const svc = sb.store.get('services', 'istio-system', 'istio-ingressgateway')
  assert.ok(svc)
  return svc
}

const portsOf = (svc: KubeObject): number[] =>
  ((svc.spec as { ports: Array<{ port: number }> }).ports ?? [])
    .map(p => p.port)
    .sort((a, b) => a - b)

function dropLoadBalancer(sb: SandboxCluster, name: string, namespace: string): void {
  const svc = sb.store.get('services', namespace, name)
  assert.ok(svc)
  svc.status = { loadBalancer: {} }
  sb.store.put(svc)
}

describe('mesh-expansion.yaml ILBs', () => {
  test('0.8: pilot, dns (kube-system), mixer and citadel-ilb at the seeded address', async () => {
    await withCluster(
      { istioVersion: '0.8.0', eastWestGateway: { ip: '198.18.0.7' } },
      async (_sb, client) => {
        assert.deepEqual(await ilbAddresses(client, 'istio-system', { timeoutMs: 1000 }), {
          pilot: '198.18.0.7',
          dns: '198.18.0.7',
          mixer: '198.18.0.7',
          ca: '198.18.0.7'
        })
      }
    )
  })

  test('0.6: the CA ILB is still istio-ca-ilb; another istio namespace', async () => {
    await withCluster(
      { istioVersion: '0.6.0', istioNamespace: 'istio-old' },
      async (sb, client) => {
        assert.ok(sb.store.get('services', 'istio-old', 'istio-ca-ilb'))
        assert.equal(sb.store.get('services', 'istio-old', 'citadel-ilb'), undefined)
        const ilb = await ilbAddresses(client, 'istio-old', { timeoutMs: 1000 })
        assert.equal(ilb.ca, '198.18.0.2')
        assert.equal(ilb.pilot, '198.18.0.2')
      }
    )
  })

  test('no mixer ILB: mixer is empty', async () => {
    await withCluster({ istioVersion: '0.8.0' }, async (sb, client) => {
      sb.store.delete('services', 'istio-system', 'mixer-ilb')
      const ilb = await ilbAddresses(client, 'istio-system', { timeoutMs: 1000 })
      assert.equal(ilb.mixer, '')
      assert.equal(ilb.dns, '198.18.0.2')
    })
  })

  test('an IP that comes later is waited for', async () => {
    await withCluster({ istioVersion: '0.8.0' }, async (sb, client) => {
      dropLoadBalancer(sb, 'dns-ilb', 'kube-system')
      const later = setTimeout(() => {
        const svc = sb.store.get('services', 'kube-system', 'dns-ilb')
        if (svc) {
          svc.status = { loadBalancer: { ingress: [{ ip: '198.18.0.9' }] } }
          sb.store.put(svc)
        }
      }, 300)
      try {
        const ilb = await ilbAddresses(client, 'istio-system', { timeoutMs: 5000 })
        assert.equal(ilb.dns, '198.18.0.9')
      } finally {
        clearTimeout(later)
      }
    })
  })

  test('an IP that never comes: bounded, the error names the ILB and the manifest', async () => {
    await withCluster({ istioVersion: '0.8.0' }, async (sb, client) => {
      dropLoadBalancer(sb, 'citadel-ilb', 'istio-system')
      const started = Date.now()
      await assert.rejects(
        ilbAddresses(client, 'istio-system', { timeoutMs: 400 }),
        /citadel-ilb in istio-system \(no load-balancer IP yet\).*install\/kubernetes\/mesh-expansion\.yaml/
      )
      assert.ok(Date.now() - started < 3000)
    })
  })

  test('ILBs not applied (a 1.1 cluster): the error names each missing one at once', async () => {
    await withCluster({ istioVersion: '1.1.0' }, async (_sb, client) => {
      const started = Date.now()
      await assert.rejects(
        ilbAddresses(client, 'istio-system', { timeoutMs: 10_000 }),
        (e: Error) => {
          assert.match(e.message, /istio-pilot-ilb in istio-system \(no such Service\)/)
          assert.match(e.message, /dns-ilb in kube-system \(no such Service\)/)
          assert.match(
            e.message,
            /citadel-ilb in istio-system \(no such Service; nor istio-ca-ilb\)/
          )
          assert.doesNotMatch(e.message, /mixer-ilb/)
          assert.match(e.message, /apply install\/kubernetes\/mesh-expansion\.yaml/i)
          return true
        }
      )
      // a missing Service gets no IP by waiting
      assert.ok(Date.now() - started < 3000)
    })
  })
})

describe('meshExpansion gateway ports', () => {
  test('1.1 with meshExpansion: nothing missing, the address, no write', async () => {
    await withCluster({ istioVersion: '1.1.0' }, async (sb, client) => {
      sb.requestLog.clear()
      const gw = await meshExpansionGateway(client, {
        istioNamespace: 'istio-system',
        enable: false,
        owner: 'run-1'
      })
      assert.deepEqual(gw, { address: '198.18.0.2', addedPorts: [], missingPorts: [] })
      assert.equal(writes(sb), 0)
    })
  })

  test('ports missing and enable false: the error lists them and the Helm values', async () => {
    await withCluster({ istioVersion: '1.1.0', meshExpansion: false }, async (sb, client) => {
      sb.requestLog.clear()
      await assert.rejects(
        meshExpansionGateway(client, { istioNamespace: 'istio-system', enable: false, owner: 'o' }),
        (e: Error) => {
          assert.match(
            e.message,
            /15011 \(tcp-pilot-grpc-tls\), 15004 \(tcp-mixer-grpc-tls\), 8060 \(tcp-citadel-grpc-tls\), 853 \(tcp-dns-tls\)/
          )
          assert.match(e.message, /global\.meshExpansion\.enabled=true in 1\.1/)
          assert.match(e.message, /global\.meshExpansion=true in 1\.0/)
          assert.match(e.message, /cluster\.legacy\.enableMeshExpansionPorts: true/)
          return true
        }
      )
      assert.equal(writes(sb), 0)
    })
  })

  test('dry run: what would be added, nothing written', async () => {
    await withCluster({ istioVersion: '1.1.0', meshExpansion: false }, async (sb, client) => {
      sb.requestLog.clear()
      const gw = await meshExpansionGateway(client, {
        istioNamespace: 'istio-system',
        enable: true,
        owner: 'o',
        dryRun: true
      })
      assert.deepEqual(gw.addedPorts, [15011, 15004, 8060, 853])
      assert.deepEqual(gw.missingPorts, [15011, 15004, 8060, 853])
      assert.equal(writes(sb), 0)
      assert.deepEqual(portsOf(gateway(sb)), [80, 443, 15020, 15443])
    })
  })

  test('enable: adds the ports as mesh-expansion, Helm keeps its own; second run 0 writes; revert', async () => {
    await withCluster({ istioVersion: '1.1.0', meshExpansion: false }, async (sb, client) => {
      const gw = await meshExpansionGateway(client, {
        istioNamespace: 'istio-system',
        enable: true,
        owner: 'pr-42'
      })
      assert.deepEqual(gw, {
        address: '198.18.0.2',
        addedPorts: [15011, 15004, 8060, 853],
        missingPorts: [15011, 15004, 8060, 853]
      })
      const svc = gateway(sb)
      assert.deepEqual(portsOf(svc), [80, 443, 853, 8060, 15004, 15011, 15020, 15443])
      assert.equal(
        svc.metadata?.annotations?.['mesh-expansion.io/added-ports-pr-42'],
        '15011,15004,8060,853'
      )
      const managers =
        (svc.metadata?.managedFields as Array<{ manager: string; fieldsV1: unknown }>) ?? []
      const fields = (m: string): string =>
        JSON.stringify(managers.find(e => e.manager === m)?.fieldsV1 ?? {})
      assert.match(fields('mesh-expansion'), /"k:\{\\"port\\":15004,\\"protocol\\":\\"TCP\\"\}"/)
      assert.doesNotMatch(fields('mesh-expansion'), /\\"port\\":80,/)
      assert.match(fields('helm'), /\\"port\\":80,/)

      sb.requestLog.clear()
      const again = await meshExpansionGateway(client, {
        istioNamespace: 'istio-system',
        enable: true,
        owner: 'pr-42'
      })
      assert.deepEqual(again, { address: '198.18.0.2', addedPorts: [], missingPorts: [] })
      assert.equal(writes(sb), 0)

      assert.deepEqual(
        await revertMeshExpansionPorts(client, 'istio-system', 'pr-42'),
        [15011, 15004, 8060, 853]
      )
      const after = gateway(sb)
      assert.deepEqual(portsOf(after), [80, 443, 15020, 15443])
      assert.equal(after.metadata?.annotations?.['mesh-expansion.io/added-ports-pr-42'], undefined)
      sb.requestLog.clear()
      assert.deepEqual(await revertMeshExpansionPorts(client, 'istio-system', 'pr-42'), [])
      assert.deepEqual(await revertMeshExpansionPorts(client, 'istio-system', 'someone-else'), [])
      assert.equal(writes(sb), 0)
    })
  })

  test('two owners: each revert removes exactly its own ports', async () => {
    await withCluster({ istioVersion: '1.0.0' }, async (sb, client) => {
      // 1.0's chart has no mixer port: owner a adds 15004
      const a = await meshExpansionGateway(client, {
        istioNamespace: 'istio-system',
        enable: true,
        owner: 'a'
      })
      assert.deepEqual(a.addedPorts, [15004])
      // a Helm upgrade drops 853; owner b adds it back
      const svc = gateway(sb)
      const spec = svc.spec as { ports: Array<{ port: number }> }
      spec.ports = spec.ports.filter(p => p.port !== 853)
      sb.store.put(svc, { manager: 'helm' })
      const b = await meshExpansionGateway(client, {
        istioNamespace: 'istio-system',
        enable: true,
        owner: 'b'
      })
      assert.deepEqual(b.addedPorts, [853])
      assert.deepEqual(portsOf(gateway(sb)), [80, 443, 853, 8060, 15004, 15011])

      assert.deepEqual(await revertMeshExpansionPorts(client, 'istio-system', 'a'), [15004])
      assert.deepEqual(portsOf(gateway(sb)), [80, 443, 853, 8060, 15011])
      assert.equal(gateway(sb).metadata?.annotations?.['mesh-expansion.io/added-ports-b'], '853')
      assert.deepEqual(await revertMeshExpansionPorts(client, 'istio-system', 'b'), [853])
      assert.deepEqual(portsOf(gateway(sb)), [80, 443, 8060, 15011])
    })
  })

  test('1.0 without the mixer port and enable false: the error names 15004', async () => {
    await withCluster({ istioVersion: '1.0.0' }, async (_sb, client) => {
      await assert.rejects(
        meshExpansionGateway(client, { istioNamespace: 'istio-system', enable: false, owner: 'o' }),
        /lacks the meshExpansion ports 15004 \(tcp-mixer-grpc-tls\)\./
      )
    })
  })

  test('a hostname-only load balancer gives the hostname', async () => {
    await withCluster(
      { istioVersion: '1.4.0', eastWestGateway: { hostname: 'gw.example.com' } },
      async (_sb, client) => {
        const gw = await meshExpansionGateway(client, {
          istioNamespace: 'istio-system',
          enable: false,
          owner: 'o'
        })
        assert.equal(gw.address, 'gw.example.com')
      }
    )
  })

  test('an address that comes later is waited for; one that never comes is a bounded error', async () => {
    await withCluster({ istioVersion: '1.1.0' }, async (sb, client) => {
      dropLoadBalancer(sb, 'istio-ingressgateway', 'istio-system')
      const started = Date.now()
      await assert.rejects(
        meshExpansionGateway(client, {
          istioNamespace: 'istio-system',
          enable: false,
          owner: 'o',
          timeoutMs: 300
        }),
        /istio-system\/istio-ingressgateway has no load-balancer address/
      )
      assert.ok(Date.now() - started < 3000)
      const later = setTimeout(() => {
        const svc = gateway(sb)
        svc.status = { loadBalancer: { ingress: [{ ip: '198.18.0.8' }] } }
        sb.store.put(svc)
      }, 300)
      try {
        const gw = await meshExpansionGateway(client, {
          istioNamespace: 'istio-system',
          enable: false,
          owner: 'o',
          timeoutMs: 5000
        })
        assert.equal(gw.address, '198.18.0.8')
      } finally {
        clearTimeout(later)
      }
    })
  })

  test('no ingress gateway: the error says so; revert finds nothing', async () => {
    await withCluster({ istioVersion: '1.1.0', eastWestGateway: 'none' }, async (_sb, client) => {
      await assert.rejects(
        meshExpansionGateway(client, { istioNamespace: 'istio-system', enable: true, owner: 'o' }),
        /Service istio-ingressgateway was not found in namespace istio-system/
      )
      assert.deepEqual(await revertMeshExpansionPorts(client, 'istio-system', 'o'), [])
    })
  })

  test('owners in the annotation: long ones hashed, bad ones refused', () => {
    assert.equal(addedPortsAnnotation('pr-42'), 'mesh-expansion.io/added-ports-pr-42')
    const long = addedPortsAnnotation('x'.repeat(63))
    assert.match(long, /^mesh-expansion\.io\/added-ports-[0-9a-f]{32}$/)
    assert.equal(addedPortsAnnotation('x'.repeat(63)), long)
    assert.throws(() => addedPortsAnnotation('no spaces'), /cannot name an annotation/)
  })
})
