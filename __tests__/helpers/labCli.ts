// The product's real CLI against a lab environment, and commands inside a lab VM: shared by the
// lab tests that drive `apply` and `drift` end to end (drift, token rotation). The CLI runs from
// the sources in a child process (the sandbox API answers from the test's own process), with the
// lab's SSH secrets in its environment and nothing else of the test's.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { LabEnvironment } from '../../lab/environment.ts'
import { runInVm, type LabVm } from '../../lab/vms/index.ts'
import type { RunReport } from '../../src/engine/report.ts'

export const CLI_TIMEOUT_MS = 240_000

export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

/**
 * `mesh-expansion COMMAND -c DIR/FILE --kubeconfig … --owner OWNER --json`, the description
 * written to DIR/FILE first. Resolves with the exit code (-1: killed or not started) and output.
 */
export function labCli(
  env: Pick<LabEnvironment, 'kubeconfigPath' | 'secrets'>,
  run: { command: string; yaml: string; dir: string; owner: string; file?: string }
): Promise<CliRun> {
  const file = join(run.dir, run.file ?? 'mesh.yaml')
  writeFileSync(file, run.yaml)
  const args = ['src/cli.ts', run.command, '-c', file, '--kubeconfig', env.kubeconfigPath]
  return new Promise(resolve => {
    execFile(
      process.execPath,
      [...args, '--owner', run.owner, '--json'],
      {
        timeout: CLI_TIMEOUT_MS,
        maxBuffer: 16 * 1024 * 1024,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env.secrets }
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
        resolve({ code, stdout, stderr })
      }
    )
  })
}

/** A shell command inside a VM as root (no SSH); asserts it exits 0 and gives its stdout. */
export async function inVm(vm: LabVm, command: string, input?: string | Buffer): Promise<string> {
  const r = await runInVm(vm, command, {
    timeoutMs: 60_000,
    ...(input !== undefined ? { input } : {})
  })
  assert.equal(r.code, 0, `${vm.name}: ${command}: ${r.stderr}`)
  return r.stdout
}

export interface LabApply {
  code: number
  report: RunReport
  /** The report's problems, rollout, hosts and stderr's tail, for assertion messages. */
  why: string
}

/** `apply --json` through labCli; fails the test when no JSON report is printed. */
export async function labApply(
  env: Pick<LabEnvironment, 'kubeconfigPath' | 'secrets'>,
  run: { yaml: string; dir: string; owner: string }
): Promise<LabApply> {
  const started = Date.now()
  const cli = await labCli(env, { command: 'apply', ...run })
  let report: RunReport
  try {
    report = JSON.parse(cli.stdout) as RunReport
  } catch {
    assert.fail(`apply printed no JSON report: exit ${cli.code}\n${cli.stdout}\n${cli.stderr}`)
  }
  console.log(`  apply: exit ${cli.code} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  const why = JSON.stringify(
    {
      problems: report.problems,
      rollout: report.rollout,
      hosts: report.hosts.map(h => [h.host, h.status, h.ready, h.package, h.error]),
      skipped: report.skippedHosts,
      stderr: cli.stderr.slice(-2000)
    },
    null,
    1
  )
  return { code: cli.code, report, why }
}

/** The lines a shell command prints after the sidecar's start (monotonic µs) and readiness. */
const SIDECAR_STATE =
  'systemctl show -p ActiveEnterTimestampMonotonic --value istio; ' +
  'if curl -fsS -o /dev/null --max-time 3 http://127.0.0.1:15021/healthz/ready; then echo ready; else echo not-ready; fi'

/** One line of `first` (a command printing one line), then the sidecar's start and readiness. */
export async function sidecarState(
  vm: LabVm,
  first: string
): Promise<{ first: string; since: number; ready: boolean }> {
  const out = await inVm(vm, `${first}; ${SIDECAR_STATE}`)
  const [line = '', since = '0', ready = ''] = out.split('\n')
  return { first: line, since: Number(since), ready: ready === 'ready' }
}
