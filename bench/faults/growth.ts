// The soak's verdict (issue 17), pure: figures taken at the same point of two cycles are compared,
// and growth in any of them is a failure. Counts (rules, files, processes, descriptors, objects)
// may not grow at all; memory is not a count (V8 keeps compiled code and the allocator keeps freed
// pages), so it grows when it is above its baseline by more than MEMORY_TOLERANCE. Context figures
// (the lab's own bounded buffers, V8's heap spaces) are there to explain memory, not judged.

/** count: may not grow; bytes: memory, within MEMORY_TOLERANCE; context: shown, never judged */
export type FigureKind = 'count' | 'bytes' | 'context'

export interface Figure {
  value: number
  kind: FigureKind
  /** what was counted (paths, rules, process names…): the diff named when the count grows */
  items?: string[]
}

export type Figures = Record<string, Figure>

/** A count figure of these items (kept sorted: the diff names what was added). */
export function count(items: string[]): Figure {
  const sorted = [...items].sort()
  return { value: sorted.length, kind: 'count', items: sorted }
}

export interface Comparison {
  figure: string
  kind: FigureKind
  before: number
  after: number
  grew: boolean
  /** items present after and not before (a multiset difference: two `sleep` for one is one added) */
  added?: string[]
  removed?: string[]
}

/** Memory grows when it is above the baseline by more than both of these. */
export const MEMORY_TOLERANCE = { ratio: 0.1, bytes: 8 * 2 ** 20 } as const

function counted(items: readonly string[]): Map<string, number> {
  const m = new Map<string, number>()
  for (const i of items) m.set(i, (m.get(i) ?? 0) + 1)
  return m
}

/** What `after` has more of than `before`, each extra occurrence once. */
export function multisetDifference(after: readonly string[], before: readonly string[]): string[] {
  const left = counted(before)
  const extra: string[] = []
  for (const i of after) {
    const n = left.get(i) ?? 0
    if (n > 0) left.set(i, n - 1)
    else extra.push(i)
  }
  return extra
}

export function grew(kind: FigureKind, before: number, after: number): boolean {
  if (kind === 'context') return false
  if (kind === 'count') return after > before
  return after - before > Math.max(before * MEMORY_TOLERANCE.ratio, MEMORY_TOLERANCE.bytes)
}

/**
 * Every figure of either side, by name. A figure missing on one side counts as 0 there (a VM's
 * figure that appears from nothing has grown); a count that shrank is not a failure.
 */
export function compareFigures(before: Figures, after: Figures): Comparison[] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()
  return names.map(figure => {
    const b = before[figure]
    const a = after[figure]
    const kind = a?.kind ?? b?.kind ?? 'count'
    const bv = b?.value ?? 0
    const av = a?.value ?? 0
    const comparison: Comparison = {
      figure,
      kind,
      before: bv,
      after: av,
      grew: grew(kind, bv, av)
    }
    if (a?.items || b?.items) {
      const added = multisetDifference(a?.items ?? [], b?.items ?? [])
      const removed = multisetDifference(b?.items ?? [], a?.items ?? [])
      if (added.length > 0) comparison.added = added.slice(0, 50)
      if (removed.length > 0) comparison.removed = removed.slice(0, 50)
    }
    return comparison
  })
}

/** One line per figure that grew, with what was added: the soak's failures. */
export function growthLines(comparisons: readonly Comparison[], point: string): string[] {
  return comparisons
    .filter(c => c.grew)
    .map(
      c =>
        `${point}: ${c.figure} grew ${c.before} → ${c.after}` +
        (c.added && c.added.length > 0 ? ` (added: ${c.added.slice(0, 10).join(', ')})` : '')
    )
}

/** Figures without their items (what bench/faults.json keeps of every sample). */
export function values(figures: Figures): Record<string, number> {
  return Object.fromEntries(Object.entries(figures).map(([k, f]) => [k, f.value]))
}
