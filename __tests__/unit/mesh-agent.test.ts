// Pure parts of the sidecar stand-in's agent (lab/mesh/sidecar/pilot-agent.py), called through
// python3: the mesh-config YAML subset, the iptables rules it derives from cluster.env, and the
// DNS answers. Also the lab's hand renderers in lab/mesh/files.ts, read back by the agent.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { sidecarSourceDir } from '../../lab/mesh/deb.ts'
import {
  proxyMetadata,
  renderClusterEnv,
  renderHosts,
  renderMeshConfig,
  shellQuote
} from '../../lab/mesh/files.ts'

const AGENT = join(sidecarSourceDir(), 'pilot-agent.py')

// Loads the agent as a module and calls one function with JSON arguments; bytes travel as hex.
const HARNESS = `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location('agent', sys.argv[1])
agent = importlib.util.module_from_spec(spec)
spec.loader.exec_module(agent)
request = json.load(sys.stdin)
args = [bytes.fromhex(a[4:]) if isinstance(a, str) and a.startswith('hex:') else a for a in request['args']]
if request.get('table'):
    table = agent.NameTable(request['table']['namespace'])
    table.update(request['table']['names'])
    args.append(table)
try:
    result = getattr(agent, request['fn'])(*args)
except Exception as error:
    print(json.dumps({'error': type(error).__name__, 'message': str(error)}))
    sys.exit(0)
if isinstance(result, bytes):
    result = 'hex:' + result.hex()
print(json.dumps({'result': result}))
`

interface Answer {
  result?: unknown
  error?: string
  message?: string
}

function call(
  fn: string,
  args: unknown[],
  table?: { namespace: string; names: Record<string, string> }
): Answer {
  const out = spawnSync('python3', ['-c', HARNESS, AGENT], {
    input: JSON.stringify({ fn, args, table }),
    encoding: 'utf8',
    timeout: 20_000
  })
  assert.equal(out.status, 0, out.stderr)
  return JSON.parse(out.stdout) as Answer
}

function dnsQuery(name: string, type: number): string {
  const labels = name
    .split('.')
    .map(label => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)]))
  const header = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])
  const question = Buffer.concat([...labels, Buffer.from([0, 0, type, 0, 1])])
  return 'hex:' + Buffer.concat([header, question]).toString('hex')
}

function parseDns(answer: Answer): {
  id: number
  rcode: number
  answers: number
  address?: string
} {
  const bytes = Buffer.from(String(answer.result).slice(4), 'hex')
  const rcode = bytes.readUInt16BE(2) & 0xf
  const answers = bytes.readUInt16BE(6)
  const parsed: { id: number; rcode: number; answers: number; address?: string } = {
    id: bytes.readUInt16BE(0),
    rcode,
    answers
  }
  if (answers > 0) parsed.address = [...bytes.subarray(bytes.length - 4)].join('.')
  return parsed
}

const input = {
  workloadName: 'mysql',
  namespace: 'vm',
  serviceAccount: 'mysql-sa',
  istiodIp: '198.18.0.2',
  inboundPorts: [3306],
  labels: { app: 'mysql', version: 'v1' }
}

