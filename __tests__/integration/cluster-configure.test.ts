// `configure` online against the sandbox: the WorkloadGroup, mesh config, cluster ID, root
// certificate, token and gateway address come from the cluster, and for the same state the five
// files are byte for byte those of offline mode given the same inputs as files.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parse } from 'yaml'
import { configure, runConfigure } from '../../src/commands/configure.ts'
import { parseConfigureFlags, validateConfigureFlags } from '../../src/commands/configureFlags.ts'
import { offlineSources } from '../../src/commands/configureInputs.ts'
import type { CommandIO } from '../../src/commands/types.ts'
import { openClusterSources, wantsCluster } from '../../src/cluster/configureOnline.ts'
import { runCli } from '../../src/commands/index.ts'
import { VM_FILE_NAMES } from '../../src/istio/index.ts'
import type { SandboxCluster, SandboxClusterOptions } from '../../lab/cluster/index.ts'
import { apply as applyRun } from '../../src/engine/run.ts'
import { connectTo, describe_, sandbox, writeCount } from './cluster-helpers.ts'

const WG = `apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata:
  name: mysql
  namespace: vm
spec:
  metadata:
    labels:
      app: mysql
    annotations:
      proxy.istio.io/config: '{"holdApplicationUntilProxyStarts":true}'
  template:
    serviceAccount: mysql
    ports:
      tcp-mysql: 3306
  probe:
    tcpSocket:
      port: 3306
`

interface Run {
  code: number
  stdout: string
  stderr: string
}

async function run(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  let stdout = ''
  let stderr = ''
  const io: CommandIO = { cwd, env, stdout: t => (stdout += t), stderr: t => (stderr += t) }
  const flags = parseConfigureFlags(args)
  validateConfigureFlags(flags)
  const warnings: string[] = []
  const offline = offlineSources(flags, io, w => warnings.push(w))
  if (!wantsCluster(flags, env)) {
    return { code: await runConfigure(flags, io, offline, warnings), stdout, stderr }
  }
  const online = await openClusterSources(flags, io, offline)
  try {
    const code = await runConfigure(online.flags, io, online.sources, warnings)
    return { code, stdout, stderr }
  } finally {
    await online.close()
  }
}

async function files(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const name of VM_FILE_NAMES) out[name] = await readFile(join(dir, name), 'utf8')
  return out
}

