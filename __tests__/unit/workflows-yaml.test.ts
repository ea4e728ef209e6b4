// Every workflow the project ships or shows must be YAML GitHub can read: a plain scalar with
// ": " inside (an echo of "name: value") is a parse error that only shows on the runner.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseDocument } from 'yaml'

const dirs = ['examples/workflows', '.github/workflows']
const files = dirs.flatMap(dir =>
  readdirSync(dir)
    .filter(name => /\.ya?ml$/.test(name))
    .map(name => join(dir, name))
)

describe('workflow files', () => {
  test('there are some', () => assert.ok(files.length >= 4, files.join(', ')))
  for (const file of files) {
    test(`${file} parses, with jobs`, () => {
      const doc = parseDocument(readFileSync(file, 'utf8'))
      assert.deepEqual(
        doc.errors.map(e => e.message),
        []
      )
      assert.ok(doc.get('jobs'), `${file} has no jobs`)
    })
  }
})
