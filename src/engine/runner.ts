// The one small runner every command's phase list goes through: it checks that what a phase
// needs was produced before it, times it, tells the caller (onPhase) when it starts and ends,
// and stops at the first phase that fails. Whatever a phase opened is closed at the end, also
// after a failure (`defer`).
import { errorMessage } from '../util/errors.ts'

export type PhaseName =
  'inputs' | 'preflight' | 'cluster' | 'identity' | 'hosts' | 'register' | 'verify' | 'report'

export type PhaseEvent =
  | { readonly phase: PhaseName; readonly state: 'start'; readonly title: string }
  | {
      readonly phase: PhaseName
      readonly state: 'end'
      readonly title: string
      readonly ok: boolean
      readonly durationMs: number
    }

/** What a phase did, as the report keeps it. */
export interface PhaseRecord {
  readonly name: PhaseName
  readonly ok: boolean
  readonly durationMs: number
}

/** A phase stops the run by returning this (or by throwing). */
export interface PhaseFailure {
  readonly failed: true
  /** one line each, as the report lists them */
  readonly problems: readonly string[]
}

export interface Phase<S> {
  readonly name: PhaseName
  /** the log group's title after "name: ", from the state at the phase's start */
  readonly title: (state: S) => string
  /** fields of the state an earlier phase must have set */
  readonly needs: readonly (keyof S)[]
  /** fields this phase sets */
  readonly produces: readonly (keyof S)[]
  run(state: S, run: PhaseContext): Promise<PhaseFailure | void>
}

export interface PhaseContext {
  /** runs `close` when the whole run ends, in reverse order of registration */
  defer(close: () => Promise<void>): void
}

export interface PhasesResult {
  readonly records: PhaseRecord[]
  /** the phase that stopped the run, with its problems; null when every phase ran */
  readonly failed: { readonly phase: PhaseName; readonly problems: readonly string[] } | null
}

/** A list's needs are met by the phases before each one: checked before anything runs. */
export function checkPhaseList<S>(phases: readonly Phase<S>[], given: readonly (keyof S)[]): void {
  const available = new Set<keyof S>(given)
  for (const phase of phases) {
    const missing = phase.needs.filter(need => !available.has(need))
    if (missing.length > 0) {
      throw new Error(`internal: phase ${phase.name} needs ${missing.map(String).join(', ')}`)
    }
    for (const field of phase.produces) available.add(field)
  }
}

export async function runPhases<S extends object>(
  phases: readonly Phase<S>[],
  state: S,
  onPhase: (event: PhaseEvent) => void = () => undefined
): Promise<PhasesResult> {
  checkPhaseList(
    phases,
    (Object.keys(state) as (keyof S)[]).filter(key => state[key] !== undefined)
  )
  const records: PhaseRecord[] = []
  const closers: (() => Promise<void>)[] = []
  const context: PhaseContext = { defer: close => void closers.push(close) }
  let failed: PhasesResult['failed'] = null
  try {
    for (const phase of phases) {
      const title = phase.title(state)
      const started = Date.now()
      onPhase({ phase: phase.name, state: 'start', title })
      let outcome: PhaseFailure | void
      try {
        outcome = await phase.run(state, context)
      } catch (error) {
        outcome = { failed: true, problems: [`${phase.name}: ${errorMessage(error)}`] }
      }
      const missing = outcome ? [] : phase.produces.filter(field => state[field] === undefined)
      if (missing.length > 0) {
        outcome = {
          failed: true,
          problems: [
            `internal: phase ${phase.name} did not produce ${missing.map(String).join(', ')}`
          ]
        }
      }
      const durationMs = Date.now() - started
      records.push({ name: phase.name, ok: !outcome, durationMs })
      onPhase({ phase: phase.name, state: 'end', title, ok: !outcome, durationMs })
      if (outcome) {
        failed = { phase: phase.name, problems: outcome.problems }
        break
      }
    }
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined)
  }
  return { records, failed }
}

/** A field an earlier phase produced (the runner checked the order; this satisfies the types). */
export function produced<S, K extends keyof S>(state: S, key: K): NonNullable<S[K]> {
  const value = state[key]
  if (value === undefined || value === null)
    throw new Error(`internal: ${String(key)} was not produced`)
  return value as NonNullable<S[K]>
}
