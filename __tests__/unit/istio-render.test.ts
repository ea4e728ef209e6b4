// Unit tests of the pieces behind the VM files: the go-yaml emitter, the shellescape quirk,
// protobuf-JSON handling of the mesh config, WorkloadGroup loading, hosts and IP parsing.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  canonicalService,
  compareGoYamlKeys,
  computeProxyConfig,
  goYamlMarshal,
  inboundPorts,
  ingressServiceRef,
  isValidIPAddress,
  localExcludePorts,
  meshConfigFromFile,
  MeshConfigError,
  parsesAsIP,
  parseWorkloadGroupYaml,
  podPortsJson,
  renderHosts,
  renderVmFiles,
  resolveIngressAddress,
  shellQuote,
  WorkloadGroupError
} from '../../src/istio/index.ts'
import { formatProtoDuration, parseGoDuration } from '../../src/istio/proxyConfig.ts'
import { goJsonStringMap } from '../../src/istio/goJson.ts'

const minimalGroup = `
metadata: {name: foo, namespace: bar}
spec:
  template: {serviceAccount: sa}
`

describe('go-yaml v2 key order', () => {
  test('a non-letter sorts before a letter, so _WORKLOAD_ precedes JSON (unlike bytewise)', () => {
    const keys = ['ISTIO_METAJSON_LABELS', 'ISTIO_META_WORKLOAD_NAME', 'POD_NAMESPACE', 'CA_ADDR']
    assert.deepEqual([...keys].sort(compareGoYamlKeys), [
      'CA_ADDR',
      'ISTIO_META_WORKLOAD_NAME',
      'ISTIO_METAJSON_LABELS',
      'POD_NAMESPACE'
    ])
  })
  test('upper case before lower case; digit runs compare by value; a prefix first', () => {
    assert.deepEqual(['b', 'B', 'a10', 'a9', 'a', 'ab'].sort(compareGoYamlKeys), [
      'B',
      'a',
      'a9',
      'a10',
      'ab',
      'b'
    ])
  })
})

describe('go-yaml v2 emitter', () => {
  test('block style, unindented sequences, {} and [] for empty collections, trailing newline', () => {
    assert.equal(
      goYamlMarshal({ b: [1, 'x', { k: 'v', j: [] }], a: {}, c: { d: true, e: null } }),
      'a: {}\nb:\n- 1\n- x\n- j: []\n  k: v\nc:\n  d: true\n  e: null\n'
    )
    assert.equal(goYamlMarshal({}), '{}\n')
  })
  test('strings that would read back as another type are double-quoted', () => {
    for (const s of [
      'true',
      'no',
      'ON',
      '~',
      'null',
      '',
      '123',
      '0x1F',
      '1e3',
      '.5',
      '+1',
      '1:20',
      '2024-01-02'
    ]) {
      assert.equal(goYamlMarshal({ k: s }), `k: ${JSON.stringify(s)}\n`, s)
    }
    for (const s of ['1.2.3', 'v1', '10.10.10.10', 'fd00::1', '-x', 'yes please', '0.500s']) {
      assert.equal(goYamlMarshal({ k: s }), `k: ${s}\n`, s)
    }
  })
  test('indicators force single quotes; non-printables force double quotes with escapes', () => {
    assert.equal(goYamlMarshal({ k: '{"a":1}' }), `k: '{"a":1}'\n`)
    assert.equal(goYamlMarshal({ k: "it's 1#" }), `k: it's 1#\n`)
    assert.equal(goYamlMarshal({ k: "it's #1" }), `k: 'it''s #1'\n`)
    assert.equal(goYamlMarshal({ k: '-' }), `k: '-'\n`)
    assert.equal(goYamlMarshal({ k: 'a #b' }), `k: 'a #b'\n`)
    assert.equal(goYamlMarshal({ k: "- '" }), `k: '- '''\n`)
    assert.equal(goYamlMarshal({ k: ' lead' }), `k: ' lead'\n`)
    assert.equal(goYamlMarshal({ k: 'a\tb\u0001' }), 'k: "a\\tb\\x01"\n')
    assert.equal(goYamlMarshal({ k: 'smile 😀' }), 'k: "smile \\U0001F600"\n')
    assert.equal(goYamlMarshal({ k: 'é' }), 'k: é\n')
  })
  test('multi-line strings are literal blocks with the right chomping indicator', () => {
    assert.equal(goYamlMarshal({ k: 'a\nb' }), 'k: |-\n  a\n  b\n')
    assert.equal(goYamlMarshal({ k: 'a\n\nb\n' }), 'k: |\n  a\n\n  b\n')
    assert.equal(goYamlMarshal({ k: 'a\n\n' }), 'k: |+\n  a\n\n')
    assert.equal(goYamlMarshal({ k: ' a\nb' }), 'k: |2-\n   a\n  b\n')
    // trailing space on a line: no block style, double-quoted with \n escapes
    assert.equal(goYamlMarshal({ k: 'a \nb' }), 'k: "a \\nb"\n')
  })
  test('long plain scalars fold at the first space past column 80', () => {
    const words = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ')
    const out = goYamlMarshal({ key: words })
    const lines = out.split('\n')
    assert.ok(lines.length > 2, out)
    assert.ok((lines[0] as string).length > 80 && (lines[0] as string).length < 86, out)
    assert.ok((lines[1] as string).startsWith('  w'), out)
    // a long value without spaces is never folded
    const long = 'x'.repeat(120)
    assert.equal(goYamlMarshal({ key: long }), `key: ${long}\n`)
  })
  test('numbers print as Go prints them', () => {
    assert.equal(
      goYamlMarshal({ a: 8080, b: 0.5, c: 1234567.5, d: 1e-7 }),
      'a: 8080\nb: 0.5\nc: 1.2345675e+06\nd: 1e-07\n'
    )
  })
})

