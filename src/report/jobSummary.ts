// The job summary, as GitHub renders it (Markdown with HTML blocks, and ```mermaid pictures),
// top to bottom: did it work; what failed, why, and the fix; the fleet at a glance; the checks
// and the time as pictures with tables as their text; then the details, collapsed, with counts
// in their titles. Pure: a report in, a string out (src/action/main.ts writes it).
// Every name and message is escaped and made one line: an HTML block in Markdown ends at a
// blank line, so a line break from outside could otherwise end ours and start Markdown.
import type { RunReport } from '../engine/report.ts'
import type { HostResult } from '../host/onboard.ts'
import { countResults } from '../verify/index.ts'
import type { CheckResult } from '../verify/types.ts'
import { escapeHtml, oneLine } from './escape.ts'
import { checkGraph, callerIdentity, ganttChart, mermaidBlock } from './mermaid.ts'
import {
  MARKS,
  failureGroups,
  groupSubject,
  headline,
  someNames,
  type FailureGroup
} from './overview.ts'
import { duration, flatten, phaseRows, phaseTree, type PhaseNode } from './phases.ts'
import { batchResult, hostNames } from './rollout.ts'
import { planLines } from './summary.ts'
import { concurrencySummary, reportLines } from './terminal.ts'

export interface SummaryContext {
  /** the description's file name */
  description: string
  /** what the description covers, in one line (report/description.ts summarize) */
  covers?: string
  /** the run's page, when known (runUrl) */
  runUrl?: string
}

/** Text from outside, for an HTML cell: one line, escaped. */
const text = (value: string): string => escapeHtml(oneLine(value))
const code = (value: string): string => `<code>${text(value)}</code>`
const row = (cells: readonly string[], tag: 'td' | 'th' = 'td'): string =>
  `<tr>${cells.map(c => `<${tag}>${c}</${tag}>`).join('')}</tr>`
const table = (head: readonly string[], rows: readonly (readonly string[])[]): string =>
  ['<table>', row(head, 'th'), ...rows.map(r => row(r)), '</table>'].join('\n')
const details = (title: string, body: string, open = false): string =>
  `<details${open ? ' open' : ''}><summary>${title}</summary>\n\n${body}\n\n</details>`

/** The most rows a details table lists (the JSON report in the `report` output has them all). */
const MAX_ROWS = 500
/** Up to this many hosts, the phase table has a column per host; past it, statistics. */
const PHASE_COLUMNS = 6
/** Failure groups listed at the top. */
const MAX_GROUPS = 15

export function summaryMarkdown(report: RunReport, context: SummaryContext): string {
  const parts = [headlineHtml(report, context)]
  const failures = failureGroups(report)
  if (failures.length > 0) parts.push(failuresHtml(failures))
  const glance = glanceHtml(report)
  if (glance) parts.push(glance)
  const rollout = rolloutHtml(report)
  if (rollout) parts.push(rollout)
  const concurrency = concurrencySummary(report)
  if (concurrency) parts.push(`<p>${text(concurrency)}</p>`)
  if (report.checks.length > 0) {
    parts.push(`<h3>Checks: who reached whom</h3>`, mermaidBlock(checkGraph(report)))
  }
  if (report.phases.length > 0) {
    parts.push(`<h3>Where the time went</h3>`, mermaidBlock(ganttChart(report)))
    parts.push(runPhasesHtml(report))
    if (report.hosts.length > 0) parts.push(hostPhasesHtml(report.hosts))
  }
  parts.push(...detailsHtml(report))
  return `${parts.join('\n\n')}\n`
}

function headlineHtml(report: RunReport, context: SummaryContext): string {
  const h = headline(report)
  const [first, ...rest] = h.counts
  const counts = [`<b>${text(first ?? '')}</b>`, ...rest.map(text)].join(' · ')
  const about = [
    `description ${code(context.description)}${context.covers !== undefined ? `: ${text(context.covers.replace(/^.*?: valid: /, ''))}` : ''}`,
    ...(report.owner ? [`owner ${code(report.owner)}`] : []),
    ...(context.runUrl ? [`<a href="${escapeHtml(context.runUrl)}">run log</a>`] : [])
  ].join(' · ')
  return [
    `<h2>${h.mark} mesh-expansion: ${text(h.title)}</h2>`,
    `<p>${counts}<br>${about}</p>`
  ].join('\n')
}

