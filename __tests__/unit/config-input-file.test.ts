// Reading files the user named without trusting them (src/config/inputFile.ts), bounded YAML
// nesting (src/config/yamlBounded.ts), and the fixed key-error sentences (src/host/ssh.ts).
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { LineCounter } from 'yaml'
import {
  InputFileError,
  aliasNesting,
  oneLine,
  parseBounded,
  readInputFile,
  shownName
} from '../../src/config/index.ts'
import { keyProblem } from '../../src/host/ssh.ts'

let dir = ''
const limits = { what: 'the file', maxBytes: 1024 }

function refused(path: string, reason: RegExp): void {
  assert.throws(
    () => readInputFile(path, limits),
    (e: unknown) => e instanceof InputFileError && reason.test(e.reason)
  )
}

describe('readInputFile', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mesh-expansion-input-file-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('a regular file within the limit is read', () => {
    writeFileSync(join(dir, 'ok'), 'a: 1\n')
    assert.equal(readInputFile(join(dir, 'ok'), limits), 'a: 1\n')
  })

  test('devices, FIFOs, directories and links to them are refused unopened', () => {
    refused('/dev/zero', /^it is a character device, not a regular file$/)
    execFileSync('mkfifo', [join(dir, 'fifo')])
    refused(join(dir, 'fifo'), /named pipe \(FIFO\)/)
    symlinkSync('/dev/zero', join(dir, 'link'))
    refused(join(dir, 'link'), /character device/)
    refused(dir, /a directory/)
    refused(join(dir, 'missing'), /^no such file or directory$/)
  })

  test('a file over the limit is refused by its size, unread', () => {
    writeFileSync(join(dir, 'big'), '')
    truncateSync(join(dir, 'big'), 10 * 1024 * 1024 * 1024)
    refused(join(dir, 'big'), /^it is 10737418240 bytes, more than the limit of 1 KiB$/)
  })

  test('names are shown on one line, quoted when they are not plain', () => {
    assert.equal(shownName('examples/lab.yaml'), 'examples/lab.yaml')
    assert.equal(shownName('a\n::error::x'), '"a\\n::error::x"')
    assert.equal(shownName('::error::x'), '"::error::x"')
    assert.equal(shownName('x\u202e'), '"x\\u202e"')
    assert.equal(oneLine('a\nb\r\u001bc'), 'a\\nb\\r\\u001bc')
  })
})

describe('bounded YAML', () => {
  const parse = (text: string): ReturnType<typeof parseBounded> =>
    parseBounded(text, 64, { lineCounter: new LineCounter() })

  test('nesting past the bound stops the parse where it is passed', () => {
    const result = parse(`a: ${'['.repeat(10_000)}${']'.repeat(10_000)}`)
    // the mapping is the first level: the 64th bracket is the 65th level
    assert.deepEqual(result, { ok: false, offset: 3 + 63 })
    assert.equal(parse(`a: ${'['.repeat(60)}${']'.repeat(60)}`).ok, true)
  })

  test('aliases: a cycle, a missing anchor and depth through aliases', () => {
    const problem = (text: string): string | undefined => {
      const result = parse(text)
      assert.ok(result.ok)
      const doc = result.docs[0]
      assert.ok(doc)
      return aliasNesting(doc, 64)?.message
    }
    assert.match(problem('a: &x [*x]') ?? '', /inside the value it refers to/)
    assert.match(problem('a: *nowhere') ?? '', /has no anchor before it/)
    const chain = ['a0: &a0 [[[[[[[[[[1]]]]]]]]]]']
    for (let i = 1; i < 8; i++) chain.push(`a${i}: &a${i} [[[[[[[[[[*a${i - 1}]]]]]]]]]]`)
    assert.match(problem(chain.join('\n')) ?? '', /nested more than 64 levels deep through aliases/)
    assert.equal(problem('a: &x [1]\nb: [*x, *x]'), undefined)
  })
})

describe('key errors', () => {
  test('ssh2 messages are never passed on, whatever they carry', () => {
    const secret = 'SECRETKEYBYTES'
    for (const message of [
      `Unsupported OpenSSH key magic: ${secret}`,
      `Unsupported cipher for OpenSSH key: ${secret}`,
      `Unsupported OpenSSH private key type: ${secret}`,
      `Cipher (${secret}) not supported for encrypted OpenSSH private key`,
      'Malformed OpenSSH private key',
      `something new: ${secret}`
    ]) {
      const text = keyProblem(message, false)
      assert.ok(!text.includes(secret), text)
      assert.notEqual(text, message)
    }
    assert.match(
      keyProblem('Encrypted private OpenSSH key detected, but no passphrase given', false),
      /give its passphrase/
    )
    assert.equal(
      keyProblem('OpenSSH key integrity check failed -- bad passphrase?', true),
      'wrong passphrase?'
    )
  })
})
