// The committed bundle against hostile names, early failures and cancellation, run by the runner
// stand-in (lab/github.ts), which fails any run that lets a secret it knows be read. A sandbox API
// on loopback plays the cluster; the VMs are loopback ports where nothing listens.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import { repoRoot, runAction, SecretLeak } from '../../lab/github.ts'
import { startSandboxCluster, type SandboxCluster } from '../../lab/cluster/index.ts'
import { until } from '../helpers/wait.ts'

const OWNER = 'mesh-expansion.io/owner'
/** HTML and a workflow command in a check name (a line break is refused by validation) */
const HOSTILE_CHECK = 'vm-1 <b>to</b> the cluster ::error::pwned'
/** what the cluster may say: a line break, then workflow commands and HTML */
const HOSTILE_CLUSTER_ID = 'Kubernetes\n::error::pwned\n::stop-commands::tok\n<img src=x>'

/** The lab's description, its VMs on loopback ports where nothing listens (connection refused). */
function offlineFleet(dir: string): { text: string; inputs: Record<string, string> } {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')])
  writeFileSync(join(dir, 'istio-sidecar.deb'), 'a package stand-in')
  const publicKey = readFileSync(join(dir, 'key.pub'), 'utf8').split(' ').slice(0, 2).join(' ')
  const text = readFileSync(join(repoRoot, 'examples', 'lab.yaml'), 'utf8')
    .replace('/run/mesh-expansion-lab/istio-sidecar.deb', join(dir, 'istio-sidecar.deb'))
    .replace(/host: 198\.18\.2\.(\d)/g, (_, d: string) => `host: 127.0.0.1\n    port: ${Number(d) - 1}`)
    .replace('  - name: vm-1 to the cluster', `  - name: ${JSON.stringify(HOSTILE_CHECK)}`)
  return {
    text,
    inputs: {
      config: text,
      'ssh-private-key': readFileSync(join(dir, 'key'), 'utf8'),
      'known-hosts': [1, 2, 3].map(port => `[127.0.0.1]:${port} ${publicKey}`).join('\n')
    }
  }
}

