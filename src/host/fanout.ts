// Many hosts: bounded concurrency, one result per host in input order, failures that do not
// stop the others (unless failFast / maxFailures say so), and deterministic shards so a job
// matrix can split a large fleet.
import { createHash } from 'node:crypto'
import pLimit from 'p-limit'
import { errorMessage } from '../util/errors.ts'
import { emptyResult, type HostResult } from './onboard.ts'

export interface FanoutOptions {
  /** Hosts worked on at the same time (≥ 1). */
  parallelism: number
  /** Start no new host after the first failure. */
  failFast: boolean
  /** Start no new host once this many failed; null = no limit. */
  maxFailures: number | null
  /** Called as each host finishes (progress output). */
  onResult?: (result: HostResult) => void
}

export interface FanoutReport {
  results: HostResult[]
  succeeded: number
  failed: number
  /** Not started because of failFast / maxFailures. */
  skipped: number
  /** True when every host that was worked on succeeded and none was skipped. */
  ok: boolean
}

/** Which of `count` shards a name belongs to (1-based): a stable hash, not the list order. */
export function shardOf(name: string, count: number): number {
  const digest = createHash('sha256').update(name).digest()
  return (digest.readUInt32BE(0) % count) + 1
}

/** The items of shard index/count (1 ≤ index ≤ count); every item is in exactly one shard. */
export function selectShard<T extends { name: string }>(
  items: readonly T[],
  shard: { index: number; count: number }
): T[] {
  const { index, count } = shard
  if (
    !Number.isInteger(count) ||
    count < 1 ||
    !Number.isInteger(index) ||
    index < 1 ||
    index > count
  ) {
    throw new Error(`shard ${index}/${count} is not i/n with 1 <= i <= n`)
  }
  return items.filter(item => shardOf(item.name, count) === index)
}

export async function fanOut<T extends { name: string }>(
  items: readonly T[],
  work: (item: T) => Promise<HostResult>,
  options: FanoutOptions
): Promise<FanoutReport> {
  const limit = pLimit(Math.max(1, Math.floor(options.parallelism)))
  let failures = 0
  const stop = (): boolean =>
    (options.failFast && failures > 0) ||
    (options.maxFailures !== null && failures >= options.maxFailures)
  const results = await Promise.all(
    items.map(item =>
      limit(async (): Promise<HostResult> => {
        if (stop()) return emptyResult(item.name, 'skipped')
        let result: HostResult
        try {
          result = await work(item)
        } catch (e) {
          result = emptyResult(item.name, 'failed')
          result.error = { phase: 'internal', message: errorMessage(e) }
        }
        if (result.status === 'failed') failures++
        options.onResult?.(result)
        return result
      })
    )
  )
  const count = (status: HostResult['status']): number =>
    results.filter(r => r.status === status).length
  const failed = count('failed')
  const skipped = count('skipped')
  return { results, succeeded: count('ok'), failed, skipped, ok: failed === 0 && skipped === 0 }
}