describe('shellescape quirk', () => {
  test('only backslash, w and @%+=:,./- are safe: nearly every value is quoted', () => {
    assert.equal(shellQuote(''), "''")
    assert.equal(shellQuote('latest'), "'latest'")
    assert.equal(shellQuote('10.10.10.10'), "'10.10.10.10'")
    assert.equal(shellQuote('*'), "'*'")
    assert.equal(shellQuote('w/w.w'), 'w/w.w')
    assert.equal(shellQuote('@%+=:,./-\\'), '@%+=:,./-\\')
    assert.equal(shellQuote("it's"), `'it'"'"'s'`)
  })
})

describe('durations and protobuf JSON', () => {
  test('Go duration syntax in, 0/3/6/9 fractional digits out', () => {
    const cases: [string, string][] = [
      ['45s', '45s'],
      ['1m30s', '90s'],
      ['500ms', '0.500s'],
      ['1.5h', '5400s'],
      ['1us', '0.000001s'],
      ['-2s', '-2s'],
      ['0', '0s'],
      ['1h2m3.004005006s', '3723.004005006s']
    ]
    for (const [input, want] of cases) {
      const nanos = parseGoDuration(input)
      assert.ok(nanos !== undefined, input)
      assert.equal(formatProtoDuration(nanos), want, input)
    }
    for (const bad of ['', '10', 's', '1d', '1..2s'])
      assert.equal(parseGoDuration(bad), undefined, bad)
  })
})

