// The reports a person reads, from recorded lab reports: the job summary's order and grouping,
// the phase tree, the fixes, the pull-request comment and the CLI's closing block.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { RunReport } from '../../src/engine/report.ts'
import type { HostResult } from '../../src/host/onboard.ts'
import { summaryMarkdown } from '../../src/report/jobSummary.ts'
import { checkFix, hostFix, problemFix } from '../../src/report/fixes.ts'
import { failureGroups, headline } from '../../src/report/overview.ts'
import { duration, phaseLine, phaseRows, phaseTree } from '../../src/report/phases.ts'
import { commentBody, runUrl } from '../../src/report/pullRequest.ts'
import { humanReport } from '../../src/report/terminal.ts'
import { recorded, scaled } from '../fixtures/reports/scale.ts'

const ok = (): RunReport => recorded('lab-apply-ok')
const failed = (): RunReport => recorded('lab-apply-failed-host-and-check')
const context = { description: 'examples/lab.yaml' }

describe('the phase tree', () => {
  const phases = ok().hosts[0]?.phases ?? []

  test('host phases nest under the exec that ran them; a second exec is exec 2', () => {
    const tree = phaseTree(phases)
    assert.deepEqual(
      tree.map(n => [n.label, n.children.map(c => c.label)]),
      [
        ['connect', []],
        ['render', []],
        ['exec 1', ['preflight', 'package']],
        ['exec 2', ['preflight', 'package', 'files', 'service', 'ready']]
      ]
    )
  })

  test('no label repeats among siblings, and rows are unique across hosts', () => {
    const rows = phaseRows(ok().hosts.map(h => phaseTree(h.phases)))
    assert.equal(new Set(rows.map(r => r.key)).size, rows.length)
    assert.deepEqual(
      rows.filter(r => r.depth === 0).map(r => r.label),
      ['connect', 'render', 'exec 1', 'exec 2']
    )
  })

  test('a host that failed to connect has one phase', () => {
    const vm3 = failed().hosts.find(h => h.host === 'vm-3') as HostResult
    assert.deepEqual(
      phaseTree(vm3.phases).map(n => [n.label, n.ok]),
      [['connect', false]]
    )
  })

  test('one line for a terminal, in readable units', () => {
    assert.match(
      phaseLine(phases),
      /^connect 255 ms · render 63 ms · exec 1 1\.2 s \(preflight 476 ms, package 33 ms\) · exec 2 6\.8 s \(preflight/
    )
    assert.equal(duration(61_500), '1 min 02 s')
  })
})

describe('headline and failures', () => {
  test('a success says so with its counts', () => {
    const h = headline(ok())
    assert.equal(h.mark, '✅')
    assert.equal(h.title, 'apply succeeded')
    assert.deepEqual(h.counts.slice(0, 2), ['3 of 3 hosts ready', '11 of 11 checks passed'])
  })

  test('a failure counts what failed first', () => {
    const h = headline(failed())
    assert.equal(h.mark, '❌')
    assert.deepEqual(h.counts.slice(0, 3), [
      '1 of 3 hosts failed',
      '2 of 11 checks failed',
      '2 skipped'
    ])
  })

  test('failed hosts, then failed checks, each with a fix', () => {
    const groups = failureGroups(failed())
    assert.deepEqual(
      groups.map(g => [g.subject, g.names, g.fix.kind]),
      [
        ['host', ['vm-3'], 'ssh-auth'],
        ['check', ['vm/vm-3: sidecar ready'], 'host-failed'],
        ['check', ['vm-1 to the cluster'], 'check-status']
      ]
    )
  })

  test('100 hosts refused the same way are one group', () => {
    const report = scaled(failed(), 100)
    for (const host of report.hosts.slice(10, 60)) {
      host.status = 'failed'
      host.error = {
        phase: 'connect',
        message: `nobody@${host.host}:22: authentication failed (publickey)`
      }
    }
    const hosts = failureGroups(report).filter(g => g.subject === 'host')
    assert.equal(hosts.length, 1)
    assert.equal(hosts[0]?.names.length, 51)
  })

  test('known failures map to the setting or command that fixes them', () => {
    const host = (phase: string, message: string, rolledBack = false): HostResult => ({
      ...(ok().hosts[0] as HostResult),
      status: 'failed',
      error: { phase, message },
      rolledBack
    })
    assert.equal(hostFix(host('connect', 'host key mismatch for 198.18.2.2')).kind, 'ssh-host-key')
    assert.equal(
      hostFix(host('connect', 'connect ECONNREFUSED 198.18.2.2:22')).kind,
      'ssh-unreachable'
    )
    assert.equal(
      hostFix(host('preflight', 'clock: the host clock is 400s away')).kind,
      'host-clock'
    )
    assert.equal(hostFix(host('preflight', 'disk: only 20 MB free')).kind, 'host-disk')
    assert.equal(hostFix(host('package', 'package: curl is missing')).kind, 'package')
    assert.equal(hostFix(host('ready', 'not ready in 60 s')).kind, 'not-ready')
    assert.equal(hostFix(host('ready', 'not ready in 60 s', true)).kind, 'rolled-back')
    assert.equal(hostFix(host('exec', 'something new')).kind, 'other')
    assert.equal(
      problemFix('cluster: cannot reach the Kubernetes API at https://x').code,
      'kubectl --kubeconfig FILE get --raw /version'
    )
    assert.equal(
      problemFix('ServiceAccount vm/app exists without our label and owner: conflict').code,
      'settings.adopt'
    )
    const check = failed().checks.find(c => c.name === 'vm-1 to the cluster')
    assert.equal(check && checkFix(check, new Set()).code, 'checks[].expect.status')
  })

  test('a rolled-back host is a failed host, and says "rolled back"', () => {
    const report = failed()
    const vm3 = report.hosts.find(h => h.host === 'vm-3') as HostResult
    vm3.rolledBack = true
    vm3.error = { phase: 'ready', message: 'the new sidecar was not ready in 60 s' }
    const markdown = summaryMarkdown(report, context)
    assert.match(markdown, /<td>❌<\/td><td>vm-3<\/td><td>rolled back<\/td>/)
    assert.match(markdown, /host vm-3 <b>rolled back<\/b>/)
    assert.match(humanReport(report).join('\n'), /✗ host vm-3: rolled back to the previous sidecar/)
  })
})

describe('the job summary', () => {
  test('top to bottom: headline, failures, the fleet, pictures, then the details', () => {
    const markdown = summaryMarkdown(failed(), context)
    const at = (text: string): number => {
      const i = markdown.indexOf(text)
      assert.ok(i >= 0, `${text} is in the summary`)
      return i
    }
    const order = [
      '<h2>❌ mesh-expansion: apply failed</h2>',
      'What failed, and how to fix it',
      'At a glance',
      '```mermaid\nflowchart LR',
      '```mermaid\ngantt',
      '<details><summary>Hosts (3: 2 ok, 1 failed, 0 not started)</summary>',
      '<details><summary>Checks (11: 7 passed, 2 failed, 2 skipped)</summary>',
      '<details><summary>Cluster plan (4 objects: 4 create)</summary>'
    ].map(at)
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b)
    )
  })

  test('a success has no failure section; its hosts are one row', () => {
    const markdown = summaryMarkdown(ok(), context)
    assert.doesNotMatch(markdown, /What failed/)
    assert.match(
      markdown,
      /<tr><td>✅<\/td><td>3<\/td><td>hosts ready \(3 changed, 0 unchanged\)<\/td><td>vm-1, vm-2, vm-3<\/td><\/tr>/
    )
  })

  test('the row of a host and of a check start with a status mark', () => {
    const markdown = summaryMarkdown(ok(), context)
    assert.match(markdown, /<td>✅<\/td><td>vm-1<\/td><td>ready<\/td>/)
    assert.match(markdown, /<td>✅<\/td><td>cluster to vm-2<\/td><td>pass<\/td>/)
    // loopback says nothing: the sidecar-ready row has no address
    assert.doesNotMatch(markdown, /127\.0\.0\.1/)
  })

  test('no phase cell holds a flattened list of phases', () => {
    const markdown = summaryMarkdown(ok(), context)
    for (const cell of markdown.matchAll(/<td>([^<]*)<\/td>/g)) {
      const names =
        (cell[1] ?? '').match(/\b(connect|render|exec|preflight|package|files|service|ready)\b/g) ??
        []
      assert.ok(names.length <= 1, `a cell with ${names.join(', ')}`)
    }
  })

  test('1,000 hosts: grouped rows, bounded pictures, under GitHub’s 1 MiB', () => {
    const markdown = summaryMarkdown(scaled(failed(), 1000), context)
    assert.match(markdown, /<td>✅<\/td><td>999<\/td><td>hosts ready/)
    assert.ok(Buffer.byteLength(markdown) < 1024 * 1024, `${Buffer.byteLength(markdown)} bytes`)
    const gantt = /```mermaid\ngantt[\s\S]*?```/.exec(markdown)?.[0] ?? ''
    assert.ok((gantt.match(/section /g) ?? []).length <= 10)
    assert.match(markdown, /more not listed: the <code>report<\/code> output has every one/)
  })

  test('a name from the description becomes neither HTML nor Mermaid syntax', () => {
    const hostile = 'vm"];click A "javascript:alert(1)"'
    const img = '<img src=x>'
    const json = JSON.stringify(failed())
      .split('vm-3')
      .join(JSON.stringify(hostile).slice(1, -1))
      .split('vm-2')
      .join(img)
    const markdown = summaryMarkdown(JSON.parse(json) as RunReport, context)
    assert.doesNotMatch(markdown, /<img/)
    for (const block of markdown.matchAll(/```mermaid\n([\s\S]*?)```/g)) {
      const diagram = block[1] ?? ''
      // "click" stays inside a quoted label: no statement of its own, no link
      assert.doesNotMatch(diagram, /^\s*click\b|javascript:|<img|vm"\]/m)
      assert.match(diagram, /vm#34;#93;#59;click A #34;javascript#58;alert#40;1#41;#34;/)
    }
  })
})

describe('the pull-request comment and the CLI', () => {
  test('the comment: marker, headline, failures with fixes, a link to the run', () => {
    const body = commentBody(failed(), 'examples/lab.yaml', 'https://github.com/o/r/actions/runs/7')
    assert.match(
      body,
      /^<!-- mesh-expansion -->\n### mesh-expansion: apply failed ❌\n\n\*\*1 of 3 hosts failed\*\*/
    )
    assert.match(body, /\| ❌ \| host vm-3 \| connect: /)
    assert.match(body, /\[job summary and log\]\(https:\/\/github\.com\/o\/r\/actions\/runs\/7\)/)
    assert.ok(body.split('\n').length < 25, 'short')
  })

  test('the run link comes from the runner, or not at all', () => {
    assert.equal(
      runUrl({
        GITHUB_SERVER_URL: 'https://github.com',
        GITHUB_REPOSITORY: 'o/r',
        GITHUB_RUN_ID: '42'
      }),
      'https://github.com/o/r/actions/runs/42'
    )
    assert.equal(runUrl({}), undefined)
    assert.equal(
      runUrl({
        GITHUB_SERVER_URL: 'javascript:alert(1)//',
        GITHUB_REPOSITORY: 'o/r',
        GITHUB_RUN_ID: '42'
      }),
      undefined
    )
    assert.equal(
      runUrl({
        GITHUB_SERVER_URL: 'https://github.com',
        GITHUB_REPOSITORY: 'o/r)',
        GITHUB_RUN_ID: '42'
      }),
      undefined
    )
  })

  test('the CLI: headline, failures with fixes, then details', () => {
    const lines = humanReport(failed())
    assert.equal(
      lines[0],
      '✗ apply failed: 1 of 3 hosts failed · 2 of 11 checks failed · 2 skipped · 20.4 s'
    )
    const text = lines.join('\n')
    const order = [
      'What failed, and how to fix it:',
      '  ✗ host vm-3: connect:',
      '    fix: Use the right SSH user',
      'Details:',
      '  cluster: Istio 1.30.3',
      '    vm-1 5.9s: connect 261 ms'
    ]
    const at = order.map(line => text.indexOf(line))
    assert.ok(
      at.every(i => i >= 0),
      JSON.stringify(at)
    )
    assert.deepEqual(
      at,
      [...at].sort((a, b) => a - b)
    )
  })

  test('the CLI: a run stopped in preflight lists each problem with its fix', () => {
    const report: RunReport = {
      ...ok(),
      ok: false,
      hosts: [],
      checks: [],
      failedPhase: 'preflight',
      problems: ['cluster: cannot reach the Kubernetes API at https://198.18.0.1:6443: timeout']
    }
    const text = humanReport(report).join('\n')
    assert.match(text, /stopped in preflight: nothing was changed on the cluster or any host/)
    assert.match(text, /✗ the run: cluster: cannot reach the Kubernetes API/)
    assert.match(text, /fix: Make the API server of the kubeconfig reachable from the runner/)
  })
})
