// Issue 15, the renderers' part: an env key a root shell would run is refused again where the
// files are rendered (cluster.env, the older generations' env files) and by `configure`,
// offline, naming where it came from; every value is quoted; the capture leaves each VM's SSH
// port and reachable ports alone; `configure -o` never writes through a planted symlink.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { Discovery } from '../../src/cluster/discovery.ts'
import { runCli } from '../../src/commands/index.ts'
import { parseDescription, type Description } from '../../src/config/index.ts'
import { filesRenderer } from '../../src/engine/files.ts'
import {
  capturedReachablePorts,
  computeProxyConfig,
  formatClusterEnv,
  localExcludePorts,
  MeshConfigError,
  parseWorkloadGroupYaml,
  renderVmFiles
} from '../../src/istio/index.ts'
import { formatEnvFile } from '../../src/istio/legacy/common.ts'
import { renderLegacyVmFiles, renderSidecarEnv } from '../../src/istio/legacy/index.ts'
import { shellQuote } from '../../src/istio/shellQuote.ts'

let dir = ''
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mx-host-safety-'))
})
after(() => rmSync(dir, { recursive: true, force: true }))

const MESH =
  'defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\ntrustDomain: cluster.local\n'
/** The mesh config with proxyMetadata lines (indented under defaultConfig) added. */
const meshWith = (metadata: string): string =>
  `defaultConfig:\n  proxyMetadata:\n${metadata}  discoveryAddress: istiod.istio-system.svc:15012\ntrustDomain: cluster.local\n`

function workloadGroup(annotations = '', specAnnotations = '', ports = ''): string {
  return (
    'apiVersion: networking.istio.io/v1\nkind: WorkloadGroup\nmetadata:\n  name: web\n  namespace: vm\n' +
    (annotations !== '' ? `  annotations:\n${annotations}` : '') +
    'spec:\n  metadata:\n    labels: {app: web}\n' +
    (specAnnotations !== '' ? `    annotations:\n${specAnnotations}` : '') +
    `  template:\n    serviceAccount: web\n${ports}`
  )
}

function render(
  wg: string,
  more: { meshConfig?: string; reachablePorts?: number[] } = {}
): Record<string, string> {
  return renderVmFiles({
    workloadGroup: parseWorkloadGroupYaml(wg),
    meshConfig: more.meshConfig ?? MESH,
    clusterID: 'Kubernetes',
    rootCert: 'ROOT\n',
    token: 'TOKEN',
    ...(more.reachablePorts !== undefined ? { reachablePorts: more.reachablePorts } : {})
  }).files
}

const envLine = (text: string, key: string): string | undefined =>
  text.split('\n').find(line => line.startsWith(`${key}=`))

