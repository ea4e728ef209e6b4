// The committed bundle, run as the runner runs it.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot, runAction } from '../../lab/github.ts'

const example = readFileSync(join(repoRoot, 'examples', 'lab.yaml'), 'utf8')

describe('dist/main.js and dist/post.js as GitHub runs them', () => {
  test('validate: a valid description gives outputs, a summary and state for post', async () => {
    const run = await runAction('main', {
      inputs: { 'config-file': 'examples/lab.yaml', command: 'validate' }
    })
    assert.equal(run.code, 0, run.stdout + run.stderr)
    assert.match(run.stdout, /examples\/lab\.yaml: valid: 1 workload group, 3 VMs, 2 checks/)
    assert.deepEqual(JSON.parse(run.outputs.report ?? ''), {
      command: 'validate',
      valid: true,
      file: 'examples/lab.yaml'
    })
    assert.equal(run.outputs['ready-hosts'], '[]')
    // One table row per VM in the job summary.
    for (const vm of ['vm-1', 'vm-2', 'vm-3']) assert.match(run.summary, new RegExp(`<td>${vm}</td>`))
    const state = JSON.parse(run.state['mesh-expansion'] ?? '')
    assert.equal(state.succeeded, true)
    assert.equal(state.created, false)
  })

  test('an invalid description fails with an annotation at its line and column', async () => {
    const broken = example.replace('host: 198.18.2.3', 'host: 198.18.2.300')
    const line = broken.split('\n').findIndex(text => text.includes('198.18.2.300')) + 1
    const run = await runAction('main', { inputs: { config: broken, command: 'validate' } })
    assert.equal(run.code, 2, 'bad input: exit 2, as the CLI')
    assert.match(run.stdout, new RegExp(`::error title=Invalid mesh-expansion description,line=${line},col=11::config:${line}:11 vms\\[1\\]\\.host`))
    assert.match(run.stdout, /::error::the description config has 1 error\(s\); nothing was changed/)
    assert.doesNotMatch(run.stdout + run.stderr, /\n\s+at /, 'no stack trace')
    // the outputs are set all the same: a later fromJSON(steps.x.outputs.report) works
    const report = JSON.parse(run.outputs.report ?? '{}')
    assert.deepEqual([report.command, report.ok, report.valid, report.failedPhase], ['validate', false, false, 'inputs'])
    assert.equal(run.outputs['ready-hosts'], '[]')
  })

  test('a description file is annotated with its path', async () => {
    const run = await runAction('main', {
      inputs: { 'config-file': '__tests__/fixtures/invalid/unknown-group.yaml', command: 'validate' }
    })
    assert.equal(run.code, 2, 'bad input: exit 2, as the CLI')
    assert.match(run.stdout, /::error title=Invalid mesh-expansion description,file=__tests__\/fixtures\/invalid\/unknown-group\.yaml,line=\d+,col=\d+::/)
  })

  test('bad inputs name the input', async () => {
    const run = await runAction('main', {
      inputs: { 'config-file': 'examples/lab.yaml', parallelism: 'many' }
    })
    assert.equal(run.code, 2, 'bad input: exit 2, as the CLI')
    assert.match(run.stdout, /input "parallelism": "many" is not a whole number/)
  })

  test('apply without any kubeconfig fails clearly, and post has nothing to clean up', async () => {
    const run = await runAction('main', {
      inputs: { 'config-file': 'examples/lab.yaml', cleanup: 'always' },
      env: { HOME: '/nonexistent' }
    })
    assert.equal(run.code, 2, 'bad input: exit 2, as the CLI')
    // listed by preflight with the run's other problems (here: no SSH key either)
    assert.match(run.stdout, /::error title=mesh-expansion%3A preflight::kubeconfig: no kubeconfig: pass the kubeconfig input, set cluster\.kubeconfig, KUBECONFIG/)
    assert.match(run.stdout, /::error title=mesh-expansion%3A preflight::no SSH private key/)
    const state = JSON.parse(run.state['mesh-expansion'] ?? '')
    assert.deepEqual([state.command, state.created, state.succeeded], ['apply', false, false])
    const post = await runAction('post', { inputs: { 'config-file': 'examples/lab.yaml' }, state: run.state })
    assert.equal(post.code, 0)
    assert.match(post.stdout, /this run created nothing; nothing to clean up/)
  })

  test('secrets given as inputs are masked before anything is printed', async () => {
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----'
    const run = await runAction('main', {
      inputs: { 'config-file': 'examples/lab.yaml', command: 'validate', 'ssh-private-key': key, 'ssh-passphrase': 'hunter2-passphrase' }
    })
    assert.equal(run.code, 0)
    // the runner stand-in consumed them: registered, never shown
    assert.ok(run.masks.includes('hunter2-passphrase'))
    assert.ok(run.masks.includes('b3BlbnNzaC1rZXktdjEAAAAA'))
    assert.doesNotMatch(run.stdout, /add-mask/)
  })

  test('post: without state, and with cleanup never, it does nothing and says so', async () => {
    const none = await runAction('post')
    assert.equal(none.code, 0)
    assert.match(none.stdout, /no state; nothing to clean up/)
    const state = JSON.stringify({ command: 'apply', cleanup: 'never', owner: 'run-1', succeeded: true, created: true })
    const never = await runAction('post', { state: { 'mesh-expansion': state } })
    assert.equal(never.code, 0)
    assert.match(never.stdout, /cleanup is "never"; leaving everything in place/)
  })
})
