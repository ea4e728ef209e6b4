// The sandbox answers as a real cluster does about its service range and the older Istio installs:
// the allocator's range check, ServiceCIDR only where served, the kube-apiserver pod, 0.x ILBs.
import assert from 'node:assert/strict'
import { request } from 'node:https'
import { describe, test } from 'node:test'
import { startSandboxCluster, type KubeObject } from '../../lab/cluster/index.ts'
import { ipv4InCidr, validateServiceClusterIp } from '../../lab/cluster/validate.ts'

const ports = (svc: KubeObject | undefined): number[] =>
  ((svc?.spec as { ports?: Array<{ port: number }> } | undefined)?.ports ?? []).map(p => p.port)

describe('sandbox: service range', () => {
  test('ipv4InCidr and the allocator message', () => {
    assert.ok(ipv4InCidr('198.19.3.4', '198.19.0.0/16'))
    assert.ok(!ipv4InCidr('198.20.0.1', '198.19.0.0/16'))
    assert.ok(
      ipv4InCidr('10.96.0.1', '10.96.0.0/12') && ipv4InCidr('10.111.255.255', '10.96.0.0/12')
    )
    assert.ok(!ipv4InCidr('10.112.0.0', '10.96.0.0/12'))
    assert.deepEqual(validateServiceClusterIp({ spec: { clusterIP: 'None' } }, '198.19.0.0/16'), [])
    assert.deepEqual(validateServiceClusterIp({ spec: {} }, '198.19.0.0/16'), [])
    assert.equal(
      validateServiceClusterIp({ spec: { clusterIP: '1.1.1.1' } }, '198.19.0.0/16')[0]?.message,
      'Invalid value: "1.1.1.1": provided IP is not in the valid range. The range of valid IPs is 198.19.0.0/16'
    )
  })

  test('a real create outside the range is refused 422; inside it is stored', async () => {
    const sb = await startSandboxCluster({ echo: false })
    try {
      const post = (
        clusterIP: string,
        dryRun = false
      ): Promise<{ status: number; json: () => { message: string; reason: string } }> =>
        new Promise((resolve, reject) => {
          const req = request(
            `${sb.url}/api/v1/namespaces/default/services${dryRun ? '?dryRun=All' : ''}`,
            {
              method: 'POST',
              ca: sb.ca.certPem,
              headers: {
                authorization: `Bearer ${sb.adminToken}`,
                'content-type': 'application/json'
              }
            },
            res => {
              const chunks: Buffer[] = []
              res.on('data', (c: Buffer) => chunks.push(c))
              res.on('end', () =>
                resolve({
                  status: res.statusCode ?? 0,
                  json: () =>
                    JSON.parse(Buffer.concat(chunks).toString()) as {
                      message: string
                      reason: string
                    }
                })
              )
            }
          )
          req.on('error', reject)
          req.end(
            JSON.stringify({
              apiVersion: 'v1',
              kind: 'Service',
              metadata: { name: `s-${clusterIP.replace(/\./g, '-')}` },
              spec: { clusterIP, ports: [{ port: 80 }] }
            })
          )
        })
      const refused = await post('1.1.1.1')
      assert.equal(refused.status, 422)
      const body = refused.json() as { message: string; reason: string }
      assert.equal(body.reason, 'Invalid')
      assert.match(
        body.message,
        /^Service "s-1-1-1-1" is invalid: spec\.clusterIP: Invalid value: "1\.1\.1\.1": provided IP is not in the valid range\. The range of valid IPs is 198\.19\.0\.0\/16$/
      )
      assert.equal((await post('198.19.9.9', true)).status, 201)
      assert.equal(sb.store.get('services', 'default', 's-198-19-9-9'), undefined)
      assert.equal((await post('198.19.9.9')).status, 201)
      assert.ok(sb.store.get('services', 'default', 's-198-19-9-9'))
    } finally {
      await sb.close()
    }
  })
})

describe('sandbox: seeds', () => {
  test('ServiceCIDR only when asked; the apiserver pod by default', async () => {
    const plain = await startSandboxCluster({ echo: false })
    const cidr = await startSandboxCluster({
      echo: false,
      serviceCidrVersions: ['v1'],
      apiserverPod: false
    })
    try {
      assert.ok(!plain.store.types.some(t => t.kind === 'ServiceCIDR'))
      const pod = plain.store.get('pods', 'kube-system', 'kube-apiserver-sandbox-node')
      assert.equal(pod?.metadata?.labels?.component, 'kube-apiserver')
      assert.match(JSON.stringify(pod?.spec), /--service-cluster-ip-range=198\.19\.0\.0\/16/)
      assert.deepEqual(
        (cidr.store.get('servicecidrs', undefined, 'kubernetes')?.spec as { cidrs: string[] })
          .cidrs,
        ['198.19.0.0/16']
      )
      assert.equal(cidr.store.list('pods', 'kube-system').length, 0)
    } finally {
      await plain.close()
      await cidr.close()
    }
  })

  test('0.x: the release’s ILBs; 1.1: the gateway has all four meshExpansion ports', async () => {
    const old = await startSandboxCluster({ echo: false, istioVersion: '0.5.0' })
    const v08 = await startSandboxCluster({ echo: false, istioVersion: '0.8.0' })
    const v11 = await startSandboxCluster({ echo: false, istioVersion: '1.1.0' })
    try {
      assert.deepEqual(
        ports(old.store.get('services', 'istio-system', 'istio-pilot-ilb')),
        [15003, 8080]
      )
      assert.ok(old.store.get('services', 'istio-system', 'istio-ca-ilb'))
      assert.deepEqual(
        ports(v08.store.get('services', 'istio-system', 'istio-pilot-ilb')),
        [15005, 8080, 15010, 15011]
      )
      assert.deepEqual(ports(v08.store.get('services', 'istio-system', 'citadel-ilb')), [8060])
      assert.deepEqual(ports(v08.store.get('services', 'istio-system', 'mixer-ilb')), [15004])
      const dns = v08.store.get('services', 'kube-system', 'dns-ilb')
      assert.deepEqual(dns?.status, { loadBalancer: { ingress: [{ ip: '198.18.0.2' }] } })
      assert.equal(v08.store.get('services', 'istio-system', 'istio-ingressgateway'), undefined)
      assert.deepEqual(
        ports(v11.store.get('services', 'istio-system', 'istio-ingressgateway')).sort(
          (a, b) => a - b
        ),
        [80, 443, 853, 8060, 15004, 15011, 15020, 15443]
      )
      assert.equal(v11.store.get('services', 'istio-system', 'istio-pilot-ilb'), undefined)
    } finally {
      await Promise.all([old.close(), v08.close(), v11.close()])
    }
  })
})