describe('pilot-agent stand-in: mesh config YAML', () => {
  test('reads back the mesh config istioctl-style rendering writes', () => {
    const answer = call('parse_yaml', [renderMeshConfig(input)])
    assert.deepEqual(answer.result, {
      defaultConfig: {
        discoveryAddress: 'istiod.istio-system.svc:15012',
        proxyMetadata: proxyMetadata(input)
      }
    })
  })

  test('reads back a rendered readiness probe and extra proxy metadata', () => {
    const probe = {
      exec: { command: ['cat', '/tmp/ready'] },
      periodSeconds: 5,
      httpGet: { path: '/healthz', port: 8080, httpHeaders: [{ name: 'x-probe', value: 'yes' }] }
    }
    const text = renderMeshConfig({
      ...input,
      probe,
      metadata: { ISTIO_META_WORKLOAD_ENTRY: 'mysql-1' }
    })
    const parsed = call('parse_yaml', [text]).result as {
      defaultConfig: { readinessProbe: unknown; proxyMetadata: Record<string, string> }
    }
    assert.deepEqual(parsed.defaultConfig.readinessProbe, probe)
    assert.equal(parsed.defaultConfig.proxyMetadata['ISTIO_META_WORKLOAD_ENTRY'], 'mysql-1')
  })

  test('block sequences, nested maps, quoted scalars, literals, empty flow values', () => {
    const text = [
      '# a comment',
      'defaultConfig:',
      '  discoveryAddress: istiod-canary.istio-system.svc:15012',
      '  statusPort: 15020',
      '  holdApplicationUntilProxyStarts: true',
      "  meshId: 'mesh''1'",
      '  proxyMetadata: {}',
      '  readinessProbe:',
      '    exec:',
      '      command:',
      '      - cat',
      '      - "/tmp/ready"',
      '  tracing:',
      '  - zipkin:',
      '      address: zipkin:9411',
      '    sampling: 1.5',
      '  note: |-',
      '    two',
      '    lines'
    ].join('\n')
    assert.deepEqual(call('parse_yaml', [text]).result, {
      defaultConfig: {
        discoveryAddress: 'istiod-canary.istio-system.svc:15012',
        statusPort: 15020,
        holdApplicationUntilProxyStarts: true,
        meshId: "mesh'1",
        proxyMetadata: {},
        readinessProbe: { exec: { command: ['cat', '/tmp/ready'] } },
        tracing: [{ zipkin: { address: 'zipkin:9411' }, sampling: 1.5 }],
        note: 'two\nlines'
      }
    })
  })

  test('an empty file is an empty config; broken YAML names its line', () => {
    assert.deepEqual(call('parse_yaml', ['']).result, {})
    const tabs = call('parse_yaml', ['defaultConfig:\n\tdiscoveryAddress: x\n'])
    assert.equal(tabs.error, 'YamlError')
    assert.match(tabs.message ?? '', /line 2: tabs/)
    const bad = call('parse_yaml', ['defaultConfig:\n  - a\n  b: c\n'])
    assert.equal(bad.error, 'YamlError')
    assert.match(bad.message ?? '', /line 3/)
  })
})

describe('pilot-agent stand-in: iptables capture from cluster.env', () => {
  const base = {
    ISTIO_LOCAL_EXCLUDE_PORTS: '22,15090,15021,15020',
    ISTIO_SERVICE_CIDR: '*',
    ISTIO_INBOUND_PORTS: '*'
  }
  const rules = (env: Record<string, string>): string[] =>
    String(call('render_iptables', [1337, 1338, env]).result)
      .trim()
      .split('\n')

  test('everything captured: inbound except the excluded ports, outbound except istio-proxy', () => {
    const lines = rules(base)
    assert.equal(lines[0], '*nat')
    assert.equal(lines.at(-1), 'COMMIT')
    assert.ok(lines.includes('-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001'))
    assert.ok(lines.includes('-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006'))
    const inbound = lines.filter(l => l.startsWith('-A ISTIO_INBOUND'))
    // upstream's order: 15008 first, then the exclude list as given (run.go, 1.30)
    assert.deepEqual(inbound, [
      '-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN',
      '-A ISTIO_INBOUND -p tcp --dport 22 -j RETURN',
      '-A ISTIO_INBOUND -p tcp --dport 15090 -j RETURN',
      '-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN',
      '-A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN',
      '-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT'
    ])
    const output = lines.filter(l => l.startsWith('-A ISTIO_OUTPUT'))
    assert.deepEqual(output, [
      '-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN',
      '-A ISTIO_OUTPUT -m owner --gid-owner 1338 -j RETURN',
      '-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN',
      '-A ISTIO_OUTPUT -o lo -j RETURN',
      '-A ISTIO_OUTPUT -j ISTIO_REDIRECT'
    ])
    assert.ok(!lines.some(l => l.includes('15053')), 'no DNS capture unless asked')
  })

  test('listed inbound ports, service CIDRs, DNS capture (an excluded port that is listed IS captured, as upstream)', () => {
    const lines = rules({
      ...base,
      ISTIO_INBOUND_PORTS: '3306,22,8080',
      ISTIO_SERVICE_CIDR: '198.19.0.0/16,198.18.1.0/24',
      ISTIO_META_DNS_CAPTURE: 'true'
    })
    assert.deepEqual(
      lines.filter(l => l.startsWith('-A ISTIO_INBOUND')),
      [
        '-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN',
        '-A ISTIO_INBOUND -p tcp --dport 3306 -j ISTIO_IN_REDIRECT',
        '-A ISTIO_INBOUND -p tcp --dport 22 -j ISTIO_IN_REDIRECT',
        '-A ISTIO_INBOUND -p tcp --dport 8080 -j ISTIO_IN_REDIRECT'
      ]
    )
    assert.ok(lines.includes('-A ISTIO_OUTPUT -d 198.19.0.0/16 -j ISTIO_REDIRECT'))
    assert.ok(lines.includes('-A ISTIO_OUTPUT -d 198.18.1.0/24 -j ISTIO_REDIRECT'))
    assert.ok(!lines.includes('-A ISTIO_OUTPUT -j ISTIO_REDIRECT'))
    assert.ok(lines.includes('-A ISTIO_OUTPUT -p tcp --dport 53 -j REDIRECT --to-ports 15053'))
    assert.ok(lines.includes('-A OUTPUT -p udp --dport 53 -m owner --uid-owner 1337 -j RETURN'))
    assert.ok(lines.includes('-A OUTPUT -p udp --dport 53 -j REDIRECT --to-ports 15053'))
    // istio-proxy's own DNS queries are excluded before the redirect.
    const own = lines.indexOf('-A OUTPUT -p udp --dport 53 -m owner --uid-owner 1337 -j RETURN')
    assert.ok(own < lines.indexOf('-A OUTPUT -p udp --dport 53 -j REDIRECT --to-ports 15053'))
  })

  test('no inbound ports and no service CIDR: nothing redirected', () => {
    const lines = rules({ ...base, ISTIO_INBOUND_PORTS: '', ISTIO_SERVICE_CIDR: '' })
    assert.ok(
      !lines.some(l => l.endsWith('-j ISTIO_IN_REDIRECT') && l.startsWith('-A ISTIO_INBOUND'))
    )
    assert.ok(!lines.some(l => l.startsWith('-A ISTIO_OUTPUT') && l.endsWith('-j ISTIO_REDIRECT')))
  })
})

