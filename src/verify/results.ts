// A check's result from its verdict and evidence, including the ones decided before anything
// ran (skipped, or failed for want of a connection or a client).
import type { Verdict } from './diagnose.ts'
import { excerpt, type HttpOutcome } from './http.ts'
import type { CheckKind, CheckResult, Evidence } from './types.ts'

const ZERO_ATTEMPTS: Evidence = { durationMs: 0, attempts: 0 }
const ONE_ATTEMPT: Evidence = { durationMs: 0, attempts: 1 }

/** The result of a check that ran: its status from the verdict, the verdict's notes last. */
export function result(
  name: string,
  kind: CheckKind,
  vm: string | undefined,
  verdict: Verdict & { skipped?: boolean },
  evidence: Evidence
): CheckResult {
  const status = verdict.skipped ? 'skip' : verdict.ok ? 'pass' : 'fail'
  const notes = [...(evidence.notes ?? []), ...(verdict.notes ?? [])]
  return {
    name,
    kind,
    ...(vm !== undefined ? { vm } : {}),
    status,
    ok: status !== 'fail',
    evidence: { ...evidence, ...(notes.length > 0 ? { notes } : {}) },
    ...(verdict.diagnosis !== undefined ? { diagnosis: verdict.diagnosis } : {})
  }
}

/** Not run (no attempt made), and why. */
export function skipped(
  name: string,
  kind: CheckKind,
  vm: string | undefined,
  why: string
): CheckResult {
  return result(name, kind, vm, { ok: true, skipped: true, diagnosis: why }, ZERO_ATTEMPTS)
}

/** Failed before a request could be judged (one attempt, counted as made). */
export function failed(
  name: string,
  kind: CheckKind,
  vm: string | undefined,
  diagnosis: string,
  evidence: Partial<Evidence> = {}
): CheckResult {
  return result(name, kind, vm, { ok: false, diagnosis }, { ...ONE_ATTEMPT, ...evidence })
}

/** The evidence of an HTTP outcome: status, headers and body, or the transport error. */
export function evidenceOf(outcome: HttpOutcome): Partial<Evidence> {
  const resolved = outcome.remoteIp ? { resolved: outcome.remoteIp } : {}
  if (outcome.response) {
    return {
      status: outcome.response.status,
      headers: outcome.response.headers,
      bodyExcerpt: excerpt(outcome.response.body),
      ...resolved
    }
  }
  return {
    ...(outcome.failure ? { error: `${outcome.failure.kind}: ${outcome.failure.message}` } : {}),
    ...resolved
  }
}