for (const shape of [
  { title: 'a default install', options: {} as SandboxClusterOptions, revision: '' },
  {
    title: 'a revisioned install in another istio namespace',
    options: { revision: 'canary', istioNamespace: 'mesh-system', clusterID: 'east', meshId: 'm1' },
    revision: 'canary'
  }
]) {
  describe(`configure online: ${shape.title}`, () => {
    let sb: SandboxCluster
    let dir: string
    let env: NodeJS.ProcessEnv
    const ns = shape.options.istioNamespace ?? 'istio-system'
    before(async () => {
      sb = await sandbox({ clusterID: 'Kubernetes', ...shape.options })
      dir = await mkdtemp(join(tmpdir(), 'cluster-configure-test-'))
      await sb.writeKubeconfig(join(dir, 'kubeconfig'))
      env = { KUBECONFIG: join(dir, 'kubeconfig') }
      sb.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'vm' } })
      sb.store.put({
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'mysql', namespace: 'vm' }
      })
      sb.store.put(parse(WG) as Parameters<typeof sb.store.put>[0])
      await writeFile(join(dir, 'wg.yaml'), WG)
    })
    after(async () => {
      await sb?.close()
      if (dir) await rm(dir, { recursive: true, force: true })
    })

    test('reads everything from the cluster; the same inputs as files give the same files', async () => {
      const online = await run(['--name', 'mysql', '-n', 'vm', '-o', 'online', '-i', ns], dir, env)
      assert.equal(online.code, 0, online.stderr)
      assert.match(online.stderr, /has been generated and stored at "online\/istio-token"/)
      const got = await files(join(dir, 'online'))
      assert.equal(got['root-cert.pem'], sb.ca.certPem)
      const review = sb.reviewToken(got['istio-token'] ?? '', ['istio-ca'])
      assert.equal(review.user?.username, 'system:serviceaccount:vm:mysql')
      assert.equal(
        got.hosts,
        `198.18.0.2 istiod${shape.revision ? `-${shape.revision}` : ''}.${ns}.svc\n`
      )
      assert.match(
        got['cluster.env'] ?? '',
        new RegExp(`ISTIO_META_CLUSTER_ID='${shape.options.clusterID ?? 'Kubernetes'}'`)
      )
      assert.match(
        got['mesh.yaml'] ?? '',
        new RegExp(
          `discoveryAddress: istiod${shape.revision ? `-${shape.revision}` : ''}\\.${ns}\\.svc:15012`
        )
      )
      assert.ok(
        !online.stdout.includes(got['istio-token'] ?? 'x') &&
          !online.stderr.includes(got['istio-token'] ?? 'x')
      )

      // offline, the same state given as files
      const mesh = sb.store.get(
        'configmaps',
        ns,
        `istio${shape.revision ? `-${shape.revision}` : ''}`
      )?.data as Record<string, string>
      await writeFile(join(dir, 'mesh.yaml'), mesh.mesh ?? '')
      await writeFile(join(dir, 'root.pem'), sb.ca.certPem)
      await writeFile(join(dir, 'token'), got['istio-token'] ?? '')
      const offline = await run(
        [
          '-f',
          'wg.yaml',
          '-o',
          'offline',
          '-i',
          ns,
          '--mesh-config',
          'mesh.yaml',
          '--root-cert',
          'root.pem',
          '--token',
          'token',
          '--clusterID',
          shape.options.clusterID ?? 'Kubernetes',
          '--ingressIP',
          '198.18.0.2',
          ...(shape.revision ? ['--revision', shape.revision] : [])
        ],
        dir,
        {}
      )
      assert.equal(offline.code, 0, offline.stderr)
      assert.deepEqual(await files(join(dir, 'offline')), got)
    })

    test('a WorkloadGroup file with the cluster for the rest gives the same files too', async () => {
      const mixed = await run(['-f', 'wg.yaml', '-o', 'mixed', '-i', ns], dir, env)
      assert.equal(mixed.code, 0, mixed.stderr)
      const a = await files(join(dir, 'mixed'))
      const b = await files(join(dir, 'online'))
      assert.deepEqual({ ...a, 'istio-token': '' }, { ...b, 'istio-token': '' })
    })

    test('the configure command itself goes online when a kubeconfig is found', async () => {
      let stderr = ''
      const code = await configure(['--name', 'mysql', '-n', 'vm', '-o', 'command', '-i', ns], {
        cwd: dir,
        env,
        stdout: () => undefined,
        stderr: t => (stderr += t)
      })
      assert.equal(code, 0, stderr)
      const a = await files(join(dir, 'command'))
      const b = await files(join(dir, 'online'))
      assert.deepEqual({ ...a, 'istio-token': '' }, { ...b, 'istio-token': '' })
      assert.ok((a['istio-token'] ?? '').length > 100)
    })

    test('a missing WorkloadGroup is named as istioctl does', async () => {
      await assert.rejects(
        run(['--name', 'nope', '-n', 'vm', '-o', 'x', '-i', ns], dir, env),
        /workloadgroup nope not found in namespace vm/
      )
    })
  })
}