describe('cluster.env keys and values', () => {
  test('the formatter refuses a key that is not a shell variable name', () => {
    assert.throws(
      () => formatClusterEnv({ GOOD: 'x', 'X=1;touch /tmp/x;Y': '1' }),
      /^EnvKeyError: cluster\.env: invalid environment variable name "X=1;touch \/tmp\/x;Y"/
    )
    assert.throws(() => formatClusterEnv({ '1X': '' }), /invalid environment variable name "1X"/)
    assert.equal(formatClusterEnv({ _A1: 'x', b: 'y' }), "_A1='x'\nb='y'\n")
  })

  test('each source of proxyMetadata is named when its key is refused', () => {
    const cases: [string, () => unknown, RegExp][] = [
      [
        'mesh config',
        () => render(workloadGroup(), { meshConfig: meshWith('    "A;B": "1"\n') }),
        /^MeshConfigError: mesh config defaultConfig\.proxyMetadata: invalid environment variable name "A;B"/
      ],
      [
        'metadata.annotations',
        () =>
          render(
            workloadGroup(
              `    proxy.istio.io/config: '{"proxyMetadata": {"X=1;touch /tmp/x;Y": "1"}}'\n`
            )
          ),
        /^MeshConfigError: WorkloadGroup metadata\.annotations\["proxy\.istio\.io\/config"\] proxyMetadata: invalid environment variable name "X=1;touch \/tmp\/x;Y"/
      ],
      [
        'spec.metadata.annotations',
        () =>
          render(
            workloadGroup('', `      proxy.istio.io/config: 'proxyMetadata: {"$(reboot)": x}'\n`)
          ),
        /^MeshConfigError: WorkloadGroup spec\.metadata\.annotations\["proxy\.istio\.io\/config"\] proxyMetadata: invalid environment variable name "\$\(reboot\)"/
      ]
    ]
    for (const [what, run, expected] of cases) assert.throws(run, expected, what)
    assert.throws(
      () =>
        computeProxyConfig({
          workloadGroup: parseWorkloadGroupYaml(workloadGroup()),
          meshConfig: MESH,
          istioNamespace: 'istio-system',
          clusterID: '',
          autoRegister: false,
          captureDns: true,
          extraProxyMetadata: { 'A B': 'x' }
        }),
      MeshConfigError
    )
  })

  test('every value is quoted by the one quoter, and a shell reads them back unchanged', () => {
    const canary = join(dir, 'ran')
    const hostile: Record<string, string> = {
      SUBST: `$(touch ${canary})`,
      TICKS: `\`touch ${canary}\``,
      QUOTE: "it's; touch x",
      SPACES: 'a  b\tc',
      GLOB: '*',
      EMPTY: ''
    }
    const annotation = JSON.stringify(JSON.stringify({ proxyMetadata: hostile }))
    const text =
      render(workloadGroup(`    proxy.istio.io/config: ${annotation}\n`))['cluster.env'] ?? ''
    const lines = text.trimEnd().split('\n')
    for (const line of lines) assert.match(line, /^[A-Za-z_][A-Za-z0-9_]*=/)
    for (const [key, value] of Object.entries(hostile)) {
      assert.ok(lines.includes(`${key}=${shellQuote(value)}`), `${key} quoted by shellQuote`)
    }
    const file = join(dir, 'cluster.env')
    writeFileSync(file, text)
    const keys = Object.keys(hostile)
    const sh = spawnSync(
      '/bin/sh',
      [
        '-c',
        `. "$1" && for k in ${keys.join(' ')}; do eval "printf '%s\\0' \\"\\$$k\\""; done`,
        'sh',
        file
      ],
      { encoding: 'utf8' }
    )
    assert.equal(sh.status, 0, sh.stderr)
    assert.deepEqual(sh.stdout.split('\0').slice(0, -1), Object.values(hostile))
    assert.equal(existsSync(canary), false, 'no command ran while the file was sourced')
  })
})

