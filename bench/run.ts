// `npm run bench` (as root): start-up and bundle size, then the product and the manual baseline on
// the same lab VMs at each emulated round-trip time; prints a table per benchmark and writes
// bench/results.json. Options (for shorter runs): --hosts 1,10,30,100@0 (N@RTT: at that RTT
// only) --parallelism 10,100 (each host count at each value, capped at it; default: the count
// itself, and 10 too above 30 hosts) --rtt 0,50 --baseline 1@0,1@50,30@50 --rerun-rtt 50
// --no-startup --out FILE. The 100-host rows alone:
// --hosts 1,100 --parallelism 100,10 --rtt 0 --baseline '' --no-startup --out bench/results-100.json
import { cpus, release, tmpdir, totalmem } from 'node:os'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { execFileSync } from 'node:child_process'
import { startSandboxCluster } from '../lab/cluster/index.ts'
import { startLabEnvironment } from '../lab/environment.ts'
import { baselineRun } from './baseline.ts'
import { cleanupRun, productRun, rerun, type FleetContext } from './fleet.ts'
import {
  evaluateTargets,
  planRows,
  ratios,
  scaleRows,
  type FleetRun,
  type RerunResult
} from './results.ts'
import { bundleBytes, measureStartup, type StartupRow } from './startup.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const say = (line: string): void => console.log(`[bench] ${line}`)

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '1,10,30,100@0' },
    parallelism: { type: 'string' },
    rtt: { type: 'string', default: '0,50' },
    baseline: { type: 'string', default: '1@0,1@50,30@50' },
    'rerun-rtt': { type: 'string', default: '0,50' },
    'no-startup': { type: 'boolean', default: false },
    out: { type: 'string' }
  }
})
const numbers = (text: string): number[] =>
  text
    .split(',')
    .filter(Boolean)
    .map(Number)
    .filter(n => Number.isInteger(n) && n >= 0)
const rtts = numbers(values.rtt).filter(n => n <= 1000)
const rerunRtts = new Set(numbers(values['rerun-rtt']))
const baselines = values.baseline
  .split(',')
  .filter(Boolean)
  .map(item => item.split('@').map(Number) as [number, number])
  .filter(([n, rtt]) => n >= 1 && n <= 30 && rtts.includes(rtt))

const fleet: FleetRun[] = []
const reruns: RerunResult[] = []
const errors: string[] = []
let startup: StartupRow[] = []
let bytes: Record<string, number> = {}
const labBoot: Array<{ vms: number; rttMs: number; reachableMs: number | null }> = []
const workdir = await mkdtemp(join(tmpdir(), 'mesh-expansion-bench-'))

async function step(what: string, work: () => Promise<void>): Promise<void> {
  try {
    await work()
  } catch (error) {
    const message = `${what}: ${error instanceof Error ? error.message : String(error)}`
    errors.push(message)
    say(`FAILED ${message}`)
  }
}

async function startupBench(): Promise<void> {
  // A plan needs a cluster: the sandbox API on loopback, nothing else of the lab.
  const cluster = await startSandboxCluster({ host: '127.0.0.1', echo: false })
  try {
    const kubeconfigPath = join(workdir, 'startup-kubeconfig')
    await writeFile(kubeconfigPath, cluster.kubeconfig, { mode: 0o600 })
    startup = await measureStartup(root, 15, {
      cluster: { kubeconfig: cluster.kubeconfig, kubeconfigPath }
    })
  } finally {
    await cluster.close()
  }
  console.log('Start-up: process start to first output (ms)')
  console.table(startup)
  bytes = await bundleBytes(root)
  console.log('Bundle size (bytes)')
  console.table(bytes)
}

async function fleetBench(rttMs: number): Promise<void> {
  const wanted = baselines.filter(([, rtt]) => rtt === rttMs).map(([n]) => n)
  const rows = planRows(values.hosts, values.parallelism, rttMs)
  const vmCount = Math.max(0, ...rows.map(r => r.hosts), ...wanted)
  if (vmCount === 0) return
  // the re-run follows every row of 30 hosts or more (of the largest count when all are smaller)
  const rerunFrom = Math.min(30, Math.max(0, ...rows.map(r => r.hosts)))
  say(`lab: ${vmCount} VM(s), ${rttMs} ms RTT`)
  const env = await startLabEnvironment({ vms: vmCount, latencyMs: rttMs, log: say })
  labBoot.push({ vms: vmCount, rttMs, reachableMs: env.lab.readyMs ?? null })
  await save()
  try {
    for (const { hosts: n, parallelism: list } of rows) {
      const vms = env.vms.slice(0, n)
      for (const parallelism of list) {
        const ctx: FleetContext = { root, env, workdir, rttMs, log: say, parallelism }
        const what = `${n} host(s) at ${rttMs} ms, parallelism ${parallelism}`
        await step(`product ${what}`, async () => {
          const result = await productRun(ctx, vms)
          fleet.push(result)
          await save()
          say(
            `product: ${what}: ${result.ready}/${n} ready in ${result.wallMs} ms` +
              `, ${result.retriedHosts ?? 0} host(s) tried again, load ≤ ${result.loadAvgPeak}` +
              `, concurrency ${(result.concurrency ?? []).map(p => p.limit).join(' → ')}`
          )
          if (n >= rerunFrom && rerunRtts.has(rttMs)) {
            const again = await rerun(ctx, vms)
            reruns.push(again)
            await save()
            say(
              `re-run: ${what}: ${again.ready}/${n} ready in ${again.wallMs} ms, ` +
                `${again.clusterWrites} object(s) written, ${again.apiWrites} API write(s), ` +
                `${again.restartedHosts} restart(s)`
            )
          }
        })
        await step(`cleanup after product ${what}`, () =>
          cleanupRun(ctx, vms, `bench-${n}-${rttMs}`)
        )
      }
    }
    const ctx: FleetContext = { root, env, workdir, rttMs, log: say }
    for (const [index, n] of wanted.sort((a, b) => a - b).entries()) {
      const vms = env.vms.slice(0, n)
      await step(`baseline ${n} host(s) at ${rttMs} ms`, async () => {
        const result = await baselineRun({ env, workdir, rttMs, log: say }, vms)
        fleet.push(result)
        await save()
        say(`baseline: ${n} host(s) at ${rttMs} ms: ${result.ready} ready in ${result.wallMs} ms`)
      })
      if (index < wanted.length - 1)
        await step(`cleanup after baseline ${n} at ${rttMs} ms`, () =>
          cleanupRun(ctx, vms, `baseline-${n}-${rttMs}`)
        )
    }
  } finally {
    await env.close()
  }
}

