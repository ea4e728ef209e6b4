// settings.rollout: the setting's validation, the pure planner (batches from what each host
// runs), the read of what a host runs, and the report's lines.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { formatError, parseDescription, type Rollout } from '../../src/config/index.ts'
import { emptyReport, type RunReport } from '../../src/engine/report.ts'
import {
  differenceText,
  hostState,
  hostsOf,
  planRollout,
  revisionOfAddress,
  type PlannedHost
} from '../../src/engine/rollout.ts'
import { plannedRollout, rolloutReport } from '../../src/engine/phases/rollout.ts'
import { parseRunning, RUNNING_SCRIPT } from '../../src/host/running.ts'
import { summaryMarkdown } from '../../src/report/jobSummary.ts'
import { humanReport, reportLines } from '../../src/report/terminal.ts'
import { emptyResult } from '../../src/host/onboard.ts'

const rollout = (given: Partial<Rollout> = {}): Rollout => ({
  firstBatch: 1,
  batchSize: '25%',
  maxUnavailable: 0,
  ...given
})

const upgrade: PlannedHost['state'] = {
  kind: 'upgrade',
  differs: [{ what: 'package', from: '1.29.0', to: '1.30.0' }]
}
const hosts = (n: number, state: PlannedHost['state'] = upgrade): PlannedHost[] =>
  Array.from({ length: n }, (_, i) => ({ name: `vm-${i + 1}`, state }))
const sizes = (plan: ReturnType<typeof planRollout>): number[] =>
  plan.batches.map(b => b.hosts.length)

const BASE =
  'workloadGroups:\n  - {name: web, namespace: vm, ports: {http: 8080}}\n' +
  'vms:\n  - {name: vm-1, host: 198.18.2.2, group: web}\n'

function errors(settings: string): string[] {
  const result = parseDescription(`${BASE}settings:\n${settings}`, 'mesh.yaml')
  return result.ok ? [] : result.errors.map(formatError)
}

describe('settings.rollout', () => {
  test('absent: null (every host at once); {} takes the defaults', () => {
    const none = parseDescription(BASE, 'mesh.yaml')
    assert.ok(none.ok)
    assert.equal(none.description.settings.rollout, null)
    const given = parseDescription(`${BASE}settings:\n  rollout: {}\n`, 'mesh.yaml')
    assert.ok(given.ok)
    assert.deepEqual(given.description.settings.rollout, rollout())
  })

  test('counts and percentages are taken as given', () => {
    const given = parseDescription(
      `${BASE}settings:\n  rollout: {firstBatch: "10%", batchSize: 3, maxUnavailable: "0%"}\n`,
      'mesh.yaml'
    )
    assert.ok(given.ok)
    assert.deepEqual(given.description.settings.rollout, {
      firstBatch: '10%',
      batchSize: 3,
      maxUnavailable: '0%'
    })
  })

  test('each wrong value is reported with its line and column', () => {
    assert.deepEqual(
      errors(
        '  rollout:\n    firstBatch: 0\n    batchSize: "150%"\n    maxUnavailable: true\n    size: 2\n'
      ),
      [
        'mesh.yaml:7:17 settings.rollout.firstBatch: invalid count 0: expected a number of hosts from 1 or a percentage from 1% to 100% (e.g. 1 or "25%")',
        'mesh.yaml:8:16 settings.rollout.batchSize: invalid value "150%": expected a number of hosts from 1 or a percentage from 1% to 100% (e.g. 1 or "25%")',
        'mesh.yaml:9:21 settings.rollout.maxUnavailable: expected a number of hosts from 0 or a percentage such as "25%", got true',
        'mesh.yaml:10:5 settings.rollout.size: unknown key "size" (valid keys: firstBatch, batchSize, maxUnavailable)'
      ]
    )
    assert.match(
      errors('  rollout: {batchSize: 1.5}\n')[0] ?? '',
      /^mesh\.yaml:6:24 .*invalid count 1\.5/
    )
    assert.match(errors('  rollout: {batchSize: "0%"}\n')[0] ?? '', /invalid value "0%"/)
    assert.match(errors('  rollout: {batchSize: "half"}\n')[0] ?? '', /invalid value "half"/)
    assert.deepEqual(errors('  rollout: {maxUnavailable: 0}\n'), [])
  })
})

describe('hostsOf: counts and percentages of hosts', () => {
  test('a percentage is rounded up; a batch size is at least 1; a count is as given', () => {
    assert.equal(hostsOf('50%', 6, true), 3)
    assert.equal(hostsOf('50%', 5, true), 3)
    assert.equal(hostsOf('1%', 6, true), 1)
    assert.equal(hostsOf('100%', 6, true), 6)
    assert.equal(hostsOf(4, 6, true), 4)
    assert.equal(hostsOf('0%', 6, false), 0)
    assert.equal(hostsOf('10%', 3, false), 1)
    assert.equal(hostsOf(0, 3, false), 0)
  })
})