describe('the capture leaves the reachable ports alone', () => {
  test("ISTIO_LOCAL_EXCLUDE_PORTS: istioctl's list, then each reachable port not in it", () => {
    assert.equal(localExcludePorts(0), '22,15090,15021,15020')
    assert.equal(localExcludePorts(0, [22]), '22,15090,15021,15020')
    assert.equal(localExcludePorts(15021, [2223, 15021, 8443]), '22,15090,15021,2223,8443')
    const plain = render(workloadGroup())['cluster.env']
    assert.equal(render(workloadGroup(), { reachablePorts: [22] })['cluster.env'], plain)
    assert.equal(
      envLine(
        render(workloadGroup(), { reachablePorts: [2223, 9100] })['cluster.env'] ?? '',
        'ISTIO_LOCAL_EXCLUDE_PORTS'
      ),
      "ISTIO_LOCAL_EXCLUDE_PORTS='22,15090,15021,15020,2223,9100'"
    )
  })

  test('an explicit inbound list ignores the exclusions (upstream), so a reachable port in it is refused', () => {
    assert.deepEqual(capturedReachablePorts('*', [22, 2223]), [])
    assert.deepEqual(capturedReachablePorts('8080,2223', [22, 2223]), [2223])
    const withPorts = workloadGroup('', '', '    ports: {http: 8080, ssh: 2223}\n')
    assert.throws(
      () => render(withPorts, { reachablePorts: [2223] }),
      /ISTIO_INBOUND_PORTS=8080,2223 would capture port 2223, which must stay reachable/
    )
    assert.equal(
      envLine(
        render(withPorts, { reachablePorts: [22] })['cluster.env'] ?? '',
        'ISTIO_INBOUND_PORTS'
      ),
      "ISTIO_INBOUND_PORTS='8080,2223'"
    )
  })

  test('the engine renders per VM: each VM keeps its own SSH port out of the capture', async () => {
    const parsed = parseDescription(
      [
        'workloadGroups:',
        '  - {name: batch, namespace: vm, service: {kind: none}}',
        'vms:',
        '  - {name: a, host: 198.18.2.2}',
        '  - {name: b, host: 198.18.2.3, port: 2223}',
        'settings: {reachablePorts: [9100]}',
        ''
      ].join('\n'),
      'mesh.yaml'
    )
    assert.ok(parsed.ok)
    const description: Description = parsed.description
    const discovery = {
      istioVersion: '1.30.0',
      generation: 'modern',
      revision: '',
      revisionSource: 'default',
      istioNamespace: 'istio-system',
      clusterID: 'Kubernetes',
      clusterIDSource: 'injector',
      meshConfig: MESH,
      trustDomain: 'cluster.local',
      meshId: '',
      discoveryAddress: 'istiod.istio-system.svc:15012',
      network: '',
      gateway: {
        service: 'istio-eastwestgateway',
        namespace: 'istio-system',
        address: '',
        source: 'none'
      },
      istiodExposed: false,
      networkingVersion: 'v1',
      workloadGroupVersion: 'v1',
      warnings: []
    } satisfies Discovery
    const renderer = filesRenderer(
      description,
      discovery,
      { owner: 'test', createdAt: '2026-01-01T00:00:00Z' },
      new Map([
        ['a', '198.18.2.2'],
        ['b', '198.18.2.3']
      ]),
      { rootCert: async () => 'ROOT\n', token: async () => 'TOKEN' },
      () => undefined
    )
    const [a, b] = description.vms
    assert.ok(a && b)
    const envOf = async (vm: typeof a): Promise<string> => (await renderer(vm))['cluster.env']
    assert.equal(envLine(await envOf(a), 'ISTIO_INBOUND_PORTS'), "ISTIO_INBOUND_PORTS='*'")
    assert.equal(
      envLine(await envOf(a), 'ISTIO_LOCAL_EXCLUDE_PORTS'),
      "ISTIO_LOCAL_EXCLUDE_PORTS='22,15090,15021,15020,9100'"
    )
    assert.equal(
      envLine(await envOf(b), 'ISTIO_LOCAL_EXCLUDE_PORTS'),
      "ISTIO_LOCAL_EXCLUDE_PORTS='22,15090,15021,15020,2223,9100'"
    )
  })

  test('older generations: sidecar.env excludes the ports; an explicit list holding one is refused', () => {
    assert.equal(
      renderSidecarEnv({ inboundPorts: '*', localExcludePorts: [2223, 22] }),
      'ISTIO_INBOUND_PORTS=*\nISTIO_LOCAL_EXCLUDE_PORTS=2223,22\n'
    )
    assert.throws(
      () => renderSidecarEnv({ inboundPorts: [8080, 2223], localExcludePorts: [2223] }),
      /port 2223 must stay reachable/
    )
    const input = {
      generation: 'meshexpansion-1.1' as const,
      istioVersion: '1.1.0',
      istioNamespace: 'istio-system',
      serviceCidrs: ['10.96.0.0/12'],
      inboundPorts: [8080, 22],
      controlPlaneAuth: 'MUTUAL_TLS' as const,
      certs: { rootCert: 'R', certChain: 'C', key: 'K' },
      gateway: '198.18.0.5'
    }
    assert.throws(
      () => renderLegacyVmFiles({ ...input, localExcludePorts: [22] }),
      /meshexpansion-1\.1: inbound port 22 must stay reachable/
    )
    assert.match(renderLegacyVmFiles(input)['cluster.env'], /^ISTIO_INBOUND_PORTS=8080,22$/m)
  })

  test('older generations: env keys are checked, values outside a safe set refused', () => {
    assert.throws(
      () => formatEnvFile([['X=1;touch /tmp/x;Y', '1']]),
      /invalid environment variable name "X=1;touch \/tmp\/x;Y"/
    )
    assert.throws(() => formatEnvFile([['A', '$(reboot)']]), /characters a shell would interpret/)
  })
})

