// `mesh-expansion configure` in-process: istioctl's flag syntax and error wording, the
// offline inputs, file modes and messages. Writes only under a temporary directory.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ConfigureSources } from '../../src/cluster/configureSources.ts'
import { configure, runConfigure } from '../../src/commands/configure.ts'
import { parseConfigureFlags } from '../../src/commands/configureFlags.ts'
import { parseWorkloadGroupYaml, resolveIngressAddress } from '../../src/istio/index.ts'
import { runCli } from '../../src/commands/index.ts'

let dir = ''
const wgYaml = `apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata:
  name: mysql
  namespace: vm
spec:
  metadata:
    labels: {app: mysql}
  template:
    serviceAccount: mysql
`

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mx-configure-'))
  writeFileSync(join(dir, 'wg.yaml'), wgYaml)
  writeFileSync(
    join(dir, 'mesh.yaml'),
    'defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\ntrustDomain: cluster.local\n'
  )
  writeFileSync(
    join(dir, 'root.pem'),
    '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
  )
  writeFileSync(join(dir, 'token'), 'eyJhbGciOiJSUzI1NiJ9.e30.sig\n')
})
after(() => rmSync(dir, { recursive: true, force: true }))

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
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

describe('flag parsing (pflag rules)', () => {
  test('--flag value, --flag=value, -f value, -fvalue, -f=value, bools with =false', () => {
    const p = parseConfigureFlags([
      '--file',
      'a.yaml',
      '-oout',
      '--clusterID=',
      '-r=canary',
      '-i',
      'ns',
      '--capture-dns=false',
      '--autoregister'
    ])
    assert.equal(p.values.file, 'a.yaml')
    assert.equal(p.values.output, 'out')
    assert.equal(p.values.clusterID, '')
    assert.ok(p.changed.has('clusterID'), 'an explicit empty --clusterID counts as given')
    assert.equal(p.values.revision, 'canary')
    assert.equal(p.values.istioNamespace, 'ns')
    assert.equal(p.values['capture-dns'], false)
    assert.equal(p.values.autoregister, true)
    assert.equal(parseConfigureFlags([]).values['capture-dns'], true)
    assert.equal(parseConfigureFlags(['--capture-dns=0']).values['capture-dns'], false)
  })
  test("pflag's error messages", () => {
    assert.throws(() => parseConfigureFlags(['--nope']), /^UsageError: unknown flag: --nope$/)
    assert.throws(() => parseConfigureFlags(['-x']), /unknown shorthand flag: 'x' in -x/)
    assert.throws(() => parseConfigureFlags(['--file']), /flag needs an argument: --file/)
    assert.throws(() => parseConfigureFlags(['-o']), /flag needs an argument: 'o' in -o/)
    assert.throws(
      () => parseConfigureFlags(['--capture-dns=maybe']),
      /invalid argument "maybe" for "--capture-dns" flag: strconv.ParseBool: parsing "maybe": invalid syntax/
    )
    assert.throws(() => parseConfigureFlags(['--tokenDuration', 'x']), /strconv.ParseInt/)
  })
})

describe('argument errors use istioctl wording (exit 2)', () => {
  const cases: [string[], RegExp][] = [
    [
      ['--name', 'foo', '-o', 'temp', '--clusterID', 'cid'],
      /Error: expecting a WorkloadGroup artifact file or the name and namespace of an existing WorkloadGroup/
    ],
    [['-n', 'bar', '-o', 'temp'], /expecting a WorkloadGroup artifact file/],
    [['-f', 'file', '--clusterID', 'cid'], /Error: expecting an output directory/],
    [['--name', 'foo', '-n', 'bar', '--clusterID', 'cid'], /Error: expecting an output directory/],
    [
      ['-f', 'wg.yaml', '-o', 'o', '--internalIP', '1.1.1.1', '--externalIP', '2.2.2.2'],
      /the flags --internalIP and --externalIP are mutually exclusive/
    ],
    [['--name', 'foo', '-n', 'bar', '-o', 'o'], /not available yet: pass it with -f FILE/],
    [
      ['-f', 'missing.yaml', '-o', 'o', '--root-cert', 'root.pem'],
      /^Error: open missing\.yaml: no such file or directory\n$/
    ],
    [
      ['-f', 'wg.yaml', '-o', 'o'],
      /pass --root-cert FILE .*istio-ca-root-cert ConfigMap in namespace vm/
    ],
    [
      ['-f', 'wg.yaml', '-o', 'o', '--root-cert', 'root.pem', '--capture-dns', 'false'],
      /unexpected argument "false"/
    ]
  ]
  for (const [args, message] of cases) {
    test(args.join(' '), async () => {
      const r = await run(args)
      assert.equal(r.code, 2, r.stderr)
      assert.match(r.stderr, message)
      assert.equal(r.stdout, '')
    })
  }
  test('nothing is written when the arguments are wrong', () => {
    assert.ok(!readdirSync(dir).includes('o'))
  })
})

