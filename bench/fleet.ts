// The product on N lab VMs: the CLI bundle as a child (`dist/cli.js apply --json`), as a user
// runs it, with its wall time, peak memory, per-host SSH statistics and the API requests the
// sandbox cluster logged. Then the re-run on the same, unchanged VMs.
import { spawn } from 'node:child_process'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { LAB_SIDECAR_PACKAGE, type LabEnvironment } from '../lab/environment.ts'
import type { LabVm } from '../lab/vms/index.ts'
import { sshLogins } from '../lab/vms/logins.ts'
import type { RunReport } from '../src/engine/report.ts'
import { cpuBetween, cpuSnapshot } from './cpu.ts'
import { benchDescriptionText } from './description.ts'
import {
  countApiRequests,
  runDetails,
  toolRequests,
  type FleetRun,
  type RerunResult
} from './results.ts'

export interface CliRun {
  code: number | null
  wallMs: number
  peakRssKiB: number | null
  cpuMs: number | null
  report: RunReport | undefined
  stderr: string
}

/** Runs `node dist/cli.js ARGS` and waits for it (bounded). */
export async function runCli(
  root: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  workdir: string,
  timeoutMs = 600_000
): Promise<CliRun> {
  const rssFile = join(workdir, `maxrss-${process.hrtime.bigint()}`)
  const started = process.hrtime.bigint()
  const child = spawn(
    process.execPath,
    ['--import', join(root, 'bench/maxrss.ts'), join(root, 'dist/cli.js'), ...args],
    { cwd: root, env: { ...env, MX_BENCH_MAXRSS_FILE: rssFile }, stdio: ['ignore', 'pipe', 'pipe'] }
  )
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  }).finally(() => clearTimeout(timer))
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6
  const usage = await readFile(rssFile, 'utf8')
    .then(text => JSON.parse(text) as { maxRssKiB: number; cpuMs: number })
    .catch(() => undefined)
  await rm(rssFile, { force: true })
  const stdout = Buffer.concat(out).toString('utf8')
  let report: RunReport | undefined
  try {
    report = JSON.parse(stdout) as RunReport
  } catch {
    report = undefined
  }
  return {
    code,
    wallMs,
    peakRssKiB: usage?.maxRssKiB ?? null,
    cpuMs: usage?.cpuMs ?? null,
    report,
    stderr: Buffer.concat(err).toString('utf8')
  }
}

export interface FleetContext {
  root: string
  env: LabEnvironment
  workdir: string
  rttMs: number
  log: (line: string) => void
  /** settings.parallelism (default: every host at once) */
  parallelism?: number
}

/** The CLI's bound: 10 minutes, and 12 s per host for larger fleets (a fleet of 100 that the
 * control plane slows down must be given the time to converge). */
export function applyTimeoutMs(hosts: number): number {
  return Math.max(600_000, hosts * 12_000)
}

/** Samples the 1-minute load average every 2 s until stopped: the highest, and the last. */
function loadSampler(): { stop: () => { peak: number; end: number } } {
  let peak = loadavg()[0] ?? 0
  const timer = setInterval(() => {
    peak = Math.max(peak, loadavg()[0] ?? 0)
  }, 2000)
  timer.unref()
  return {
    stop: () => {
      clearInterval(timer)
      const end = loadavg()[0] ?? 0
      return { peak: Math.round(Math.max(peak, end) * 10) / 10, end: Math.round(end * 10) / 10 }
    }
  }
}

function cliEnv(env: LabEnvironment): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    SSH_PRIVATE_KEY: env.secrets.SSH_PRIVATE_KEY,
    SSH_KNOWN_HOSTS: env.secrets.SSH_KNOWN_HOSTS
  }
}

function parallelismOf(ctx: FleetContext, vms: readonly LabVm[]): number {
  return Math.max(1, Math.min(ctx.parallelism ?? vms.length, vms.length))
}

async function descriptionFile(ctx: FleetContext, vms: readonly LabVm[]): Promise<string> {
  const parallelism = parallelismOf(ctx, vms)
  const file = join(ctx.workdir, `bench-${vms.length}-p${parallelism}.yaml`)
  await writeFile(file, benchDescriptionText(vms, LAB_SIDECAR_PACKAGE, parallelism))
  return file
}

function owner(ctx: FleetContext, hosts: number): string {
  return `bench-${hosts}-${ctx.rttMs}`
}

