// Diagnoses from evidence, table-driven: each row is what a check saw and what it must say.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  findProxy,
  judgeIstiodConnection,
  judgeReadiness,
  judgeRequest,
  judgeWorkloadEntry,
  logHint,
  type RequestContext
} from '../../src/verify/diagnose.ts'
import type { HttpOutcome } from '../../src/verify/http.ts'

const echoBody = (xfcc?: string): string =>
  JSON.stringify({ method: 'GET', headers: xfcc ? { 'x-forwarded-client-cert': xfcc } : {} })

const hostToCluster: RequestContext = {
  kind: 'host-to-cluster',
  from: 'vm/vm-1',
  url: 'http://echo.sample.svc.cluster.local/',
  host: 'echo.sample.svc.cluster.local',
  port: 80,
  expect: { status: 200, headers: {}, body: null },
  requireEnvoy: true
}

const clusterToHost: RequestContext = {
  kind: 'cluster-to-host',
  from: 'pod/sample/sleep-1',
  url: 'http://198.18.2.2:8080/',
  host: '198.18.2.2',
  port: 8080,
  expect: { status: 200, headers: {}, body: null },
  requireEnvoy: true,
  caller: { namespace: 'sample', serviceAccount: 'sleep', injected: true }
}

const ok = (status: number, headers: Record<string, string>, body = ''): HttpOutcome => ({
  response: { status, headers, body }
})

interface Row {
  name: string
  ctx: RequestContext
  outcome: HttpOutcome
  ok: boolean
  diagnosis?: RegExp
}