describe('planRollout', () => {
  test('6 hosts, first 1 then 50%: [1], [3], [2], in the description order', () => {
    const plan = planRollout(hosts(6), rollout({ batchSize: '50%' }))
    assert.deepEqual(
      plan.batches.map(b => [b.number, b.hosts, b.maxUnavailable]),
      [
        [1, ['vm-1'], 0],
        [2, ['vm-2', 'vm-3', 'vm-4'], 0],
        [3, ['vm-5', 'vm-6'], 0]
      ]
    )
    assert.deepEqual(plan.rest, [])
  })

  test('the defaults: 1, then 25% of the hosts to upgrade', () => {
    assert.deepEqual(sizes(planRollout(hosts(10), rollout())), [1, 3, 3, 3])
    assert.deepEqual(sizes(planRollout(hosts(100), rollout())), [1, 25, 25, 25, 24])
  })

  test('percentages are of the hosts to upgrade, not of the whole shard', () => {
    const mixed = [
      ...hosts(4),
      ...hosts(4, { kind: 'current' }).map(h => ({ ...h, name: `c-${h.name}` }))
    ]
    assert.deepEqual(
      sizes(planRollout(mixed, rollout({ firstBatch: '50%', batchSize: '50%' }))),
      [2, 2]
    )
  })

  test('new and current hosts are not in the batches: they are the rest, in order', () => {
    const plan = planRollout(
      [
        { name: 'a', state: { kind: 'new' } },
        { name: 'b', state: upgrade },
        { name: 'c', state: { kind: 'current' } },
        { name: 'd', state: upgrade }
      ],
      rollout({ batchSize: 10 })
    )
    assert.deepEqual(
      plan.batches.map(b => b.hosts),
      [['b'], ['d']]
    )
    assert.deepEqual(plan.rest, ['a', 'c'])
  })

  test('nothing to upgrade: no batch (the run is as without rollout)', () => {
    assert.deepEqual(planRollout(hosts(3, { kind: 'current' }), rollout()).batches, [])
    assert.deepEqual(planRollout([], rollout()), { batches: [], rest: [] })
  })

  test('a first batch larger than the hosts: one batch of all of them', () => {
    assert.deepEqual(sizes(planRollout(hosts(3), rollout({ firstBatch: 10 }))), [3])
    assert.deepEqual(sizes(planRollout(hosts(3), rollout({ firstBatch: '100%' }))), [3])
    assert.deepEqual(sizes(planRollout(hosts(1), rollout({ batchSize: '50%' }))), [1])
  })

  test('maxUnavailable: per batch, a percentage of its hosts rounded up, at most its hosts', () => {
    const plan = planRollout(hosts(7), rollout({ batchSize: 4, maxUnavailable: '30%' }))
    assert.deepEqual(
      plan.batches.map(b => [b.hosts.length, b.maxUnavailable]),
      [
        [1, 1],
        [4, 2],
        [2, 1]
      ]
    )
    const counted = planRollout(hosts(3), rollout({ batchSize: 2, maxUnavailable: 5 }))
    assert.deepEqual(
      counted.batches.map(b => b.maxUnavailable),
      [1, 2]
    )
  })
})

describe('hostState', () => {
  const wanted = { version: '1.30.0', revision: '' }

  test('no package: new; the same version and revision: current', () => {
    assert.deepEqual(hostState({ packageVersion: null, revision: null }, wanted), { kind: 'new' })
    assert.deepEqual(hostState({ packageVersion: '1.30.0', revision: '' }, wanted), {
      kind: 'current'
    })
    assert.deepEqual(
      hostState({ packageVersion: '1.30.0', revision: '' }, { ...wanted, revision: 'default' }),
      { kind: 'current' }
    )
  })

  test('another version or revision: an upgrade, saying what differs', () => {
    const state = hostState(
      { packageVersion: '1.29.0', revision: 'blue' },
      { version: '1.30.0', revision: 'green' }
    )
    assert.equal(state.kind, 'upgrade')
    assert.equal(
      state.kind === 'upgrade' ? differenceText(state.differs) : '',
      'package 1.29.0 → 1.30.0, revision blue → green'
    )
    const toDefault = hostState({ packageVersion: '1.30.0', revision: 'blue' }, wanted)
    assert.equal(
      toDefault.kind === 'upgrade' ? differenceText(toDefault.differs) : '',
      'revision blue → default'
    )
  })

  test('a revision not known, or a version decided by the checksum, is not compared', () => {
    assert.deepEqual(
      hostState({ packageVersion: '1.29.0', revision: null }, { version: '', revision: 'x' }),
      {
        kind: 'current'
      }
    )
  })

  test('a host that could not be read is upgraded in the batches', () => {
    const state = hostState({ error: 'connection refused' }, wanted)
    assert.equal(state.kind, 'upgrade')
    assert.equal(
      state.kind === 'upgrade' ? differenceText(state.differs) : '',
      'not read before the run (connection refused)'
    )
  })

  test('revisionOfAddress', () => {
    assert.equal(revisionOfAddress('istiod-canary.istio-system.svc:15012'), 'canary')
    assert.equal(revisionOfAddress('istiod.istio-system.svc:15012'), '')
    assert.equal(revisionOfAddress('10.0.0.1:15012'), null)
  })
})

