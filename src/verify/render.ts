// Results as rows for a report table (the job summary and the terminal render them). Pure.
import type { CheckResult } from './types.ts'

export interface ResultTable {
  header: string[]
  rows: string[][]
}

export interface ResultCounts {
  passed: number
  failed: number
  skipped: number
}

export function countResults(results: CheckResult[]): ResultCounts {
  return {
    passed: results.filter(r => r.status === 'pass').length,
    failed: results.filter(r => r.status === 'fail').length,
    skipped: results.filter(r => r.status === 'skip').length
  }
}

/** One line of the strongest evidence: status and server, or the error; duration and attempts. */
export function evidenceSummary(result: CheckResult): string {
  const e = result.evidence
  const parts: string[] = []
  if (e.status !== undefined) {
    const server = e.headers?.['server']
    parts.push(`HTTP ${e.status}${server !== undefined ? `, server: ${server}` : ''}`)
  }
  if (e.error !== undefined) parts.push(e.error)
  if (e.resolved !== undefined) parts.push(`→ ${e.resolved}`)
  const identity = e.notes?.find(n => n.startsWith('caller identity '))
  if (identity) parts.push(identity)
  if (e.attempts > 0) {
    parts.push(`${e.durationMs} ms, ${e.attempts} attempt${e.attempts === 1 ? '' : 's'}`)
  }
  return parts.join('; ')
}

/** Header + rows: check, result (pass/fail/skip), evidence, diagnosis. */
export function resultTable(results: CheckResult[]): ResultTable {
  return {
    header: ['Check', 'Result', 'Evidence', 'Diagnosis'],
    rows: results.map(r => [r.name, r.status, evidenceSummary(r), r.diagnosis ?? ''])
  }
}
