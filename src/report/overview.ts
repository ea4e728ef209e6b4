// What a person reads first, the same in the job summary, the pull-request comment and the
// terminal: one headline (did it work, with counts), then what failed and how to fix it, with
// failures of one kind grouped so 300 hosts refused the same way are one entry. Pure, plain text.
import { stoppedBeforeChange, type RunReport } from '../engine/report.ts'
import type { HostResult } from '../host/onboard.ts'
import { diagnosisTail } from '../host/readiness.ts'
import { countResults } from '../verify/index.ts'
import type { CheckResult } from '../verify/types.ts'
import { checkFix, hostFix, problemFix, type Fix } from './fixes.ts'
import { duration } from './phases.ts'

export const MARKS = { ok: '✅', failed: '❌', skipped: '➖', warning: '⚠️' } as const

export interface Headline {
  ok: boolean
  mark: string
  /** `apply succeeded` */
  title: string
  /** `3 of 3 hosts ready`, `11 of 11 checks passed`, `18.2 s` */
  counts: string[]
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`

export function headline(report: RunReport): Headline {
  const counts: string[] = []
  if (report.failedPhase !== null && stoppedBeforeChange(report)) {
    counts.push(`stopped in ${report.failedPhase}: nothing was changed on the cluster or any host`)
  } else if (report.failedPhase !== null) {
    counts.push(`stopped in ${report.failedPhase}`)
  }
  const total = report.hosts.length + report.skippedHosts.length
  if (total > 0) {
    const failed = report.hosts.filter(h => h.status === 'failed').length
    if (report.command === 'cleanup') {
      const removed = report.hosts.filter(h => h.status === 'ok').length
      counts.push(`${removed} of ${plural(total, 'host')} cleaned`)
    } else {
      const ready = report.hosts.filter(h => h.status === 'ok' && h.ready).length
      counts.push(
        failed > 0
          ? `${failed} of ${plural(total, 'host')} failed`
          : `${ready} of ${plural(total, 'host')} ready`
      )
    }
    if (report.skippedHosts.length > 0) counts.push(`${report.skippedHosts.length} not started`)
  }
  if (report.checks.length > 0) {
    const { passed, failed, skipped } = countResults(report.checks)
    const n = report.checks.length
    counts.push(
      failed > 0
        ? `${failed} of ${plural(n, 'check')} failed`
        : `${passed} of ${plural(n, 'check')} passed`
    )
    if (skipped > 0) counts.push(`${skipped} skipped`)
  }
  if (report.removed.length > 0) counts.push(`${plural(report.removed.length, 'object')} removed`)
  counts.push(duration(report.durationMs))
  return {
    ok: report.ok,
    mark: report.ok ? MARKS.ok : MARKS.failed,
    title: `${report.command} ${report.ok ? 'succeeded' : 'failed'}`,
    counts
  }
}

/** Failures of one kind: the hosts or checks, one example of why, and the fix. */
export interface FailureGroup {
  /** `host`, `check` or `run` (a problem that stopped the run) */
  subject: 'host' | 'check' | 'run'
  /** host names, check names, or the problem line */
  names: string[]
  /** why (the first one's diagnosis or error) */
  why: string
  /** the phase it failed in, for hosts */
  phase?: string
  rolledBack?: boolean
  fix: Fix
}

function hostWhy(host: HostResult): string {
  const message = `${host.error?.message ?? 'failed'}${diagnosisTail(host)}`
  if (host.rolledBack) return `rolled back to the previous sidecar: ${message}`
  return `${host.error?.phase ?? '?'}: ${message}`
}

/** Problems that stopped the run, then failed hosts, then failed checks; grouped by fix. */
export function failureGroups(report: RunReport): FailureGroup[] {
  const groups: FailureGroup[] = []
  if (report.failedPhase !== null) {
    // a failed host's or check's problem has its own group below
    const failed = report.hosts.filter(h => h.status === 'failed').map(h => `${h.host}: `)
    const own = (problem: string): boolean =>
      failed.some(prefix => problem.startsWith(prefix)) ||
      (problem.startsWith('check "') && report.checks.some(c => c.status === 'fail'))
    for (const problem of report.problems.filter(p => !own(p))) {
      groups.push({ subject: 'run', names: [problem], why: problem, fix: problemFix(problem) })
    }
  }
  const byKind = new Map<string, FailureGroup>()
  const add = (key: string, make: () => FailureGroup, name: string): void => {
    const group = byKind.get(key)
    if (group) group.names.push(name)
    else {
      const made = make()
      byKind.set(key, made)
      groups.push(made)
    }
  }
  for (const host of report.hosts.filter(h => h.status === 'failed')) {
    const fix = hostFix(host)
    add(
      `host ${fix.kind} ${host.error?.phase ?? ''}`,
      () => ({
        subject: 'host',
        names: [host.host],
        why: hostWhy(host),
        ...(host.error?.phase !== undefined ? { phase: host.error.phase } : {}),
        ...(host.rolledBack ? { rolledBack: true } : {}),
        fix
      }),
      host.host
    )
  }
  const failedHosts = new Set(report.hosts.filter(h => h.status === 'failed').map(h => h.host))
  for (const check of report.checks.filter((c: CheckResult) => c.status === 'fail')) {
    const fix = checkFix(check, failedHosts)
    add(
      `check ${check.kind} ${fix.kind}`,
      () => ({ subject: 'check', names: [check.name], why: check.diagnosis ?? 'failed', fix }),
      check.name
    )
  }
  return groups
}

/** `vm-1, vm-2, vm-3 and 94 more` */
export function someNames(names: readonly string[], max = 5): string {
  if (names.length <= max) return names.join(', ')
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`
}

/** What a group is about, in words: `host vm-3`, `3 hosts: vm-3, vm-4, vm-5`, `check …`. */
export function groupSubject(group: FailureGroup): string {
  if (group.subject === 'run') return 'the run'
  const word = group.subject
  if (group.names.length === 1) return `${word} ${group.names[0] ?? ''}`
  return `${group.names.length} ${word}s: ${someNames(group.names)}`
}

/** The fix as one line: the words, then the command or setting. */
export function fixLine(fix: Fix): string {
  return fix.code !== undefined ? `${fix.text}: ${fix.code}` : fix.text
}
