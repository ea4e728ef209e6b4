// The fault-injection suite's frame (issue 17): one case = a fault injected during a run, what
// that first run did, a re-run without the fault, the invariants, then a cleanup that must leave
// nothing of ours. Every wait is bounded; a case that overruns its limit is recorded as such.
import { execFile } from 'node:child_process'
import { mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import type { LabEnvironment } from '../../lab/environment.ts'
import { LAB_SIDECAR_PACKAGE } from '../../lab/environment.ts'
import { SecretLeak } from '../../lab/github.ts'
import { runInVm, sshCommand, type LabVm } from '../../lab/vms/index.ts'
import { connect, type Connection } from '../../src/cluster/connection.ts'
import { parseDescription, type Description } from '../../src/config/index.ts'
import type { RunReport } from '../../src/engine/report.ts'
import { apply, cleanup, type EngineOptions } from '../../src/engine/run.ts'

export type Family = 'kubernetes-api' | 'istiod' | 'ssh' | 'vm' | 'runner' | 'concurrency'

/** What the first run (the one with the fault) did. */
export type FirstRun =
  /** every host ready: the product retried or waited the fault out */
  | 'recovered'
  /** the run ended, the faulted host(s) failed with a reason, the others did not */
  | 'failed-host'
  /** the run ended failed as a whole with a reason (a phase failed) */
  | 'failed-run'
  /** the run did not end within the case's limit, or ended without saying why */
  | 'unclear'

export interface CaseResult {
  family: Family
  name: string
  fault: string
  firstRun: FirstRun
  /** the re-run without the fault: every host ready, cluster objects as declared */
  converged: boolean
  invariantsHeld: boolean
  /** the invariants that did not hold, one line each */
  violations: string[]
  /** after cleanup: nothing of ours on hosts or cluster */
  cleanedUp: boolean
  hostsCutOff: number
  objectsLeaked: number
  secretsPrinted: number
  durationMs: number
  evidence: {
    firstRun: string[]
    rerun: string[]
    fault: string[]
  }
}

export interface RunOutcome {
  report: RunReport | undefined
  /** lines that show what happened (problems, host errors, retries) */
  lines: string[]
  timedOut: boolean
  secretsPrinted?: number
}

/** Everything a case can use. */
export interface FaultContext {
  env: LabEnvironment
  connection: Connection
  /** a scratch directory for packages and descriptions */
  workdir: string
  /** the case's own owner, namespace and group name */
  owner: string
  namespace: string
  group: string
  /** lines for the case's evidence */
  note(line: string): void
  description(vms: readonly LabVm[], more?: { sidecarPackage?: string }): Description
  descriptionText(vms: readonly LabVm[], more?: { sidecarPackage?: string }): string
  apply(
    vms: readonly LabVm[],
    more?: { sidecarPackage?: string; owner?: string; timeoutMs?: number; readyTimeoutSec?: number }
  ): Promise<RunOutcome>
  cleanup(vms: readonly LabVm[], more?: { owner?: string }): Promise<RunOutcome>
  inVm(vm: LabVm, command: string, timeoutMs?: number): Promise<{ code: number; out: string }>
  /** polls `probe` every 100 ms until it answers true, at most `ms`; false when it never did */
  until(ms: number, probe: () => Promise<boolean>): Promise<boolean>
  /** another owner, namespace and group (concurrency cases), its evidence going to this case */
  sub(tag: string): FaultContext
}

export interface FaultCase {
  family: Family
  name: string
  /** what is injected, one line (the README's table) */
  fault: string
  /** how many lab VMs the case uses (default 1) */
  vms?: number
  /** the case's limit (default 240 s) */
  limitMs?: number
  /**
   * Runs the faulted run(s) and returns the outcome of the one that matters, with the fault
   * removed before it returns (also when it throws).
   */
  firstRun(ctx: FaultContext, vms: readonly LabVm[]): Promise<RunOutcome>
  /** the re-run without the fault (default: one apply of the same description) */
  rerun?(ctx: FaultContext, vms: readonly LabVm[]): Promise<RunOutcome>
  /** what the case counts as its first-run classification when the default would mislead */
  classify?(outcome: RunOutcome, vms: readonly LabVm[]): FirstRun
}

/** Apply runs give up waiting for readiness after this long. */
export const READY_TIMEOUT_SEC = 30
/** One engine run is given this long before the case records it as not ending. */
export const RUN_LIMIT_MS = 150_000

/** The resources a run of ours may write (the cluster-side invariants look at these). */
export const MANAGED_RESOURCES = [
  'namespaces',
  'serviceaccounts',
  'workloadgroups',
  'workloadentries',
  'serviceentries',
  'services'
] as const
const OWNER_LABEL = 'mesh-expansion.io/owner'

export function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** `promise`, or undefined after `ms` (the promise runs on; its result is dropped). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>(resolve => {
        timer = setTimeout(() => resolve(undefined), ms)
      })
    ])
  } finally {
    clearTimeout(timer)
  }
}

