import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import {
  inputDefaults,
  maskSecret,
  readSettings,
  InputError,
  parseShard
} from '../../src/action/inputs.ts'

const actionYml = parse(readFileSync(new URL('../../action.yml', import.meta.url), 'utf8')) as {
  inputs: Record<string, { default?: string; description: string }>
  runs: { using: string; main: string; post: string }
}

function reader(values: Record<string, string>): (name: string) => string {
  return name => values[name] ?? ''
}

describe('action inputs', () => {
  test('the defaults applied in code are exactly those of action.yml', () => {
    const declared = Object.fromEntries(
      Object.entries(actionYml.inputs)
        .filter(([, input]) => input.default !== undefined)
        .map(([name, input]) => [name, input.default])
    )
    assert.deepEqual({ ...inputDefaults }, declared)
  })

  test('every input is documented and the action runs on node24 with a post step', () => {
    for (const [name, input] of Object.entries(actionYml.inputs)) {
      assert.ok(input.description.length > 20, `input ${name} needs a description`)
    }
    assert.equal(actionYml.runs.using, 'node24')
    assert.equal(actionYml.runs.main, 'dist/main.js')
    assert.equal(actionYml.runs.post, 'dist/post.js')
  })

  test('a description given as text, with defaults filled in', () => {
    const settings = readSettings(reader({ config: 'vms: []' }), { GITHUB_RUN_ID: '77' })
    assert.deepEqual(settings.config, { text: 'vms: []', fileName: 'config' })
    assert.equal(settings.command, 'apply')
    assert.equal(settings.parallelism, 10)
    assert.equal(settings.tokenDurationSeconds, 3600)
    assert.equal(settings.cleanup, 'never')
    assert.equal(settings.failFast, false)
    assert.equal(settings.owner, 'run-77')
    assert.equal(settings.shard, undefined)
  })

  test('exactly one of config and config-file', () => {
    assert.throws(() => readSettings(reader({})), /exactly one of the inputs "config"/)
    assert.throws(
      () => readSettings(reader({ config: 'a: 1', 'config-file': 'x.yaml' })),
      InputError
    )
  })

  test('bad values name the input and what is valid', () => {
    const base = { 'config-file': 'mesh.yaml' }
    assert.throws(
      () => readSettings(reader({ ...base, command: 'deploy' })),
      /input "command": "deploy" is not one of validate, plan, apply, verify, cleanup/
    )
    assert.throws(
      () => readSettings(reader({ ...base, parallelism: '0' })),
      /input "parallelism": "0" is not a whole number from 1 to 1000/
    )
    assert.throws(
      () => readSettings(reader({ ...base, 'fail-fast': 'yes' })),
      /input "fail-fast": "yes" is not true or false/
    )
    assert.throws(() => readSettings(reader({ ...base, cleanup: 'sometimes' })), /input "cleanup"/)
  })

  test('shard i/n', () => {
    assert.deepEqual(parseShard('2/5'), { index: 2, count: 5 })
    for (const bad of ['0/5', '6/5', '2', 'a/b', '1/0'])
      assert.throws(() => parseShard(bad), InputError)
  })
})

describe('README', () => {
  test('documents every input and output of action.yml with its default', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    const outputs = parse(readFileSync(new URL('../../action.yml', import.meta.url), 'utf8'))
      .outputs as Record<string, unknown>
    for (const [name, input] of Object.entries(actionYml.inputs)) {
      const row = readme.split('\n').find(line => new RegExp(`^\\| \`${name}\`\\s+\\|`).test(line))
      assert.ok(row, `README has no row for input ${name}`)
      if (input.default !== undefined)
        assert.ok(row.includes(`\`${input.default}\``), `README row of ${name} lacks its default`)
    }
    for (const name of Object.keys(outputs)) {
      assert.match(
        readme,
        new RegExp(`^\\| \`${name}\`\\s+\\|`, 'm'),
        `README has no row for output ${name}`
      )
    }
  })

  test('maskSecret: long lines and secret values however short, never the short words', () => {
    const masks: string[] = []
    const write = process.stdout.write
    process.stdout.write = ((chunk: string) => {
      for (const line of String(chunk).split('\n'))
        if (line.startsWith('::add-mask::')) masks.push(line.slice('::add-mask::'.length))
      return true
    }) as typeof process.stdout.write
    try {
      maskSecret(
        [
          'apiVersion: v1',
          'users:',
          '- name: admin',
          '  user:',
          '    password: s3cr3t',
          "    token: 'a quoted token'",
          '    client-key-data: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t',
          'clusters:'
        ].join('\n')
      )
      maskSecret('hunter2-passphrase')
    } finally {
      process.stdout.write = write
    }
    assert.deepEqual(masks, [
      's3cr3t',
      'a quoted token',
      "'a quoted token'",
      'LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t',
      'hunter2-passphrase',
      'hunter2-passphrase'
    ])
  })
})
