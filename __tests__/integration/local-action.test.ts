// The Action through GitHub's own local harness, @github/local-action (`local-action run .
// src/main.ts .env`): it reads action.yml, replaces @actions/core with its own stubs (found
// through `npm ls` in this project), imports the entry point and calls its exported `run()`.
// A client no one here wrote: validate, plan against the sandbox API, and the step's failure.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { SandboxCluster } from '../../lab/cluster/index.ts'
import { isWrite } from '../../lab/cluster/observe.ts'
import { repoRoot } from '../../lab/github.ts'
import { BASIC, sandbox } from './cluster-helpers.ts'

interface Step {
  code: number
  stdout: string
  outputs: Record<string, string>
}

let dir = ''

/** One step through the harness; `inputs` become its .env file. */
async function step(inputs: Record<string, string>, entry = 'src/main.ts'): Promise<Step> {
  const envFile = join(dir, `step-${Math.random().toString(36).slice(2)}.env`)
  await writeFile(
    envFile,
    Object.entries(inputs)
      .map(([name, value]) => `INPUT_${name.toUpperCase()}=${value}`)
      .join('\n') + '\n'
  )
  const bin = join(repoRoot, 'node_modules', '.bin')
  // asynchronous: the sandbox API answers from this very process
  const child = spawn(
    process.execPath,
    [
      join(repoRoot, 'node_modules/@github/local-action/bin/local-action.js'),
      'run',
      '.',
      entry,
      envFile
    ],
    {
      cwd: repoRoot,
      env: {
        // the harness starts tsx through `npm exec`: Node 24 and this project's tools first
        PATH: [dirname(process.execPath), bin, process.env.PATH ?? ''].join(delimiter),
        HOME: process.env.HOME ?? dir,
        NODE_PACKAGE_MANAGER: 'npm'
      }
    }
  )
  let stdout = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  const timer = setTimeout(() => child.kill('SIGKILL'), 180_000)
  const code = await new Promise<number>(resolve => child.on('close', c => resolve(c ?? -1)))
  clearTimeout(timer)
  const result = { status: code, stdout, stderr: '' }
  const outputs: Record<string, string> = {}
  for (const m of result.stdout.matchAll(/^::set-output name=([a-z-]+)::(.*)$/gm)) {
    outputs[m[1] ?? ''] = m[2] ?? ''
  }
  return { code: result.status ?? -1, stdout: result.stdout + result.stderr, outputs }
}