const rows: Row[] = [
  {
    name: 'host → cluster through the sidecar',
    ctx: { ...hostToCluster, resolved: '198.19.0.10' },
    outcome: ok(
      200,
      { server: 'envoy' },
      echoBody('By=echo;URI=spiffe://cluster.local/ns/vm/sa/vm-sa')
    ),
    ok: true
  },
  {
    name: 'name not resolved (no hosts entry, no DNS capture)',
    ctx: { ...hostToCluster, resolved: null },
    outcome: { failure: { kind: 'dns', message: 'not found' } },
    ok: false,
    diagnosis:
      /does not resolve on vm\/vm-1: no hosts entry and no answer from the sidecar's DNS capture; enable captureDns/
  },
  {
    name: 'curl could not resolve',
    ctx: hostToCluster,
    outcome: { failure: { kind: 'dns', message: 'curl: (6) Could not resolve host' } },
    ok: false,
    diagnosis: /does not resolve on vm\/vm-1/
  },
  {
    name: 'resolved, answered, no server: envoy (wrong ISTIO_SERVICE_CIDR)',
    ctx: { ...hostToCluster, resolved: '198.19.0.10' },
    outcome: ok(200, { server: 'BaseHTTP/0.6 Python/3.11.2' }, echoBody()),
    ok: false,
    diagnosis:
      /^resolved to 198\.19\.0\.10 but not intercepted: no `server: envoy`.*check ISTIO_SERVICE_CIDR/
  },
  {
    name: 'resolved, connection failed (not intercepted, no route to the service CIDR)',
    ctx: { ...hostToCluster, resolved: '10.96.0.10' },
    outcome: { failure: { kind: 'timeout', message: 'curl: (28) Connection timed out' } },
    ok: false,
    diagnosis: /resolved to 10\.96\.0\.10, but the connection failed .*ISTIO_SERVICE_CIDR/
  },
  {
    name: 'intercepted but upstream unreachable',
    ctx: hostToCluster,
    outcome: ok(
      503,
      { server: 'envoy' },
      'upstream connect error or disconnect/reset before headers. reset reason: connection failure'
    ),
    ok: false,
    diagnosis:
      /sidecar intercepted the request but could not reach "echo\.sample\.svc\.cluster\.local" \(503/
  },
  {
    name: 'unexpected status through envoy',
    ctx: hostToCluster,
    outcome: ok(404, { server: 'envoy' }, 'not found'),
    ok: false,
    diagnosis: /^expected status 200, got 404/
  },
  {
    name: 'expected header missing',
    ctx: { ...hostToCluster, expect: { status: 200, headers: { 'x-app': 'v2' }, body: null } },
    outcome: ok(200, { server: 'envoy', 'x-app': 'v1' }),
    ok: false,
    diagnosis: /unexpected headers: `x-app: v1` does not contain "v2"/
  },
  {
    name: 'expected body text missing',
    ctx: { ...hostToCluster, expect: { status: 200, headers: {}, body: 'hello' } },
    outcome: ok(200, { server: 'envoy' }, 'bye'),
    ok: false,
    diagnosis: /the body does not contain "hello"/
  },
  {
    name: 'pod → VM: meshed caller named in XFCC',
    ctx: clusterToHost,
    outcome: ok(
      200,
      { server: 'envoy' },
      echoBody(
        'By=spiffe://cluster.local/ns/vm/sa/vm-sa;URI=spiffe://cluster.local/ns/sample/sa/sleep'
      )
    ),
    ok: true
  },
  {
    name: 'pod → VM: caller without the mesh (plaintext peer in XFCC)',
    ctx: {
      ...clusterToHost,
      caller: { namespace: 'sample', serviceAccount: 'sleep', injected: false }
    },
    outcome: ok(
      200,
      { server: 'envoy' },
      echoBody('By=spiffe://cluster.local/ns/vm/sa/vm-sa;URI=tcp://198.18.0.10:41234')
    ),
    ok: false,
    diagnosis:
      /^the calling pod is not in the mesh: the VM's sidecar saw the caller as tcp:\/\/198\.18\.0\.10:41234, not spiffe:\/\/…\/ns\/sample\/sa\/sleep; the pod has no istio-proxy container: inject its sidecar/
  },
  {
    name: 'pod → VM: no XFCC at all',
    ctx: clusterToHost,
    outcome: ok(200, { server: 'envoy' }, echoBody()),
    ok: false,
    diagnosis:
      /not in the mesh: the VM's sidecar saw the caller without an identity \(no x-forwarded-client-cert\), not spiffe:\/\/…\/ns\/sample\/sa\/sleep; the pod has an istio-proxy container but its request did not go through it/
  },
  {
    name: 'pod → VM: another identity',
    ctx: clusterToHost,
    outcome: ok(
      200,
      { server: 'envoy' },
      echoBody('By=x;URI=spiffe://cluster.local/ns/istio-system/sa/gw')
    ),
    ok: false,
    diagnosis: /saw the caller as spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/gw, expected/
  },
  {
    name: 'pod → VM: app does not echo; identity not checked',
    ctx: clusterToHost,
    outcome: ok(200, { server: 'envoy' }, '<html>'),
    ok: true
  },
  {
    name: 'pod → VM: no server: envoy (inbound not captured)',
    ctx: clusterToHost,
    outcome: ok(200, { server: 'BaseHTTP/0.6' }, echoBody()),
    ok: false,
    diagnosis: /198\.18\.2\.2:8080 answered without `server: envoy`.*ISTIO_INBOUND_PORTS/
  },
  {
    name: 'pod → VM: refused',
    ctx: clusterToHost,
    outcome: { failure: { kind: 'refused', message: 'Connection refused' } },
    ok: false,
    diagnosis: /connection to 198\.18\.2\.2:8080 refused/
  },
  {
    name: 'pod → VM: sidecar up, app down',
    ctx: clusterToHost,
    outcome: ok(
      503,
      { server: 'envoy' },
      'upstream connect error or disconnect/reset before headers'
    ),
    ok: false,
    diagnosis: /the VM's sidecar answered 503 but the app behind port 8080 did not/
  },
  {
    name: 'pod → VM under STRICT from a pod without sidecar: reset',
    ctx: {
      ...clusterToHost,
      caller: { namespace: 'sample', serviceAccount: 'sleep', injected: false }
    },
    outcome: { failure: { kind: 'reset', message: 'Connection reset by peer' } },
    ok: false,
    diagnosis:
      /the calling pod has no sidecar, and a VM sidecar under STRICT mTLS refuses plaintext/
  },
  {
    name: 'no HTTP client',
    ctx: clusterToHost,
    outcome: { failure: { kind: 'no-client', message: 'not found' } },
    ok: false,
    diagnosis: /no HTTP client in pod\/sample\/sleep-1/
  },
  {
    name: 'pod → pod without envoy requirement',
    ctx: { ...clusterToHost, kind: 'pod-to-pod', requireEnvoy: false, caller: undefined },
    outcome: ok(200, {}),
    ok: true
  }
]

describe('judgeRequest', () => {
  test('host → cluster: the identity the echo saw is kept as evidence', () => {
    const verdict = judgeRequest(
      hostToCluster,
      ok(200, { server: 'envoy' }, echoBody('By=echo;URI=spiffe://cluster.local/ns/vm/sa/vm-sa'))
    )
    assert.deepEqual(verdict, {
      ok: true,
      notes: ['caller identity spiffe://cluster.local/ns/vm/sa/vm-sa']
    })
  })

  for (const row of rows) {
    test(row.name, () => {
      const verdict = judgeRequest(row.ctx, row.outcome)
      assert.equal(verdict.ok, row.ok, verdict.diagnosis)
      if (row.diagnosis) assert.match(verdict.diagnosis ?? '', row.diagnosis)
      else assert.equal(verdict.diagnosis, undefined)
    })
  }
})

const LOG = `2026-11-23T19:00:00.000000Z\tinfo\tsds\tstarting
2026-11-23T19:00:01.000000Z\twarn\tca\tfailed to warm certificate: dial tcp: lookup istiod.istio-system.svc: no such host
`

describe('judgeReadiness', () => {
  const rows: Array<{
    name: string
    outcome: HttpOutcome
    state: string
    log: string
    ok: boolean
    diagnosis?: RegExp
  }> = [
    { name: 'ready', outcome: ok(200, {}), state: 'active', log: '', ok: true },
    {
      name: 'service stopped',
      outcome: { failure: { kind: 'refused', message: 'Connection refused' } },
      state: 'inactive\n',
      log: '',
      ok: false,
      diagnosis:
        /^sidecar not ready: the istio service is inactive on vm-1; start it with `systemctl start istio`$/
    },
    {
      name: 'service stopped after running fine: no stale log line',
      outcome: { failure: { kind: 'refused', message: 'Connection refused' } },
      state: 'inactive',
      log: 'x\tinfo\tdefault\tEnvoy proxy is ready\n',
      ok: false,
      diagnosis:
        /^sidecar not ready: the istio service is inactive on vm-1; start it with `systemctl start istio`$/
    },
    {
      name: 'not ready, cause from the log',
      outcome: ok(503, {}, 'not ready: no certificate'),
      state: 'active',
      log: LOG,
      ok: false,
      diagnosis:
        /^sidecar not ready: 503 not ready: no certificate; istiod's name "istiod\.istio-system\.svc" does not resolve on the VM: its hosts entry is missing$/
    },
    {
      name: 'running but nothing on 15021',
      outcome: { failure: { kind: 'refused', message: 'Connection refused' } },
      state: 'active',
      log: 'x\twarn\tdefault\tconfig error\ny\tinfo\tdefault\tstarting',
      ok: false,
      diagnosis:
        /nothing answers on :15021 .* it is starting or crashing; last log line: x warn default config error$/
    }
  ]
  for (const row of rows) {
    test(row.name, () => {
      const verdict = judgeReadiness({
        vm: 'vm-1',
        outcome: row.outcome,
        serviceState: row.state,
        logTail: row.log
      })
      assert.equal(verdict.ok, row.ok)
      if (row.diagnosis) assert.match(verdict.diagnosis ?? '', row.diagnosis)
    })
  }

  test('log hints', () => {
    assert.match(
      logHint('failed to warm certificate: x509: certificate signed by unknown authority') ?? '',
      /root-cert\.pem/
    )
    assert.match(
      logHint('failed to warm certificate: authentication failure: token expired') ?? '',
      /bootstrap token/
    )
    assert.equal(logHint('all good'), undefined)
  })
})

describe('istiod connection and WorkloadEntry health', () => {
  const proxies = [
    { id: 'sleep-6b8f.sample', ip: '198.18.1.11' },
    { id: 'vm-1.vm', ip: '203.0.113.9' }
  ]
  test('found by proxy ID (host name + namespace) even behind NAT, else by address', () => {
    assert.equal(
      findProxy(proxies, { address: '198.18.2.2', hostname: 'vm-1', namespace: 'vm' })?.id,
      'vm-1.vm'
    )
    assert.equal(
      findProxy(proxies, { address: '198.18.1.11', namespace: 'x' })?.id,
      'sleep-6b8f.sample'
    )
    assert.equal(
      findProxy(proxies, { address: '198.18.2.3', hostname: 'vm-2', namespace: 'vm' }),
      undefined
    )
  })

  test('not connected: names what was looked for', () => {
    const verdict = judgeIstiodConnection({
      vm: 'vm-2',
      address: '198.18.2.3',
      hostname: 'vm-2',
      namespace: 'vm',
      proxies
    })
    assert.equal(verdict.ok, false)
    assert.match(
      verdict.diagnosis ?? '',
      /^proxy not connected to istiod: istiod lists 2 connected proxies, none for vm-2 \(198\.18\.2\.3, vm-2\.vm\)/
    )
  })

  test('WorkloadEntry states', () => {
    const base = { vm: 'vm-1', namespace: 'vm', name: 'vm-1' }
    assert.equal(judgeWorkloadEntry({ ...base, health: { state: 'healthy' } }).ok, true)
    const missing = judgeWorkloadEntry({ ...base, health: { state: 'missing' } })
    assert.equal(missing.ok, false)
    assert.match(missing.diagnosis ?? '', /WorkloadEntry vm\/vm-1 does not exist/)
    const unknown = judgeWorkloadEntry({ ...base, health: { state: 'unknown' } })
    assert.equal(unknown.skipped, true)
    const unhealthy = judgeWorkloadEntry({
      ...base,
      health: { state: 'unhealthy', reason: 'HTTPGetFailed', message: 'connection refused' }
    })
    assert.equal(unhealthy.ok, false)
    assert.match(
      unhealthy.diagnosis ?? '',
      /is unhealthy \(HTTPGetFailed: connection refused\): the group's probe fails on vm-1/
    )
    const noReason = judgeWorkloadEntry({
      ...base,
      health: {
        state: 'unhealthy',
        reason: '',
        message: 'dial tcp 127.0.0.1:8080: connection refused'
      }
    })
    assert.match(
      noReason.diagnosis ?? '',
      /is unhealthy \(dial tcp 127\.0\.0\.1:8080: connection refused\): /
    )
  })
})