describe('proxy config merge (istioctl createMeshConfig)', () => {
  const wg = (annotations: string): ReturnType<typeof parseWorkloadGroupYaml> =>
    parseWorkloadGroupYaml(`
metadata: {name: foo, namespace: bar}
spec:
  metadata:
    annotations:
${annotations}
  template: {serviceAccount: sa}
`)
  const base = {
    istioNamespace: 'istio-system',
    clusterID: 'c',
    autoRegister: false,
    captureDns: true
  }

  test('an annotation field replaces the mesh value wholesale; proxyMetadata is merged', () => {
    const r = computeProxyConfig({
      ...base,
      workloadGroup: wg(
        `      proxy.istio.io/config: |\n        tracing: {sampling: 5}\n        proxyMetadata: {B: b2, C: c}`
      ),
      meshConfig:
        'defaultConfig:\n  tracing: {zipkin: {address: z:9411}, sampling: 1}\n  proxyMetadata: {A: a, B: b}\n'
    })
    assert.deepEqual(r.defaultConfig.tracing, { sampling: 5 })
    assert.equal(r.proxyMetadata.A, 'a')
    assert.equal(r.proxyMetadata.B, 'b2')
    assert.equal(r.proxyMetadata.C, 'c')
  })
  test('keys istioctl sets win over the annotation', () => {
    const r = computeProxyConfig({
      ...base,
      workloadGroup: wg(
        `      proxy.istio.io/config: "proxyMetadata: {POD_NAMESPACE: other, ISTIO_META_DNS_CAPTURE: 'false'}"`
      ),
      meshConfig: ''
    })
    assert.equal(r.proxyMetadata.POD_NAMESPACE, 'bar')
    assert.equal(r.proxyMetadata.ISTIO_META_DNS_CAPTURE, 'true')
  })
  test('the revision fills an empty discoveryAddress only', () => {
    const group = parseWorkloadGroupYaml(minimalGroup)
    const filled = computeProxyConfig({
      ...base,
      workloadGroup: group,
      meshConfig: '',
      revision: 'canary'
    })
    assert.equal(filled.defaultConfig.discoveryAddress, 'istiod-canary.istio-system.svc:15012')
    const kept = computeProxyConfig({
      ...base,
      workloadGroup: group,
      meshConfig: 'defaultConfig: {discoveryAddress: x:15012}',
      revision: 'canary'
    })
    assert.equal(kept.defaultConfig.discoveryAddress, 'x:15012')
  })
  test('unknown fields are dropped; wrong types fail with the field path', () => {
    const group = parseWorkloadGroupYaml(minimalGroup)
    const r = computeProxyConfig({
      ...base,
      workloadGroup: group,
      meshConfig: 'defaultConfig: {noSuchField: 1}\nnoSuchTop: 2'
    })
    assert.equal(r.defaultConfig.noSuchField, undefined)
    assert.throws(
      () =>
        computeProxyConfig({
          ...base,
          workloadGroup: group,
          meshConfig: 'defaultConfig: {statusPort: abc}'
        }),
      (e: unknown) => e instanceof MeshConfigError && /defaultConfig\.statusPort/.test(e.message)
    )
    assert.throws(
      () =>
        computeProxyConfig({
          ...base,
          workloadGroup: group,
          meshConfig: 'defaultConfig: {proxyMetadata: {A: true}}'
        }),
      (e: unknown) =>
        e instanceof MeshConfigError && /proxyMetadata\.A: expected a string/.test(e.message)
    )
    assert.throws(
      () =>
        computeProxyConfig({
          ...base,
          workloadGroup: group,
          meshConfig: 'defaultConfig: {drainDuration: 10}'
        }),
      MeshConfigError
    )
    assert.throws(
      () =>
        computeProxyConfig({
          ...base,
          workloadGroup: group,
          meshConfig: 'defaultConfig: {interceptionMode: SIDEWAYS}'
        }),
      MeshConfigError
    )
  })
  test('the JSON name wins over the proto name when both are given', () => {
    const group = parseWorkloadGroupYaml(minimalGroup)
    const r = computeProxyConfig({
      ...base,
      workloadGroup: group,
      meshConfig: 'defaultConfig: {mesh_id: snake, meshId: camel}'
    })
    assert.equal(r.proxyMetadata.ISTIO_META_MESH_ID, 'camel')
  })
  test('a mesh config may be given as the whole istio ConfigMap', () => {
    const cm =
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio}\ndata:\n  mesh: |\n    trustDomain: td\n'
    assert.equal(meshConfigFromFile(cm), 'trustDomain: td\n')
    assert.equal(meshConfigFromFile('trustDomain: x\n'), 'trustDomain: x\n')
    assert.throws(() => meshConfigFromFile('kind: ConfigMap\ndata: {}\n'), MeshConfigError)
  })
})

