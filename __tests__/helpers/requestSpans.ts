// How requests the sandbox API logged overlapped in time: deterministic counts that show
// parallelism without asserting how long anything took.
import type { RequestLogEntry } from '../../lab/cluster/observe.ts'

/** [start, end) in ms, as the server saw each request */
export type Span = readonly [number, number]

export const spansOf = (entries: readonly RequestLogEntry[]): Span[] =>
  entries.map(e => {
    const start = Date.parse(e.time)
    return [start, start + e.durationMs] as const
  })

/** The most requests in flight at one moment (checked at every request's start). */
export const peakInFlight = (spans: readonly Span[]): number =>
  Math.max(0, ...spans.map(([s]) => spans.filter(([a, b]) => a <= s && s < b).length))

/**
 * The longest chain of requests each sent after the previous one was answered: the rounds a
 * client needed (1 when all went out at once, the number of requests when one after another).
 */
export function sequentialRounds(spans: readonly Span[]): number {
  const byEnd = [...spans].sort((x, y) => x[1] - y[1])
  const depth: number[] = []
  byEnd.forEach(([start], i) => {
    let best = 0
    for (let j = 0; j < i; j++)
      if ((byEnd[j] as Span)[1] <= start) best = Math.max(best, depth[j] ?? 0)
    depth.push(best + 1)
  })
  return Math.max(0, ...depth)
}
