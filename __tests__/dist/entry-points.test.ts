// The built entry points as the tools around them start them: the Action's files imported by a
// harness (@github/local-action calls the exported `run`) or started by the runner; the CLI on an
// older Node; and the npm package installed from its packed tarball with nothing fetched.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { repoRoot } from '../../lab/github.ts'

const scratch = mkdtempSync(join(tmpdir(), 'mx-entry-'))
after(() => rmSync(scratch, { recursive: true, force: true }))

/** A node process with a fresh GITHUB_OUTPUT file; what it printed and what it set. */
function node(
  args: string[],
  env: Record<string, string> = {},
  nodePath = process.execPath
): { code: number; stdout: string; stderr: string; outputs: string } {
  const id = Math.random().toString(36).slice(2)
  const [outputs, summary, state] = ['output', 'summary', 'state'].map(f => join(scratch, `${f}-${id}`))
  for (const file of [outputs, summary, state]) writeFileSync(file ?? '', '')
  const result = spawnSync(nodePath, args, {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? '',
      GITHUB_OUTPUT: outputs ?? '',
      GITHUB_STEP_SUMMARY: summary ?? '',
      GITHUB_STATE: state ?? '',
      ...env
    }
  })
  return {
    code: result.status ?? -1,
    stdout: result.stdout,
    stderr: result.stderr,
    outputs: readFileSync(outputs ?? '', 'utf8')
  }
}

const VALIDATE = {
  INPUT_COMMAND: 'validate',
  'INPUT_CONFIG-FILE': join(repoRoot, 'examples/lab.yaml')
}

describe('the Action entry points', () => {
  for (const entry of ['main', 'post']) {
    test(`dist/${entry}.js imported does nothing until its exported run() is called`, () => {
      const url = new URL(`../../dist/${entry}.js`, import.meta.url).href
      const imported = node(
        ['--input-type=module', '-e', `const m = await import(${JSON.stringify(url)}); console.log('run:' + typeof m.run)`],
        VALIDATE
      )
      assert.equal(imported.code, 0, imported.stderr)
      assert.match(imported.stdout, /^run:function$/m)
      assert.equal(imported.outputs, '', 'nothing ran at import')
    })
  }

  test('dist/main.js: run() called by a harness does the step; started by node it runs itself', () => {
    const url = new URL('../../dist/main.js', import.meta.url).href
    const harness = node(
      ['--input-type=module', '-e', `const m = await import(${JSON.stringify(url)}); await m.run()`],
      VALIDATE
    )
    assert.equal(harness.code, 0, harness.stderr)
    assert.match(harness.outputs, /^checks<</m)
    const started = node([join(repoRoot, 'dist/main.js')], VALIDATE)
    assert.equal(started.code, 0, started.stderr)
    // the same outputs; only @actions/core's random heredoc delimiters differ
    const plain = (text: string): string => text.replace(/ghadelimiter_[0-9a-f-]+/g, 'EOF')
    assert.equal(plain(started.outputs), plain(harness.outputs))
  })
})

describe('outside a runner', () => {
  test('validate without a job summary file warns and still succeeds', () => {
    const result = node([join(repoRoot, 'dist/main.js')], { ...VALIDATE, GITHUB_STEP_SUMMARY: '' })
    assert.equal(result.code, 0, result.stdout)
    assert.match(result.stdout, /^::warning::the job summary was not written: /m)
    assert.match(result.outputs, /"valid":true/)
  })
})

describe('the CLI on an older Node', () => {
  test('dist/cli.js on Node 20 says which Node it needs and exits 2', t => {
    const system = spawnSync('/usr/bin/node', ['--version'], { encoding: 'utf8' })
    const major = Number(/^v(\d+)/.exec(system.stdout ?? '')?.[1] ?? 'NaN')
    if (!(major < 24)) {
      assert.fail(
        `needs a Node older than 24 at /usr/bin/node to show the engine check (found ${system.stdout?.trim() || 'none'})`
      )
    }
    t.diagnostic(`system node ${system.stdout.trim()}`)
    const result = node([join(repoRoot, 'dist/cli.js'), 'validate', '-c', 'examples/lab.yaml'], {}, '/usr/bin/node')
    assert.equal(result.code, 2)
    assert.equal(
      result.stderr,
      `mesh-expansion needs Node.js 24 or later; this is ${system.stdout.trim()}\n`
    )
  })
})

describe('the npm package', () => {
  test('has no runtime dependencies: the packed tarball installs offline and validates', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      version?: string
      dependencies?: Record<string, string>
    }
    assert.deepEqual(pkg.dependencies ?? {}, {})
    const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', scratch], {
      cwd: repoRoot,
      encoding: 'utf8'
    }).trim()
    const project = join(scratch, 'project')
    execFileSync('mkdir', ['-p', project])
    writeFileSync(join(project, 'package.json'), '{"name":"user-project","private":true}\n')
    // --offline: a runtime dependency would have to be fetched, and that fails here
    execFileSync(
      'npm',
      ['install', '--offline', '--no-audit', '--no-fund', join(scratch, packed.split('\n').pop() ?? '')],
      { cwd: project, encoding: 'utf8' }
    )
    const bin = join(project, 'node_modules/.bin/mesh-expansion')
    const version = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' })
    assert.equal(version.stdout, `mesh-expansion ${pkg.version ?? ''}\n`)
    const result = spawnSync(process.execPath, [bin, 'validate', '-c', join(repoRoot, 'examples/lab.yaml')], {
      encoding: 'utf8'
    })
    assert.equal(result.status, 0, result.stderr)
    assert.match(result.stdout, /valid: 1 workload group, 3 VMs/)
    // configure, offline, from the installed package
    writeFileSync(
      join(project, 'wg.yaml'),
      'apiVersion: networking.istio.io/v1\nkind: WorkloadGroup\nmetadata: {name: db, namespace: vm}\n' +
        'spec:\n  template: {serviceAccount: db, ports: {tcp: 3306}}\n'
    )
    writeFileSync(join(project, 'mesh.yaml'), 'trustDomain: cluster.local\n')
    writeFileSync(join(project, 'root.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
    const configure = spawnSync(
      process.execPath,
      [bin, 'configure', '-f', 'wg.yaml', '--mesh-config', 'mesh.yaml', '--root-cert', 'root.pem',
        '-o', 'out', '--clusterID', 'Kubernetes', '--internalIP', '10.10.10.10'],
      { cwd: project, encoding: 'utf8' }
    )
    assert.equal(configure.status, 0, configure.stderr)
    assert.match(readFileSync(join(project, 'out/cluster.env'), 'utf8'), /^ISTIO_SVC_IP='10\.10\.10\.10'$/m)
    // and on an older Node, the one line that says which Node it needs
    const old = spawnSync('/usr/bin/node', [bin, '--version'], { encoding: 'utf8' })
    if (old.status !== null && /^v(1\d|2[0-3])\./.test(spawnSync('/usr/bin/node', ['--version'], { encoding: 'utf8' }).stdout)) {
      assert.equal(old.status, 2)
      assert.match(old.stderr, /^mesh-expansion needs Node\.js 24 or later; this is v\d+/)
    }
  })
})
