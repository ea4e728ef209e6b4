// Human output of a run, line by line: pure functions of results, so the CLI and the Action's
// log print the same words. Each is one line whatever the names and messages hold (oneLine), and
// starts with our own words, so nothing from outside can begin a line (a workflow command).
import { duration } from '../drift/compare.ts'
import { concurrencyLine } from '../host/adaptive.ts'
import type { HostResult } from '../host/onboard.ts'
import type { TokenOutcome } from '../host/results.ts'
import { diagnosisTail } from '../host/readiness.ts'
import { countResults } from '../verify/index.ts'
import type { CheckResult } from '../verify/types.ts'
import { stoppedBeforeChange, type RunReport } from '../engine/report.ts'
import { oneLine } from './escape.ts'
import { fixLine, failureGroups, groupSubject, headline } from './overview.ts'
import { phaseLine } from './phases.ts'
import { rolloutLines } from './rollout.ts'

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`

export function hostLine(result: HostResult): string {
  return oneLine(hostText(result))
}

function hostText(result: HostResult): string {
  if (result.status === 'failed') {
    // the update was not ready: the previous sidecar is back and ready, the host still failed
    if (result.rolledBack)
      return `✗ ${result.host}: rolled back to the previous sidecar after ${seconds(result.totalMs)}: ${result.error?.message ?? ''}${diagnosisTail(result)}`
    return `✗ ${result.host}: failed in ${result.error?.phase ?? '?'} after ${seconds(result.totalMs)}: ${result.error?.message ?? ''}${diagnosisTail(result)}`
  }
  if (result.status === 'skipped')
    return `- ${result.host}: skipped${result.error ? `: ${result.error.message}` : ''}`
  if (result.package === 'removed' || result.package === 'kept') {
    return `✓ ${result.host}: sidecar removed${result.package === 'kept' ? ' (package kept)' : ''} (${seconds(result.totalMs)})`
  }
  const what = result.changed ? (result.restarted ? 'changed, restarted' : 'changed') : 'unchanged'
  const ready = result.ready ? 'ready' : 'not ready'
  const { connections, channels } = result.stats
  // a host tried again after the control plane failed it: the figures are its last attempt's
  const attempt = (result.attempts ?? 1) > 1 ? `, attempt ${result.attempts}` : ''
  const token = result.token ? `, ${tokenText(result.token)}` : ''
  return `✓ ${result.host}: ${ready}, ${what}, package ${result.package || 'n/a'}${token} (${seconds(result.totalMs)}; ${connections} connection, ${channels} channels${attempt})`
}

/** `token kept (expires in 5 h)`, `token refreshed (expired in 9 min)`: the seconds the token on
 * the host had left, by the host's clock. */
export function tokenText(token: TokenOutcome): string {
  const left = token.leftSeconds
  const when =
    left === null
      ? ''
      : left > 0
        ? `expires in ${duration(left)}`
        : `expired ${duration(-left)} ago`
  if (token.action === 'kept') return `token kept${when ? ` (${when})` : ''}`
  const why: Record<string, string> = {
    expiring: when.replace(/^expires/, 'expired'),
    identity: 'another identity',
    signer: 'another signing key',
    missing: 'none on the host',
    'not-ours': 'the one on the host is not as placed',
    unreadable: 'the one on the host is unreadable'
  }
  const reason = why[token.reason] || when || token.reason
  return `token refreshed${reason ? ` (${reason})` : ''}`
}

export function checkLine(result: CheckResult): string {
  const mark = result.status === 'pass' ? '✓' : result.status === 'skip' ? '-' : '✗'
  const tail = result.status === 'pass' ? '' : `: ${result.diagnosis ?? ''}`
  return oneLine(`${mark} check ${result.name}${tail}`)
}

export function reportLines(report: RunReport): string[] {
  const lines: string[] = []
  if (report.cluster) {
    const c = report.cluster
    lines.push(
      `cluster: Istio ${c.istioVersion ?? 'not found'} (${c.generation}), revision ${c.revision || 'default'}, ` +
        `cluster ID "${c.clusterID}", gateway ${c.gateway || 'none'}; ${c.writes} write(s), ${c.unchanged} unchanged`
    )
  }
  const reachedHosts = !stoppedBeforeChange(report)
  if ((report.command === 'apply' || report.command === 'cleanup') && reachedHosts) {
    const ready = report.hosts.filter(h => h.status === 'ok' && h.ready).length
    const failed = report.hosts.filter(h => h.status === 'failed').length
    lines.push(`hosts: ${ready} ready, ${failed} failed, ${report.skippedHosts.length} skipped`)
    const concurrency = concurrencySummary(report)
    if (concurrency) lines.push(concurrency)
  }
  if (report.rollout && (report.command === 'plan' || reachedHosts))
    lines.push(...rolloutLines(report))
  if (report.checks.length > 0) {
    const { passed, failed, skipped } = countResults(report.checks)
    lines.push(`checks: ${passed} passed, ${failed} failed, ${skipped} skipped`)
  }
  if (report.removed.length > 0) lines.push(`removed: ${report.removed.length} object(s)`)
  if (report.failedPhase !== null) {
    const untouched = stoppedBeforeChange(report)
    lines.push(
      `stopped in ${report.failedPhase}${untouched ? ': nothing was changed on the cluster or any host' : ''}`
    )
  }
  for (const problem of report.problems) lines.push(`problem: ${problem}`)
  lines.push(
    `${report.command} ${report.ok ? 'succeeded' : 'FAILED'} in ${seconds(report.durationMs)}`
  )
  return lines.map(oneLine)
}

/**
 * The CLI's closing block, in the job summary's order: the headline, what failed with its fix,
 * then the details (cluster, counts, where each host's time went). One line each.
 */
export function humanReport(report: RunReport): string[] {
  const h = headline(report)
  const lines = [`${report.ok ? '✓' : '✗'} ${h.title}: ${h.counts.join(' · ')}`]
  const groups = failureGroups(report)
  if (groups.length > 0) {
    lines.push('', 'What failed, and how to fix it:')
    for (const group of groups) {
      lines.push(`  ✗ ${groupSubject(group)}: ${group.why}`, `    fix: ${fixLine(group.fix)}`)
    }
  }
  lines.push('', 'Details:')
  // the counts and the final line are in the headline already
  const details = reportLines(report).slice(0, -1)
  // a problem of a failed host or check is listed above; any other one stays here
  const failed = report.hosts
    .filter(host => host.status === 'failed')
    .map(host => `problem: ${host.host}: `)
  const listed = (line: string): boolean =>
    report.failedPhase !== null
      ? line.startsWith('problem: ')
      : line.startsWith('problem: check "') || failed.some(prefix => line.startsWith(prefix))
  lines.push(...details.filter(line => !listed(line)).map(line => `  ${line}`))
  const hosts = [...report.hosts].sort((a, b) => b.totalMs - a.totalMs)
  const shown = hosts.length > TIME_LINES ? hosts.slice(0, TIME_LINES) : report.hosts
  if (shown.length > 0) {
    lines.push(
      hosts.length > TIME_LINES
        ? `  time, the ${TIME_LINES} slowest of ${hosts.length} hosts:`
        : '  time:'
    )
    for (const host of shown)
      lines.push(`    ${host.host} ${seconds(host.totalMs)}: ${phaseLine(host.phases)}`)
  }
  return lines.map(oneLine)
}

/** Hosts whose phase times the CLI prints (the slowest, past this many). */
const TIME_LINES = 10

/**
 * `concurrency 4 → 8 → 4 → 5 (2 hosts tried again for the control plane)`: the hosts worked on
 * at once as the adaptive limit moved; '' when it never moved and no host was tried again.
 */
export function concurrencySummary(report: RunReport): string {
  const series = report.concurrency ?? []
  const retried = report.hosts.filter(h => (h.attempts ?? 1) > 1).length
  if (series.length <= 1 && retried === 0) return ''
  const again =
    retried > 0
      ? ` (${retried} ${retried === 1 ? 'host' : 'hosts'} tried again for the control plane)`
      : ''
  return `concurrency ${concurrencyLine(series)}${again}`
}
