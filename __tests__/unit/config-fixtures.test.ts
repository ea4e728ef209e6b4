// Every malformed description under fixtures/invalid gives, through `validate`, exit code 2 and
// exactly the error its `# expect:` line states; every valid one gives exit 0 and one line.
// A second pass runs all of them in a child process that cannot write files (Node's permission
// model) and whose network functions are booby-trapped, proving validate touches nothing.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { runCli } from '../../src/commands/index.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const fixtures = (kind: 'invalid' | 'valid'): string[] =>
  readdirSync(join(root, '__tests__/fixtures', kind))
    .filter(name => name.endsWith('.yaml'))
    .sort()
    .map(name => relative(root, join(root, '__tests__/fixtures', kind, name)))

const invalid = fixtures('invalid')
const valid = [...fixtures('valid'), 'examples/lab.yaml', 'examples/legacy-multinetwork.yaml']

function expectation(file: string): string {
  const line = readFileSync(join(root, file), 'utf8')
    .split('\n')
    .find(l => l.startsWith('# expect: '))
  assert.ok(line, `${file} has no "# expect: " line`)
  return `${file}:${line.slice('# expect: '.length)}\n`
}

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await runCli(args, {
    cwd: root,
    env: {},
    stdout: text => (stdout += text),
    stderr: text => (stderr += text)
  })
  return { code, stdout, stderr }
}

describe('validate: malformed descriptions', () => {
  test('there are at least 30 of them, each with a comment saying what is wrong', () => {
    assert.ok(invalid.length >= 30, `only ${invalid.length} fixtures`)
    for (const file of invalid) {
      const first = readFileSync(join(root, file), 'utf8').split('\n')[0] ?? ''
      assert.match(first, /^# \w/, `${file}: first line should say what is wrong`)
    }
  })

  for (const file of invalid) {
    test(file.replace(/^.*\//, ''), async () => {
      const result = await run(['validate', '-c', file])
      assert.equal(result.code, 2)
      assert.equal(result.stdout, '')
      assert.equal(result.stderr, expectation(file))
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace')
    })
  }
})

describe('validate: valid descriptions', () => {
  for (const file of valid) {
    test(file.replace(/^.*\//, ''), async () => {
      const result = await run(['validate', '-c', file])
      assert.equal(result.stderr, '')
      assert.equal(result.code, 0)
      assert.match(
        result.stdout,
        new RegExp(
          `^${file.replace(/[.]/g, '\\.')}: valid: \\d+ workload groups?, \\d+ VMs?, \\d+ checks? \\(namespaces? [a-z0-9, -]+\\)\\n$`
        )
      )
    })
  }
})

describe('validate touches nothing', () => {
  test('no network connection, no file written, for every fixture', () => {
    const child = spawnSync(
      process.execPath,
      [
        '--permission',
        '--allow-fs-read=*',
        '--import',
        './__tests__/helpers/config-no-io.ts',
        '__tests__/helpers/config-validate-all.ts',
        ...invalid,
        ...valid
      ],
      { cwd: root, encoding: 'utf8', timeout: 60_000 }
    )
    assert.equal(child.status, 0, child.stderr)
    const report = JSON.parse(child.stdout) as {
      guarded: boolean
      outcomes: { file: string; code: number; stdout: string; stderr: string }[]
      networkAttempts: string[]
      writeBlocked: boolean
      connectBlocked: boolean
    }
    // the restrictions were really in force
    assert.equal(report.guarded, true)
    assert.equal(report.writeBlocked, true)
    assert.equal(report.connectBlocked, true)
    assert.deepEqual(report.networkAttempts, [])
    assert.equal(report.outcomes.length, invalid.length + valid.length)
    for (const outcome of report.outcomes) {
      if (invalid.includes(outcome.file)) {
        assert.equal(outcome.code, 2, outcome.file)
        assert.equal(outcome.stderr, expectation(outcome.file))
      } else {
        assert.equal(outcome.code, 0, `${outcome.file}: ${outcome.stderr}`)
      }
    }
  })
})
