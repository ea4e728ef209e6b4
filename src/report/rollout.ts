// settings.rollout in words: one line per batch, for the CLI, the Action's log and the job
// summary's table. Pure.
import type { RolloutBatchReport, RunReport } from '../engine/report.ts'

/** The most host names a line lists. */
const NAMES = 10

export function hostNames(names: readonly string[]): string {
  const shown = names.slice(0, NAMES).join(', ')
  return names.length > NAMES ? `${shown}, … (${names.length} in all)` : shown
}

/** `failed: 2 of 3 failed, more than 0 may (vm-2 rolled back, vm-3)` and the like. */
export function batchResult(batch: RolloutBatchReport, stoppedAt: number | null): string {
  const failed = batch.failed.map(name =>
    batch.rolledBack.includes(name) ? `${name} rolled back` : name
  )
  const checks =
    batch.checks.passed + batch.checks.failed > 0
      ? `; checks ${batch.checks.passed} passed, ${batch.checks.failed} failed`
      : ''
  switch (batch.result) {
    case 'planned':
      return `planned (up to ${batch.maxUnavailable} may fail)`
    case 'not run':
      return stoppedAt !== null ? `not run: rollout stopped at batch ${stoppedAt}` : 'not run'
    case 'passed':
      return failed.length > 0
        ? `passed with ${failed.length} failed (${hostNames(failed)}), up to ${batch.maxUnavailable} may${checks}`
        : `passed${checks}`
    case 'failed':
      return `failed: ${failed.length} of ${batch.hosts.length} failed (${hostNames(failed)}), more than the ${batch.maxUnavailable} that may${checks}`
  }
}

/** The rollout's lines; none without settings.rollout. */
export function rolloutLines(report: RunReport): string[] {
  const rollout = report.rollout
  if (!rollout) return []
  const lines: string[] = []
  if (report.command === 'plan') {
    lines.push(
      `rollout: if every host needs an upgrade, ${rollout.batches.length} batch(es), each checked before the next`
    )
  } else {
    const rest =
      rollout.rest.length > 0
        ? `; ${rollout.rest.length} new or current host(s) after the batches`
        : ''
    lines.push(
      rollout.batches.length > 0
        ? `rollout: ${rollout.upgrades.length} host(s) to upgrade in ${rollout.batches.length} batch(es)${rest}`
        : `rollout: no host to upgrade${rest}`
    )
  }
  for (const batch of rollout.batches) {
    lines.push(
      `rollout batch ${batch.number} (${hostNames(batch.hosts)}): ${batchResult(batch, rollout.stoppedAt)}`
    )
  }
  return lines
}
