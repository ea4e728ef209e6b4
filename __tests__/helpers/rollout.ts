// What the canary lab tests expect of a rollout of 6 VMs with `firstBatch: 1, batchSize: 50%`.
import assert from 'node:assert/strict'
import type { RunReport } from '../../src/engine/report.ts'

type BatchResult = 'passed' | 'failed' | 'not run'

/** The report's batches as [hosts, result] pairs. */
export function batchesOf(report: RunReport): Array<[string[], string]> {
  return (report.rollout?.batches ?? []).map(b => [[...b.hosts], b.result])
}

/** The batches of 1, 3 and 2 hosts that 6 VMs make, in their order, with these results. */
export function batchesOfSix(
  vms: ReadonlyArray<{ name: string }>,
  results: readonly [BatchResult, BatchResult, BatchResult]
): Array<[string[], string]> {
  const names = vms.map(vm => vm.name)
  return [
    [names.slice(0, 1), results[0]],
    [names.slice(1, 4), results[1]],
    [names.slice(4), results[2]]
  ]
}

/** Every sidecar of a batch started (monotonic µs) after every sidecar of the batch before. */
export function assertBatchOrder(
  report: RunReport,
  since: (host: string) => number,
  why: string
): void {
  const batches = report.rollout?.batches ?? []
  for (let b = 1; b < batches.length; b++) {
    const earlier = Math.max(...(batches[b - 1]?.hosts ?? []).map(since))
    const later = Math.min(...(batches[b]?.hosts ?? []).map(since))
    assert.ok(earlier < later, `batch ${b + 1} started before batch ${b} was done: ${why}`)
  }
}
