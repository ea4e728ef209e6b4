// The manifest builders, checked against Istio's CRD schemas as packaged by
// @kubernetes-models/istio (3.x: v1, v1beta1 and v1alpha3), each version with its own model.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { WorkloadEntry as WorkloadEntryV1 } from '@kubernetes-models/istio/networking.istio.io/v1/WorkloadEntry'
import { WorkloadGroup as WorkloadGroupV1 } from '@kubernetes-models/istio/networking.istio.io/v1/WorkloadGroup'
import { ServiceEntry as ServiceEntryV1 } from '@kubernetes-models/istio/networking.istio.io/v1/ServiceEntry'
import { WorkloadEntry as WorkloadEntryBeta } from '@kubernetes-models/istio/networking.istio.io/v1beta1/WorkloadEntry'
import { WorkloadGroup as WorkloadGroupBeta } from '@kubernetes-models/istio/networking.istio.io/v1beta1/WorkloadGroup'
import { ServiceEntry as ServiceEntryBeta } from '@kubernetes-models/istio/networking.istio.io/v1beta1/ServiceEntry'
import { WorkloadEntry as WorkloadEntryAlpha } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/WorkloadEntry'
import { WorkloadGroup as WorkloadGroupAlpha } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/WorkloadGroup'
import { ServiceEntry as ServiceEntryAlpha } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/ServiceEntry'
import {
  buildService,
  buildServiceEntry,
  buildWorkloadEntry,
  buildWorkloadGroup,
  goYamlMarshal,
  HEALTH_CHECKS_ANNOTATION,
  MANAGED_BY_LABEL,
  OWNER_LABEL,
  parseWorkloadGroupYaml,
  protocolFromPortName,
  type IstioNetworkingVersion
} from '../../src/istio/index.ts'

interface Validatable {
  validate(): void
}
type ModelCtor = new (data: never) => Validatable

const models: Record<string, Record<IstioNetworkingVersion, ModelCtor>> = {
  WorkloadEntry: { v1: WorkloadEntryV1, v1beta1: WorkloadEntryBeta, v1alpha3: WorkloadEntryAlpha },
  WorkloadGroup: { v1: WorkloadGroupV1, v1beta1: WorkloadGroupBeta, v1alpha3: WorkloadGroupAlpha },
  ServiceEntry: { v1: ServiceEntryV1, v1beta1: ServiceEntryBeta, v1alpha3: ServiceEntryAlpha }
}

/** Validates an object against Istio's schema for its kind and version. */
function validateIstio(object: Record<string, unknown>, version: IstioNetworkingVersion): void {
  assert.equal(object.apiVersion, `networking.istio.io/${version}`)
  const kind = object.kind as string
  const Model = models[kind]?.[version]
  assert.ok(Model, `no model for ${kind}`)
  new Model(object as never).validate()
}

const versions: IstioNetworkingVersion[] = ['v1', 'v1beta1', 'v1alpha3']

describe('WorkloadGroup', () => {
  for (const version of versions) {
    test(`${version}: full group validates; owner labels on metadata`, () => {
      const wg = buildWorkloadGroup({
        name: 'mysql',
        namespace: 'vm',
        apiVersion: version,
        owner: 'run-42',
        labels: { app: 'mysql', version: 'v1' },
        annotations: { 'proxy.istio.io/config': 'proxyMetadata: {A: b}\n' },
        ports: { 'tcp-mysql': 3306 },
        serviceAccount: 'mysql',
        network: 'vm-net',
        locality: 'r1/z1',
        weight: 10,
        probe: { periodSeconds: 5, tcpSocket: { port: 3306 } }
      })
      validateIstio(wg, version)
      const meta = wg.metadata as { labels: Record<string, string> }
      assert.equal(meta.labels[MANAGED_BY_LABEL], 'mesh-expansion')
      assert.equal(meta.labels[OWNER_LABEL], 'run-42')
    })
  }
  test('a wrong type is caught by the schema (the check can fail)', () => {
    const wg = buildWorkloadGroup({ name: 'a', namespace: 'b', owner: 'o', ports: { http: 80 } })
    ;(wg.spec as { template: { ports: Record<string, unknown> } }).template.ports.http = 'eighty'
    assert.throws(() => validateIstio(wg, 'v1'))
  })
  test('minimal group: spec.metadata {} and serviceAccount default, like `group create`', () => {
    const wg = buildWorkloadGroup({ name: 'foo', namespace: 'bar', owner: 'o' })
    assert.deepEqual(wg.spec, { metadata: {}, template: { serviceAccount: 'default' } })
  })
  test('a probe needs exactly one check', () => {
    assert.throws(
      () =>
        buildWorkloadGroup({ name: 'a', namespace: 'b', owner: 'o', probe: { periodSeconds: 1 } }),
      /exactly one/
    )
  })
  test('what it builds is what configure reads back (round trip through YAML)', () => {
    const wg = buildWorkloadGroup({
      name: 'api',
      namespace: 'vm',
      owner: 'o',
      labels: { app: 'api' },
      ports: { http: 8080 },
      serviceAccount: 'api',
      probe: { httpGet: { path: '/healthz', port: 8080 } }
    })
    const read = parseWorkloadGroupYaml(goYamlMarshal(wg as never))
    assert.equal(read.name, 'api')
    assert.deepEqual(read.spec.metadata.labels, { app: 'api' })
    assert.deepEqual(read.spec.template.ports, { http: 8080 })
    assert.deepEqual(read.spec.probe, { httpGet: { path: '/healthz', port: 8080 } })
  })
})