describe('the Action through @github/local-action', () => {
  let sb: SandboxCluster
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mx-local-action-'))
    sb = await sandbox()
    await sb.writeKubeconfig(join(dir, 'kubeconfig'))
    await writeFile(
      join(dir, 'mesh.yaml'),
      BASIC.replace('cluster:\n', `cluster:\n  kubeconfig: ${join(dir, 'kubeconfig')}\n`)
    )
    await writeFile(
      join(dir, 'unreachable.yaml'),
      BASIC.replace('cluster:\n', `cluster:\n  kubeconfig: ${join(dir, 'closed-kubeconfig')}\n`)
    )
  })
  after(async () => {
    await sb?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('validate: the harness calls run(), the outputs are set, the step succeeds', async () => {
    const r = await step({ command: 'validate', 'config-file': 'examples/lab.yaml' })
    assert.equal(r.code, 0, r.stdout)
    assert.match(r.stdout, /Running Action/)
    assert.deepEqual(JSON.parse(r.outputs.report ?? '{}'), {
      command: 'validate',
      valid: true,
      file: 'examples/lab.yaml'
    })
  })

  test('the built dist/main.js and dist/post.js: run() exported, called by the harness', async () => {
    // the bundle carries its own @actions/core (the harness cannot stub it): its outputs come as
    // the workflow commands core writes without a GITHUB_OUTPUT file
    const main = await step(
      { command: 'validate', 'config-file': 'examples/lab.yaml' },
      'dist/main.js'
    )
    assert.equal(main.code, 0, main.stdout)
    assert.equal(JSON.parse(main.outputs.report ?? '{}').valid, true)
    const post = await step(
      { command: 'validate', 'config-file': 'examples/lab.yaml' },
      'dist/post.js'
    )
    assert.equal(post.code, 0, post.stdout)
    assert.match(post.stdout, /main recorded no state; nothing to clean up/)
  })

  test('validate of a broken description: annotated at its line, the step fails with exit 2', async () => {
    const r = await step({
      command: 'validate',
      'config-file': '__tests__/fixtures/invalid/unknown-group.yaml'
    })
    assert.equal(r.code, 2, r.stdout)
    assert.match(r.stdout, /::error title=Invalid mesh-expansion description,file=[^,]+,line=\d+/)
    const report = JSON.parse(r.outputs.report ?? '{}') as { failedPhase?: string; ok?: boolean }
    assert.deepEqual([report.ok, report.failedPhase], [false, 'inputs'])
  })

  test('plan against the sandbox API: the cluster discovered, nothing written', async () => {
    const writesBefore = sb.requestLog.entries.filter(isWrite).length
    const r = await step({ command: 'plan', 'config-file': join(dir, 'mesh.yaml') })
    assert.equal(r.code, 0, r.stdout)
    const report = JSON.parse(r.outputs.report ?? '{}') as {
      command?: string
      ok?: boolean
      cluster?: { istioVersion?: string } | null
    }
    assert.deepEqual([report.command, report.ok], ['plan', true], r.outputs.report)
    assert.ok(report.cluster?.istioVersion, r.outputs.report)
    // access reviews are POSTs that store nothing (lab/cluster/observe.ts isWrite)
    const writes = sb.requestLog.entries.filter(isWrite)
    assert.equal(writes.length, writesBefore, 'plan wrote to the cluster')
  })

  test('drift without the SSH key: exit 2, nothing asked of the cluster, the outputs set', async () => {
    const before = sb.requestLog.entries.length
    const r = await step({ command: 'drift', 'config-file': join(dir, 'mesh.yaml') })
    assert.equal(r.code, 2, r.stdout)
    const report = JSON.parse(r.outputs.report ?? '{}') as { command?: string; drifted?: boolean }
    assert.deepEqual([report.command, report.drifted], ['drift', false], r.outputs.report)
    assert.equal(r.outputs['drifted-hosts'], '[]')
    assert.match(r.stdout, /no SSH private key: the variable SSH_PRIVATE_KEY is empty or unset/)
    assert.equal(sb.requestLog.entries.length, before, 'drift read the cluster without its inputs')
  })

  test('drift: what the cluster lacks is drift, the step exits 3, nothing written', async () => {
    const file = join(dir, 'drift.yaml')
    await writeFile(
      file,
      `cluster: {kubeconfig: ${join(dir, 'kubeconfig')}}
workloadGroups:
  - {name: shop, namespace: vm, ports: {http: 8080}, service: {kind: ServiceEntry}}
vms:
  - {name: runner, host: local, address: 127.0.0.1}
`
    )
    const writesBefore = sb.requestLog.entries.filter(isWrite).length
    const r = await step({ command: 'drift', 'config-file': file, owner: 'drift-it' })
    assert.equal(r.code, 3, r.stdout)
    const report = JSON.parse(r.outputs.report ?? '{}') as {
      drifted?: boolean
      driftedHosts?: string[]
      cluster?: { status?: string }
    }
    assert.deepEqual([report.drifted, report.cluster?.status], [true, 'drift'], r.outputs.report)
    assert.deepEqual(JSON.parse(r.outputs['drifted-hosts'] ?? ''), report.driftedHosts)
    assert.match(r.stdout, /DRIFT +cluster +WorkloadGroup vm\/shop +missing/)
    assert.equal(sb.requestLog.entries.filter(isWrite).length, writesBefore, 'drift wrote')
  })

  test('plan with a kubeconfig that cannot be read: the step fails, in preflight', async () => {
    const r = await step({ command: 'plan', 'config-file': join(dir, 'unreachable.yaml') })
    assert.notEqual(r.code, 0, r.stdout)
    const report = JSON.parse(r.outputs.report ?? '{}') as { ok?: boolean; failedPhase?: string }
    assert.deepEqual([report.ok, report.failedPhase], [false, 'preflight'])
  })
})
