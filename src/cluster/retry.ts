// Bounded retries: exponential backoff with full jitter, the server's Retry-After honoured (but
// capped), at most `attempts` tries and `totalMs` of waiting in all. And which failures pass
// with time (transientApiFailure), for callers that can try a whole step again later.
import {
  ClusterError,
  RETRYABLE_STATUS,
  isApiException,
  networkCode,
  retryDecision
} from './errors.ts'

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

/** The client gives up on an unanswered request after this long (client.ts). */
export const REQUEST_TIMEOUT_MS = 30_000

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 6,
  baseMs: 200,
  maxDelayMs: 5_000,
  // two request timeouts: a request left unanswered is sent once more (with a budget of one
  // timeout, the first unanswered request spent it all and was never retried)
  totalMs: 2 * REQUEST_TIMEOUT_MS
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

/** Network failures that say the server was busy or briefly away, not that it is wrong. */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT'
])
/** An unreachable API whose reason does not pass: certificates, a name that does not resolve. */
const LASTING_UNREACHABLE =
  /CERT_|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ENOTFOUND|certificate|altname/i

/**
 * A failure of the Kubernetes API that passes with time: no answer, a connection dropped or
 * not accepted (a server too busy to finish a handshake), overload (429, 5xx). The request's
 * own retries (withRetry) were spent or did not apply (a connect timeout or refusal is final
 * for one request, so that a wrong address fails fast at the start of a run); a caller that can
 * do its step again later (a host's render, under the adaptive limit) does so. Not transient:
 * refusals of the request itself (401, 403, 404, 409, 422), certificate and name failures.
 */
export function transientApiFailure(error: unknown): boolean {
  if (error instanceof ClusterError) {
    if (error.status !== 0) return RETRYABLE_STATUS.has(error.status)
    // translateError keeps the code in the message (causeText), not the original error
    return (
      error.kind === 'unreachable' &&
      !LASTING_UNREACHABLE.test(error.message) &&
      ([...TRANSIENT_CODES].some(code => error.message.includes(code)) ||
        /fetch failed|other side closed|socket hang up/i.test(error.message))
    )
  }
  if (isApiException(error)) return RETRYABLE_STATUS.has(error.code)
  const code = networkCode(error)
  return code !== undefined && TRANSIENT_CODES.has(code)
}
