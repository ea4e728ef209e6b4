// Input checks of the legacy file renderers: what would make a broken or unsafe file is
// refused with a message that names the problem (and never prints secret content).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Buffer } from 'node:buffer'
import {
  LegacyInputError,
  certFilesFromSecret,
  certSecretName,
  controlPlaneHostsLine,
  missingMeshExpansionPorts,
  renderHostServiceEntry,
  renderKubedns,
  renderMeshExpansionClusterEnv,
  renderScriptsClusterEnv,
  renderSidecarEnv
} from '../../src/istio/legacy/index.ts'

const b64 = (s: string): string => Buffer.from(s).toString('base64')

describe('legacy renderer input checks', () => {
  test('cluster.env: a malformed CIDR or namespace, a shell-active value', () => {
    for (const cidr of [
      '10.0.0.0',
      '10.0.0.0/33',
      '10.0.0/8',
      '10.0.0.0/08',
      'fd00::/129',
      '$(id)/8'
    ]) {
      assert.throws(
        () => renderScriptsClusterEnv({ form: '0.2', serviceCidr: cidr }),
        LegacyInputError,
        cidr
      )
    }
    assert.throws(
      () =>
        renderScriptsClusterEnv({
          form: '0.4',
          serviceCidr: '10.0.0.0/8',
          systemNamespace: 'Istio_System'
        }),
      /DNS label/
    )
    assert.throws(
      () => renderMeshExpansionClusterEnv({ serviceCidr: '10.0.0.0/8\nEVIL=1' }),
      LegacyInputError
    )
  })

  test('kubedns and hosts lines: every address must be an IP', () => {
    assert.throws(
      () =>
        renderKubedns({
          form: '0.8',
          dns: '10.0.0.1',
          pilot: 'pilot.example',
          mixer: '10.0.0.2',
          ca: '10.0.0.3'
        }),
      /pilot: "pilot\.example" is not an IP/
    )
    assert.throws(() => controlPlaneHostsLine('gw.example'), /gateway/)
  })

  test('sidecar.env: ports in range, empty list writes nothing', () => {
    assert.equal(renderSidecarEnv({ inboundPorts: [] }), '')
    assert.throws(() => renderSidecarEnv({ inboundPorts: [8080, 65536] }), /65536 is not a port/)
  })

  test('certificates: missing key, bad base64, not PEM; the error never holds the content', () => {
    const secret = {
      metadata: { name: 'istio.default', namespace: 'onprem' },
      data: { 'root-cert.pem': b64('-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n') }
    }
    assert.equal(certFilesFromSecret(secret, { rootOnly: true }).length, 1)
    assert.throws(
      () => certFilesFromSecret(secret),
      /onprem\/istio\.default has no cert-chain\.pem/
    )
    const secretText = 'TOP-SECRET-KEY-MATERIAL'
    const bad = { ...secret, data: { ...secret.data, 'root-cert.pem': b64(secretText) } }
    assert.throws(
      () => certFilesFromSecret(bad, { rootOnly: true }),
      (e: unknown) =>
        e instanceof LegacyInputError && /PEM/.test(e.message) && !e.message.includes(secretText)
    )
    assert.throws(
      () =>
        certFilesFromSecret(
          { ...secret, data: { 'root-cert.pem': 'not base64!' } },
          { rootOnly: true }
        ),
      /not valid base64/
    )
    assert.equal(certSecretName('default'), 'istio.default')
    assert.equal(certSecretName('sleep', 'istio-vm.'), 'istio-vm.sleep')
    assert.throws(() => certSecretName('Bad_SA'), /not a valid secret name/)
  })

  test('host ServiceEntry: no endpoint, a duplicate endpoint, no port', () => {
    const base = { name: 'vmhttp', namespace: 'vm', ports: { http: 8080 } }
    assert.throws(() => renderHostServiceEntry({ ...base, endpoints: [] }), /needs an endpoint/)
    assert.throws(
      () =>
        renderHostServiceEntry({
          ...base,
          endpoints: [{ address: '198.18.0.1' }, { address: '198.18.0.1' }]
        }),
      /listed twice/
    )
    assert.throws(
      () => renderHostServiceEntry({ ...base, ports: {}, endpoints: [{ address: '198.18.0.1' }] }),
      /at least one port/
    )
  })
})

describe('legacy control-plane facts', () => {
  test('meshExpansion gateway ports: the missing ones by number, in the chart order', () => {
    assert.deepEqual(
      missingMeshExpansionPorts([{ port: 80 }, { port: 443 }, { port: 15011 }]).map(p => p.port),
      [15004, 8060, 853]
    )
    assert.deepEqual(
      missingMeshExpansionPorts([{ port: 853 }, { port: 8060 }, { port: 15004 }, { port: 15011 }]),
      []
    )
  })
})
