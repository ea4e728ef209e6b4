// The port of cluster.istiodAddress reaches the VM (issue 13, item 1): PILOT_ADDRESS in
// cluster.env, which istio-start.sh (1.8+) turns into CA_ADDR and the discovery address; on 15012
// the files stay istioctl's, byte for byte.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseWorkloadGroupYaml, renderVmFiles } from '../../src/istio/index.ts'

const group = parseWorkloadGroupYaml(`
metadata: {name: foo, namespace: bar}
spec:
  template: {serviceAccount: sa}
`)

function clusterEnv(istiodPort?: number, revision?: string): string {
  return renderVmFiles({
    workloadGroup: group,
    meshConfig: '',
    clusterID: 'c',
    rootCert: 'PEM\n',
    token: 'tok',
    ingress: '198.18.0.3',
    ...(revision !== undefined ? { revision } : {}),
    ...(istiodPort !== undefined ? { istiodPort } : {})
  }).files['cluster.env']
}

describe('istiod on another port', () => {
  test('PILOT_ADDRESS carries the port; 15012 or none leaves the file as istioctl writes it', () => {
    assert.match(clusterEnv(31012), /^PILOT_ADDRESS='?istiod\.istio-system\.svc:31012'?$/m)
    assert.equal(clusterEnv(15012), clusterEnv())
    assert.doesNotMatch(clusterEnv(), /PILOT_ADDRESS/)
  })

  test('a revision: CA_ADDR and PILOT_ADDRESS name the revision on that port', () => {
    const env = clusterEnv(31012, 'canary')
    assert.match(env, /^CA_ADDR='?istiod-canary\.istio-system\.svc:31012'?$/m)
    assert.match(env, /^PILOT_ADDRESS='?istiod-canary\.istio-system\.svc:31012'?$/m)
  })
})