const started = Date.now()
// the code measured is the checkout as the run starts: a figure is quoted for this commit only
const source = sourceCommit()
const out = values.out ?? fileURLToPath(new URL('results.json', import.meta.url))

function results(): Record<string, unknown> {
  const cores = cpus().length
  return {
    date: new Date().toISOString(),
    commit: source.commit,
    uncommittedChanges: source.dirty,
    measuredCodeChanges: source.measuredCodeChanges,
    node: process.version,
    machine: {
      cpus: cores,
      cpuModel: cpus()[0]?.model ?? '',
      memoryMiB: Math.round(totalmem() / 2 ** 20),
      kernel: release()
    },
    options: process.argv.slice(2),
    durationSec: Math.round((Date.now() - started) / 1000),
    startup,
    bundleBytes: bytes,
    labBoot,
    fleet,
    speedups: ratios(fleet),
    reruns,
    scale: scaleRows(fleet, cores),
    targets: evaluateTargets({
      fleet,
      rerun: reruns.find(r => r.hosts === 30 && r.rttMs === 50) ?? reruns[reruns.length - 1],
      reruns,
      startup
    }),
    errors
  }
}

/** Written after every measured row, so an interrupted run keeps what it measured. */
async function save(): Promise<void> {
  await writeFile(out, `${JSON.stringify(results(), null, 2)}\n`)
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('npm run bench needs root: the lab boots VMs in network namespaces.')
    return 1
  }
  try {
    if (!values['no-startup']) await step('start-up', startupBench)
    for (const rtt of rtts) await step(`fleet at ${rtt} ms`, () => fleetBench(rtt))
  } finally {
    await rm(workdir, { recursive: true, force: true })
  }

  const final = results() as { speedups: unknown[]; scale: unknown[]; targets: unknown[] }
  if (fleet.length > 0) {
    console.log(
      'Fleet: onboarding to all-ready (product = dist/cli.js apply; baseline = scp/ssh per step)'
    )
    console.table(
      fleet.map(
        ({ slowestHostPhases: _, concurrency: __, failures: ___, failureReasons: ____, ...row }) =>
          row
      )
    )
    console.log('Per host, and against the CPU floor ((runner + VM CPU s) / cores)')
    console.table(final.scale)
  }
  if (final.speedups.length > 0) {
    console.log('Product against baseline')
    console.table(final.speedups)
  }
  if (reruns.length > 0) {
    console.log('Re-run on unchanged VMs')
    console.table(
      reruns.map(({ concurrency: _, failures: __, failureReasons: ___, ...row }) => row)
    )
  }
  console.log('Targets')
  console.table(final.targets)
  if (errors.length > 0) console.log(`Errors:\n${errors.map(e => `  ${e}`).join('\n')}`)

  await save()
  const durationSec = Math.round((Date.now() - started) / 1000)
  say(`written: ${values.out ?? 'bench/results.json'} (${durationSec} s)`)
  return errors.length === 0 ? 0 : 1
}

process.exitCode = await main().catch(error => {
  console.error(`[bench] failed: ${error instanceof Error ? error.stack : String(error)}`)
  return 1
})

/** The commit, whether the tree differs from it, and which files of the code measured (the
 * bundle, its sources, the lab) differ. */
function sourceCommit(): { commit: string; dirty: boolean; measuredCodeChanges: string[] } {
  const git = (...args: string[]): string =>
    execFileSync('git', args, {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8'
    })
  try {
    const status = git('status', '--porcelain').split('\n').filter(Boolean)
    return {
      commit: git('rev-parse', 'HEAD').trim(),
      dirty: status.length > 0,
      measuredCodeChanges: status
        .map(line => line.slice(3))
        .filter(path => /^(src|dist|lab)\//.test(path))
    }
  } catch {
    return { commit: 'unknown', dirty: true, measuredCodeChanges: [] }
  }
}