describe('what a host runs', () => {
  test('parseRunning', () => {
    assert.deepEqual(
      parseRunning(
        'noise\nMX-RUNNING package 1.29.0\nMX-RUNNING ca-addr istiod-a.istio-system.svc:15012\nMX-RUNNING service active\n'
      ),
      { packageVersion: '1.29.0', caAddress: 'istiod-a.istio-system.svc:15012', service: 'active' }
    )
    assert.deepEqual(
      parseRunning('MX-RUNNING package none\nMX-RUNNING ca-addr missing\nMX-RUNNING service \n'),
      { packageVersion: null, caAddress: null, service: '' }
    )
    assert.equal(parseRunning('MX-RUNNING ca-addr none\n').caAddress, '')
  })

  test('the script reads and writes nothing of its own: no redirection into a file', () => {
    assert.doesNotMatch(RUNNING_SCRIPT, /(^|[^0-9&])>\s*[^&/ ]/m)
    assert.match(RUNNING_SCRIPT, /dpkg-query -W/)
  })
})

describe('the report', () => {
  const six = hosts(6)
  const report = (): RunReport => {
    const r = emptyReport('apply', 'mesh-expansion')
    r.failedPhase = 'hosts'
    r.rollout = rolloutReport(
      [...six, { name: 'new-1', state: { kind: 'new' } }],
      rollout({ batchSize: '50%' }),
      'not run'
    )
    const [first] = r.rollout.batches
    if (first) {
      first.result = 'failed'
      first.failed = ['vm-1']
      first.rolledBack = ['vm-1']
      first.checks = { passed: 0, failed: 1 }
    }
    r.rollout.stoppedAt = 1
    r.skippedHosts = ['vm-2', 'vm-3', 'vm-4', 'vm-5', 'vm-6', 'new-1']
    return r
  }

  test('a line per batch: its number, hosts and result', () => {
    const lines = reportLines(report()).filter(line => line.startsWith('rollout'))
    assert.deepEqual(lines, [
      'rollout: 6 host(s) to upgrade in 3 batch(es); 1 new or current host(s) after the batches',
      'rollout batch 1 (vm-1): failed: 1 of 1 failed (vm-1 rolled back), more than the 0 that may; checks 0 passed, 1 failed',
      'rollout batch 2 (vm-2, vm-3, vm-4): not run: rollout stopped at batch 1',
      'rollout batch 3 (vm-5, vm-6): not run: rollout stopped at batch 1'
    ])
  })

  test('the CLI: the stop once, with its fix, and the failed host once, rolled back', () => {
    const r = report()
    r.hosts = [
      {
        ...emptyResult('vm-1', 'failed'),
        ready: true,
        rolledBack: true,
        error: { phase: 'ready', message: 'not ready; rolled back' }
      }
    ]
    r.problems = [
      'vm-1: ready: not ready; rolled back',
      'rollout stopped at batch 1: 1 of 1 host(s) failed (vm-1), more than maxUnavailable 0'
    ]
    const lines = humanReport(r)
    assert.equal(lines.filter(line => line.includes('vm-1: ready: not ready')).length, 0)
    assert.equal(lines.filter(line => line.includes('more than maxUnavailable')).length, 1)
    assert.ok(lines.some(line => /fix: Fix what failed in that batch/.test(line)))
    assert.ok(lines.some(line => /✗ host vm-1: rolled back/.test(line)))
  })

  test('the job summary has the batches as a table', () => {
    const md = summaryMarkdown(report(), { description: 'mesh.yaml' })
    assert.match(md, /<h3>Rollout: stopped at batch 1<\/h3>/)
    assert.match(
      md,
      /<tr><td>2<\/td><td>vm-2, vm-3, vm-4<\/td><td>not run: rollout stopped at batch 1<\/td><\/tr>/
    )
  })

  test('plan: the batches if every host needed the upgrade', () => {
    const r = emptyReport('plan', 'mesh-expansion')
    r.rollout = plannedRollout(
      six.map(h => ({ name: h.name }) as never),
      rollout({ batchSize: '50%' })
    )
    assert.deepEqual(
      reportLines(r).filter(line => line.startsWith('rollout')),
      [
        'rollout: if every host needs an upgrade, 3 batch(es), each checked before the next',
        'rollout batch 1 (vm-1): planned (up to 0 may fail)',
        'rollout batch 2 (vm-2, vm-3, vm-4): planned (up to 0 may fail)',
        'rollout batch 3 (vm-5, vm-6): planned (up to 0 may fail)'
      ]
    )
  })
})
