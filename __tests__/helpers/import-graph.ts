// The import graph of src/ and its two rules: no cycle between files, and every import goes
// down the layers (or stays in its folder). Pure: the caller reads the files.
import { posix } from 'node:path'
import ts from 'typescript'

/** Bottom to top; a group of several names holds siblings, which must not import each other. */
export const LAYERS: readonly (readonly string[])[] = [
  ['util'],
  ['config'],
  ['istio'],
  ['cluster', 'host'],
  ['verify'],
  ['engine'],
  ['drift'],
  ['report'],
  ['commands'],
  ['action'],
  ['cli.ts', 'main.ts', 'post.ts']
]

/** Relative specifiers of static imports, `export … from`, `import type` and `import('…')`. */
export function relativeImports(source: string): string[] {
  // TypeScript's own pre-scanner: comments and strings that merely look like imports are skipped
  return ts
    .preProcessFile(source, true, true)
    .importedFiles.map(file => file.fileName)
    .filter(specifier => specifier.startsWith('./') || specifier.startsWith('../'))
}

/** File → the files it imports; keys and values are paths relative to src/, posix style. */
export type ImportGraph = ReadonlyMap<string, readonly string[]>

/** Builds the graph from path (relative to src/) → source text. */
export function importGraph(sources: ReadonlyMap<string, string>): ImportGraph {
  const graph = new Map<string, string[]>()
  for (const [file, source] of sources) {
    const targets = relativeImports(source).map(specifier =>
      posix.normalize(posix.join(posix.dirname(file), specifier))
    )
    graph.set(file, [...new Set(targets)])
  }
  return graph
}

/** One cycle per strongly connected component (Tarjan), each as a path back to its start. */
export function findCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const components: string[][] = []

  const visit = (file: string): void => {
    index.set(file, index.size)
    low.set(file, index.get(file) as number)
    stack.push(file)
    onStack.add(file)
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue
      if (!index.has(next)) {
        visit(next)
        low.set(file, Math.min(low.get(file) as number, low.get(next) as number))
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file) as number, index.get(next) as number))
      }
    }
    if (low.get(file) !== index.get(file)) return
    const component: string[] = []
    let member: string
    do {
      member = stack.pop() as string
      onStack.delete(member)
      component.push(member)
    } while (member !== file)
    const selfLoop = (graph.get(file) ?? []).includes(file)
    if (component.length > 1 || selfLoop) components.push(component)
  }
  for (const file of [...graph.keys()].sort()) if (!index.has(file)) visit(file)

  return components.map(component => cycleWithin(graph, new Set(component)))
}

/** A shortest path from the component's first file (by name) back to itself. */
function cycleWithin(graph: ImportGraph, component: ReadonlySet<string>): string[] {
  const start = [...component].sort()[0] as string
  const previous = new Map<string, string>()
  const queue = [start]
  while (queue.length > 0) {
    const file = queue.shift() as string
    for (const next of graph.get(file) ?? []) {
      if (!component.has(next)) continue
      if (next === start) {
        const path = [start]
        for (let at = file; at !== start; at = previous.get(at) as string) path.splice(1, 0, at)
        return [...path, start]
      }
      if (!previous.has(next)) {
        previous.set(next, file)
        queue.push(next)
      }
    }
  }
  return [start, start]
}

/** The folder (or entry file) a path of src/ belongs to: its first segment. */
export function layerOf(file: string): string {
  return file.split('/')[0] as string
}

function rankOf(layer: string): number {
  return LAYERS.findIndex(group => group.includes(layer))
}

export interface LayerViolation {
  readonly from: string
  readonly to: string
  readonly why: string
}

/** Imports that go up, sideways between siblings, or from/to a folder no layer names. */
export function findLayerViolations(graph: ImportGraph): LayerViolation[] {
  const violations: LayerViolation[] = []
  for (const [from, targets] of graph) {
    for (const to of targets) {
      // the package's own manifest (its version) is data, not code: any layer may read it
      if (to === '../package.json') continue
      const [fromLayer, toLayer] = [layerOf(from), layerOf(to)]
      if (fromLayer === toLayer) continue
      const [fromRank, toRank] = [rankOf(fromLayer), rankOf(toLayer)]
      let why: string | undefined
      if (fromRank < 0 || toRank < 0) {
        why = `${fromRank < 0 ? fromLayer : toLayer} is in no layer`
      } else if (toRank === fromRank) {
        why = `${fromLayer} and ${toLayer} are siblings`
      } else if (toRank > fromRank) {
        why = `${fromLayer} is below ${toLayer}`
      }
      if (why !== undefined) violations.push({ from, to, why })
    }
  }
  return violations.sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to))
}