describe('pilot-agent stand-in: DNS answers from the name table', () => {
  const table = { namespace: 'sample', names: { 'echo.sample.svc.cluster.local': '198.19.0.10' } }

  test('A record for the full name and the short forms of a Kubernetes service', () => {
    for (const name of [
      'echo.sample.svc.cluster.local',
      'echo.sample.svc',
      'echo.sample',
      'echo',
      'ECHO.Sample'
    ]) {
      const answer = parseDns(call('dns_answer', [dnsQuery(name, 1)], table))
      assert.deepEqual(answer, { id: 0x1234, rcode: 0, answers: 1, address: '198.19.0.10' }, name)
    }
  })

  test('the short name only in the own namespace', () => {
    const other = { ...table, namespace: 'vm' }
    assert.equal(parseDns(call('dns_answer', [dnsQuery('echo', 1)], other)).rcode, 3)
  })

  test('AAAA of a known name: no error, no answer; unknown names: NXDOMAIN', () => {
    assert.deepEqual(
      parseDns(call('dns_answer', [dnsQuery('echo.sample.svc.cluster.local', 28)], table)),
      {
        id: 0x1234,
        rcode: 0,
        answers: 0
      }
    )
    assert.equal(parseDns(call('dns_answer', [dnsQuery('example.com', 1)], table)).rcode, 3)
  })

  test('garbage is ignored', () => {
    assert.equal(call('dns_answer', ['hex:0102'], table).result, null)
  })
})

describe('lab VM files', () => {
  test('cluster.env: sorted KEY=value lines, every value single-quoted', () => {
    const text = renderClusterEnv(input)
    const lines = text.trimEnd().split('\n')
    assert.deepEqual(lines, [...lines].sort())
    assert.ok(lines.includes("ISTIO_INBOUND_PORTS='3306'"))
    assert.ok(lines.includes("ISTIO_SERVICE_CIDR='*'"))
    assert.ok(lines.includes("SERVICE_ACCOUNT='mysql-sa'"))
    assert.ok(!lines.some(l => l.startsWith('CA_ADDR=')))
    assert.ok(
      renderClusterEnv({ ...input, revision: 'canary' }).includes(
        "CA_ADDR='istiod-canary.istio-system.svc:15012'"
      )
    )
    assert.equal(shellQuote("it's"), `'it'"'"'s'`)
    assert.equal(shellQuote(''), "''")
  })

  test('hosts: the gateway IP for istiod, revisioned or not', () => {
    assert.equal(renderHosts(input), '198.18.0.2 istiod.istio-system.svc\n')
    assert.equal(
      renderHosts({ ...input, revision: 'canary' }),
      '198.18.0.2 istiod-canary.istio-system.svc\n'
    )
  })
})

