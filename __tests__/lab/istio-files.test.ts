// The product's own VM files (src/istio renderVmFiles: cluster.env, mesh.yaml, hosts,
// root-cert.pem, istio-token) given to the sidecar stand-in in a network namespace, against
// the istiod stand-in: the agent sources cluster.env with a shell, reads the mesh config,
// resolves istiod through the hosts line, gets a certificate with the token and the root cert,
// and sets iptables from ISTIO_INBOUND_PORTS / ISTIO_LOCAL_EXCLUDE_PORTS.
import assert from 'node:assert/strict'
import { get } from 'node:http'
import { join } from 'node:path'
import { before, describe, test } from 'node:test'
import { labTestOptions } from '../helpers/lab.ts'
import { until } from '../helpers/wait.ts'
import { createLabCa, type LabCa } from '../../lab/pki.ts'
import { startIstiod, type Istiod } from '../../lab/mesh/istiod.ts'
import { createAgentSandbox, type AgentSandbox } from '../../lab/mesh/sandbox.ts'
import { createLocalTokenAuthority, type LocalTokenAuthority } from '../../lab/mesh/tokens.ts'
import { parseWorkloadGroupYaml, renderVmFiles, type VmFiles } from '../../src/istio/index.ts'

const workloadGroup = parseWorkloadGroupYaml(`apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata:
  name: vm-app
  namespace: vm
spec:
  metadata:
    labels:
      app: vm-app
      version: v1
  template:
    serviceAccount: vm-sa
    ports:
      http: 9080
      http-admin: 9081
  probe:
    httpGet:
      port: 9080
`)

const helmMesh = `defaultConfig:
  discoveryAddress: istiod.istio-system.svc:15012
  proxyMetadata:
    QUOTED_VALUE: "it's a value with spaces"
trustDomain: cluster.local
`

function readiness(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get(`http://${address}:15021/healthz/ready`, { timeout: 3000 }, res => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('timeout', () => req.destroy(new Error('readiness timed out')))
    req.on('error', reject)
  })
}

describe('the product-rendered VM files with the sidecar stand-in', labTestOptions(), () => {
  let ca: LabCa
  let tokens: LocalTokenAuthority

  before(async () => {
    ca = await createLabCa()
    tokens = createLocalTokenAuthority()
  })

  async function start(
    rendered: (gateway: string) => VmFiles
  ): Promise<{ sandbox: AgentSandbox; istiod: Istiod; close: () => Promise<void> }> {
    const sandbox = await createAgentSandbox()
    let istiod: Istiod | undefined
    const close = async (): Promise<void> => {
      await sandbox.close()
      await istiod?.close()
    }
    try {
      istiod = await startIstiod({
        host: sandbox.gateway,
        port: 15012,
        ca,
        reviewer: tokens.reviewer,
        names: () => ({}),
        heartbeatSeconds: 1
      })
      const { files } = rendered(sandbox.gateway)
      await sandbox.writeFile(
        'var/lib/istio/envoy/cluster.env',
        files['cluster.env'],
        'istio-proxy'
      )
      await sandbox.writeFile('etc/istio/config/mesh', files['mesh.yaml'], 'istio-proxy')
      await sandbox.writeFile('etc/certs/root-cert.pem', files['root-cert.pem'], 'istio-proxy')
      await sandbox.writeFile(
        'var/run/secrets/tokens/istio-token',
        files['istio-token'],
        'istio-proxy',
        0o600
      )
      await sandbox.setHosts(files.hosts.split('\n').filter(line => line !== ''))
      sandbox.spawn([join(sandbox.root, 'usr/local/bin/istio-start.sh')], {
        ISTIO_SIDECAR_CONFIG: join(sandbox.root, 'var/lib/istio/envoy/sidecar.env'),
        ISTIO_CLUSTER_CONFIG: join(sandbox.root, 'var/lib/istio/envoy/cluster.env'),
        ISTIO_BIN_BASE: join(sandbox.root, 'usr/local/bin'),
        ISTIO_LOG_DIR: join(sandbox.root, 'var/log/istio'),
        PROV_CERT: './etc/certs',
        OUTPUT_CERTS: './etc/certs',
        ISTIO_LAB_HEARTBEAT_SECONDS: '1'
      })
      return { sandbox, istiod, close }
    } catch (error) {
      await close()
      throw error
    }
  }

  test('ready and connected as vm-app; iptables from the rendered ports', async () => {
    const token = tokens.mint({ namespace: 'vm', serviceAccount: 'vm-sa' })
    const s = await start(gateway =>
      renderVmFiles({
        workloadGroup,
        meshConfig: helmMesh,
        clusterID: 'Kubernetes',
        ingress: gateway,
        rootCert: ca.certPem,
        token
      })
    )
    try {
      await until('readiness 200', 30_000, async () =>
        (await readiness(s.sandbox.address)) === 200 ? true : undefined
      )
      const proxy = await s.istiod.waitForProxy(p => p.podName !== '', 5000)
      assert.equal(proxy.spiffeId, 'spiffe://cluster.local/ns/vm/sa/vm-sa')
      assert.equal(proxy.workloadName, 'vm-app')
      const rules = await s.sandbox.exec(['iptables-save', '-t', 'nat'])
      assert.equal(rules.code, 0, rules.stderr)
      for (const port of [9080, 9081]) {
        assert.match(rules.stdout, new RegExp(`--dport ${port} -j ISTIO_IN_REDIRECT`))
      }
      // cluster.env is sourced by a shell: the quoted value arrives intact
      const env = await s.sandbox.exec([
        'sh',
        '-c',
        `set -a; . ${join(s.sandbox.root, 'var/lib/istio/envoy/cluster.env')}; printf %s "$QUOTED_VALUE"`
      ])
      assert.equal(env.stdout, "it's a value with spaces")
    } finally {
      await s.close()
    }
  })

  test('offline without a token (empty istio-token): not ready, authentication refused', async () => {
    const s = await start(gateway =>
      renderVmFiles({
        workloadGroup,
        meshConfig: helmMesh,
        clusterID: 'Kubernetes',
        ingress: gateway,
        rootCert: ca.certPem,
        token: ''
      })
    )
    try {
      const log = await until('failed to warm certificate in istio.log', 20_000, async () => {
        const text = await s.sandbox.readFile('var/log/istio/istio.log').catch(() => '')
        return text.includes('failed to warm certificate') ? text : undefined
      })
      assert.ok(log.length > 0)
      assert.equal(await readiness(s.sandbox.address), 503)
      assert.deepEqual(s.istiod.connectedProxies(), [])
    } finally {
      await s.close()
    }
  })
})
