// npm run faults (issue 17): the fault matrix against real lab VMs and the sandbox API. Prints a
// table per family and writes bench/faults.json (machine, date, commit, every case, the totals).
// Bounded: each case has its own limit, the whole suite a deadline after which no case starts,
// and the lab is taken down on every way out (also after a failure or a signal).
//
// npm run faults -- --soak [--cycles 50] [--every 10]: the soak instead (./soak.ts): apply →
// verify → cleanup on 3 VMs, figures before and after; writes the file's `soak` section and keeps
// its cases (as the cases' runs keep its `soak`). Each cycle has a limit (300 s), the soak the
// deadline of --minutes.
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, release, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startLabEnvironment, type LabEnvironment } from '../../lab/environment.ts'
import { allCases, smokeCases } from './cases.ts'
import { FaultSuite, type CaseResult, type Family } from './framework.ts'
import { runSoak, type SoakResult } from './soak.ts'

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    /** only cases whose "family / name" contains one of these texts (comma-separated) */
    only: { type: 'string' },
    /** the suite's deadline in minutes: no case starts after it (default 40) */
    minutes: { type: 'string' },
    smoke: { type: 'boolean' },
    /** run the selected cases again and replace them in the existing --out file (listed in `rerunCases`) */
    merge: { type: 'boolean' },
    /** the soak instead of the cases */
    soak: { type: 'boolean' },
    /** the soak's cycles (default 50) */
    cycles: { type: 'string' },
    /** the soak takes figures every this many cycles (default 10), and after the first and last */
    every: { type: 'string' }
  }
})

const root = fileURLToPath(new URL('../..', import.meta.url))
const out = values.out ?? join(root, 'bench', 'faults.json')
const deadlineMs = Number(values.minutes ?? 40) * 60_000
const started = Date.now()

function sourceCommit(): { commit: string; dirty: boolean } {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' })
    return {
      commit: git('rev-parse', 'HEAD').trim(),
      dirty: git('status', '--porcelain').trim() !== ''
    }
  } catch {
    return { commit: 'unknown', dirty: true }
  }
}

function machine() {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    kernel: release()
  }
}

/** The file as it is, or undefined when there is none yet. */
async function existing(): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>
  } catch {
    return undefined
  }
}

export interface FaultTotals {
  casesRun: number
  recoveredWithinRun: number
  failedClearly: number
  unclear: number
  recoveredByRerun: number
  notConverged: number
  invariantsViolated: number
  hostsCutOff: number
  objectsLeaked: number
  secretsPrinted: number
}

export function totals(cases: readonly CaseResult[]): FaultTotals {
  return {
    casesRun: cases.length,
    recoveredWithinRun: cases.filter(c => c.firstRun === 'recovered').length,
    failedClearly: cases.filter(c => c.firstRun === 'failed-host' || c.firstRun === 'failed-run')
      .length,
    unclear: cases.filter(c => c.firstRun === 'unclear').length,
    recoveredByRerun: cases.filter(c => c.firstRun !== 'recovered' && c.converged).length,
    notConverged: cases.filter(c => !c.converged).length,
    invariantsViolated: cases.filter(c => !c.invariantsHeld).length,
    hostsCutOff: cases.reduce((n, c) => n + c.hostsCutOff, 0),
    objectsLeaked: cases.reduce((n, c) => n + c.objectsLeaked, 0),
    secretsPrinted: cases.reduce((n, c) => n + c.secretsPrinted, 0)
  }
}

export function familyTable(family: Family, cases: readonly CaseResult[]): string {
  const rows = cases.filter(c => c.family === family)
  const header = ['case', 'first run', 'converged', 'invariants', 's']
  const body = rows.map(c => [
    c.name,
    c.firstRun,
    c.converged ? 'yes' : 'NO',
    c.invariantsHeld ? 'held' : 'VIOLATED',
    (c.durationMs / 1000).toFixed(0)
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map(r => (r[i] ?? '').length)))
  const line = (r: string[]) => r.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ')
  return [`${family}`, line(header), line(widths.map(w => '-'.repeat(w))), ...body.map(line)].join(
    '\n'
  )
}

