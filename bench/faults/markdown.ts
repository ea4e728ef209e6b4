// Prints the README's Reliability tables from bench/faults.json (the figures are never typed by
// hand): the cases per family with the totals, and the soak's figures before and after.
// node bench/faults/markdown.ts [FILE]; then `npx prettier --write README.md` aligns them.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { CaseResult, Family } from './framework.ts'
import type { Comparison } from './growth.ts'
import type { SoakResult, SoakSample } from './soak.ts'

interface FaultsFile {
  date: string
  commit: string
  uncommittedChanges: boolean
  durationSec: number
  machine: { cpus: number; cpuModel: string; memoryMiB: number }
  cases: CaseResult[]
  rerunCases?: Array<{ family: string; name: string; date: string; commit: string }>
  soak?: SoakResult & {
    date: string
    commit: string
    uncommittedChanges: boolean
    durationSec: number
    machine: { cpus: number; cpuModel: string; memoryMiB: number }
  }
}

const FAMILIES: Family[] = ['kubernetes-api', 'istiod', 'ssh', 'vm', 'runner', 'concurrency']

/** A Markdown table, the figures (every column but the first) aligned right. */
function table(header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>): string => `| ${cells.join(' | ')} |`
  return [
    line(header),
    line(header.map((_, i) => (i === 0 ? '---' : '--:'))),
    ...rows.map(line)
  ].join('\n')
}

export function familyRows(cases: readonly CaseResult[]): Array<Array<string | number>> {
  const row = (label: string, cs: readonly CaseResult[]): Array<string | number> => [
    label,
    cs.length,
    cs.filter(c => c.firstRun === 'recovered').length,
    cs.filter(c => c.firstRun === 'failed-host' || c.firstRun === 'failed-run').length,
    cs.filter(c => c.firstRun !== 'recovered' && c.converged).length,
    cs.filter(c => !c.converged).length,
    cs.filter(c => c.invariantsHeld).length,
    cs.reduce((n, c) => n + c.hostsCutOff, 0),
    cs.reduce((n, c) => n + c.objectsLeaked, 0),
    cs.reduce((n, c) => n + c.secretsPrinted, 0)
  ]
  return [
    ...FAMILIES.filter(f => cases.some(c => c.family === f)).map(f =>
      row(
        `\`${f}\``,
        cases.filter(c => c.family === f)
      )
    ),
    row('**all**', cases)
  ]
}

const MiB = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`

/** A VM's figure "mxlab-vm1: processes" → its label "processes" and the VM. */
function split(figure: string): { who: string; label: string } {
  const i = figure.indexOf(': ')
  return { who: figure.slice(0, i), label: figure.slice(i + 2) }
}

/** The soak's rows: one per figure, the VMs' values side by side ("6 / 6 / 6"). */
export function soakRows(soak: SoakResult): Array<Array<string | number>> {
  const at = (point: SoakSample['point'], which: 'first' | 'last'): SoakSample | undefined => {
    const s = soak.samples.filter(x => x.point === point)
    return which === 'first' ? s[0] : s.at(-1)
  }
  const before = at('before', 'first')
  const lastClean = at('clean', 'last')
  const memoryFrom = soak.samples.find(x => x.point === 'clean' && x.cycle === soak.memoryFromCycle)
  const firstInstalled = at('installed', 'first')
  const lastInstalled = at('installed', 'last')
  const grown = new Set(
    [...soak.clean, ...soak.installed, ...soak.memory]
      .filter((c: Comparison) => c.grew)
      .map(c => c.figure)
  )
  const groups = new Map<string, string[]>()
  for (const figure of Object.keys(before?.figures ?? {})) {
    const { who, label } = split(figure)
    const key = /^mxlab-|^vm/.test(who) ? `per VM: ${label}` : figure
    groups.set(key, [...(groups.get(key) ?? []), figure])
  }
  const cell = (sample: SoakSample | undefined, figures: string[]): string =>
    figures
      .map(f => {
        const v = sample?.figures[f]
        if (v === undefined) return '–'
        return f.includes('(bytes)') ? MiB(v) : String(v)
      })
      .join(' / ')
  return [...groups.entries()].map(([key, figures]) => [
    key.replace(' (bytes)', ''),
    cell(before, figures),
    cell(memoryFrom, figures),
    cell(lastClean, figures),
    cell(firstInstalled, figures),
    cell(lastInstalled, figures),
    figures.some(f => grown.has(f)) ? '**grew**' : 'no'
  ])
}

function main(): void {
  const file = process.argv[2] ?? fileURLToPath(new URL('../faults.json', import.meta.url))
  const f = JSON.parse(readFileSync(file, 'utf8')) as FaultsFile
  const out: string[] = []
  out.push(
    table(
      [
        'family',
        'cases run',
        'recovered within the run',
        'failed clearly',
        'recovered by the re-run',
        'not converged',
        'invariants held',
        'hosts cut off',
        'objects leaked',
        'secrets printed'
      ],
      familyRows(f.cases)
    )
  )
  const reruns = f.rerunCases ?? []
  out.push(
    `Measured ${f.date.slice(0, 16).replace('T', ' ')} UTC at commit \`${f.commit.slice(0, 12)}\`${f.uncommittedChanges ? ' with the working tree’s changes' : ''}, ${f.machine.cpus} CPUs (${f.machine.cpuModel}), in ${Math.round(f.durationSec / 60)} minutes` +
      (reruns.length > 0
        ? `; re-measured since (\`--merge\`): ${reruns.map(r => `${r.family} / ${r.name} (${r.date.slice(0, 16).replace('T', ' ')} UTC, \`${r.commit.slice(0, 12)}\`)`).join('; ')}.`
        : '.')
  )
  if (f.soak) {
    const s = f.soak
    out.push(
      table(
        [
          'figure',
          'before the first cycle',
          `after cleanup ${s.memoryFromCycle} (memory judged from)`,
          `after cleanup ${s.cyclesRun}`,
          'after verify 1',
          `after verify ${s.cyclesRun}`,
          'growth'
        ],
        soakRows(s)
      )
    )
    out.push(
      `Soak measured ${s.date.slice(0, 16).replace('T', ' ')} UTC at commit \`${s.commit.slice(0, 12)}\`${s.uncommittedChanges ? ' with the working tree’s changes' : ''}, ${s.machine.cpus} CPUs: ${s.cyclesRun} of ${s.cyclesWanted} cycles on ${s.vms} VMs, ${s.cyclesFailed} failed, ` +
        `${s.cycleSec.mean.toFixed(1)} s a cycle (${s.cycleSec.min.toFixed(1)}–${s.cycleSec.max.toFixed(1)}), ${Math.round(s.durationSec / 60)} minutes in all; ` +
        `${s.growth.length === 0 ? 'no figure grew' : `${s.growth.length} figure(s) grew: ${s.growth.join('; ')}`}.`
    )
  }
  console.log(out.join('\n\n'))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main()
