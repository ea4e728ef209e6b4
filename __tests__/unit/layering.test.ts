// The layering of src/: no import cycle between files, and imports only go down the layers
// util → config → istio → cluster | host → verify → engine → report → commands → action → entry
// points. The checker is tested on synthetic graphs too, so a pass means something.
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { before, describe, it } from 'node:test'
import {
  findCycles,
  findLayerViolations,
  importGraph,
  relativeImports,
  type ImportGraph
} from '../helpers/import-graph.ts'

const SRC = join(import.meta.dirname, '..', '..', 'src')

async function readSources(): Promise<Map<string, string>> {
  const sources = new Map<string, string>()
  const entries = await readdir(SRC, { recursive: true, withFileTypes: true })
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue
    const path = join(entry.parentPath, entry.name)
    sources.set(relative(SRC, path).split(sep).join('/'), await readFile(path, 'utf8'))
  }
  return sources
}

const graphOf = (files: Record<string, string>) => importGraph(new Map(Object.entries(files)))

describe('import graph checker', () => {
  it('collects static, type-only, re-exported and dynamic relative imports', () => {
    const source = [
      "import { a } from './a.ts'",
      "import type { B } from '../b/b.ts'",
      "export { c } from './c.ts'",
      "export * from './d.ts'",
      "const e = await import('./e.ts')",
      "import { readFile } from 'node:fs/promises'",
      "// import { x } from './commented.ts'",
      'const text = "import(\'./in-a-string.ts\')"'
    ].join('\n')
    assert.deepEqual(relativeImports(source), ['./a.ts', '../b/b.ts', './c.ts', './d.ts', './e.ts'])
  })

  it('reports a cycle, as a path back to its start', () => {
    const graph = graphOf({
      'cluster/a.ts': "import { b } from './b.ts'",
      'cluster/b.ts': "import type { C } from '../istio/c.ts'",
      'istio/c.ts': "export const c = () => import('../cluster/a.ts')",
      'istio/d.ts': "import { c } from './c.ts'"
    })
    assert.deepEqual(findCycles(graph), [
      ['cluster/a.ts', 'cluster/b.ts', 'istio/c.ts', 'cluster/a.ts']
    ])
  })

  it('reports upward and sideways imports, and passes downward and in-folder ones', () => {
    const graph = graphOf({
      'util/u.ts': '',
      'istio/i.ts': "import { u } from '../util/u.ts'\nimport { l } from './legacy/l.ts'",
      'istio/legacy/l.ts': "import { c } from '../../cluster/c.ts'",
      'cluster/c.ts': "import { h } from '../host/h.ts'",
      'host/h.ts': "import { i } from '../istio/i.ts'",
      'commands/x.ts': "import { h } from '../host/h.ts'\nimport { m } from '../misc/m.ts'",
      'misc/m.ts': '',
      'cli.ts': "import { x } from './commands/x.ts'"
    })
    assert.deepEqual(
      findLayerViolations(graph).map(v => `${v.from} → ${v.to}: ${v.why}`),
      [
        'cluster/c.ts → host/h.ts: cluster and host are siblings',
        'commands/x.ts → misc/m.ts: misc is in no layer',
        'istio/legacy/l.ts → cluster/c.ts: istio is below cluster'
      ]
    )
  })
})

describe('src/ layering', () => {
  // read once for both rules
  let graph: ImportGraph
  before(async () => {
    graph = importGraph(await readSources())
  })

  it('has no import cycle', () => {
    const cycles = findCycles(graph)
    assert.equal(cycles.length, 0, `import cycles:\n${cycles.map(c => c.join(' → ')).join('\n')}`)
  })

  it('imports only downward between layers', () => {
    const violations = findLayerViolations(graph)
    assert.equal(
      violations.length,
      0,
      `imports against the layers:\n${violations.map(v => `${v.from} → ${v.to} (${v.why})`).join('\n')}`
    )
  })
})
