// The committed CLI bundle, run as a user runs it: `node dist/cli.js …`.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../../lab/github.ts'

function cli(args: string[], cwd = repoRoot): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [join(repoRoot, 'dist', 'cli.js'), ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 30_000
  })
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr }
}

describe('dist/cli.js', () => {
  test('without a command it prints usage and exits 2; --help exits 0', () => {
    const bare = cli([])
    assert.equal(bare.code, 2)
    assert.match(bare.stdout, /Usage: mesh-expansion <command>/)
    assert.equal(cli(['--help']).code, 0)
    const unknown = cli(['deploy'])
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /unknown command "deploy"\n/)
  })

  test('--version prints the package version; a mistyped command gets a suggestion', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }
    const version = cli(['--version'])
    assert.equal(version.code, 0)
    assert.equal(version.stdout, `mesh-expansion ${pkg.version}\n`)
    const typo = cli(['aplly'])
    assert.equal(typo.code, 2)
    assert.match(typo.stderr, /^mesh-expansion: unknown command "aplly" \(did you mean "apply"\?\)/)
    assert.match(cli(['vlaidate']).stderr, /did you mean "validate"/)
    const flag = cli(['apply', '-c', 'examples/lab.yaml', '--kubecofig', 'x'])
    assert.equal(flag.code, 2)
    assert.match(flag.stderr, /^Error: Unknown option '--kubecofig' \(did you mean --kubeconfig\?\)\n/)
  })

  test('completion: bash completes commands and, from each command\'s --help, its flags', () => {
    const bin = mkdtempSync(join(tmpdir(), 'mx-completion-'))
    try {
      writeFileSync(
        join(bin, 'mesh-expansion'),
        `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(repoRoot, 'dist', 'cli.js'))} "$@"\n`,
        { mode: 0o755 }
      )
      const script = cli(['completion', 'bash'])
      assert.equal(script.code, 0, script.stderr)
      writeFileSync(join(bin, 'completion.bash'), script.stdout)
      const complete = (...words: string[]): string[] => {
        const r = spawnSync(
          'bash',
          [
            '-c',
            `source ${JSON.stringify(join(bin, 'completion.bash'))}; COMP_WORDS=(${words.map(w => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _mesh_expansion; printf '%s\\n' "\${COMPREPLY[@]}"`
          ],
          { encoding: 'utf8', env: { PATH: `${bin}:${process.env.PATH ?? ''}` } }
        )
        assert.equal(r.status, 0, r.stderr)
        return r.stdout.split('\n').filter(Boolean).sort()
      }
      assert.deepEqual(complete('mesh-expansion', 'v'), ['validate', 'verify'])
      assert.deepEqual(complete('mesh-expansion', 'apply', '--kube'), ['--kubeconfig'])
      assert.ok(complete('mesh-expansion', 'rbac', '--').includes('--service-account'))
      const zsh = cli(['completion', 'zsh'])
      assert.match(zsh.stdout, /^#compdef mesh-expansion\n/)
      assert.equal(cli(['completion', 'fish']).code, 2)
    } finally {
      rmSync(bin, { recursive: true, force: true })
    }
  })

  test('validate: the example is valid; a broken one exits 2 with line:column', () => {
    const valid = cli(['validate', '-c', 'examples/lab.yaml'])
    assert.equal(valid.code, 0, valid.stderr)
    assert.equal(valid.stdout, 'examples/lab.yaml: valid: 1 workload group, 3 VMs, 2 checks (namespace vm)\n')
    const invalid = cli(['validate', '-c', '__tests__/fixtures/invalid/unknown-group.yaml'])
    assert.equal(invalid.code, 2)
    assert.match(invalid.stderr, /^__tests__\/fixtures\/invalid\/unknown-group\.yaml:\d+:\d+ vms\[\d\]\.group: unknown group/)
  })

  test('validate: a proxyMetadata key with shell syntax exits 2 with FILE:LINE:COL at the key', () => {
    const file = '__tests__/fixtures/invalid/proxy-metadata-key-shell.yaml'
    const run = cli(['validate', '-c', file])
    assert.equal(run.code, 2, run.stderr)
    assert.equal(run.stdout, '')
    assert.equal(
      run.stderr,
      `${file}:10:9 workloadGroups[0].proxyConfig.proxyMetadata["X=1;touch /tmp/x;Y"]: invalid environment variable name "X=1;touch /tmp/x;Y": letters, digits and "_", not starting with a digit (the key becomes a line of cluster.env, which a root shell sources)\n`
    )
  })

  test('configure refuses a proxyMetadata key with shell syntax and writes nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-expansion-configure-'))
    try {
      writeFileSync(
        join(dir, 'wg.yaml'),
        [
          'apiVersion: networking.istio.io/v1',
          'kind: WorkloadGroup',
          'metadata:',
          '  name: mysql',
          '  namespace: vm',
          `  annotations: {proxy.istio.io/config: '{"proxyMetadata": {"X=1;touch /tmp/x;Y": "1"}}'}`,
          'spec:',
          '  template: {serviceAccount: mysql}',
          ''
        ].join('\n')
      )
      writeFileSync(join(dir, 'root.pem'), '-----BEGIN CERTIFICATE-----\nMIIBlab\n-----END CERTIFICATE-----\n')
      const run = cli(['configure', '-f', 'wg.yaml', '--root-cert', 'root.pem', '--clusterID', 'c', '-o', 'out'], dir)
      assert.equal(run.code, 2, run.stderr)
      assert.match(run.stderr, /proxyMetadata: invalid environment variable name "X=1;touch \/tmp\/x;Y"/)
      assert.deepEqual(readdirSync(dir).sort(), ['root.pem', 'wg.yaml'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('configure writes the five files of istioctl, offline', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-expansion-configure-'))
    try {
      writeFileSync(
        join(dir, 'wg.yaml'),
        [
          'apiVersion: networking.istio.io/v1',
          'kind: WorkloadGroup',
          'metadata: {name: mysql, namespace: vm}',
          'spec:',
          '  metadata: {labels: {app: mysql, version: v1}}',
          '  template: {serviceAccount: mysql, ports: {tcp-mysql: 3306}}',
          ''
        ].join('\n')
      )
      writeFileSync(join(dir, 'mesh.yaml'), 'defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\ntrustDomain: cluster.local\n')
      const rootCert = '-----BEGIN CERTIFICATE-----\nMIIBlab\n-----END CERTIFICATE-----\n'
      writeFileSync(join(dir, 'root.pem'), rootCert)
      const run = cli(
        ['configure', '-f', 'wg.yaml', '--mesh-config', 'mesh.yaml', '--root-cert', 'root.pem', '-o', 'out',
          '--clusterID', 'Kubernetes', '--internalIP', '10.10.10.10', '--ingressIP', '10.10.10.11'],
        dir
      )
      assert.equal(run.code, 0, run.stderr)
      assert.match(run.stdout, /Configuration generation into directory out was successful/)
      const out = join(dir, 'out')
      assert.deepEqual(readdirSync(out).sort(), ['cluster.env', 'hosts', 'istio-token', 'mesh.yaml', 'root-cert.pem'])
      const env = readFileSync(join(out, 'cluster.env'), 'utf8')
      assert.match(env, /^ISTIO_META_CLUSTER_ID='Kubernetes'$/m)
      assert.match(env, /^ISTIO_SVC_IP='10\.10\.10\.10'$/m)
      assert.match(env, /^ISTIO_INBOUND_PORTS='3306'$/m)
      assert.equal(readFileSync(join(out, 'hosts'), 'utf8'), '10.10.10.11 istiod.istio-system.svc\n')
      assert.equal(readFileSync(join(out, 'root-cert.pem'), 'utf8'), rootCert)
      assert.match(readFileSync(join(out, 'mesh.yaml'), 'utf8'), /^defaultConfig:\n {2}discoveryAddress: istiod\.istio-system\.svc:15012\n/)
      // The token is a secret: never world-readable, even when empty.
      assert.equal(statSync(join(out, 'istio-token')).mode & 0o077, 0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