describe('WorkloadGroup loading', () => {
  test('defaults: empty spec, service account "default"', () => {
    const g = parseWorkloadGroupYaml('metadata: {name: a, namespace: b}\n')
    assert.equal(g.spec.template.serviceAccount, 'default')
    assert.deepEqual(g.spec.metadata.labels, {})
    assert.equal(g.spec.probe, undefined)
  })
  test('snake_case spec fields are read; unknown ones dropped', () => {
    const g = parseWorkloadGroupYaml(
      'metadata: {name: a, namespace: b}\nspec:\n  template: {service_account: s, unknown: 1, ports: {http: "80"}}\n  probe: {tcp_socket: {port: 80}, period_seconds: 3}\n'
    )
    assert.equal(g.spec.template.serviceAccount, 's')
    assert.deepEqual(g.spec.template.ports, { http: 80 })
    assert.deepEqual(g.spec.probe, { tcpSocket: { port: 80 }, periodSeconds: 3 })
  })
  test('YAML 1.1 as go-yaml v2 reads it: yes is a boolean, dates and 1:20 stay strings', () => {
    const g = parseWorkloadGroupYaml(
      'metadata: {name: a, namespace: b}\nspec: {metadata: {labels: {date: 2024-01-02, t: 1:20}}}\n'
    )
    assert.deepEqual(g.spec.metadata.labels, { date: '2024-01-02', t: '1:20' })
    assert.throws(
      () =>
        parseWorkloadGroupYaml(
          'metadata: {name: a, namespace: b}\nspec: {metadata: {labels: {ok: yes}}}\n'
        ),
      /labels\.ok: expected a string, got boolean true/
    )
  })
  test('clear errors: no namespace, a port that is not a number, a label that is not a string', () => {
    assert.throws(
      () => parseWorkloadGroupYaml('metadata: {name: a}\n'),
      /metadata\.namespace is missing/
    )
    assert.throws(
      () =>
        parseWorkloadGroupYaml(
          'metadata: {name: a, namespace: b}\nspec: {template: {ports: {http: x}}}\n'
        ),
      (e: unknown) =>
        e instanceof WorkloadGroupError && /spec\.template\.ports\.http/.test(e.message)
    )
    assert.throws(
      () =>
        parseWorkloadGroupYaml(
          'metadata: {name: a, namespace: b}\nspec: {metadata: {labels: {version: 1}}}\n'
        ),
      /labels\.version: expected a string/
    )
    assert.throws(() => parseWorkloadGroupYaml('metadata: [\n'), /invalid YAML/)
  })
})

describe('derived values', () => {
  test('canonical service and revision: first label present, else name / latest', () => {
    assert.deepEqual(canonicalService({}, 'wg'), { service: 'wg', revision: 'latest' })
    assert.deepEqual(
      canonicalService(
        {
          app: 'a',
          'app.kubernetes.io/name': 'k',
          version: 'v',
          'app.kubernetes.io/version': 'kv'
        },
        'wg'
      ),
      { service: 'k', revision: 'kv' }
    )
    assert.deepEqual(
      canonicalService({ app: 'a', 'service.istio.io/canonical-name': 'c', version: '' }, 'wg'),
      { service: 'c', revision: '' }
    )
  })
  test('pod ports sorted by name (the upstream unit case), inbound ports in the same order', () => {
    assert.equal(
      podPortsJson({ HTTPS: 443, HTTP: 80 }),
      '[{"name":"HTTP","containerPort":80,"protocol":""},{"name":"HTTPS","containerPort":443,"protocol":""}]'
    )
    assert.equal(podPortsJson({}), '')
    assert.equal(inboundPorts({ https: 443, http: 80, admin: 80 }), '80,80,443')
    assert.equal(inboundPorts({}), '*')
  })
  test('exclude ports: the status port is added unless it is 15090/15021; 0 means 15020', () => {
    assert.equal(localExcludePorts(0), '22,15090,15021,15020')
    assert.equal(localExcludePorts(15021), '22,15090,15021')
    assert.equal(localExcludePorts(15090), '22,15090,15021')
    assert.equal(localExcludePorts(16000), '22,15090,15021,16000')
  })
  test("labels JSON is Go's: sorted keys, HTML-safe escapes", () => {
    assert.equal(
      goJsonStringMap({ b: '<&>', a: 'x"y' }),
      '{"a":"x\\"y","b":"\\u003c\\u0026\\u003e"}'
    )
  })
})