async function configure(
  args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await runCli(['configure', ...args], {
    cwd: dir,
    env: {},
    stdout: t => (stdout += t),
    stderr: t => (stderr += t)
  })
  return { code, stdout, stderr }
}

describe('configure', () => {
  before(() => {
    writeFileSync(join(dir, 'mesh.yaml'), MESH)
    writeFileSync(
      join(dir, 'root.pem'),
      '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
    )
    writeFileSync(join(dir, 'token'), 'eyJhbGciOiJSUzI1NiJ9.e30.sig\n')
    writeFileSync(join(dir, 'wg.yaml'), workloadGroup())
  })
  const offline = (wg: string, mesh: string, out: string): string[] => [
    '-f',
    wg,
    '--mesh-config',
    mesh,
    '--root-cert',
    'root.pem',
    '--clusterID',
    'c',
    '-o',
    out
  ]

  test('a bad key from a WorkloadGroup annotation exits 2, names it, writes nothing', async () => {
    writeFileSync(
      join(dir, 'bad-wg.yaml'),
      workloadGroup(`    proxy.istio.io/config: '{"proxyMetadata": {"X=1;touch /tmp/x;Y": "1"}}'\n`)
    )
    const r = await configure(offline('bad-wg.yaml', 'mesh.yaml', 'out-wg'))
    assert.equal(r.code, 2, r.stderr)
    assert.match(
      r.stderr,
      /WorkloadGroup metadata\.annotations\["proxy\.istio\.io\/config"\] proxyMetadata: invalid environment variable name "X=1;touch \/tmp\/x;Y"/
    )
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
    assert.equal(existsSync(join(dir, 'out-wg')), false)
  })

  test("a bad key from the mesh config's defaultConfig.proxyMetadata exits 2, writes nothing", async () => {
    writeFileSync(join(dir, 'bad-mesh.yaml'), meshWith('    "A;reboot": "1"\n'))
    const r = await configure(offline('wg.yaml', 'bad-mesh.yaml', 'out-mesh'))
    assert.equal(r.code, 2, r.stderr)
    assert.match(
      r.stderr,
      /mesh config defaultConfig\.proxyMetadata: invalid environment variable name "A;reboot"/
    )
    assert.equal(existsSync(join(dir, 'out-mesh')), false)
  })

  test('-o DIR replaces a planted symlink instead of writing through it', async () => {
    const out = join(dir, 'out-link')
    mkdirSync(out)
    const victim = join(dir, 'victim')
    writeFileSync(victim, 'precious\n')
    symlinkSync(victim, join(out, 'istio-token'))
    symlinkSync(victim, join(out, 'cluster.env'))
    const r = await configure([...offline('wg.yaml', 'mesh.yaml', 'out-link'), '--token', 'token'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n', 'the target is untouched')
    for (const name of ['istio-token', 'cluster.env']) {
      assert.ok(lstatSync(join(out, name)).isFile(), `${name} is a file of its own now`)
    }
    assert.equal(readFileSync(join(out, 'istio-token'), 'utf8'), 'eyJhbGciOiJSUzI1NiJ9.e30.sig')
    assert.equal(statSync(join(out, 'istio-token')).mode & 0o777, 0o600)
    assert.deepEqual(readdirSync(out).sort(), [
      'cluster.env',
      'hosts',
      'istio-token',
      'mesh.yaml',
      'root-cert.pem'
    ])
  })
})