describe('configure without a kubeconfig stays offline', () => {
  test('no KUBECONFIG, no ~/.kube/config: offline errors as before', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cluster-configure-test-'))
    try {
      await writeFile(join(dir, 'wg.yaml'), WG)
      assert.equal(wantsCluster(parseConfigureFlags(['-f', 'wg.yaml', '-o', 'o']), {}), false)
      await assert.rejects(run(['-f', 'wg.yaml', '-o', 'o'], dir, {}), /pass --root-cert FILE/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('configure online refuses a proxyMetadata key a root shell would run', () => {
  let sb: SandboxCluster
  let dir: string
  let env: NodeJS.ProcessEnv
  const EVIL = 'X=1;touch /tmp/x;Y'
  before(async () => {
    sb = await sandbox({ clusterID: 'Kubernetes' })
    dir = await mkdtemp(join(tmpdir(), 'cluster-configure-test-'))
    await sb.writeKubeconfig(join(dir, 'kubeconfig'))
    env = { KUBECONFIG: join(dir, 'kubeconfig') }
    sb.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'vm' } })
    sb.store.put({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'mysql', namespace: 'vm' }
    })
    sb.store.put(parse(WG) as Parameters<typeof sb.store.put>[0])
    const evil = parse(WG) as Parameters<typeof sb.store.put>[0] & {
      metadata: { name: string }
      spec: { metadata: { annotations: Record<string, string> } }
    }
    evil.metadata.name = 'evil'
    evil.spec.metadata.annotations['proxy.istio.io/config'] = JSON.stringify({
      proxyMetadata: { [EVIL]: '1' }
    })
    sb.store.put(evil)
  })
  after(async () => {
    await sb?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  async function cli(args: string[]): Promise<Run> {
    let stdout = ''
    let stderr = ''
    const code = await runCli(['configure', ...args], {
      cwd: dir,
      env,
      stdout: t => (stdout += t),
      stderr: t => (stderr += t)
    })
    return { code, stdout, stderr }
  }

  test("from the WorkloadGroup's annotation: exit 2, the source and key named, nothing written", async () => {
    const r = await cli(['--name', 'evil', '-n', 'vm', '-o', 'out-evil'])
    assert.equal(r.code, 2, r.stderr)
    assert.match(
      r.stderr,
      /WorkloadGroup spec\.metadata\.annotations\["proxy\.istio\.io\/config"\] proxyMetadata: invalid environment variable name "X=1;touch \/tmp\/x;Y"/
    )
    await assert.rejects(readFile(join(dir, 'out-evil', 'cluster.env')), { code: 'ENOENT' })
  })

  test("from the mesh ConfigMap's defaultConfig.proxyMetadata: the same", async () => {
    const good = await cli(['--name', 'mysql', '-n', 'vm', '-o', 'out-good'])
    assert.equal(good.code, 0, good.stderr)
    const map = sb.store.get('configmaps', 'istio-system', 'istio')
    assert.ok(map)
    const data = map.data as Record<string, string>
    const mesh = parse(String(data.mesh)) as { defaultConfig: Record<string, unknown> }
    mesh.defaultConfig.proxyMetadata = { 'A;reboot': '1' }
    sb.store.put({ ...map, data: { ...data, mesh: JSON.stringify(mesh) } })
    const r = await cli(['--name', 'mysql', '-n', 'vm', '-o', 'out-mesh'])
    assert.equal(r.code, 2, r.stderr)
    assert.match(
      r.stderr,
      /mesh config defaultConfig\.proxyMetadata: invalid environment variable name "A;reboot"/
    )
    await assert.rejects(readFile(join(dir, 'out-mesh', 'cluster.env')), { code: 'ENOENT' })
  })

  test('apply with that mesh config stops in preflight, before any write', async () => {
    const description = describe_(
      'workloadGroups:\n  - {name: mysql, namespace: vm, ports: {tcp-mysql: 3306}}\n' +
        'vms:\n  - {name: me, host: local, address: 198.18.0.9}\n'
    )
    const { connection } = await connectTo(sb.kubeconfig)
    try {
      sb.requestLog.clear()
      const lines: string[] = []
      const report = await applyRun(description, connection, {
        owner: 'pr-15',
        env: {},
        log: line => lines.push(line),
        warn: line => lines.push(line),
        onSecret: () => undefined,
        verify: false
      })
      assert.equal(report.ok, false)
      assert.equal(report.failedPhase, 'preflight')
      assert.ok(
        report.problems.includes(
          'cluster: mesh config defaultConfig.proxyMetadata: invalid environment variable name ' +
            '"A;reboot": letters, digits and "_", not starting with a digit (cluster.env is ' +
            'sourced by a root shell)'
        ),
        report.problems.join('\n')
      )
      assert.equal(writeCount(sb), 0)
    } finally {
      await connection.close()
    }
  })
})