describe('hosts and the ingress address', () => {
  test('an IP gives one line; anything else an empty file and a warning', () => {
    assert.equal(
      renderHosts({ address: '10.0.0.1' }, 'istio-system').content,
      '10.0.0.1 istiod.istio-system.svc\n'
    )
    assert.equal(
      renderHosts({ address: '2001:db8::1' }, 'ns', 'r1').content,
      '2001:db8::1 istiod-r1.ns.svc\n'
    )
    const empty = renderHosts({ address: 'gw.example.com' }, 'istio-system')
    assert.equal(empty.content, '')
    assert.match(empty.warning ?? '', /Use --ingressIP/)
  })
  test('a hostname-only load balancer gives an empty hosts file and says why', () => {
    const ingress = resolveIngressAddress('', {
      loadBalancerIngress: [{ hostname: 'lb.example.com' }]
    })
    assert.deepEqual(ingress, { address: '', hostnameOnly: 'lb.example.com' })
    const hosts = renderHosts(ingress, 'istio-system')
    assert.equal(hosts.content, '')
    assert.match(hosts.warning ?? '', /only the hostname lb\.example\.com/)
  })
  test('lookup order: a valid --ingressIP, else LB ingress[0].ip, else externalIPs[0]', () => {
    const svc = { loadBalancerIngress: [{ ip: '198.18.0.5' }], externalIPs: ['198.18.0.6'] }
    assert.equal(resolveIngressAddress('198.18.0.1', svc).address, '198.18.0.1')
    assert.equal(resolveIngressAddress('', svc).address, '198.18.0.5')
    assert.equal(
      resolveIngressAddress('bad', { externalIPs: ['198.18.0.6'] }).address,
      '198.18.0.6'
    )
    assert.equal(resolveIngressAddress('', undefined).address, '')
  })
  test('--ingressService: svc, or svc.ns when it splits into exactly two parts', () => {
    assert.deepEqual(ingressServiceRef('istio-eastwestgateway', 'istio-system'), {
      name: 'istio-eastwestgateway',
      namespace: 'istio-system'
    })
    assert.deepEqual(ingressServiceRef('gw.gateways', 'istio-system'), {
      name: 'gw',
      namespace: 'gateways'
    })
    assert.deepEqual(ingressServiceRef('a.b.c', 'istio-system'), {
      name: 'a.b.c',
      namespace: 'istio-system'
    })
  })
  test('IP syntax follows Go', () => {
    for (const ok of [
      '10.0.0.1',
      '::1',
      '::',
      'fd00:10:96::2',
      '::ffff:10.0.0.1',
      '1:2:3:4:5:6:7:8'
    ]) {
      assert.ok(parsesAsIP(ok), ok)
    }
    for (const bad of [
      '010.0.0.1',
      '256.0.0.1',
      '1.2.3',
      ':::',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      'host',
      ''
    ]) {
      assert.ok(!isValidIPAddress(bad), bad)
    }
    assert.ok(isValidIPAddress('fe80::1%eth0') && !parsesAsIP('fe80::1%eth0'))
    // zones as Go's netip has them: IPv6 only, never empty
    assert.ok(!isValidIPAddress('fe80::1%') && !isValidIPAddress('10.0.0.1%eth0'))
  })
})

describe('renderVmFiles', () => {
  test('root-cert.pem and istio-token are passed through byte for byte; extra metadata lands', () => {
    const r = renderVmFiles({
      workloadGroup: parseWorkloadGroupYaml(minimalGroup),
      meshConfig: '',
      clusterID: 'c',
      rootCert: 'PEM\n',
      token: 'tok',
      extraProxyMetadata: { ISTIO_META_WORKLOAD_ENTRY: 'foo-1' }
    })
    assert.equal(r.files['root-cert.pem'], 'PEM\n')
    assert.equal(r.files['istio-token'], 'tok')
    assert.match(r.files['cluster.env'], /^ISTIO_META_WORKLOAD_ENTRY='foo-1'$/m)
    assert.equal(r.files.hosts, '')
    assert.equal(r.warnings.length, 1)
  })
})

describe('go-yaml emitter round trip', () => {
  // Seeded, bounded: whatever style the emitter picks, the text must read back to the value.
  // (U+2028 is left out: go-yaml treats it as a line break, a YAML 1.2 reader does not.)
  test('3000 random strings read back unchanged (quoting, escapes, folding, literals)', async () => {
    const { parseGoYamlDocument } = await import('../../src/istio/proxyConfig.ts')
    const pool = [
      ...'abZ019   \n\t:#-?\'"\\{}[],&*!|>%@`.~é',
      '😀',
      '\u0085',
      'yes',
      'null',
      'true',
      '0x',
      '1e',
      '---',
      '...',
      '=',
      '<<'
    ]
    let seed = 42
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed / 2147483648
    }
    for (let i = 0; i < 3000; i++) {
      const length = Math.floor(next() * 40) + (i % 7 === 0 ? 80 : 0)
      let s = ''
      for (let j = 0; j < length; j++) s += pool[Math.floor(next() * pool.length)]
      const text = goYamlMarshal({ key: s, nested: { deeper: { k: s } } })
      const back = parseGoYamlDocument(text, 'round trip') as {
        key: string
        nested: { deeper: { k: string } }
      }
      assert.equal(back.key, s, `${JSON.stringify(s)} → ${text}`)
      assert.equal(back.nested.deeper.k, s, `${JSON.stringify(s)} → ${text}`)
    }
  })
})