function failuresHtml(groups: readonly FailureGroup[]): string {
  const shown = groups.slice(0, MAX_GROUPS)
  const rows = shown.map(group => [
    MARKS.failed,
    text(groupSubject(group)) + (group.rolledBack ? ' <b>rolled back</b>' : ''),
    text(group.why) + (group.names.length > 1 ? ' <i>(the first one; the others alike)</i>' : ''),
    text(group.fix.text) + (group.fix.code !== undefined ? `<br>${code(group.fix.code)}` : '')
  ])
  const more =
    groups.length > shown.length
      ? `\n<p>${groups.length - shown.length} more kinds of failure: see the details below.</p>`
      : ''
  return `<h3>${MARKS.failed} What failed, and how to fix it</h3>\n${table(['', 'what', 'why', 'fix'], rows)}${more}`
}

/** Hosts grouped by outcome, checks by kind: a row per group, the exceptions named. */
function glanceHtml(report: RunReport): string {
  const rows: string[][] = []
  const hostGroup = (mark: string, what: string, hosts: readonly string[]): void => {
    if (hosts.length > 0)
      rows.push([mark, `${hosts.length}`, text(what), text(someNames(hosts, 8))])
  }
  const names = (hosts: readonly HostResult[]): string[] => hosts.map(h => h.host)
  const ok = report.hosts.filter(h => h.status === 'ok')
  if (report.command === 'cleanup') {
    hostGroup(MARKS.ok, 'hosts cleaned', names(ok))
  } else {
    const ready = ok.filter(h => h.ready)
    const changed = ready.filter(h => h.changed).length
    hostGroup(
      MARKS.ok,
      `${ready.length === 1 ? 'host' : 'hosts'} ready (${changed} changed, ${ready.length - changed} unchanged)`,
      names(ready)
    )
    hostGroup(MARKS.warning, 'hosts not ready', names(ok.filter(h => !h.ready)))
  }
  const failed = report.hosts.filter(h => h.status === 'failed')
  hostGroup(MARKS.failed, 'hosts rolled back (failed)', names(failed.filter(h => h.rolledBack)))
  hostGroup(MARKS.failed, 'hosts failed', names(failed.filter(h => !h.rolledBack)))
  hostGroup(MARKS.skipped, 'hosts not started (fail-fast or max-failures)', report.skippedHosts)
  // a row per kind of check: its counts, and only the exceptions named
  const kinds = [...new Set(report.checks.map(c => c.kind))]
  for (const kind of kinds) {
    const checks = report.checks.filter(c => c.kind === kind)
    const failed = checks.filter(c => c.status === 'fail')
    const skipped = checks.filter(c => c.status === 'skip')
    const passed = checks.length - failed.length - skipped.length
    const mark = failed.length > 0 ? MARKS.failed : skipped.length > 0 ? MARKS.skipped : MARKS.ok
    const counts = [
      `${passed} passed`,
      ...(failed.length > 0 ? [`${failed.length} failed`] : []),
      ...(skipped.length > 0 ? [`${skipped.length} skipped`] : [])
    ].join(', ')
    // the VM each is about (the kind is in the row already), else the check's name
    const who = (some: readonly CheckResult[]): string =>
      someNames(
        some.map(c => c.vm ?? c.name),
        5
      )
    const which = [
      ...(failed.length > 0 ? [`failed: ${who(failed)}`] : []),
      ...(skipped.length > 0 ? [`skipped: ${who(skipped)}`] : [])
    ].join('; ')
    rows.push([
      mark,
      `${checks.length}`,
      text(`${kind} ${checks.length === 1 ? 'check' : 'checks'}: ${counts}`),
      text(which || (checks.length === 1 ? who(checks) : 'all'))
    ])
  }
  if (rows.length === 0) return ''
  return `<h3>At a glance</h3>\n${table(['', 'count', 'what', 'which'], rows)}`
}

function runPhasesHtml(report: RunReport): string {
  const head = report.phases.map(p => `${p.ok ? '' : `${MARKS.failed} `}${text(p.name)}`)
  const times = report.phases.map(p => text(duration(p.durationMs)))
  return ['<table>', row(['run', ...head], 'th'), row(['time', ...times]), '</table>'].join('\n')
}

/** A phase label in a table: nested phases indented under the exec that ran them. */
const phaseLabel = (labelText: string, depth: number): string =>
  `${'&nbsp;&nbsp;&nbsp;&nbsp;'.repeat(depth)}${depth > 0 ? '↳ ' : ''}${text(labelText)}`

