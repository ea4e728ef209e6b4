// Where a host's time went, as a tree. HostResult.phases is one flat list: the runner's own
// phases (connect, render, exec, download, push) and, right after each `exec`, the phases the
// install script reported from the host (preflight, package, files, service, ready). Read back
// as a tree, each exec holds its host phases, and an exec that ran twice (the host asked for
// the package to be pushed) is `exec 1` and `exec 2`: no name repeats at one level. Pure.
import type { PhaseTiming } from '../host/onboard.ts'

/** The runner's phases (src/host/onboard.ts); every other name is one the host reported. */
const RUNNER_PHASES = new Set(['connect', 'render', 'exec', 'download', 'push'])

export interface PhaseNode {
  /** Unique among its siblings: `exec 1`, `exec 2` when exec ran twice. */
  label: string
  /** The phase's own name (`exec`, `preflight`). */
  name: string
  ms: number
  ok: boolean
  children: PhaseNode[]
}

/** The phases of one host as a tree: host phases nested under the exec that ran them. */
export function phaseTree(phases: readonly PhaseTiming[]): PhaseNode[] {
  const roots: PhaseNode[] = []
  let exec: PhaseNode | undefined
  for (const phase of phases) {
    const node: PhaseNode = {
      label: phase.name,
      name: phase.name,
      ms: phase.ms,
      ok: phase.ok,
      children: []
    }
    if (RUNNER_PHASES.has(phase.name)) {
      roots.push(node)
      exec = phase.name === 'exec' ? node : undefined
    } else if (exec) exec.children.push(node)
    else roots.push(node)
  }
  uniqueLabels(roots)
  for (const root of roots) uniqueLabels(root.children)
  return roots
}

/** Siblings that share a name are numbered in order: `exec 1`, `exec 2`. */
function uniqueLabels(nodes: PhaseNode[]): void {
  const counts = new Map<string, number>()
  for (const node of nodes) counts.set(node.name, (counts.get(node.name) ?? 0) + 1)
  const seen = new Map<string, number>()
  for (const node of nodes) {
    if ((counts.get(node.name) ?? 0) < 2) continue
    const n = (seen.get(node.name) ?? 0) + 1
    seen.set(node.name, n)
    node.label = `${node.name} ${n}`
  }
}

/** One row of a phase table: its path (the key across hosts), its label and depth. */
export interface PhaseRow {
  key: string
  label: string
  depth: number
}

/** Every node with its path, depth first. */
export function flatten(
  nodes: readonly PhaseNode[],
  parent = '',
  depth = 0
): Array<PhaseRow & { node: PhaseNode }> {
  return nodes.flatMap(node => {
    const key = parent ? `${parent}/${node.label}` : node.label
    return [{ key, label: node.label, depth, node }, ...flatten(node.children, key, depth + 1)]
  })
}

/** The rows of several hosts' trees, in the order they first appear. */
export function phaseRows(trees: readonly PhaseNode[][]): PhaseRow[] {
  const rows = new Map<string, PhaseRow>()
  for (const tree of trees) {
    for (const { key, label, depth } of flatten(tree)) {
      if (!rows.has(key)) rows.set(key, { key, label, depth })
    }
  }
  return [...rows.values()]
}

/** Milliseconds for a person: `480 ms`, `6.8 s`, `2 min 05 s`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
}

/** One line per host for a terminal: `connect 255 ms · exec 2 6.8 s (preflight 463 ms, …)`. */
export function phaseLine(phases: readonly PhaseTiming[]): string {
  return phaseTree(phases)
    .map(node => {
      const inner = node.children.map(child => `${child.label} ${duration(child.ms)}`).join(', ')
      return `${node.label} ${duration(node.ms)}${inner ? ` (${inner})` : ''}`
    })
    .join(' · ')
}