export function outcomeLines(report: RunReport | undefined, extra: string[] = []): string[] {
  if (!report) return ['no report', ...extra.slice(-5)]
  const lines = [
    `ok=${report.ok} failedPhase=${report.failedPhase ?? '-'} ${(report.durationMs / 1000).toFixed(1)}s`,
    ...report.problems.map(p => `problem: ${p}`),
    ...report.hosts.map(
      h =>
        `host ${h.host}: ${h.status}${h.ready ? ' ready' : ''}${h.error ? ` (${h.error.phase}: ${h.error.message})` : ''}`
    )
  ]
  const retries = extra.filter(l => /retry|retrying/i.test(l))
  if (retries.length > 0) lines.push(`${retries.length} retry line(s): ${retries[0]}`)
  return lines.map(l => (l.length > 400 ? `${l.slice(0, 400)}…` : l))
}

/** The default classification of a first run. */
export function classifyRun(outcome: RunOutcome, vms: readonly LabVm[]): FirstRun {
  const report = outcome.report
  if (outcome.timedOut || !report) return 'unclear'
  if (report.command === 'cleanup' && report.ok && report.hosts.every(h => h.status === 'ok'))
    return 'recovered'
  if (report.ok && report.hosts.length === vms.length && report.hosts.every(h => h.ready))
    return 'recovered'
  const failed = report.hosts.filter(h => h.status === 'failed')
  if (failed.length > 0 && failed.every(h => (h.error?.message ?? '') !== '')) return 'failed-host'
  if (!report.ok && report.problems.length > 0) return 'failed-run'
  return 'unclear'
}

export function converged(outcome: RunOutcome, vms: readonly LabVm[]): boolean {
  const r = outcome.report
  if (r?.command === 'cleanup')
    return !outcome.timedOut && r.ok && r.hosts.every(h => h.status === 'ok')
  return (
    !outcome.timedOut &&
    r !== undefined &&
    r.ok &&
    r.hosts.length === vms.length &&
    r.hosts.every(h => h.status === 'ok' && h.ready)
  )
}

function run(
  cmd: string,
  args: string[],
  timeoutMs: number
): Promise<{ code: number; out: string }> {
  return new Promise(resolve => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const code =
        error === null ? 0 : typeof error.code === 'number' ? error.code : error.killed ? 124 : 1
      resolve({ code, out: `${stdout}${stderr}` })
    })
  })
}

/**
 * What the product left in the runner's temporary directory: the suite gives the runs a private
 * one (TMPDIR, in this process and for the Action's processes), so whatever appears there is
 * theirs; the runner stand-in's own directories (mesh-expansion-action-*) are not counted.
 */
export async function runnerTemporaries(): Promise<Set<string>> {
  const names = await readdir(tmpdir()).catch(() => [] as string[])
  return new Set(names.filter(n => !n.startsWith('mesh-expansion-action-')))
}

/** The install script's temporary names on a host (install.sh: mktemp names, clean_old_temporaries). */
const HOST_TEMPORARIES =
  "find /tmp /var/tmp -maxdepth 1 \\( -name 'mesh-expansion.*' -o -name 'mx-block.*' \\) -print 2>/dev/null; " +
  "find /var/lib/mesh-expansion -maxdepth 1 \\( -name 'incoming.*' -o -name '.mx-tmp.*' \\) -print 2>/dev/null; " +
  "find /etc /var/lib/istio /etc/certs /var/run/secrets /var/lib/mesh-expansion -xdev -maxdepth 4 \\( -name '.mx-tmp.*' -o -name '*.mx-tmp.*' \\) -print 2>/dev/null; true"

/** What of ours is on a host: empty after a cleanup. */
const HOST_OURS =
  "dpkg-query -W -f '${Status}\\n' istio-sidecar 2>/dev/null | grep -q '^install ok installed' && echo 'package istio-sidecar installed'; " +
  "iptables -t nat -S 2>/dev/null | grep -q '^-N ISTIO_' && echo 'ISTIO_ chains in nat'; " +
  "systemctl is-active --quiet istio 2>/dev/null && echo 'istio.service active'; " +
  "[ -e /var/lib/mesh-expansion/manifest ] && echo '/var/lib/mesh-expansion/manifest'; " +
  "[ -e /var/lib/istio/envoy/cluster.env ] && echo '/var/lib/istio/envoy/cluster.env'; " +
  "grep -q 'mesh-expansion' /etc/hosts 2>/dev/null && echo 'hosts block in /etc/hosts'; " +
  'ls /var/tmp/mesh-expansion-*.pkg 2>/dev/null; true'

