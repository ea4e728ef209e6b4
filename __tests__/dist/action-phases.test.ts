// The Action's log groups come from the run's phase events, not from its log text; and an apply
// whose inputs are wrong stops in preflight: every problem annotated, no write to the cluster,
// nothing for the post step to clean up. The committed bundle against a sandbox API on loopback.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot, runAction } from '../../lab/github.ts'
import { startSandboxCluster, type SandboxCluster } from '../../lab/cluster/index.ts'
import { isWrite } from '../../lab/cluster/observe.ts'
import type { RunReport } from '../../src/engine/report.ts'


/** The log groups of a step's output: each `::group::` title, checked to be closed in order. */
function groups(stdout: string): string[] {
  const titles: string[] = []
  let open = false
  for (const line of stdout.split('\n')) {
    if (line.startsWith('::group::')) {
      assert.equal(open, false, `a group opened inside another: ${line}`)
      titles.push(line.slice('::group::'.length))
      open = true
    } else if (line === '::endgroup::') {
      assert.equal(open, true, 'a group closed that was not open')
      open = false
    }
  }
  assert.equal(open, false, 'every group is closed')
  return titles
}

describe('the Action: phases as log groups, preflight before the first write', () => {
  let sandbox: SandboxCluster
  let dir: string
  // the lab's description, with a package file that exists wherever the test runs
  let config: string
  before(async () => {
    sandbox = await startSandboxCluster({ host: '127.0.0.1', echo: false })
    dir = mkdtempSync(join(tmpdir(), 'mesh-expansion-phases-'))
    const pkg = join(dir, 'istio-sidecar.deb')
    writeFileSync(pkg, 'not really a package: preflight only hashes it')
    config = readFileSync(join(repoRoot, 'examples', 'lab.yaml'), 'utf8').replace(
      /package: \S+/,
      `package: ${pkg}`
    )
  })
  after(async () => {
    await sandbox?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test('plan: one log group per phase of the report, titled by the phase', async () => {
    const run = await runAction('main', {
      inputs: { 'config-file': 'examples/lab.yaml', command: 'plan', kubeconfig: sandbox.kubeconfig }
    })
    assert.equal(run.code, 0, run.stdout + run.stderr)
    const report = JSON.parse(run.outputs.report ?? '{}') as RunReport
    assert.deepEqual(
      report.phases.map(p => p.name),
      ['preflight', 'report']
    )
    const titles = groups(run.stdout)
    assert.deepEqual(
      titles.map(t => t.split(':')[0]),
      report.phases.map(p => p.name),
      'the groups are the phases, in order'
    )
    assert.match(titles[0] ?? '', /^preflight: the cluster answers, discovery and the plan; nothing is written$/)
  })

  test('apply without the SSH key: inputs and preflight only, every problem annotated, zero writes', async () => {
    const from = sandbox.requestLog.entries.length
    const run = await runAction('main', {
      inputs: {
        config,
        command: 'apply',
        cleanup: 'always',
        kubeconfig: sandbox.kubeconfig,
        'known-hosts': '198.18.2.2 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'
      }
    })
    assert.equal(run.code, 2, run.stdout)
    const report = JSON.parse(run.outputs.report ?? '{}') as RunReport
    assert.equal(report.failedPhase, 'preflight')
    assert.deepEqual(groups(run.stdout).map(t => t.split(':')[0]), ['inputs', 'preflight'])
    // the key, and the two hosts known_hosts does not cover: all in the one run
    assert.match(run.stdout, /::error title=mesh-expansion%3A preflight::no SSH private key/)
    assert.match(run.stdout, /::error title=mesh-expansion%3A preflight::vm-2: SSH_KNOWN_HOSTS has no known_hosts line for 198\.18\.2\.3/)
    assert.match(run.stdout, /::error title=mesh-expansion%3A preflight::vm-3: SSH_KNOWN_HOSTS has no known_hosts line for 198\.18\.2\.4/)
    assert.match(run.stdout, /::error::apply stopped in preflight with 3 problem\(s\); nothing was changed/)
    const writes = sandbox.requestLog.entries.slice(from).filter(isWrite)
    assert.deepEqual(writes, [], 'no write request reached the API')
    assert.ok(sandbox.requestLog.entries.length > from, 'preflight did read the cluster')

    const state = JSON.parse(run.state['mesh-expansion'] ?? '{}')
    assert.equal(state.created, false)
    const post = await runAction('post', {
      inputs: { 'config-file': 'examples/lab.yaml', kubeconfig: sandbox.kubeconfig },
      state: run.state
    })
    assert.equal(post.code, 0, post.stdout)
    assert.match(post.stdout, /this run created nothing; nothing to clean up/)
  })
})
