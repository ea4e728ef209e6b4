// The sandbox API's request log: a bounded buffer whose marks stay right after the oldest entries
// went (the bench counts a run's requests from a mark; an index into the buffer went wrong there).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RequestLog, type RequestLogEntry } from '../../lab/cluster/observe.ts'

const entry = (path: string): RequestLogEntry =>
  ({ time: new Date(0).toISOString(), durationMs: 0, method: 'GET', path }) as RequestLogEntry

test('since(mark) is what was added after the mark, also once the buffer has dropped older ones', () => {
  const log = new RequestLog(5)
  for (let i = 0; i < 4; i++) log.add(entry(`/a${i}`))
  const mark = log.mark()
  for (let i = 0; i < 3; i++) log.add(entry(`/b${i}`))
  assert.equal(log.entries.length, 5)
  assert.deepEqual(
    log.since(mark).map(e => e.path),
    ['/b0', '/b1', '/b2']
  )
})

test('since(mark) refuses when entries after the mark are gone, rather than count short', () => {
  const log = new RequestLog(3)
  const mark = log.mark()
  for (let i = 0; i < 4; i++) log.add(entry(`/c${i}`))
  assert.throws(() => log.since(mark), /kept 3 of the 4 requests since the mark/)
  log.clear()
  assert.throws(() => log.since(mark), /kept 0 of the 4/)
  assert.deepEqual(log.since(log.mark()), [])
})