async function measuredApply(
  ctx: FleetContext,
  vms: readonly LabVm[],
  file: string
): Promise<{
  run: CliRun
  logins: number
  api: ReturnType<typeof countApiRequests>
  cpu: ReturnType<typeof cpuBetween>
  load: { peak: number; end: number }
}> {
  const log = ctx.env.cluster.requestLog
  const loginsBefore = await sshLogins(vms)
  const from = log.mark()
  const cpuBefore = await cpuSnapshot(vms)
  const sampler = loadSampler()
  let load: { peak: number; end: number } | undefined
  const run = await runCli(
    ctx.root,
    [
      'apply',
      '-c',
      file,
      '--kubeconfig',
      ctx.env.kubeconfigPath,
      '--owner',
      owner(ctx, vms.length),
      '--json'
    ],
    cliEnv(ctx.env),
    ctx.workdir,
    applyTimeoutMs(vms.length)
  ).finally(() => {
    load = sampler.stop()
  })
  const cpu = cpuBetween(cpuBefore, await cpuSnapshot(vms))
  const api = countApiRequests(toolRequests(log.since(from)))
  const logins = (await sshLogins(vms)) - loginsBefore
  if (!run.report)
    throw new Error(`apply gave no report (exit ${run.code}): ${run.stderr.slice(-2000)}`)
  return { run, logins, api, cpu, load: load ?? { peak: 0, end: 0 } }
}

/** The product onboards `vms` (fresh): one measured apply. */
export async function productRun(ctx: FleetContext, vms: readonly LabVm[]): Promise<FleetRun> {
  const file = await descriptionFile(ctx, vms)
  const { run, logins, api, cpu, load } = await measuredApply(ctx, vms, file)
  const report = run.report as RunReport
  const hosts = report.hosts
  const details = runDetails(report)
  const per = (pick: (h: RunReport['hosts'][number]) => number): number =>
    Math.max(0, ...hosts.map(pick))
  if (!report.ok) ctx.log(`product: problems: ${report.problems.slice(0, 5).join('; ')}`)
  return {
    tool: 'product',
    hosts: vms.length,
    rttMs: ctx.rttMs,
    wallMs: Math.round(run.wallMs),
    ready: hosts.filter(h => h.status === 'ok' && h.ready).length,
    failed: hosts.filter(h => h.status === 'failed').length,
    sshLogins: logins,
    connectionsPerHost: per(h => h.stats.connections),
    channelsPerHost: per(h => h.stats.channels),
    bytesSent: hosts.reduce((sum, h) => sum + h.stats.bytesSent, 0),
    apiRequests: api.requests,
    apiWrites: api.writes,
    peakRssKiB: run.peakRssKiB,
    runnerCpuSec: run.cpuMs === null ? null : Math.round(run.cpuMs / 100) / 10,
    ...cpu,
    engineMs: report.durationMs,
    slowestHostPhases: Object.fromEntries(
      ([...hosts].sort((a, b) => b.totalMs - a.totalMs)[0]?.phases ?? []).map(p => [p.name, p.ms])
    ),
    parallelism: parallelismOf(ctx, vms),
    ...details,
    loadAvgPeak: load.peak,
    loadAvgEnd: load.end
  }
}

/** A second apply on the same VMs, nothing changed in between. */
export async function rerun(ctx: FleetContext, vms: readonly LabVm[]): Promise<RerunResult> {
  const file = await descriptionFile(ctx, vms)
  const { run, api, load } = await measuredApply(ctx, vms, file)
  const report = run.report as RunReport
  const details = runDetails(report)
  if (!report.ok) ctx.log(`re-run: problems: ${report.problems.slice(0, 5).join('; ')}`)
  return {
    hosts: vms.length,
    rttMs: ctx.rttMs,
    wallMs: Math.round(run.wallMs),
    clusterWrites: report.cluster?.writes ?? -1,
    apiWrites: api.writes,
    changedHosts: report.hosts.filter(h => h.changed).length,
    restartedHosts: report.hosts.filter(h => h.restarted).length,
    ready: report.hosts.filter(h => h.status === 'ok' && h.ready).length,
    parallelism: parallelismOf(ctx, vms),
    failed: report.hosts.filter(h => h.status === 'failed').length,
    concurrency: details.concurrency,
    retriedHosts: details.retriedHosts,
    retries: details.retries,
    loadAvgPeak: load.peak,
    failureReasons: details.failureReasons,
    failures: details.failures
  }
}

/** Removes the sidecar from `vms` and the owner's objects, so the next run starts fresh. */
export async function cleanupRun(
  ctx: FleetContext,
  vms: readonly LabVm[],
  ownerName: string
): Promise<void> {
  const file = await descriptionFile(ctx, vms)
  const run = await runCli(
    ctx.root,
    ['cleanup', '-c', file, '--kubeconfig', ctx.env.kubeconfigPath, '--owner', ownerName, '--json'],
    cliEnv(ctx.env),
    ctx.workdir,
    applyTimeoutMs(vms.length)
  )
  if (run.code !== 0)
    throw new Error(
      `cleanup failed (exit ${run.code}): ${run.report?.problems.join('; ') ?? run.stderr.slice(-2000)}`
    )
}