/** Lines the runner would read as workflow commands: `::name` at the start, after blanks. */
const commandLines = (stdout: string): string[] =>
  stdout.split('\n').filter(line => /^\s*(::|##\[)/.test(line))

describe('the runner stand-in guards every secret it knows', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mx-standin-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const script = (name: string, body: string): string => {
    const file = join(dir, name)
    writeFileSync(file, body)
    return file
  }
  const inputs = { 'ssh-passphrase': 'correct-horse-battery', 'github-token': 'ghp_test_token_0123456789' }

  test('a secret printed on purpose fails the run', async () => {
    const leak = script('leak.mjs', "console.log('passphrase: ' + process.env['INPUT_SSH-PASSPHRASE'])\n")
    await assert.rejects(runAction('main', { inputs, script: leak }), SecretLeak)
    const late = script(
      'late.mjs',
      "const p = process.env['INPUT_SSH-PASSPHRASE']\nconsole.log(p)\nconsole.log('::add-mask::' + p)\n"
    )
    await assert.rejects(runAction('main', { inputs, script: late }), /ssh-passphrase is readable in stdout, line 1/)
    const jwt = script('jwt.mjs', "console.error('token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4eXoifQ.c2lnbmF0dXJlMTIz')\n")
    await assert.rejects(runAction('main', { script: jwt }), /a JWT .* is readable in stderr/)
    const output = script(
      'output.mjs',
      "import { appendFileSync } from 'node:fs'\nappendFileSync(process.env.GITHUB_OUTPUT, 'x=' + process.env['INPUT_GITHUB-TOKEN'] + '\\n')\n"
    )
    await assert.rejects(runAction('main', { inputs, script: output }), /github-token is readable in output x/)
    await assert.rejects(
      runAction('main', { script: script('quiet.mjs', ''), published: () => ({ 'the comment': 'by ghp_test_token_0123456789' }), inputs }),
      /is readable in the comment/
    )
  })

  test('masked before printing, the value is shown as *** and the add-mask line not at all', async () => {
    const masked = script(
      'masked.mjs',
      "const p = process.env['INPUT_SSH-PASSPHRASE']\nconsole.log('::add-mask::' + p)\nconsole.log('the passphrase is ' + p)\n"
    )
    const run = await runAction('main', { inputs, script: masked })
    assert.equal(run.stdout, 'the passphrase is ***\n')
    assert.deepEqual(run.masks, ['correct-horse-battery'])
  })

  test('::stop-commands:: suspends add-mask until its token: the stand-in is not fooled', async () => {
    const stopped = script(
      'stopped.mjs',
      "const p = process.env['INPUT_SSH-PASSPHRASE']\nconsole.log('::stop-commands::t1')\nconsole.log('::add-mask::' + p)\nconsole.log(p)\n"
    )
    await assert.rejects(runAction('main', { inputs, script: stopped }), SecretLeak)
  })
})

describe('dist/main.js: hostile names, early failures, risky kubeconfigs, cancellation', () => {
  let sandbox: SandboxCluster
  const dir = mkdtempSync(join(tmpdir(), 'mx-safety-'))
  const fleet = offlineFleet(dir)
  before(async () => {
    sandbox = await startSandboxCluster({ host: '127.0.0.1', echo: false })
  })
  after(async () => {
    await sandbox?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  /** Every command line is one of ours, and none carries what the hostile text holds. */
  function onlyOurCommands(stdout: string): void {
    const commands = commandLines(stdout)
    assert.ok(commands.length > 0)
    for (const line of commands) {
      assert.match(line, /^::(group|endgroup|error|warning)( [^:]*)?::/, `a command of ours: ${line}`)
      assert.doesNotMatch(line, /^::error::pwned|stop-commands/, `no command from outside: ${line}`)
    }
  }

  test('a check name with HTML and ::error: no workflow command, summary escaped', async () => {
    const run = await runAction('main', {
      inputs: { ...fleet.inputs, command: 'verify', kubeconfig: sandbox.kubeconfig }
    })
    assert.equal(run.code, 1, run.stdout)
    onlyOurCommands(run.stdout)
    assert.match(run.stdout, /^- check vm-1 <b>to<\/b> the cluster ::error::pwned: not run/m)
    assert.match(run.summary, /<td>vm-1 &lt;b&gt;to&lt;\/b&gt; the cluster ::error::pwned<\/td>/)
    assert.doesNotMatch(run.summary, /<b>to<\/b>/)
    const checks = JSON.parse(run.outputs.checks ?? '[]') as Array<{ name: string }>
    assert.ok(checks.some(check => check.name === HOSTILE_CHECK), 'the output keeps the name as it is')
  })

  test('a check name with a line break and ::error is refused, and obeyed nowhere', async () => {
    const text = fleet.text.replace(JSON.stringify(HOSTILE_CHECK), JSON.stringify('x\n::error::pwned\n::stop-commands::tok'))
    const run = await runAction('main', { inputs: { ...fleet.inputs, config: text, command: 'plan' } })
    assert.equal(run.code, 2, run.stdout)
    onlyOurCommands(run.stdout)
  })

  test('what the cluster says (a cluster ID with line breaks, commands, HTML) is shown, not obeyed', async () => {
    const hostile = await startSandboxCluster({ host: '127.0.0.1', echo: false, clusterID: HOSTILE_CLUSTER_ID })
    try {
      const run = await runAction('main', {
        inputs: { ...fleet.inputs, command: 'plan', kubeconfig: hostile.kubeconfig }
      })
      assert.equal(run.code, 0, run.stdout)
      onlyOurCommands(run.stdout)
      assert.match(run.stdout, /cluster ID "Kubernetes\\n::error::pwned\\n::stop-commands::tok\\n<img src=x>"/)
      assert.match(run.summary, /cluster ID &quot;Kubernetes\\n::error::pwned\\n::stop-commands::tok\\n&lt;img src=x&gt;&quot;/)
      assert.doesNotMatch(run.summary, /<img/)
    } finally {
      await hostile.close()
    }
  })

  test('outputs are set on early failures: bad input, no file, invalid description, no kubeconfig', async () => {
    const early = [
      await runAction('main', { inputs: { 'config-file': 'examples/lab.yaml', parallelism: 'many' } }),
      await runAction('main', { inputs: { 'config-file': 'no/such.yaml', command: 'plan' } }),
      await runAction('main', { inputs: { config: 'vms: [', command: 'plan' } }),
      await runAction('main', { inputs: { config: fleet.text, command: 'plan' }, env: { HOME: '/nonexistent' } })
    ]
    const expected = [
      [/input "parallelism": "many" is not a whole number/, 'inputs', true],
      [/input "config-file"/, 'inputs', true],
      [/the description config is invalid/, 'inputs', true],
      [/no kubeconfig/, 'preflight', true]
    ] as const
    for (const [i, run] of early.entries()) {
      assert.equal(run.code, 2, run.stdout)
      const report = JSON.parse(run.outputs.report ?? '{}') as Record<string, unknown>
      const [problem, phase, invalid] = expected[i] ?? []
      assert.equal(report.ok, false)
      assert.match((report.problems as string[]).join('\n'), problem as RegExp)
      assert.equal(report.failedPhase, phase)
      assert.equal(report.invalid, invalid)
      assert.equal(run.outputs['ready-hosts'], '[]')
      assert.equal(run.outputs['failed-hosts'], '[]')
      assert.equal(run.outputs.checks, '[]')
    }
  })

  test('a kubeconfig that does not parse: no value of it in the log, short password included', async () => {
    const kubeconfig = [
      'apiVersion: v1',
      'users:',
      '- name: admin',
      '  user:',
      '    password: s3cr3t',
      '    token: abc: def',
      'clusters: []'
    ].join('\n')
    const run = await runAction('main', { inputs: { config: fleet.text, command: 'plan', kubeconfig } })
    assert.equal(run.code, 2, run.stdout)
    assert.ok(run.masks.includes('s3cr3t'), 'the short password is masked')
    assert.match(run.outputs.report ?? '', /kubeconfig/)
  })

  test('an exec plugin and insecure-skip-tls-verify: allowed, and one loud warning', async () => {
    const config = parse(sandbox.kubeconfig) as {
      clusters: Array<{ cluster: Record<string, unknown> }>
      users: Array<{ user: Record<string, unknown> }>
    }
    const credential = JSON.stringify({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: sandbox.adminToken }
    })
    for (const { cluster } of config.clusters) {
      delete cluster['certificate-authority-data']
      cluster['insecure-skip-tls-verify'] = true
    }
    for (const entry of config.users) {
      entry.user = {
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: '/bin/sh',
          args: ['-c', `printf '%s' '${credential}'`],
          interactiveMode: 'Never'
        }
      }
    }
    const run = await runAction('main', {
      inputs: { config: fleet.text, command: 'plan', kubeconfig: stringify(config) },
      secrets: { 'sandbox admin token': sandbox.adminToken }
    })
    assert.equal(run.code, 0, run.stdout)
    const warnings = run.stdout.split('\n').filter(line => line.includes('the kubeconfig is risky'))
    assert.equal(warnings.length, 1, run.stdout)
    assert.match(warnings[0] ?? '', /credential plugin "\/bin\/sh".*insecure-skip-tls-verify/)
  })

  test('SIGTERM mid-apply: no temporary kubeconfig left, state saved, then post cleans up', async () => {
    const runnerTemp = mkdtempSync(join(tmpdir(), 'mx-runner-temp-'))
    const kubeDirs = (): string[] => [
      ...readdirSync(tmpdir()).filter(name => name.startsWith('mesh-expansion-kube-')),
      ...readdirSync(runnerTemp, { recursive: true, encoding: 'utf8' }).filter(name => name.includes('mesh-expansion-kube-'))
    ]
    const before = new Set(kubeDirs())
    // the cluster phase is slow: the ServiceEntry (written after the WorkloadGroup) takes 20 s
    const slow = sandbox.faults.add({ match: { resource: 'serviceentries', verb: 'patch' }, delayMs: 20_000 })
    const owner = 'sigterm-test'
    const inputs = { ...fleet.inputs, command: 'apply', cleanup: 'always', owner, kubeconfig: sandbox.kubeconfig }
    let sawTemporaryKubeconfig = false
    try {
      const run = await runAction('main', {
        inputs,
        env: { RUNNER_TEMP: runnerTemp },
        control: (child, stdout) => {
          void until('the cluster phase to write', 30_000, async () =>
            stdout().includes('::group::cluster') &&
            sandbox.store.list('workloadgroups', 'vm').some(o => o.metadata?.labels?.[OWNER] === owner)
          ).then(() => {
            sawTemporaryKubeconfig = kubeDirs().some(name => !before.has(name))
            child.kill('SIGTERM')
          })
        }
      })
      assert.equal(run.code, 143, run.stdout + run.stderr)
      assert.ok(sawTemporaryKubeconfig, 'the kubeconfig was on disk while the run was going')
      assert.deepEqual(kubeDirs().filter(name => !before.has(name)), [], 'no temporary kubeconfig left')
      assert.deepEqual(readdirSync(runnerTemp), [], 'the step left nothing in RUNNER_TEMP')
      const state = JSON.parse(run.state['mesh-expansion'] ?? '{}')
      assert.deepEqual([state.command, state.created, state.succeeded, state.owner], ['apply', true, false, owner])
      const report = JSON.parse(run.outputs.report ?? '{}')
      assert.equal(report.ok, false)
      assert.match(report.problems.join('\n'), /apply cancelled \(SIGTERM\) in cluster/)
      assert.match(run.stdout, /::error::apply cancelled \(SIGTERM\) in \w+; the post step cleans up/)

      slow.remove()
      const post = await runAction('post', { inputs, state: run.state, env: { RUNNER_TEMP: runnerTemp } })
      // the hosts cannot be reached (nothing listens), the cluster is cleaned all the same
      assert.match(post.stdout, /removed: \d+ object\(s\)/, post.stdout)
      const left = ['namespaces', 'serviceaccounts', 'workloadgroups', 'workloadentries', 'serviceentries']
        .flatMap(resource => sandbox.store.list(resource))
        .filter(object => object.metadata?.labels?.[OWNER] === owner)
      assert.deepEqual(left.map(o => `${o.kind}/${o.metadata?.name}`), [])
      assert.deepEqual(readdirSync(runnerTemp), [])
    } finally {
      slow.remove()
      rmSync(runnerTemp, { recursive: true, force: true })
    }
    assert.ok(!existsSync(runnerTemp))
  })
})

describe('the CLI prints its report with --json on early failures too', () => {
  test('no description, an invalid one, no -c: a report with ok false, exit 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mx-cli-json-'))
    try {
      writeFileSync(join(dir, 'bad.yaml'), 'vms: [\n')
      const cases = [
        [['apply', '-c', join(dir, 'missing.yaml'), '--json'], /cannot read the description/],
        [['verify', '-c', join(dir, 'bad.yaml'), '--json'], /bad\.yaml:2:1 YAML syntax error/],
        [['cleanup', '-c', join(dir, 'bad.yaml'), '--json'], /YAML syntax error/]
      ] as const
      for (const [args, problem] of cases) {
        const run = spawnSync(process.execPath, [join(repoRoot, 'dist', 'cli.js'), ...args], {
          encoding: 'utf8'
        })
        assert.equal(run.status, 2, run.stderr)
        const report = JSON.parse(run.stdout) as { command: string; ok: boolean; problems: string[] }
        assert.equal(report.command, args[0])
        assert.equal(report.ok, false)
        assert.match(report.problems.join('\n'), problem)
        assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace')
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
