// How many hosts are worked on at once when the control plane may throttle: an AIMD limit
// (additive increase, multiplicative decrease), as TCP does with its congestion window. It
// starts small, grows by one for each host that became ready in good time (ReadyPace: within
// the budget and not far slower than the fastest host), and halves when
// hosts fail for a control-plane reason, at most once per wave (the hosts that were already
// running when it shrank report the old limit, not a new overload). Never above `max`
// (settings.parallelism), never below `min`. Pure: the clock is given.

export interface AdaptiveLimitOptions {
  /** The ceiling: settings.parallelism. */
  max: number
  /** Where it starts (default min(max, 4)). */
  initial?: number
  /** The floor (default 1). */
  min?: number
  /** Factor applied on a control-plane failure (default 0.5). */
  decrease?: number
  /** Entries kept in the series (default 60): the first ones, then the latest. */
  maxSeries?: number
  /** Clock in ms (default Date.now). */
  now?: () => number
}

export interface ConcurrencyPoint {
  /** Milliseconds since the limit was made. */
  atMs: number
  limit: number
}

export const DEFAULT_INITIAL_LIMIT = 4

export class AdaptiveLimit {
  readonly max: number
  readonly min: number
  private readonly decrease: number
  private readonly maxSeries: number
  private readonly now: () => number
  private readonly startedAt: number
  private current: number
  /** Fractional growth once it has shrunk (one step per wave). */
  private credit = 0
  private shrunk = false
  private lastDecreaseAt = -Infinity
  private readonly points: ConcurrencyPoint[] = []
  private dropped = 0

  constructor(options: AdaptiveLimitOptions) {
    this.max = Math.max(1, Math.floor(options.max))
    this.min = Math.min(this.max, Math.max(1, Math.floor(options.min ?? 1)))
    this.decrease = Math.min(0.9, Math.max(0.1, options.decrease ?? 0.5))
    this.maxSeries = Math.max(4, options.maxSeries ?? 60)
    this.now = options.now ?? Date.now
    this.startedAt = this.now()
    const initial = options.initial ?? Math.min(this.max, DEFAULT_INITIAL_LIMIT)
    this.current = Math.min(this.max, Math.max(this.min, Math.floor(initial)))
    this.record()
  }

  /** Hosts that may run at once now. */
  get limit(): number {
    return this.current
  }

  /** The time a host starts (pass it back to `overloaded`). */
  started(): number {
    return this.now()
  }

  /**
   * A host became ready. `inGoodTime` false (it was ready, but late in its budget) holds the
   * limit. Before the first shrink: +1 per host (a quick ramp to `max` on a healthy control
   * plane); after it: +1 per `limit` hosts (one step per wave).
   */
  ready(inGoodTime = true): void {
    if (!inGoodTime || this.current >= this.max) return
    if (!this.shrunk) {
      this.set(this.current + 1)
      return
    }
    this.credit += 1 / this.current
    if (this.credit >= 1 - 1e-9) {
      this.credit = 0
      this.set(this.current + 1)
    }
  }

  /**
   * A host that started at `startedAt` failed for a control-plane reason: the limit shrinks,
   * unless it already shrank after that host started (one decrease per wave). True when it
   * shrank.
   */
  overloaded(startedAt: number): boolean {
    this.shrunk = true
    this.credit = 0
    if (startedAt < this.lastDecreaseAt) return false
    this.lastDecreaseAt = this.now()
    const next = Math.max(this.min, Math.floor(this.current * this.decrease))
    if (next === this.current) return false
    this.set(next)
    return true
  }

  /** The limit over time: every change, the first entry at 0 ms (bounded: the first entries
   * and the latest ones are kept). */
  series(): ConcurrencyPoint[] {
    return this.points.map(p => ({ ...p }))
  }

  /** Changes left out of the series because it was full. */
  get omitted(): number {
    return this.dropped
  }

  private set(limit: number): void {
    if (limit === this.current) return
    this.current = limit
    this.record()
  }

  private record(): void {
    this.points.push({ atMs: Math.max(0, this.now() - this.startedAt), limit: this.current })
    if (this.points.length > this.maxSeries) {
      // keep the start (the ramp) and the latest; drop from the middle
      this.points.splice(Math.floor(this.maxSeries / 2), 1)
      this.dropped++
    }
  }
}

export interface ReadyPaceOptions {
  /** Never in good time at or above this (default: no cap). */
  slowMs?: number
  /** In good time up to this many times the fastest host so far (default 3). */
  factor?: number
  /** Always in good time at or below this (default 5 s: a sidecar's usual start). */
  floorMs?: number
}

/**
 * Whether a host became ready in good time, from its readiness phase: within `slowMs`, and not
 * far slower than the fastest host of the run. A readiness time that rises as the limit grows
 * says the control plane (or the machine the hosts share) queues: growing further only adds
 * load, as TCP Vegas reads a rising round-trip time before any loss. Measured on the lab: the
 * limit grown on `slowMs` alone (half the budget) reached 32 with a load average of 80 on two
 * cores, and the API and istiod timed out.
 */
export class ReadyPace {
  private readonly slowMs: number
  private readonly factor: number
  private readonly floorMs: number
  private fastest = Infinity

  constructor(options: ReadyPaceOptions = {}) {
    this.slowMs = options.slowMs ?? Infinity
    this.factor = Math.max(1, options.factor ?? 3)
    this.floorMs = Math.max(0, options.floorMs ?? 5_000)
  }

  /** A host was ready after `readyMs` in its readiness phase. */
  inGoodTime(readyMs: number): boolean {
    this.fastest = Math.min(this.fastest, Math.max(0, readyMs))
    if (readyMs >= this.slowMs) return false
    return readyMs <= Math.max(this.floorMs, this.factor * this.fastest)
  }
}

/** "4 → 10 → 5 → 6": the limits of a series, each change once (at most `max` values shown). */
export function concurrencyLine(series: readonly ConcurrencyPoint[], max = 12): string {
  const limits = series.map(p => p.limit)
  if (limits.length <= max) return limits.join(' → ')
  const head = limits.slice(0, Math.ceil(max / 2))
  const tail = limits.slice(limits.length - Math.floor(max / 2))
  return `${head.join(' → ')} → … → ${tail.join(' → ')}`
}
