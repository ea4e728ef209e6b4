// Many hosts: bounded concurrency, one result per host in input order, failures that do not
// stop the others (unless failFast / maxFailures say so), and deterministic shards so a job
// matrix can split a large fleet.
import { createHash } from 'node:crypto'
import pLimit from 'p-limit'
import { errorMessage } from '../util/errors.ts'
import { AdaptiveLimit, ReadyPace, type ConcurrencyPoint } from './adaptive.ts'
import { emptyResult, type HostResult } from './onboard.ts'
import type { ReadinessDiagnosis } from './readiness.ts'

/**
 * The number of hosts at once adapts to the control plane (src/host/adaptive.ts), and a host
 * whose sidecar was not ready for a control-plane reason is worked on again later in the run.
 */
export interface AdaptiveFanout {
  /** Where the limit starts (default min(parallelism, 4)). */
  initial?: number
  /** Why a failed host failed; undefined = not a readiness failure (never retried). */
  diagnose: (result: HostResult) => ReadinessDiagnosis | undefined
  /** Attempts per host, the first included (default 3). */
  maxAttempts?: number
  /** Wait before attempt n+1 after a control-plane failure (default min(2 s × n, 10 s)). */
  retryDelayMs?: (attempt: number) => number
  /** A ready host that took this long or more does not grow the limit (default: never slow). */
  slowMs?: number
  /** Nor does one slower than `slowFactor` × the fastest so far (default 3), unless it took at
   * most `fastMs` (default 5 s): see ReadyPace. */
  slowFactor?: number
  fastMs?: number
  /** Clock (tests). */
  now?: () => number
}

export interface FanoutOptions {
  /** Hosts worked on at the same time (≥ 1). */
  parallelism: number
  /** Start no new host after the first failure. */
  failFast: boolean
  /** Start no new host once this many failed; null = no limit. */
  maxFailures: number | null
  /** Called as each host finishes (progress output); a host that is tried again is reported
   * once, with its last attempt. */
  onResult?: (result: HostResult) => void
  /** Adapt the hosts at once to the control plane and retry its failures (onboarding). Without
   * it: `parallelism` hosts at once, each tried once. */
  adaptive?: AdaptiveFanout
}

export interface FanoutReport {
  results: HostResult[]
  succeeded: number
  failed: number
  /** Not started because of failFast / maxFailures. */
  skipped: number
  /** True when every host that was worked on succeeded and none was skipped. */
  ok: boolean
  /** With `adaptive`: the limit over time (every change; ms since the start). */
  concurrency?: ConcurrencyPoint[]
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
  if (options.adaptive) return adaptiveFanOut(items, work, options, options.adaptive)
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
  return summary(results)
}

function summary(results: HostResult[]): FanoutReport {
  const count = (status: HostResult['status']): number =>
    results.filter(r => r.status === status).length
  const failed = count('failed')
  const skipped = count('skipped')
  return { results, succeeded: count('ok'), failed, skipped, ok: failed === 0 && skipped === 0 }
}

/**
 * A host whose SSH handshake did not come in time (src/host/ssh.ts: after its own connect
 * attempts): nothing ran on it, and with many hosts at once the cause is likely the load (of the
 * runner, the network, or VMs that share a machine), so it is tried again with fewer at once.
 */
export function busyDiagnosis(result: HostResult): ReadinessDiagnosis | undefined {
  const error = result.error
  if (error?.phase !== 'connect' || !/no SSH handshake within/.test(error.message)) return undefined
  return { cause: 'busy', reason: error.message }
}

const defaultRetryDelay = (attempt: number): number => Math.min(2000 * attempt, 10_000)

async function safely<T extends { name: string }>(
  item: T,
  work: (item: T) => Promise<HostResult>
): Promise<HostResult> {
  try {
    return await work(item)
  } catch (e) {
    const result = emptyResult(item.name, 'failed')
    result.error = { phase: 'internal', message: errorMessage(e) }
    return result
  }
}