const FAMILIES: Family[] = ['kubernetes-api', 'istiod', 'ssh', 'vm', 'runner', 'concurrency']

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('npm run faults needs root: the lab boots VMs in network namespaces.')
    return 1
  }
  if (values.soak) return soakMain()
  const source = sourceCommit()
  const say = (line: string) =>
    console.log(`[faults ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}`)
  const workdir = await mkdtemp(join(tmpdir(), 'mx-faults-'))
  let env: LabEnvironment | undefined
  let suite: FaultSuite | undefined
  const skipped: string[] = []
  // --merge: the file's other cases are kept as they were measured
  const earlier = values.merge
    ? (JSON.parse(await readFile(out, 'utf8')) as {
        cases: CaseResult[]
        rerunCases?: unknown[]
      } & Record<string, unknown>)
    : undefined
  const soak = (await existing())?.soak
  const save = async (): Promise<void> => {
    const own = suite?.results ?? []
    const cases = earlier
      ? [
          ...earlier.cases.map(c => own.find(o => o.family === c.family && o.name === c.name) ?? c),
          ...own.filter(o => !earlier.cases.some(c => c.family === o.family && c.name === o.name))
        ]
      : own
    await writeFile(
      out,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          commit: source.commit,
          uncommittedChanges: source.dirty,
          node: process.version,
          machine: machine(),
          options: earlier ? earlier.options : process.argv.slice(2),
          durationSec: Math.round((Date.now() - started) / 1000),
          // --merge: the file's own run stays what it was (its date, commit and duration)
          ...(earlier
            ? {
                date: earlier.date,
                commit: earlier.commit,
                uncommittedChanges: earlier.uncommittedChanges,
                durationSec: earlier.durationSec,
                rerunCases: [
                  ...(earlier.rerunCases ?? []),
                  ...own.map(c => ({
                    family: c.family,
                    name: c.name,
                    date: new Date().toISOString(),
                    commit: source.commit,
                    options: process.argv.slice(2)
                  }))
                ]
              }
            : {}),
          ...totals(cases),
          skipped,
          cases,
          // the soak is measured on its own (--soak): a run of the cases keeps it
          ...(soak ? { soak } : {})
        },
        null,
        2
      )}\n`
    )
  }
  // a signal ends the suite the same way: the lab down, the scratch directory removed
  let stopping = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return
    stopping = true
    say(`${signal}: stopping, taking the lab down`)
    void (async () => {
      await save().catch(() => undefined)
      await suite?.close().catch(() => undefined)
      await closeAll()
      process.exit(130)
    })()
  }
  const closeAll = async (): Promise<void> => {
    // the istiod restart case may have replaced the environment's istiod: close the current one
    await env?.istiod.close().catch(() => undefined)
    await env?.close().catch(error => say(`lab down: ${String(error)}`))
    await rm(workdir, { recursive: true, force: true })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    say('lab: 4 VMs, the sandbox API, istiod')
    env = await startLabEnvironment({ vms: 4, log: say })
    suite = await FaultSuite.connect(env, workdir, say)
    const wanted = (values.smoke ? smokeCases() : allCases()).filter(
      c =>
        !values.only ||
        values.only.split(',').some(part => `${c.family} / ${c.name}`.includes(part.trim()))
    )
    let next = 0
    for (const c of wanted) {
      if (stopping) break
      if (Date.now() - started > deadlineMs) {
        skipped.push(`${c.family} / ${c.name}`)
        continue
      }
      // single-VM cases take turns over the VMs, so one case's host is rested for the next
      const pool =
        c.vms && c.vms > 1 ? env.vms : [...env.vms.slice(next), ...env.vms.slice(0, next)]
      next = (next + 1) % env.vms.length
      say(`${c.family} / ${c.name}: ${c.fault}`)
      await suite.runCase(c, pool)
      await save()
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (!stopping) {
      await save().catch(() => undefined)
      await suite?.close().catch(() => undefined)
      await closeAll()
    }
  }
  const cases = suite?.results ?? []
  console.log('')
  for (const family of FAMILIES)
    if (cases.some(c => c.family === family)) console.log(`${familyTable(family, cases)}\n`)
  const t = totals(cases)
  console.log(
    `cases run ${t.casesRun}; recovered within the run ${t.recoveredWithinRun}; failed clearly ${t.failedClearly}; ` +
      `unclear ${t.unclear}; recovered by the re-run ${t.recoveredByRerun}; not converged ${t.notConverged}; ` +
      `invariants violated ${t.invariantsViolated}; hosts cut off ${t.hostsCutOff}; objects leaked ${t.objectsLeaked}; ` +
      `secrets printed ${t.secretsPrinted}`
  )
  for (const c of cases.filter(c => !c.invariantsHeld || !c.converged))
    console.log(
      `- ${c.family} / ${c.name}: ${c.violations.join('; ') || 'not converged'}\n    re-run: ${c.evidence.rerun.join(' | ')}`
    )
  if (skipped.length > 0) console.log(`not run (the deadline): ${skipped.join(', ')}`)
  console.log(`written: ${out} (${Math.round((Date.now() - started) / 1000)} s)`)
  return t.notConverged === 0 && t.invariantsViolated === 0 && t.unclear === 0 ? 0 : 1
}

/** One line per figure of a comparison: `name: before → after`. */
function comparisonLines(title: string, comparisons: SoakResult['clean']): string[] {
  return [
    title,
    ...comparisons.map(c => `  ${c.grew ? 'GREW ' : ''}${c.figure}: ${c.before} → ${c.after}`)
  ]
}

async function soakMain(): Promise<number> {
  const source = sourceCommit()
  const say = (line: string) =>
    console.log(`[soak ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}`)
  const cycles = Number(values.cycles ?? 50)
  const every = Number(values.every ?? 10)
  if (!Number.isInteger(cycles) || cycles < 1 || !Number.isInteger(every) || every < 1) {
    console.error('--cycles and --every take a whole number of at least 1')
    return 2
  }
  const workdir = await mkdtemp(join(tmpdir(), 'mx-soak-'))
  // the runs get a private TMPDIR: what they leave there is the runner's temporary-file figure
  const runnerTmp = join(workdir, 'tmp')
  await mkdir(runnerTmp)
  const previousTmp = process.env.TMPDIR
  process.env.TMPDIR = runnerTmp
  let env: LabEnvironment | undefined
  let stopping = false
  const closeAll = async (): Promise<void> => {
    await env?.close().catch(error => say(`lab down: ${String(error)}`))
    if (previousTmp === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = previousTmp
    await rm(workdir, { recursive: true, force: true })
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return
    stopping = true
    say(`${signal}: stopping, taking the lab down (the file is not written)`)
    void closeAll().then(() => process.exit(130))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  let result: SoakResult | undefined
  try {
    say('lab: 3 VMs, the sandbox API, istiod')
    env = await startLabEnvironment({ vms: 3, log: say })
    result = await runSoak(env, {
      cycles,
      sampleEvery: every,
      cycleLimitMs: 300_000,
      deadlineMs: deadlineMs - (Date.now() - started),
      log: say
    })
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (!stopping) await closeAll()
  }
  const file = (await existing()) ?? {}
  await writeFile(
    out,
    `${JSON.stringify(
      {
        ...file,
        soak: {
          date: new Date().toISOString(),
          commit: source.commit,
          uncommittedChanges: source.dirty,
          node: process.version,
          machine: machine(),
          options: process.argv.slice(2),
          durationSec: Math.round((Date.now() - started) / 1000),
          ...result
        }
      },
      null,
      2
    )}\n`
  )
  console.log('')
  console.log(
    comparisonLines('after cleanup: before the first cycle → after the last', result.clean).join(
      '\n'
    )
  )
  console.log(
    comparisonLines('after verify: the first cycle → the last', result.installed).join('\n')
  )
  console.log(
    comparisonLines('memory after cleanup: the first cycle → the last', result.memory).join('\n')
  )
  console.log(
    `cycles ${result.cyclesRun} of ${result.cyclesWanted} (${result.cyclesFailed} failed), ` +
      `${result.cycleSec.mean.toFixed(1)} s a cycle (${result.cycleSec.min.toFixed(1)}–${result.cycleSec.max.toFixed(1)})` +
      (result.stopped ? `; stopped: ${result.stopped}` : '')
  )
  for (const line of result.growth) console.log(`- ${line}`)
  for (const c of result.cycles.filter(c => !c.ok))
    console.log(`- cycle ${c.cycle}: ${c.problems.join('; ')}`)
  console.log(`written: ${out} (soak, ${Math.round((Date.now() - started) / 1000)} s)`)
  return result.ok ? 0 : 1
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main()
}
