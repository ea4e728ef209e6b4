// Issue 13 items 3 and 4 in the checks: `server: envoy` exactly from a VM; a pod → VM request
// goes to the group's service host (connecting to the VM's address) and is proven by the VM
// sidecar's inbound counters (istio_requests_total, reporter destination) with the caller's
// identity over mutual TLS.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseDescription } from '../../src/config/index.ts'
import { judgeRequest, type RequestContext } from '../../src/verify/diagnose.ts'
import { serviceRoute } from '../../src/verify/endpoints.ts'
import { httpRequestArgv, type HttpOutcome } from '../../src/verify/http.ts'
import { inboundDelta, parseInboundCounts } from '../../src/verify/inbound.ts'

const SLEEP = 'spiffe://cluster.local/ns/sample/sa/sleep'
const metrics = (n: number, principal = SLEEP, policy = 'mutual_tls'): string =>
  `# TYPE istio_requests_total counter
istio_requests_total{reporter="source",source_principal="spiffe://cluster.local/ns/vm/sa/vm-app",connection_security_policy="unknown"} 9
istio_requests_total{reporter="destination",source_workload="unknown",source_principal="${principal}",response_code="200",connection_security_policy="${policy}"} ${n}
`

const toVm: RequestContext = {
  kind: 'cluster-to-host',
  from: 'pod/sample/sleep-mesh-0',
  url: 'http://echo-vm.vm.svc.cluster.local:8080/',
  connectTo: '198.18.2.2',
  host: 'echo-vm.vm.svc.cluster.local',
  port: 8080,
  expect: { status: 200, headers: {}, body: null },
  requireEnvoy: true,
  caller: { namespace: 'sample', serviceAccount: 'sleep', injected: true }
}

const answer = (server: string, xfcc?: string): HttpOutcome => ({
  response: {
    status: 200,
    headers: { server },
    body: JSON.stringify({ headers: xfcc ? { 'x-forwarded-client-cert': xfcc } : {} })
  }
})
const XFCC = `By=spiffe://cluster.local/ns/vm/sa/echo-vm;Hash=ab;Subject="";URI=${SLEEP}`

describe('inbound evidence', () => {
  test('the counters: destination series by principal and policy, and what grew', () => {
    const before = parseInboundCounts(metrics(2))
    assert.deepEqual([...before], [[`${SLEEP} mutual_tls`, 2]])
    const d = inboundDelta(before, parseInboundCounts(metrics(3)))
    assert.equal(d.total, 1)
    assert.deepEqual([...d.by], [[`${SLEEP} mutual_tls`, 1]])
  })

  test('counted from the pod over mTLS, XFCC names it: pass, with both as evidence', () => {
    const by = new Map([[`${SLEEP} mutual_tls`, 1]])
    const v = judgeRequest(
      { ...toVm, inbound: { vm: 'vm-1', total: 1, by } },
      answer('envoy', XFCC)
    )
    assert.equal(v.ok, true, v.diagnosis)
    assert.ok(v.notes?.includes(`caller identity ${SLEEP}`))
    assert.ok(v.notes?.includes(`vm/vm-1 sidecar counted inbound: ${SLEEP} over mutual_tls (1)`))
  })

  test('the counters did not grow: the answer did not come through the VM sidecar', () => {
    const v = judgeRequest(
      { ...toVm, inbound: { vm: 'vm-1', total: 0, by: new Map() } },
      answer('envoy', XFCC)
    )
    assert.equal(v.ok, false)
    assert.match(v.diagnosis ?? '', /counted no inbound request/)
  })

  test('counted, but in plaintext: not the pod over mTLS', () => {
    const by = new Map([['unknown none', 1]])
    const v = judgeRequest(
      { ...toVm, inbound: { vm: 'vm-1', total: 1, by } },
      answer('envoy', XFCC)
    )
    assert.equal(v.ok, false)
    assert.match(
      v.diagnosis ?? '',
      /counted the request from unknown over none \(1\), not from spiffe/
    )
  })

  test('counters unreadable: a note, the XFCC decides', () => {
    const v = judgeRequest(
      { ...toVm, inbound: { vm: 'vm-1', error: 'HTTP 404' } },
      answer('istio-envoy', XFCC)
    )
    assert.equal(v.ok, true, v.diagnosis)
    assert.ok(v.notes?.some(n => n.startsWith('the inbound counters of vm/vm-1 could not be read')))
  })

  test('from a VM only an exact `server: envoy` is the outbound sidecar', () => {
    const ctx: RequestContext = {
      kind: 'host-to-cluster',
      from: 'vm/vm-1',
      url: 'http://echo.sample.svc.cluster.local/',
      host: 'echo.sample.svc.cluster.local',
      port: 80,
      resolved: '198.19.0.10',
      expect: { status: 200, headers: {}, body: null },
      requireEnvoy: true
    }
    assert.equal(judgeRequest(ctx, answer('envoy')).ok, true)
    for (const server of ['istio-envoy', 'envoy-gateway', 'my-envoy']) {
      const v = judgeRequest(ctx, answer(server))
      assert.equal(v.ok, false, server)
      assert.match(v.diagnosis ?? '', /but not intercepted: no `server: envoy`/)
    }
  })

  test('the group service in front of a VM port, and the clients that connect to the VM', () => {
    const parsed = parseDescription(
      `workloadGroups:
  - {name: echo-vm, namespace: vm, ports: {http-echo: 8080}}
  - {name: svc, namespace: vm, ports: {http: 9080}, service: {kind: Service, name: web, ports: [{name: http, number: 80, targetPort: 9080}]}}
  - {name: bare, namespace: vm, ports: {http: 7070}, service: {kind: none}}
vms:
  - {name: vm-1, host: 198.18.2.2, group: echo-vm}
`,
      'route.yaml'
    )
    assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.errors))
    const [echo, svc, bare] = parsed.description.workloadGroups
    assert.ok(echo && svc && bare)
    assert.deepEqual(serviceRoute(echo, 8080), { host: 'echo-vm.vm.svc.cluster.local', port: 8080 })
    assert.equal(serviceRoute(echo, 9999), undefined)
    assert.deepEqual(serviceRoute(svc, 9080), { host: 'web.vm.svc.cluster.local', port: 80 })
    assert.equal(serviceRoute(bare, 7070), undefined)

    const url = 'http://echo-vm.vm.svc.cluster.local:8080/x'
    assert.deepEqual(httpRequestArgv('curl', url, 3, '198.18.2.2').slice(-3), [
      '--resolve',
      'echo-vm.vm.svc.cluster.local:8080:198.18.2.2',
      url
    ])
    assert.deepEqual(httpRequestArgv('wget', url, 3, '198.18.2.2').slice(-3), [
      '--header',
      'Host: echo-vm.vm.svc.cluster.local:8080',
      'http://198.18.2.2:8080/x'
    ])
    assert.equal(httpRequestArgv('python3', url, 3, '198.18.2.2').at(-1), '198.18.2.2')
  })
})
