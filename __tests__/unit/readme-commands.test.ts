// The README's command table lists every command the CLI has, and nothing it does not have.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { it } from 'node:test'
import { usage } from '../../src/commands/index.ts'

it('README lists exactly the commands of the CLI', () => {
  const commands = usage()
    .split('\n')
    .map(line => /^ {2}([a-z]+) {2,}/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined)
  assert.ok(commands.length >= 8, commands.join(', '))
  const readme = readFileSync('README.md', 'utf8')
  const section = readme.slice(readme.indexOf('## Command line'), readme.indexOf('## The lab'))
  const listed = [...section.matchAll(/^\| `([a-z]+)[ `]/gm)].map(m => m[1])
  assert.deepEqual([...listed].sort(), [...commands].sort())
})