/**
 * The adaptive scheduler: at most `limit.limit` hosts at once (it changes as hosts end), a host
 * that failed for a control-plane reason queued again after a bounded delay, up to
 * `maxAttempts`; any other failure is final at once. Every wait is bounded: the delays, and
 * each attempt by the host's own timeouts.
 */
function adaptiveFanOut<T extends { name: string }>(
  items: readonly T[],
  work: (item: T) => Promise<HostResult>,
  options: FanoutOptions,
  adaptive: AdaptiveFanout
): Promise<FanoutReport> {
  // more than one per host would never be used: the series would show limits no run reached
  const max = Math.max(1, Math.min(Math.floor(options.parallelism), items.length))
  const limit = new AdaptiveLimit({
    max,
    ...(adaptive.initial !== undefined ? { initial: adaptive.initial } : {}),
    ...(adaptive.now ? { now: adaptive.now } : {})
  })
  const pace = new ReadyPace({
    ...(adaptive.slowMs !== undefined ? { slowMs: adaptive.slowMs } : {}),
    ...(adaptive.slowFactor !== undefined ? { factor: adaptive.slowFactor } : {}),
    ...(adaptive.fastMs !== undefined ? { floorMs: adaptive.fastMs } : {})
  })
  const maxAttempts = Math.max(1, Math.floor(adaptive.maxAttempts ?? 3))
  const retryDelay = adaptive.retryDelayMs ?? defaultRetryDelay
  const results: Array<HostResult | undefined> = items.map(() => undefined)
  const attempts = items.map(() => 0)
  /** The failed attempt of a host waiting to be tried again: its result if it is not. */
  const earlier: Array<HostResult | undefined> = items.map(() => undefined)
  const queue: number[] = items.map((_, i) => i)
  let running = 0
  let waiting = 0
  let failures = 0
  const stop = (): boolean =>
    (options.failFast && failures > 0) ||
    (options.maxFailures !== null && failures >= options.maxFailures)

  return new Promise<FanoutReport>(resolve => {
    let resolved = false
    const finish = (index: number, result: HostResult): void => {
      results[index] = result
      if (result.status === 'failed') failures++
      if (result.status !== 'skipped') options.onResult?.(result)
    }
    const pump = (): void => {
      while (queue.length > 0 && running < limit.limit) {
        const index = queue.shift()!
        const item = items[index]!
        if (stop()) {
          finish(index, earlier[index] ?? emptyResult(item.name, 'skipped'))
          continue
        }
        running++
        attempts[index] = (attempts[index] ?? 0) + 1
        const startedAt = limit.started()
        void safely(item, work).then(result => {
          running--
          settle(index, result, startedAt)
          pump()
        })
      }
      if (!resolved && queue.length === 0 && running === 0 && waiting === 0) {
        resolved = true
        const done = results.map((r, i) => r ?? emptyResult(items[i]!.name, 'skipped'))
        resolve({ ...summary(done), concurrency: limit.series() })
      }
    }
    const settle = (index: number, result: HostResult, startedAt: number): void => {
      const attempt = attempts[index] ?? 1
      result.attempts = attempt
      if (result.status === 'ok') {
        const readyMs = result.phases.find(p => p.name === 'ready')?.ms ?? 0
        limit.ready(pace.inGoodTime(readyMs))
        finish(index, result)
        return
      }
      const diagnosis = result.status === 'failed' ? adaptive.diagnose(result) : undefined
      if (diagnosis) result.diagnosis = diagnosis
      if (diagnosis?.cause !== 'control-plane' && diagnosis?.cause !== 'busy') {
        finish(index, result)
        return
      }
      limit.overloaded(startedAt)
      if (attempt >= maxAttempts || stop()) {
        finish(index, result)
        return
      }
      // tried again once the limit has shrunk and the control plane had a moment
      earlier[index] = result
      waiting++
      setTimeout(
        () => {
          waiting--
          queue.unshift(index)
          pump()
        },
        Math.max(0, Math.min(60_000, retryDelay(attempt)))
      )
    }
    pump()
  })
}
