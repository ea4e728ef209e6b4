// The job summary's tables: pure functions of the description and the report, so they are
// tested without the runner. Cells are HTML (core.summary inserts them as they are): every
// name and message in them is escaped here; the header row is marked.
import type { Description } from '../config/index.ts'
import type { RunReport } from '../engine/report.ts'
import { resultTable } from '../verify/index.ts'
import { escapeHtml } from './escape.ts'

export type Cell = string | { data: string; header: true }
export type Table = Cell[][]

const header = (names: string[]): Cell[] =>
  names.map(data => ({ data: escapeHtml(data), header: true as const }))

/** The table's rows, every cell escaped. */
const rows = (cells: string[][]): Cell[][] => cells.map(row => row.map(escapeHtml))

/** One row per VM: where it is, which group, how it is reached. */
export function vmTable(description: Description): Table {
  const groups = new Map(description.workloadGroups.map(group => [group.name, group]))
  return [
    header(['VM', 'group', 'namespace', 'host', 'mesh address']),
    ...rows(
      description.vms.map(vm => [
        vm.name,
        vm.group,
        groups.get(vm.group)?.namespace ?? '',
        vm.host === 'local' ? 'the runner' : `${vm.host}:${vm.port}`,
        vm.address
      ])
    )
  ]
}

/** One row per host: outcome, what changed, timings per phase, SSH cost. */
export function hostTable(report: RunReport): Table {
  return [
    header(['host', 'result', 'changed', 'phases (ms)', 'SSH', 'error']),
    ...rows(
      report.hosts.map(host => [
        host.host,
        host.status === 'ok'
          ? host.ready
            ? 'ready'
            : 'not ready'
          : host.rolledBack
            ? 'rolled back'
            : host.status,
        host.changed ? (host.restarted ? 'yes, restarted' : 'yes') : 'no',
        host.phases.map(phase => `${phase.name} ${phase.ms}`).join(', '),
        `${host.stats.connections} conn, ${host.stats.channels} ch`,
        host.error ? `${host.error.phase}: ${host.error.message}` : ''
      ])
    ),
    ...rows(
      report.skippedHosts.map(name => [
        name,
        'skipped',
        '',
        '',
        '',
        'not started (fail-fast or max-failures)'
      ])
    )
  ]
}

export function checkTable(report: RunReport): Table {
  const table = resultTable(report.checks)
  return [header(table.header), ...rows(table.rows)]
}

/** The plan as text lines, for a collapsed block. */
export function planLines(report: RunReport): string[] {
  return (report.cluster?.plan ?? []).map(
    entry =>
      `${entry.action.padEnd(9)} ${entry.kind} ${entry.namespace ? `${entry.namespace}/` : ''}${entry.name}`
  )
}
