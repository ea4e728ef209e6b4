// A drift report for people: a table per host (and one for the cluster) in the terminal and in the
// job summary, drift first. Pure: the report in, text out. Text from hosts and the cluster is
// escaped for where it lands (one line in a terminal, HTML in the summary).
import type { DriftFinding, DriftReport, HostDrift } from '../drift/types.ts'
import { escapeHtml, oneLine } from './escape.ts'

const MARK: Readonly<Record<DriftFinding['state'], string>> = {
  drift: 'DRIFT',
  unknown: '?',
  ok: 'ok'
}

const ORDER: Readonly<Record<DriftFinding['state'], number>> = { drift: 0, unknown: 1, ok: 2 }

/** Drift first, then what could not be told, then what is as described; stable otherwise. */
export function sortedFindings(findings: readonly DriftFinding[]): DriftFinding[] {
  return findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => ORDER[a.f.state] - ORDER[b.f.state] || a.i - b.i)
    .map(({ f }) => f)
}

/** The verdict in one line: what the exit code says, in words. */
export function driftHeadline(report: DriftReport): string {
  const hosts = report.hosts.length
  if (report.drifted) {
    const where = [
      ...(report.driftedHosts.length > 0
        ? [`${report.driftedHosts.length} of ${hosts} host(s): ${report.driftedHosts.join(', ')}`]
        : []),
      ...(report.cluster.status === 'drift' ? ['the cluster'] : [])
    ]
    return `drift found on ${where.join(' and ')}`
  }
  if (!report.ok)
    return `no drift found, but not everything could be checked${report.uncheckedHosts.length > 0 ? ` (${report.uncheckedHosts.join(', ')})` : ''}`
  return `no drift: ${hosts} host(s) and the cluster are as the description says`
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map(r => (r[col] ?? '').length))) ?? []
  return rows.map(r =>
    r
      .map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col] ?? 0)))
      .join('  ')
      .trimEnd()
  )
}

function findingRows(findings: readonly DriftFinding[], all: boolean): string[][] {
  return sortedFindings(findings)
    .filter(f => all || f.state !== 'ok')
    .map(f => [MARK[f.state], f.area, oneLine(f.subject), oneLine(f.detail)])
}

function hostTitle(host: HostDrift): string {
  const counts = host.findings.filter(f => f.state === 'drift').length
  if (host.status === 'drift') return `${host.host}: drift (${counts})`
  if (host.status === 'unchecked') return `${host.host}: not checked`
  return `${host.host}: ok`
}

/**
 * The terminal output: the headline, then per host and for the cluster a table of its findings
 * (with `all`, the ones as described too; else only drift and what could not be told).
 */
export function driftLines(report: DriftReport, options: { all?: boolean } = {}): string[] {
  const all = options.all === true
  const lines: string[] = []
  const section = (title: string, findings: readonly DriftFinding[]): void => {
    lines.push('', title)
    const rows = findingRows(findings, all)
    if (rows.length === 0) {
      lines.push(`  ${findings.length} compared, all as described`)
      return
    }
    for (const line of table(rows)) lines.push(`  ${line}`)
  }
  for (const host of report.hosts) section(oneLine(hostTitle(host)), host.findings)
  const cluster = report.cluster
  section(
    `cluster: ${cluster.status === 'drift' ? 'drift' : cluster.status === 'ok' ? 'ok' : 'not checked'} (istiod ${cluster.istioVersion ?? '?'}${cluster.revision !== '' ? `, revision ${cluster.revision}` : ''})`,
    cluster.findings
  )
  for (const problem of report.problems) lines.push(`problem: ${oneLine(problem)}`)
  lines.push('', driftHeadline(report))
  return lines
}

function htmlTable(findings: readonly DriftFinding[]): string {
  const rows = sortedFindings(findings).map(
    f =>
      `<tr><td>${f.state === 'drift' ? '❌ drift' : f.state === 'unknown' ? '❔ unknown' : '✅ ok'}</td><td>${escapeHtml(f.area)}</td><td><code>${escapeHtml(f.subject)}</code></td><td>${escapeHtml(f.detail)}</td></tr>`
  )
  return `<table><thead><tr><th>state</th><th>what</th><th>subject</th><th>detail</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
}

/**
 * The job summary: the headline, an overview row per host, then a table per host and for the
 * cluster; a host with nothing to say is folded away.
 */
export function driftMarkdown(
  report: DriftReport,
  context: { description: string; runUrl?: string }
): string {
  const parts: string[] = [
    '## mesh-expansion drift',
    '',
    `<p><b>${escapeHtml(driftHeadline(report))}</b> (description ${escapeHtml(context.description)}, owner ${escapeHtml(report.owner)}, checked ${escapeHtml(report.checkedAt)}${context.runUrl !== undefined ? `, <a href="${escapeHtml(context.runUrl)}">run</a>` : ''})</p>`,
    '',
    '<table><thead><tr><th>host</th><th>status</th><th>drift</th></tr></thead><tbody>' +
      report.hosts
        .map(h => {
          const drifted = h.findings.filter(f => f.state === 'drift').map(f => f.subject)
          return `<tr><td>${escapeHtml(h.host)}</td><td>${h.status === 'unchecked' ? 'not checked' : h.status}</td><td>${escapeHtml(drifted.join(', '))}</td></tr>`
        })
        .join('') +
      '</tbody></table>',
    ''
  ]
  for (const host of report.hosts) {
    const open = host.status !== 'ok' ? ' open' : ''
    parts.push(
      `<details${open}><summary>${escapeHtml(hostTitle(host))}</summary>`,
      '',
      htmlTable(host.findings),
      '',
      '</details>',
      ''
    )
  }
  const cluster = report.cluster
  parts.push(
    `<details${cluster.status !== 'ok' ? ' open' : ''}><summary>cluster: ${cluster.status === 'unchecked' ? 'not checked' : cluster.status}</summary>`,
    '',
    htmlTable(cluster.findings),
    '',
    '</details>',
    ''
  )
  if (report.problems.length > 0)
    parts.push('<ul>', ...report.problems.map(p => `<li>${escapeHtml(p)}</li>`), '</ul>', '')
  return parts.join('\n')
}