/** A row per phase (nested as nested), a column per host; statistics past a few hosts. */
function hostPhasesHtml(hosts: readonly HostResult[]): string {
  const trees = hosts.map(h => phaseTree(h.phases))
  const rows = phaseRows(trees)
  const times = trees.map(tree => new Map(flatten(tree).map(f => [f.key, f.node] as const)))
  const cell = (node: PhaseNode | undefined): string =>
    node === undefined ? '' : `${node.ok ? '' : `${MARKS.failed} `}${text(duration(node.ms))}`
  if (hosts.length <= PHASE_COLUMNS) {
    const body = rows.map(r => [
      phaseLabel(r.label, r.depth),
      ...times.map(t => cell(t.get(r.key)))
    ])
    body.push(['<b>total</b>', ...hosts.map(h => `<b>${text(duration(h.totalMs))}</b>`)])
    return `<p>Per host (host phases nested under the <code>exec</code> that ran them):</p>\n${table(['phase', ...hosts.map(h => text(h.host))], body)}`
  }
  const body = rows.map(r => {
    const found = times
      .map((t, i) => ({ node: t.get(r.key), host: hosts[i]?.host ?? '' }))
      .filter((x): x is { node: PhaseNode; host: string } => x.node !== undefined)
    const ms = found.map(x => x.node.ms).sort((a, b) => a - b)
    const slowest = found.reduce((a, b) => (b.node.ms > a.node.ms ? b : a), found[0]!)
    return [
      phaseLabel(r.label, r.depth),
      `${found.length}`,
      text(duration(quantile(ms, 0.5))),
      text(duration(quantile(ms, 0.9))),
      text(duration(ms[ms.length - 1] ?? 0)),
      text(slowest?.host ?? '')
    ]
  })
  const totals = hosts.map(h => h.totalMs).sort((a, b) => a - b)
  const slowestHost = hosts.reduce((a, b) => (b.totalMs > a.totalMs ? b : a))
  body.push([
    '<b>total</b>',
    `${hosts.length}`,
    text(duration(quantile(totals, 0.5))),
    text(duration(quantile(totals, 0.9))),
    text(duration(totals[totals.length - 1] ?? 0)),
    text(slowestHost.host)
  ])
  return `<p>Across ${hosts.length} hosts (host phases nested under the <code>exec</code> that ran them):</p>\n${table(['phase', 'hosts', 'median', '90th percentile', 'slowest', 'slowest host'], body)}`
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
}

const hostMark = (host: HostResult): string =>
  host.status === 'failed'
    ? MARKS.failed
    : host.status === 'skipped'
      ? MARKS.skipped
      : host.ready || host.package === 'removed' || host.package === 'kept'
        ? MARKS.ok
        : MARKS.warning

const hostResult = (host: HostResult): string =>
  host.status === 'ok'
    ? host.package === 'removed' || host.package === 'kept'
      ? `sidecar removed${host.package === 'kept' ? ' (package kept)' : ''}`
      : host.ready
        ? 'ready'
        : 'not ready'
    : host.rolledBack
      ? 'rolled back'
      : host.status

const checkMark = (check: CheckResult): string =>
  check.status === 'pass' ? MARKS.ok : check.status === 'fail' ? MARKS.failed : MARKS.skipped

/** settings.rollout: a row per batch, in order (plan: the batches if every host needed it). */
function rolloutHtml(report: RunReport): string {
  const rollout = report.rollout
  if (!rollout || rollout.batches.length === 0) return ''
  const rows = rollout.batches.map(batch => [
    String(batch.number),
    text(hostNames(batch.hosts)),
    text(batchResult(batch, rollout.stoppedAt))
  ])
  const title =
    report.command === 'plan'
      ? 'Rollout batches, if every host needs an upgrade'
      : rollout.stoppedAt !== null
        ? `Rollout: stopped at batch ${rollout.stoppedAt}`
        : `Rollout: ${rollout.batches.length} batch(es) passed`
  return `<h3>${text(title)}</h3>\n${table(['batch', 'hosts', 'result'], rows)}`
}

/** Loopback says nothing about the mesh (the sidecar-ready check asks 127.0.0.1). */
const resolvedAddress = (check: CheckResult): string => {
  const r = check.evidence.resolved
  return r === undefined || /^(127\.|::1$|localhost$)/.test(r) ? '' : r
}