describe('pilot-agent stand-in: the multi-network generation', () => {
  const names = {
    'echo.sample.svc.cluster.local': '198.19.0.10',
    'echo.sample.global': '127.255.0.7',
    'gone.sample.global': '127.255.0.8'
  }

  test('a .global address goes to the service the gateway would rewrite it to', () => {
    assert.deepEqual(call('global_target', ['127.255.0.7'], { namespace: 'vm', names }).result, [
      'echo.sample.global',
      '198.19.0.10'
    ])
  })

  test('a .global name without its cluster service, or an unknown address, has no route', () => {
    assert.equal(call('global_target', ['127.255.0.8'], { namespace: 'vm', names }).result, null)
    assert.equal(call('global_target', ['127.255.0.9'], { namespace: 'vm', names }).result, null)
  })

  test('listed ranges are captured before loopback returns (127.255.0.0/16 leaves through lo)', () => {
    const lines = String(
      call('render_iptables', [
        1337,
        1338,
        { ISTIO_INBOUND_PORTS: '8080', ISTIO_SERVICE_CIDR: '198.19.0.0/16,127.255.0.0/16' }
      ]).result
    ).split('\n')
    const global = lines.indexOf('-A ISTIO_OUTPUT -d 127.255.0.0/16 -j ISTIO_REDIRECT')
    assert.ok(global > 0)
    assert.ok(global < lines.indexOf('-A ISTIO_OUTPUT -o lo -j RETURN'))
  })
})

// Real loopback sockets through the agent's relay: what the downstream sees when the upstream
// fails, and that a closed relay lets its peer go (Envoy closes with a FIN; it never hangs).
const RELAY_SCENARIOS = `
import importlib.util, json, socket, struct, sys, threading
spec = importlib.util.spec_from_file_location('agent', sys.argv[1])
agent = importlib.util.module_from_spec(spec)
spec.loader.exec_module(agent)

def pair():
    listener = socket.create_server(('127.0.0.1', 0))
    near = socket.create_connection(listener.getsockname(), timeout=5)
    far, _ = listener.accept()
    listener.close()
    return near, far

def read_all(sock):
    sock.settimeout(5)
    data = b''
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except socket.timeout:
        return data, False

def upstream_that(ending):
    upstream, server = pair()
    def serve():
        server.recv(65536)
        if ending == 'reset':
            server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        server.close()
    threading.Thread(target=serve, daemon=True).start()
    return upstream

result = {}
for ending in ('reset', 'close'):
    downstream, proxy_side = pair()
    upstream = upstream_that(ending)
    status = {}
    def relay():
        status['code'] = agent.relay_http(proxy_side, upstream, b'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n', {},
                                          server='istio-envoy')
        agent.close(proxy_side)
    threading.Thread(target=relay, daemon=True).start()
    data, eof = read_all(downstream)
    result[ending] = {'status': status.get('code'), 'eof': eof, 'response': data.decode('latin-1')}

# a relay thread still blocked reading the connection: close() must still let the peer go
# (the reader waits in poll(), which holds the file: a bare close() then sends nothing)
near, far = pair()
near.settimeout(60)
threading.Thread(target=lambda: near.recv(1), daemon=True).start()
threading.Event().wait(0.2)
agent.close(near)
far.settimeout(2)
try:
    result['closedWhileRead'] = far.recv(1) == b''
except socket.timeout:
    result['closedWhileRead'] = False
print(json.dumps(result))
`

describe('pilot-agent stand-in: relaying over real sockets', () => {
  const out = spawnSync('python3', ['-c', RELAY_SCENARIOS, AGENT], {
    encoding: 'utf8',
    timeout: 30_000
  })
  const scenario = (): Record<string, { status: number; eof: boolean; response: string }> & {
    closedWhileRead: boolean
  } => {
    assert.equal(out.status, 0, out.stderr)
    return JSON.parse(out.stdout) as ReturnType<typeof scenario>
  }

  for (const ending of ['reset', 'close']) {
    test(`an upstream that ${ending === 'reset' ? 'resets' : 'closes'} before the response headers: Envoy's own 503, then the connection ends`, () => {
      const seen = scenario()[ending]
      assert.ok(seen, ending)
      assert.equal(seen.status, 503)
      assert.match(seen.response, /^HTTP\/1\.1 503 Service Unavailable\r\n/)
      assert.match(seen.response, /^server: istio-envoy\r$/m)
      assert.match(
        seen.response,
        /\r\n\r\nupstream connect error or disconnect\/reset before headers\. reset reason: connection termination$/
      )
      assert.equal(seen.eof, true, 'the downstream connection was left open')
    })
  }

  test('closing a connection another relay thread is still reading sends the FIN', () => {
    assert.equal(scenario().closedWhileRead, true)
  })
})