describe('writing the files', () => {
  test('the acceptance command writes the five files, token empty 0600 with a warning', async () => {
    const r = await run([
      '-f',
      'wg.yaml',
      '--mesh-config',
      'mesh.yaml',
      '--root-cert',
      'root.pem',
      '-o',
      'out',
      '--clusterID',
      'Kubernetes',
      '--internalIP',
      '10.10.10.10',
      '--ingressIP',
      '10.10.10.11'
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'Configuration generation into directory out was successful\n')
    assert.match(r.stderr, /no --token given: "out\/istio-token" is empty/)
    const out = join(dir, 'out')
    assert.deepEqual(readdirSync(out).sort(), [
      'cluster.env',
      'hosts',
      'istio-token',
      'mesh.yaml',
      'root-cert.pem'
    ])
    assert.equal(readFileSync(join(out, 'istio-token'), 'utf8'), '')
    assert.equal(statSync(join(out, 'istio-token')).mode & 0o777, 0o600)
    assert.equal(
      readFileSync(join(out, 'root-cert.pem'), 'utf8'),
      readFileSync(join(dir, 'root.pem'), 'utf8')
    )
    assert.equal(readFileSync(join(out, 'hosts'), 'utf8'), '10.10.10.11 istiod.istio-system.svc\n')
    assert.match(readFileSync(join(out, 'cluster.env'), 'utf8'), /^ISTIO_SVC_IP='10\.10\.10\.10'$/m)
    // istioctl's mode for the other files (umask permitting): never more than 0744
    assert.equal(statSync(join(out, 'cluster.env')).mode & 0o033, 0)
  })
  test('--token: written without its trailing newline, 0600 also over a looser existing file', async () => {
    const out = join(dir, 'out2')
    const first = await run([
      '-f',
      'wg.yaml',
      '--root-cert',
      'root.pem',
      '-o',
      'out2',
      '--clusterID',
      'c'
    ])
    assert.equal(first.code, 0)
    // loosen the mode, then write again with a token
    const { chmodSync } = await import('node:fs')
    chmodSync(join(out, 'istio-token'), 0o644)
    const r = await run([
      '-f',
      'wg.yaml',
      '--root-cert',
      'root.pem',
      '--token',
      'token',
      '-o',
      'out2',
      '--clusterID',
      'c'
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(readFileSync(join(out, 'istio-token'), 'utf8'), 'eyJhbGciOiJSUzI1NiJ9.e30.sig')
    assert.equal(statSync(join(out, 'istio-token')).mode & 0o777, 0o600)
    assert.match(
      r.stderr,
      /Warning: a security token for namespace "vm" and service account "mysql" has been stored at "out2\/istio-token"/
    )
    assert.doesNotMatch(r.stderr, /eyJ/, 'the token itself is never printed')
  })
  test('an invalid mesh config is reported with the field and exits 2', async () => {
    writeFileSync(join(dir, 'bad-mesh.yaml'), 'defaultConfig:\n  statusPort: high\n')
    const r = await run([
      '-f',
      'wg.yaml',
      '--mesh-config',
      'bad-mesh.yaml',
      '--root-cert',
      'root.pem',
      '-o',
      'o3'
    ])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /defaultConfig\.statusPort: expected an integer/)
  })
  test('--help prints the flags and exits 0', async () => {
    const r = await configure(['--help'], { cwd: dir, env: {}, stdout: () => {}, stderr: () => {} })
    assert.equal(r, 0)
  })
})

describe('runConfigure with other sources (the seam for cluster mode)', () => {
  // A small in-memory implementation, as a cluster-backed one would answer.
  function memorySources(calls: string[]): ConfigureSources {
    return {
      async workloadGroup() {
        calls.push('workloadGroup')
        return parseWorkloadGroupYaml(wgYaml)
      },
      async meshConfig(revision) {
        calls.push(`meshConfig:${revision}`)
        return 'trustDomain: td.example\n'
      },
      async clusterID(revision) {
        calls.push(`clusterID:${revision}`)
        return 'from-injector'
      },
      async rootCert(namespace) {
        calls.push(`rootCert:${namespace}`)
        return 'ROOT'
      },
      async token(namespace, serviceAccount, seconds) {
        calls.push(`token:${namespace}/${serviceAccount}/${seconds}`)
        return 'jwt'
      },
      mintsTokens: true,
      async ingress(ingressIP) {
        calls.push(`ingress:${ingressIP}`)
        return resolveIngressAddress(ingressIP, {
          loadBalancerIngress: [{ hostname: 'lb.example' }]
        })
      }
    }
  }
  test('the cluster ID is asked for only without --clusterID; the token is minted for the group', async () => {
    const calls: string[] = []
    let stderr = ''
    const flags = parseConfigureFlags([
      '--name',
      'mysql',
      '-n',
      'vm',
      '-o',
      'out4',
      '-r',
      'canary',
      '--tokenDuration',
      '600'
    ])
    const code = await runConfigure(
      flags,
      { cwd: dir, env: {}, stdout: () => {}, stderr: t => (stderr += t) },
      memorySources(calls)
    )
    assert.equal(code, 0)
    assert.deepEqual(calls, [
      'workloadGroup',
      'clusterID:canary',
      'meshConfig:canary',
      'rootCert:vm',
      'token:vm/mysql/600',
      'ingress:'
    ])
    const out = join(dir, 'out4')
    assert.equal(readFileSync(join(out, 'istio-token'), 'utf8'), 'jwt')
    assert.equal(readFileSync(join(out, 'hosts'), 'utf8'), '')
    assert.match(stderr, /only the hostname lb\.example/)
    assert.match(
      stderr,
      /Warning: a security token for namespace "vm" and service account "mysql" has been generated and stored at "out4\/istio-token"\n/
    )
    assert.match(
      readFileSync(join(out, 'cluster.env'), 'utf8'),
      /^ISTIO_META_CLUSTER_ID='from-injector'$/m
    )
    assert.match(
      readFileSync(join(out, 'cluster.env'), 'utf8'),
      /^CA_ADDR='istiod-canary\.istio-system\.svc:15012'$/m
    )

    const again: string[] = []
    const withID = parseConfigureFlags([
      '--name',
      'mysql',
      '-n',
      'vm',
      '-o',
      'out4',
      '--clusterID',
      ''
    ])
    await runConfigure(
      withID,
      { cwd: dir, env: {}, stdout: () => {}, stderr: () => {} },
      memorySources(again)
    )
    assert.ok(!again.some(c => c.startsWith('clusterID')), 'an explicit --clusterID "" is honoured')
  })
})
