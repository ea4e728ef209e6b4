// npm run faults (issue 17): the fault matrix against real lab VMs and the sandbox API. Prints a
// table per family and writes bench/faults.json (machine, date, commit, every case, the totals).
// Bounded: each case has its own limit, the whole suite a deadline after which no case starts,
// and the lab is taken down on every way out (also after a failure or a signal).
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, release, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startLabEnvironment, type LabEnvironment } from '../../lab/environment.ts'
import { allCases, smokeCases } from './cases.ts'
import { FaultSuite, type CaseResult, type Family } from './framework.ts'

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    /** only cases whose "family / name" contains one of these texts (comma-separated) */
    only: { type: 'string' },
    /** the suite's deadline in minutes: no case starts after it (default 40) */
    minutes: { type: 'string' },
    smoke: { type: 'boolean' },
    /** run the selected cases again and replace them in the existing --out file (listed in `rerunCases`) */
    merge: { type: 'boolean' }
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
          machine: {
            cpus: cpus().length,
            cpuModel: cpus()[0]?.model ?? '',
            memoryMiB: Math.round(totalmem() / 2 ** 20),
            kernel: release()
          },
          options: earlier ? earlier.options : process.argv.slice(2),
          ...(earlier
            ? {
                date: earlier.date,
                commit: earlier.commit,
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
          durationSec: Math.round((Date.now() - started) / 1000),
          ...totals(cases),
          skipped,
          cases
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

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main()
}