export class FaultSuite {
  readonly results: CaseResult[] = []
  private caseNumber = 0
  readonly env: LabEnvironment
  readonly connection: Connection
  readonly workdir: string
  readonly log: (line: string) => void

  constructor(
    env: LabEnvironment,
    connection: Connection,
    workdir: string,
    log: (line: string) => void = () => undefined
  ) {
    this.env = env
    this.connection = connection
    this.workdir = workdir
    this.log = log
  }

  private previousTmpdir: string | undefined

  /** The suite's runs get `workdir/tmp` as their temporary directory (TMPDIR) from here on. */
  static async connect(env: LabEnvironment, workdir: string, log?: (line: string) => void) {
    const runnerTmp = join(workdir, 'tmp')
    await mkdir(runnerTmp, { recursive: true })
    const previous = process.env.TMPDIR
    process.env.TMPDIR = runnerTmp
    const suite = new FaultSuite(
      env,
      await connect({ kubeconfigPath: env.kubeconfigPath }),
      workdir,
      log
    )
    suite.previousTmpdir = previous
    return suite
  }

  async close(): Promise<void> {
    await this.connection.close()
    if (this.previousTmpdir === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = this.previousTmpdir
  }

  /** Every invariant on the given VMs and the case's cluster objects; lines that failed. */
  async invariants(
    ctx: FaultContext,
    vms: readonly LabVm[],
    declared: Set<string> | undefined,
    runnerBefore: Set<string>
  ): Promise<{ violations: string[]; hostsCutOff: number; objectsLeaked: number }> {
    const violations: string[] = []
    let hostsCutOff = 0
    let objectsLeaked = 0
    for (const vm of vms) {
      // reachable over SSH, as the product reaches it
      const ssh = await run(
        sshCommand(vm)[0] ?? 'ssh',
        [...sshCommand(vm).slice(1), '-o', 'ConnectTimeout=10', '-o', 'BatchMode=yes', 'true'],
        20_000
      )
      if (ssh.code !== 0) {
        hostsCutOff++
        violations.push(`${vm.name}: not reachable over SSH (${ssh.out.trim().slice(0, 200)})`)
      }
      const capture = await ctx.inVm(
        vm,
        "iptables -t nat -S 2>/dev/null | grep -c '^-N ISTIO_' ; systemctl is-active istio 2>/dev/null; pgrep -u istio-proxy -f 'pilot-agent' >/dev/null && echo agent-running || echo agent-absent"
      )
      const [chains = '0', active = '', agent = ''] = capture.out.trim().split('\n')
      if (Number(chains) > 0 && (active !== 'active' || agent !== 'agent-running')) {
        // a sidecar restarting captures for a moment: look again after its restart delay
        await sleep(12_000)
        const again = await ctx.inVm(
          vm,
          "iptables -t nat -S 2>/dev/null | grep -c '^-N ISTIO_' ; systemctl is-active istio 2>/dev/null; pgrep -u istio-proxy -f 'pilot-agent' >/dev/null && echo agent-running || echo agent-absent"
        )
        const [c2 = '0', a2 = '', g2 = ''] = again.out.trim().split('\n')
        if (Number(c2) > 0 && (a2 !== 'active' || g2 !== 'agent-running')) {
          hostsCutOff++
          violations.push(`${vm.name}: capture rules (${c2} ISTIO_ chains) but sidecar ${a2}/${g2}`)
        }
      }
      const temps = await ctx.inVm(vm, HOST_TEMPORARIES)
      const left = temps.out.trim()
      if (left !== '')
        violations.push(`${vm.name}: temporary files left: ${left.split('\n').join(', ')}`)
    }
    const runnerAfter = await runnerTemporaries()
    const newTemps = [...runnerAfter].filter(n => !runnerBefore.has(n))
    if (newTemps.length > 0) violations.push(`runner: temporary files left: ${newTemps.join(', ')}`)
    if (declared) {
      const actual = this.owned(ctx.owner, ctx.namespace)
      const extra = [...actual].filter(k => !declared.has(k))
      const missing = [...declared].filter(k => !actual.has(k))
      objectsLeaked += extra.length
      if (extra.length > 0)
        violations.push(`cluster: not declared by the last run: ${extra.join(', ')}`)
      if (missing.length > 0) violations.push(`cluster: declared but absent: ${missing.join(', ')}`)
    }
    return { violations, hostsCutOff, objectsLeaked }
  }

  /** Objects of `owner` (by label), and every WorkloadEntry in `namespace` (orphans included). */
  owned(owner: string, namespace: string): Set<string> {
    const store = this.env.cluster.store
    const keys = new Set<string>()
    for (const resource of MANAGED_RESOURCES) {
      for (const o of store.list(resource)) {
        const mine = o.metadata?.labels?.[OWNER_LABEL] === owner
        const entryHere = resource === 'workloadentries' && o.metadata?.namespace === namespace
        if (mine || entryHere)
          keys.add(
            `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`
          )
      }
    }
    return keys
  }

  /** What a successful run declared: its plan's entries that it applied (not skipped ones). */
  static declared(report: RunReport | undefined, namespace: string): Set<string> | undefined {
    if (report?.command === 'cleanup' && report.ok) return new Set()
    if (!report?.ok || !report.cluster) return undefined
    return new Set([
      ...report.cluster.plan
        .filter(e => e.action !== 'skip' && e.action !== 'conflict')
        .map(e => `${e.kind}/${e.namespace ? `${e.namespace}/` : ''}${e.name}`),
      // registration: manual, one WorkloadEntry per onboarded VM, named as the VM
      ...report.hosts
        .filter(h => h.status === 'ok')
        .map(h => `WorkloadEntry/${namespace}/${h.host}`)
    ])
  }

  context(
    caseNumber: number | string,
    evidence: string[],
    vmsUsed: readonly LabVm[]
  ): FaultContext {
    const owner = `faults-${caseNumber}`
    const namespace = `faults-${caseNumber}`
    const group = `fx${caseNumber}`
    const sub = (tag: string): FaultContext =>
      this.context(`${caseNumber}${tag}`, evidence, vmsUsed)
    const env = this.env
    const connection = this.connection
    const text = (vms: readonly LabVm[], more: { sidecarPackage?: string } = {}): string =>
      `workloadGroups:
  - name: ${group}
    namespace: ${namespace}
    ports: {http: 8080}
    registration: manual
    service: {kind: none}
    sidecar: {package: ${more.sidecarPackage ?? LAB_SIDECAR_PACKAGE}}
vms:
${vms.map((v, i) => `  - {name: ${group}-${i + 1}, host: ${v.address}}`).join('\n')}
ssh: {user: ${vmsUsed[0]?.user ?? 'mesh'}}
`
    const description = (vms: readonly LabVm[], more: { sidecarPackage?: string } = {}) => {
      const parsed = parseDescription(text(vms, more), 'faults.yaml')
      if (!parsed.ok) throw new Error(parsed.errors.map(e => e.message).join('; '))
      return parsed.description
    }
    const engineOptions = (
      lines: string[],
      owner2: string,
      readyTimeoutSec: number
    ): EngineOptions => ({
      owner: owner2,
      env: env.secrets,
      log: line => lines.push(line),
      warn: line => lines.push(`warning: ${line}`),
      onSecret: () => undefined,
      verify: false,
      readyTimeoutSec
    })
    const ctx: FaultContext = {
      env,
      connection,
      workdir: this.workdir,
      owner,
      namespace,
      group,
      note: line => evidence.push(line),
      sub,
      description,
      descriptionText: text,
      async apply(vms, more = {}) {
        const lines: string[] = []
        const report = await within(
          apply(
            description(vms, more),
            connection,
            engineOptions(lines, more.owner ?? owner, more.readyTimeoutSec ?? READY_TIMEOUT_SEC)
          ),
          more.timeoutMs ?? RUN_LIMIT_MS
        )
        return { report, lines: outcomeLines(report, lines), timedOut: report === undefined }
      },
      async cleanup(vms, more = {}) {
        const lines: string[] = []
        const report = await within(
          cleanup(
            description(vms),
            connection,
            engineOptions(lines, more.owner ?? owner, READY_TIMEOUT_SEC)
          ),
          RUN_LIMIT_MS
        )
        return { report, lines: outcomeLines(report, lines), timedOut: report === undefined }
      },
      async inVm(vm, command, timeoutMs = 30_000) {
        try {
          const r = await runInVm(vm, command, { timeoutMs })
          return { code: r.code, out: `${r.stdout}${r.stderr}` }
        } catch (error) {
          return { code: -1, out: String(error) }
        }
      },
      async until(ms, probe) {
        const end = Date.now() + ms
        while (Date.now() < end) {
          if (await probe().catch(() => false)) return true
          await sleep(100)
        }
        return false
      }
    }
    return ctx
  }

  /** Runs one case within its limit; never throws. */
  async runCase(c: FaultCase, pool: readonly LabVm[]): Promise<CaseResult> {
    const number = ++this.caseNumber
    const started = Date.now()
    const vms = pool.slice(0, c.vms ?? 1)
    const faultEvidence: string[] = []
    const ctx = this.context(number, faultEvidence, vms)
    const runnerBefore = await runnerTemporaries()
    const result: CaseResult = {
      family: c.family,
      name: c.name,
      fault: c.fault,
      firstRun: 'unclear',
      converged: false,
      invariantsHeld: false,
      violations: [],
      cleanedUp: false,
      hostsCutOff: 0,
      objectsLeaked: 0,
      secretsPrinted: 0,
      durationMs: 0,
      evidence: { firstRun: [], rerun: [], fault: faultEvidence }
    }
    const limit = c.limitMs ?? 240_000
    const body = async (): Promise<void> => {
      let first: RunOutcome
      try {
        first = await c.firstRun(ctx, vms)
      } catch (error) {
        if (error instanceof SecretLeak) result.secretsPrinted++
        first = { report: undefined, lines: [`the case threw: ${String(error)}`], timedOut: false }
      }
      result.secretsPrinted += first.secretsPrinted ?? 0
      result.firstRun = (c.classify ?? classifyRun)(first, vms)
      result.evidence.firstRun = first.lines
      let second: RunOutcome
      try {
        second = c.rerun ? await c.rerun(ctx, vms) : await ctx.apply(vms)
      } catch (error) {
        if (error instanceof SecretLeak) result.secretsPrinted++
        second = {
          report: undefined,
          lines: [`the re-run threw: ${String(error)}`],
          timedOut: false
        }
      }
      result.secretsPrinted += second.secretsPrinted ?? 0
      result.evidence.rerun = second.lines
      result.converged = converged(second, vms)
      const checked = await this.invariants(
        ctx,
        vms,
        FaultSuite.declared(second.report, ctx.namespace),
        runnerBefore
      )
      result.violations.push(...checked.violations)
      result.hostsCutOff += checked.hostsCutOff
      result.objectsLeaked += checked.objectsLeaked
    }
    const finished = await within(
      body().then(() => true),
      limit
    )
    if (finished === undefined)
      result.violations.push(`the case did not end within ${limit / 1000} s`)
    // cleanup, then nothing of ours may remain
    await this.cleanupCase(ctx, vms, result)
    result.invariantsHeld = result.violations.length === 0
    result.durationMs = Date.now() - started
    this.results.push(result)
    this.log(
      `${c.family} / ${c.name}: first run ${result.firstRun}, ${result.converged ? 'converged' : 'NOT converged'}, invariants ${result.invariantsHeld ? 'held' : `violated: ${result.violations.join('; ')}`} (${(result.durationMs / 1000).toFixed(0)} s)`
    )
    return result
  }

  private async cleanupCase(
    ctx: FaultContext,
    vms: readonly LabVm[],
    result: CaseResult
  ): Promise<void> {
    this.env.cluster.faults.clear()
    this.env.istiod.faults.clear()
    const out = await ctx.cleanup(vms)
    if (!out.report?.ok) {
      result.violations.push(`cleanup failed: ${out.lines.join(' | ')}`)
      // a second cleanup so that the next case starts clean
      await ctx.cleanup(vms)
    }
    const left: string[] = []
    for (const key of this.owned(ctx.owner, ctx.namespace)) left.push(`cluster ${key}`)
    // the namespace is ours too: a cleanup removes it, so a leftover one is counted above
    for (const vm of vms) {
      const ours = await ctx.inVm(vm, HOST_OURS)
      for (const line of ours.out.trim().split('\n').filter(Boolean))
        left.push(`${vm.name}: ${line}`)
    }
    result.cleanedUp = left.length === 0
    if (left.length > 0) {
      result.objectsLeaked += left.filter(l => l.startsWith('cluster ')).length
      result.violations.push(`after cleanup: ${left.join(', ')}`)
    }
  }
}

/** A run's outcome from the Action's report output (lab/github.ts runs). */
export function actionOutcome(
  reportJson: string | undefined,
  code: number,
  stdout: string
): RunOutcome {
  let report: RunReport | undefined
  try {
    report = reportJson ? (JSON.parse(reportJson) as RunReport) : undefined
  } catch {
    report = undefined
  }
  return {
    report,
    lines: [
      `exit ${code}`,
      ...outcomeLines(report, stdout.split('\n')),
      ...stdout
        .split('\n')
        .filter(l => /::error/.test(l))
        .slice(0, 3)
    ],
    timedOut: false
  }
}