describe('WorkloadEntry', () => {
  for (const version of versions) {
    test(`${version}: validates; health-check annotation when asked`, () => {
      const we = buildWorkloadEntry({
        name: 'mysql-1',
        namespace: 'vm',
        apiVersion: version,
        owner: 'run-42',
        address: '198.18.0.10',
        labels: { app: 'mysql' },
        ports: { 'tcp-mysql': 3306 },
        serviceAccount: 'mysql',
        network: 'vm-net',
        locality: 'r1/z1/s1',
        weight: 2,
        healthChecks: true
      })
      validateIstio(we, version)
      const meta = we.metadata as { annotations?: Record<string, string> }
      assert.equal(meta.annotations?.[HEALTH_CHECKS_ANNOTATION], 'true')
    })
  }
  test('no annotations without health checks; an address or a network is required', () => {
    const we = buildWorkloadEntry({ name: 'a', namespace: 'b', owner: 'o', address: '198.18.0.1' })
    assert.equal((we.metadata as { annotations?: unknown }).annotations, undefined)
    assert.deepEqual(we.spec, { address: '198.18.0.1', serviceAccount: 'default' })
    assert.throws(() => buildWorkloadEntry({ name: 'a', namespace: 'b', owner: 'o' }), /address/)
    const networkOnly = buildWorkloadEntry({ name: 'a', namespace: 'b', owner: 'o', network: 'n' })
    validateIstio(networkOnly, 'v1')
  })
})

describe('ServiceEntry', () => {
  for (const version of versions) {
    test(`${version}: STATIC, MESH_INTERNAL, selector, protocol from the port name`, () => {
      const se = buildServiceEntry({
        name: 'mysql',
        namespace: 'vm',
        apiVersion: version,
        owner: 'run-42',
        hosts: ['mysql.vm.svc.cluster.local'],
        ports: [
          { name: 'tcp-mysql', number: 3306 },
          { name: 'http-web', number: 80, targetPort: 8080 }
        ],
        selector: { app: 'mysql' }
      })
      validateIstio(se, version)
      const spec = se.spec as {
        ports: { protocol: string }[]
        resolution: string
        location: string
      }
      assert.deepEqual(
        spec.ports.map(p => p.protocol),
        ['TCP', 'HTTP']
      )
      assert.equal(spec.resolution, 'STATIC')
      assert.equal(spec.location, 'MESH_INTERNAL')
    })
  }
  test('needs hosts and a selector', () => {
    assert.throws(() =>
      buildServiceEntry({
        name: 'a',
        namespace: 'b',
        owner: 'o',
        hosts: [],
        ports: [],
        selector: { a: 'b' }
      })
    )
    assert.throws(() =>
      buildServiceEntry({
        name: 'a',
        namespace: 'b',
        owner: 'o',
        hosts: ['h'],
        ports: [],
        selector: {}
      })
    )
  })
})

describe('Service', () => {
  test('core/v1 Service selecting the entries; port protocol TCP unless UDP', () => {
    const svc = buildService({
      name: 'mysql',
      namespace: 'vm',
      owner: 'run-42',
      selector: { app: 'mysql' },
      ports: [
        { name: 'tcp-mysql', number: 3306 },
        { name: 'udp-dns', number: 53 },
        { name: 'http', number: 80, targetPort: 8080 }
      ]
    })
    assert.deepEqual(svc, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'mysql',
        namespace: 'vm',
        labels: { [MANAGED_BY_LABEL]: 'mesh-expansion', [OWNER_LABEL]: 'run-42' }
      },
      spec: {
        selector: { app: 'mysql' },
        ports: [
          { name: 'tcp-mysql', port: 3306, protocol: 'TCP', targetPort: 3306 },
          { name: 'udp-dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }
        ]
      }
    })
  })
  test('port-name protocol convention', () => {
    assert.equal(protocolFromPortName('grpc-web-x'), 'GRPC-WEB')
    assert.equal(protocolFromPortName('https'), 'HTTPS')
    assert.equal(protocolFromPortName('http2-api'), 'HTTP2')
    assert.equal(protocolFromPortName('httpx'), 'TCP')
  })
})
