import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { HostResult } from '../../src/host/onboard.ts'
import { HostProgress, progressLines } from '../../src/report/progress.ts'

const done = (host: string): HostResult =>
  ({
    host,
    status: 'ok',
    changed: false,
    restarted: false,
    ready: true,
    package: 'unchanged',
    phases: [],
    logs: [],
    stats: { connections: 1, channels: 1, bytesSent: 10 },
    totalMs: 1200
  }) as HostResult

describe('host progress', () => {
  test('a line per host: waiting, installing with elapsed seconds, then its result', () => {
    const states = new Map([
      ['vm-2', { kind: 'working' as const, since: 1000 }],
      ['vm-3', { kind: 'done' as const, line: '✓ vm-3: ready' }]
    ])
    assert.deepEqual(progressLines(['vm-1', 'vm-2', 'vm-3'], states, 4200), [
      '· vm-1: waiting',
      '… vm-2: installing (3s)',
      '✓ vm-3: ready'
    ])
  })

  test('on a terminal the block is redrawn in place', () => {
    let out = ''
    const progress = new HostProgress(['vm-1', 'vm-2'], text => (out += text), true)
    progress.started('vm-1')
    progress.finished(done('vm-1'))
    progress.finish()
    const draws = out.split('\u001b[2A')
    assert.equal(draws.length, 3, 'the first draw, then two redraws over the same two lines')
    const esc = '\u001b'
    assert.equal(
      draws[2],
      `${esc}[2K✓ vm-1: ready, unchanged, package unchanged (1.2s; 1 connection, 1 channels)\n${esc}[2K· vm-2: waiting\n`
    )
  })

  test('without a terminal each result is one plain line, and nothing else', () => {
    let out = ''
    const progress = new HostProgress(['vm-1'], text => (out += text), false)
    progress.started('vm-1')
    progress.finished(done('vm-1'))
    progress.finish()
    assert.equal(
      out,
      '✓ vm-1: ready, unchanged, package unchanged (1.2s; 1 connection, 1 channels)\n'
    )
  })
})