function detailsHtml(report: RunReport): string[] {
  const out: string[] = []
  const hosts = [...report.hosts].sort((a, b) => rank(a) - rank(b))
  if (hosts.length > 0 || report.skippedHosts.length > 0) {
    const failed = report.hosts.filter(h => h.status === 'failed').length
    const ok = report.hosts.length - failed
    const rows = hosts
      .slice(0, MAX_ROWS)
      .map(h => [
        hostMark(h),
        text(h.host),
        text(hostResult(h)),
        text(h.changed ? (h.restarted ? 'yes, restarted' : 'yes') : 'no'),
        text(h.package || ''),
        text(duration(h.totalMs)),
        text(`${h.stats.connections} conn, ${h.stats.channels} ch`),
        h.error ? text(`${h.error.phase}: ${h.error.message}`) : ''
      ])
    for (const name of report.skippedHosts.slice(0, MAX_ROWS)) {
      rows.push([
        MARKS.skipped,
        text(name),
        'skipped',
        '',
        '',
        '',
        '',
        report.rollout?.stoppedAt != null
          ? text(`not started: rollout stopped at batch ${report.rollout.stoppedAt}`)
          : 'not started (fail-fast or max-failures)'
      ])
    }
    const title = `Hosts (${report.hosts.length + report.skippedHosts.length}: ${ok} ${report.command === 'cleanup' ? 'cleaned' : 'ok'}, ${failed} failed, ${report.skippedHosts.length} not started)`
    out.push(
      details(
        title,
        table(['', 'host', 'result', 'changed', 'package', 'time', 'SSH', 'error'], rows) +
          moreRows(hosts.length)
      )
    )
  }
  if (report.checks.length > 0) {
    const { passed, failed, skipped } = countResults(report.checks)
    const order = { fail: 0, skip: 1, pass: 2 }
    const checks = [...report.checks].sort((a, b) => order[a.status] - order[b.status])
    const rows = checks
      .slice(0, MAX_ROWS)
      .map(c => [
        checkMark(c),
        text(c.name),
        text(c.status),
        text(c.kind),
        c.evidence.status !== undefined
          ? text(
              `${c.evidence.status}${c.evidence.headers?.['server'] ? ` (server: ${c.evidence.headers['server']})` : ''}`
            )
          : text(c.evidence.error ?? ''),
        text(callerIdentity(c) ?? ''),
        text(resolvedAddress(c)),
        c.evidence.attempts > 0
          ? text(
              `${duration(c.evidence.durationMs)}, ${c.evidence.attempts} ${c.evidence.attempts === 1 ? 'try' : 'tries'}`
            )
          : '',
        text(c.diagnosis ?? '')
      ])
    out.push(
      details(
        `Checks (${report.checks.length}: ${passed} passed, ${failed} failed, ${skipped} skipped)`,
        table(
          [
            '',
            'check',
            'result',
            'kind',
            'HTTP',
            'caller identity',
            'address',
            'time',
            'diagnosis'
          ],
          rows
        ) + moreRows(checks.length)
      )
    )
  }
  if (report.cluster) {
    const clusterLine = reportLines(report)[0] ?? ''
    const warnings = report.cluster.warnings.map(w => `<li>${MARKS.warning} ${text(w)}</li>`)
    out.push(
      details(
        `Cluster (Istio ${text(report.cluster.istioVersion ?? 'not found')}, ${report.cluster.writes} writes, ${report.cluster.warnings.length} warnings)`,
        `<p>${text(clusterLine)}</p>${warnings.length > 0 ? `\n<ul>${warnings.join('')}</ul>` : ''}`
      )
    )
    const plan = planLines(report)
    if (plan.length > 0) {
      const actions = new Map<string, number>()
      for (const entry of report.cluster.plan)
        actions.set(entry.action, (actions.get(entry.action) ?? 0) + 1)
      const counts = [...actions].map(([action, n]) => `${n} ${action}`).join(', ')
      out.push(
        details(
          `Cluster plan (${plan.length} objects: ${text(counts)})`,
          `<pre>${plan.map(text).join('\n')}</pre>`
        )
      )
    }
  }
  return out
}

const rank = (host: HostResult): number =>
  host.status === 'failed'
    ? 0
    : host.status === 'ok' && !host.ready && !host.package.match(/removed|kept/)
      ? 1
      : 2

const moreRows = (n: number): string =>
  n > MAX_ROWS
    ? `\n<p>${n - MAX_ROWS} more not listed: the <code>report</code> output has every one.</p>`
    : ''
