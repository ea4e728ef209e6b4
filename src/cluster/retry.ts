// Bounded retries: exponential backoff with full jitter, the server's Retry-After honoured (but
// capped), at most `attempts` tries and `totalMs` of waiting in all.
import { retryDecision } from './errors.ts'

export interface RetryPolicy {
  /** tries in all, the first included */
  readonly attempts: number
  /** first backoff ceiling */
  readonly baseMs: number
  /** largest single wait, also for Retry-After */
  readonly maxDelayMs: number
  /** no new attempt starts once this much time has passed since the first */
  readonly totalMs: number
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 6,
  baseMs: 200,
  maxDelayMs: 5_000,
  totalMs: 30_000
}

export interface RetryClock {
  now(): number
  sleep(ms: number): Promise<void>
  /** in [0, 1) */
  random(): number
}

export const systemClock: RetryClock = {
  now: () => Date.now(),
  sleep: ms => new Promise(resolve => setTimeout(resolve, ms)),
  random: () => Math.random()
}

/** The wait before attempt `attempt + 1` (attempt counts from 1). */
export function backoffDelay(
  policy: RetryPolicy,
  attempt: number,
  random: number,
  retryAfterMs?: number
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseMs * 2 ** (attempt - 1))
  const jittered = Math.round(ceiling / 2 + (random * ceiling) / 2)
  if (retryAfterMs !== undefined)
    return Math.min(policy.maxDelayMs, Math.max(retryAfterMs, jittered))
  return jittered
}

export interface RetryOptions {
  readonly policy?: RetryPolicy
  readonly clock?: RetryClock
  /** 409 is retried too (for idempotent writes such as server-side apply) */
  readonly conflicts?: boolean
  /** told about every retry (for logs); gets no request or response data */
  readonly onRetry?: (attempt: number, delayMs: number, error: unknown) => void
}

/** Runs `fn` until it succeeds, fails with a final error, or the policy's bounds are reached. */
export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const policy = options.policy ?? DEFAULT_RETRY
  const clock = options.clock ?? systemClock
  const started = clock.now()
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (error) {
      const decision = retryDecision(error, options.conflicts ?? false)
      if (!decision.retry || attempt >= policy.attempts) throw error
      const delay = backoffDelay(policy, attempt, clock.random(), decision.retryAfterMs)
      if (clock.now() - started + delay > policy.totalMs) throw error
      options.onRetry?.(attempt, delay, error)
      await clock.sleep(delay)
    }
  }
}
