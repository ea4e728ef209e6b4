import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { parseDescription, type Description, type Vm } from '../../src/config/index.ts'
import { knownAddresses, meshAddress } from '../../src/engine/addresses.ts'
import { emptyReport, failedHosts, readyHosts, type RunReport } from '../../src/engine/report.ts'
import type { AskHost } from '../../src/host/connections.ts'
import type { HostResult } from '../../src/host/onboard.ts'
import { hostTable, planLines } from '../../src/report/summary.ts'
import { hostLine, reportLines } from '../../src/report/terminal.ts'

function description(vms: string): Description {
  const parsed = parseDescription(
    `workloadGroups:\n  - name: app\n    namespace: vm\n    ports: {http: 8080}\nvms:\n${vms}`,
    'test.yaml'
  )
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.errors))
  return parsed.description
}

function host(name: string, overrides: Partial<HostResult> = {}): HostResult {
  return {
    host: name,
    status: 'ok',
    changed: true,
    restarted: true,
    ready: true,
    package: 'installed',
    phases: [{ name: 'connect', ms: 12, ok: true }],
    logs: [],
    stats: { connections: 1, channels: 2, bytesSent: 100 },
    totalMs: 2500,
    ...overrides
  } as HostResult
}

const report = (hosts: HostResult[]): RunReport => ({
  ...emptyReport('apply', 'run-1'),
  problems: ['vm-2: connect: refused'],
  cluster: {
    istioVersion: '1.30.3',
    generation: 'modern',
    revision: '',
    istioNamespace: 'istio-system',
    clusterID: 'Kubernetes',
    network: '',
    gateway: '198.18.0.2',
    writes: 3,
    unchanged: 1,
    plan: [{ kind: 'WorkloadGroup', namespace: 'vm', name: 'app', action: 'create' }],
    warnings: []
  },
  hosts,
  skippedHosts: ['vm-3'],
  checks: [],
  removed: [],
  durationMs: 4000
})

describe('mesh address', () => {
  const vms = (): Vm[] =>
    description(
      '  - {name: a, host: 198.18.2.2, address: 198.18.9.9}\n  - {name: b, host: 198.18.2.3}\n  - {name: c, host: vm-c.example}\n'
    ).vms
  const never: AskHost = async () => assert.fail('the host was asked')

  test('given address, then an IP SSH host, without asking the host', async () => {
    const [given, ip, named] = vms()
    assert.ok(given && ip && named)
    assert.equal(await meshAddress(given, never), '198.18.9.9')
    assert.equal(await meshAddress(ip, never), '198.18.2.3')
    assert.deepEqual(
      [...knownAddresses([given, ip, named])],
      [
        ['a', '198.18.9.9'],
        ['b', '198.18.2.3']
      ]
    )
  })

  test("a named SSH host: the host's primary address; a loopback answer is refused", async () => {
    const named = vms()[2]
    assert.ok(named)
    const asked: string[] = []
    const primary: AskHost = async (_vm, what) => {
      asked.push(what)
      return '198.18.2.4'
    }
    assert.equal(await meshAddress(named, primary), '198.18.2.4')
    assert.deepEqual(asked, ['host-primary'])
    await assert.rejects(
      meshAddress(named, async () => '127.0.1.1'),
      /c: no mesh address for vm-c\.example: the host's primary address 127\.0\.1\.1 is a loopback address; set the host's address explicitly/
    )
  })

  test('the public-IP lookup only when enabled, and only after the primary address', async () => {
    const named = vms()[2]
    assert.ok(named)
    const asked: string[] = []
    const answers: AskHost = async (_vm, what) => {
      asked.push(what)
      return what === 'host-primary' ? null : '203.0.113.7'
    }
    await assert.rejects(meshAddress(named, answers), /reported no primary address/)
    assert.deepEqual(asked, ['host-primary'])
    asked.length = 0
    const enabled = { publicLookupUrl: 'http://198.18.0.1:8080/ip' }
    assert.equal(await meshAddress(named, answers, enabled), '203.0.113.7')
    assert.deepEqual(asked, ['host-primary', 'public-lookup'])
  })

  test('the runner itself needs its address spelled out', async () => {
    const [local] = description('  - {name: runner, host: local}\n').vms
    assert.ok(local)
    await assert.rejects(
      meshAddress(local, never),
      /runner: host "local" needs an explicit address/
    )
    assert.throws(() => knownAddresses([local]), /runner: host "local" needs an explicit address/)
  })
})

describe('report rendering', () => {
  const hosts = [
    host('vm-1'),
    host('vm-2', {
      status: 'failed',
      ready: false,
      error: { phase: 'connect', message: 'refused' }
    })
  ]

  test('ready and failed hosts', () => {
    assert.deepEqual(readyHosts(report(hosts)), ['vm-1'])
    assert.deepEqual(failedHosts(report(hosts)), ['vm-2'])
  })

  test('a line per host says what happened and what it cost', () => {
    assert.equal(
      hostLine(hosts[0] as HostResult),
      '✓ vm-1: ready, changed, restarted, package installed (2.5s; 1 connection, 2 channels)'
    )
    assert.equal(hostLine(hosts[1] as HostResult), '✗ vm-2: failed in connect after 2.5s: refused')
    assert.equal(
      hostLine(host('vm-1', { package: 'removed', ready: false })),
      '✓ vm-1: sidecar removed (2.5s)'
    )
  })

  test('the closing lines count hosts and name each problem', () => {
    assert.deepEqual(reportLines(report(hosts)), [
      'cluster: Istio 1.30.3 (modern), revision default, cluster ID "Kubernetes", gateway 198.18.0.2; 3 write(s), 1 unchanged',
      'hosts: 1 ready, 1 failed, 1 skipped',
      'problem: vm-2: connect: refused',
      'apply FAILED in 4.0s'
    ])
  })

  test('the summary tables', () => {
    const table = hostTable(report(hosts))
    assert.equal(table.length, 1 + 2 + 1)
    assert.deepEqual(table[1], [
      'vm-1',
      'ready',
      'yes, restarted',
      'connect 12',
      '1 conn, 2 ch',
      ''
    ])
    assert.deepEqual(table[3], [
      'vm-3',
      'skipped',
      '',
      '',
      '',
      'not started (fail-fast or max-failures)'
    ])
    assert.deepEqual(planLines(report(hosts)), ['create    WorkloadGroup vm/app'])
  })
})
