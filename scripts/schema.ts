// Writes schema/mesh-expansion.schema.json from the zod schema of the description, so editors
// complete and check description files. Deterministic: same sources, same bytes.
// `--check` fails when the committed file differs from what the sources produce.
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as z from 'zod'
import { descriptionSchema } from '../src/config/schema.ts'

const target = fileURLToPath(new URL('../schema/mesh-expansion.schema.json', import.meta.url))

export function renderSchema(): string {
  const schema = z.toJSONSchema(descriptionSchema, { io: 'input', target: 'draft-2020-12' })
  return `${JSON.stringify(schema, null, 2)}\n`
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = renderSchema()
  if (process.argv.includes('--check')) {
    let current: string
    try {
      current = readFileSync(target, 'utf8')
    } catch {
      current = ''
    }
    if (current !== text) {
      process.stderr.write('schema/mesh-expansion.schema.json is stale: run npm run schema\n')
      process.exit(1)
    }
  } else {
    writeFileSync(target, text)
    process.stdout.write(`wrote schema/mesh-expansion.schema.json (${text.length} bytes)\n`)
  }
}
