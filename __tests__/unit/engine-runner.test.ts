import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { FLOWS } from '../../src/engine/run.ts'

const { apply: APPLY, verify: VERIFY, cleanup: CLEANUP, plan: PLAN } = FLOWS
import {
  checkPhaseList,
  runPhases,
  type Phase,
  type PhaseEvent,
  type PhaseName
} from '../../src/engine/runner.ts'
import type { RunState } from '../../src/engine/state.ts'

interface S {
  a?: number
  b?: number
  log: string[]
}

function phase(
  name: PhaseName,
  body: Phase<S>['run'],
  io: { needs?: (keyof S)[]; produces?: (keyof S)[] } = {}
): Phase<S> {
  return {
    name,
    title: () => `title of ${name}`,
    needs: io.needs ?? [],
    produces: io.produces ?? [],
    run: body
  }
}

describe('the phase runner', () => {
  test('runs the phases in order, times each and tells start and end', async () => {
    const events: PhaseEvent[] = []
    const state: S = { log: [] }
    const result = await runPhases(
      [
        phase('inputs', async s => void (s.a = 1), { produces: ['a'] }),
        phase('preflight', async s => void (s.b = (s.a ?? 0) + 1), {
          needs: ['a'],
          produces: ['b']
        })
      ],
      state,
      event => events.push(event)
    )
    assert.equal(result.failed, null)
    assert.deepEqual(
      result.records.map(r => [r.name, r.ok]),
      [
        ['inputs', true],
        ['preflight', true]
      ]
    )
    assert.ok(result.records.every(r => r.durationMs >= 0))
    assert.deepEqual(
      events.map(e => `${e.phase} ${e.state} ${e.title}`),
      [
        'inputs start title of inputs',
        'inputs end title of inputs',
        'preflight start title of preflight',
        'preflight end title of preflight'
      ]
    )
    assert.equal(state.b, 2)
  })

  test('stops at the first failing phase (returned or thrown) and still closes what was opened', async () => {
    for (const fail of [
      async () => ({ failed: true as const, problems: ['one', 'two'] }),
      async () => {
        throw new Error('boom')
      }
    ]) {
      const state: S = { log: [] }
      const events: PhaseEvent[] = []
      const result = await runPhases(
        [
          phase('inputs', async (s, run) => {
            run.defer(async () => void s.log.push('closed first'))
          }),
          phase('preflight', async (s, run) => {
            run.defer(async () => void s.log.push('closed second'))
            return fail()
          }),
          phase('cluster', async s => void s.log.push('cluster ran'))
        ],
        state,
        event => events.push(event)
      )
      assert.equal(result.failed?.phase, 'preflight')
      assert.ok(result.failed.problems.length > 0)
      assert.deepEqual(
        state.log,
        ['closed second', 'closed first'],
        'reverse order, cluster never ran'
      )
      const end = events.find(e => e.phase === 'preflight' && e.state === 'end')
      assert.ok(end && end.state === 'end' && !end.ok)
    }
    const thrown = await runPhases(
      [
        phase('cluster', async () => {
          throw new Error('forbidden')
        })
      ],
      { log: [] }
    )
    assert.deepEqual(thrown.failed?.problems, ['cluster: forbidden'])
  })

  test('a phase that does not produce what it declares fails', async () => {
    const result = await runPhases([phase('inputs', async () => undefined, { produces: ['a'] })], {
      log: []
    })
    assert.deepEqual(result.failed?.problems, ['internal: phase inputs did not produce a'])
  })

  test('a list whose phase needs what no earlier phase produces is refused before anything runs', async () => {
    const ran: string[] = []
    await assert.rejects(
      runPhases(
        [
          phase('inputs', async () => void ran.push('inputs')),
          phase('cluster', async () => void ran.push('cluster'), { needs: ['b'] })
        ],
        { log: [] }
      ),
      /phase cluster needs b/
    )
    assert.deepEqual(ran, [])
  })
})

describe("the commands' phase lists", () => {
  const given: (keyof RunState)[] = ['description', 'options', 'access', 'report', 'vms']
  const names = (flow: readonly Phase<RunState>[]): string[] => flow.map(p => p.name)

  test('apply: inputs, preflight, cluster, identity, hosts, register, verify, report', () => {
    assert.deepEqual(names(APPLY), [
      'inputs',
      'preflight',
      'cluster',
      'identity',
      'hosts',
      'register',
      'verify',
      'report'
    ])
  })

  test('verify, cleanup and plan', () => {
    assert.deepEqual(names(VERIFY), ['inputs', 'preflight', 'hosts', 'verify', 'report'])
    assert.deepEqual(names(CLEANUP), ['inputs', 'preflight', 'hosts', 'cluster', 'report'])
    assert.deepEqual(names(PLAN), ['preflight', 'report'])
  })

  test('every phase of every list gets what it needs from the phases before it', () => {
    for (const flow of [APPLY, VERIFY, CLEANUP, PLAN]) checkPhaseList(flow, given)
  })

  test('no phase before preflight ends may write: only inputs and preflight precede the first writer', () => {
    // the phases that write (cluster, identity's tokens, hosts, register) come after preflight
    for (const flow of [APPLY, CLEANUP]) {
      const first = names(flow).findIndex(n =>
        ['cluster', 'identity', 'hosts', 'register'].includes(n)
      )
      assert.deepEqual(names(flow).slice(0, first), ['inputs', 'preflight'])
    }
  })
})
