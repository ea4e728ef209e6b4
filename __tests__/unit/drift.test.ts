// The pure parts of `drift`: the probe's output parsed, each comparison and its wording, the
// capture rules, the version skew, the cluster's plan as findings, the exit code and the
// renderers; and the probe script itself is valid POSIX sh that shellcheck accepts.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, test } from 'node:test'
import { expectedCapture, clusterEnvValue, missingCapture } from '../../src/drift/capture.ts'
import { clusterFindings } from '../../src/drift/cluster.ts'
import {
  compareHost,
  duration,
  hostsBlockBody,
  sha256,
  skewFinding,
  type HostExpectation
} from '../../src/drift/compare.ts'
import { parseProbe, probeScript, TMPFILES_CONTENT, type HostFacts } from '../../src/drift/probe.ts'
import { driftExitCode, type DriftReport, type HostDrift } from '../../src/drift/types.ts'
import { driftHeadline, driftLines, driftMarkdown } from '../../src/report/drift.ts'
import type { PlanEntry } from '../../src/cluster/plan.ts'
import type { KubeObject } from '../../src/cluster/types.ts'

const NOW = Date.parse('2026-12-07T12:00:00Z')
const now = NOW / 1000

const CLUSTER_ENV = [
  "ISTIO_INBOUND_PORTS='8080'",
  "ISTIO_LOCAL_EXCLUDE_PORTS='22,15090,15021,15020'",
  "ISTIO_SERVICE_CIDR='*'",
  ''
].join('\n')

const expectation: HostExpectation = {
  files: {
    'cluster.env': sha256(CLUSTER_ENV),
    mesh: sha256('mesh'),
    'root-cert.pem': sha256('root'),
    tmpfiles: sha256(TMPFILES_CONTENT)
  },
  hostsBlock: sha256(hostsBlockBody('198.18.0.1 istiod.istio-system.svc')),
  clusterEnv: CLUSTER_ENV,
  wantedVersion: '1.30.3',
  wantedSha256: 'a'.repeat(64),
  istioVersion: '1.30.3',
  revision: '',
  tokenRefreshWithin: 86400,
  entry: { name: 'vm-1', health: { state: 'healthy' } }
}

const TOKEN_SHA = 'b'.repeat(64)

/** What the probe prints on a host that is as described. */
function probeOutput(overrides: Record<string, string> = {}): string {
  const lines: Record<string, string> = {
    'cluster.env': `file cluster.env present ${sha256(CLUSTER_ENV)}`,
    mesh: `file mesh present ${sha256('mesh')}`,
    'root-cert.pem': `file root-cert.pem present ${sha256('root')}`,
    'root-cert.pem (agent)': `file root-cert.pem (agent) present ${'c'.repeat(64)}`,
    'istio-token': `file istio-token present ${TOKEN_SHA}`,
    'istio-token (copy)': `file istio-token (copy) present ${TOKEN_SHA}`,
    tmpfiles: `file tmpfiles present ${sha256(TMPFILES_CONTENT)}`,
    hosts: `block hosts present ${sha256('198.18.0.1 istiod.istio-system.svc\n')}`,
    'token-exp': `token-exp ${now + 2 * 86400}`,
    cert: `cert-not-after ${now + 20 * 3600}`,
    package: 'package 1.30.3',
    'package-sha256': `package-sha256 ${'a'.repeat(64)}`,
    'package-recorded': 'package-recorded 1.30.3',
    service: 'service active',
    ready: 'ready yes',
    ipt1: 'ipt -A PREROUTING -p tcp -j ISTIO_INBOUND',
    ipt2: 'ipt -A OUTPUT -p tcp -j ISTIO_OUTPUT',
    ipt3: 'ipt -A ISTIO_INBOUND -p tcp -m tcp --dport 8080 -j ISTIO_IN_REDIRECT',
    ipt4: 'ipt -A ISTIO_OUTPUT -j ISTIO_REDIRECT',
    'ipt-status': 'ipt-status ok',
    ...overrides
  }
  return `${Object.values(lines)
    .filter(line => line !== '')
    .map(line => `MX-DRIFT ${line}`)
    .join('\n')}\nsome other line\n`
}

const findings = (facts: HostFacts, expected: HostExpectation = expectation) =>
  compareHost(facts, expected, NOW)
const drifts = (facts: HostFacts, expected?: HostExpectation) =>
  findings(facts, expected).filter(f => f.state === 'drift')

describe('the probe', () => {
  test('is valid POSIX sh, clean for shellcheck', () => {
    const script = probeScript()
    assert.equal(spawnSync('/bin/sh', ['-n'], { input: script }).status, 0)
    const r = spawnSync('shellcheck', ['-s', 'sh', '-'], { input: script, encoding: 'utf8' })
    assert.notEqual(r.error?.message.includes('ENOENT'), true, 'shellcheck is not installed')
    assert.equal(r.status, 0, r.stdout)
  })

  test('changes nothing and prints only its lines (run here, as an ordinary user)', () => {
    const r = spawnSync('/bin/sh', ['-s'], { input: probeScript(), encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    for (const line of r.stdout.trim().split('\n')) assert.match(line, /^MX-DRIFT /)
    const facts = parseProbe(r.stdout)
    assert.equal(facts.files['cluster.env']?.state !== undefined, true)
  })

  test('its output parses; unknown lines are ignored', () => {
    const facts = parseProbe(probeOutput())
    assert.deepEqual(facts.files['root-cert.pem (agent)'], {
      state: 'present',
      sha256: 'c'.repeat(64)
    })
    assert.equal(facts.tokenExp, now + 2 * 86400)
    assert.equal(facts.packageVersion, '1.30.3')
    assert.equal(facts.ready, 'yes')
    assert.equal(facts.iptables.length, 4)
    const other = parseProbe(
      'MX-DRIFT token-exp none\nMX-DRIFT cert-not-after unreadable\nMX-DRIFT package none\nMX-DRIFT file mesh symlink -\n'
    )
    assert.equal(other.tokenExp, null)
    assert.equal(other.certNotAfter, 'unreadable')
    assert.equal(other.packageVersion, null)
    assert.deepEqual(other.files.mesh, { state: 'symlink', sha256: null })
  })
})

describe('a host compared', () => {
  test('as described: every finding ok', () => {
    const all = findings(parseProbe(probeOutput()))
    assert.deepEqual(
      all.filter(f => f.state !== 'ok'),
      []
    )
    assert.ok(all.some(f => f.area === 'capture' && /4 capture rules present/.test(f.detail)))
  })

  test('a file edited, missing, or a symlink', () => {
    const edited = drifts(
      parseProbe(probeOutput({ 'cluster.env': `file cluster.env present ${'0'.repeat(64)}` }))
    )
    assert.equal(edited.length, 1)
    assert.equal(edited[0]?.subject, '/var/lib/istio/envoy/cluster.env')
    assert.match(
      edited[0]?.detail ?? '',
      /differs from what the description renders now.*apply places it again/
    )
    const missing = drifts(parseProbe(probeOutput({ mesh: 'file mesh missing -' })))
    assert.match(missing[0]?.detail ?? '', /^missing; apply places it again/)
    const link = drifts(parseProbe(probeOutput({ mesh: 'file mesh symlink -' })))
    assert.match(link[0]?.detail ?? '', /symlink.*not followed/)
    const block = drifts(parseProbe(probeOutput({ hosts: 'block hosts missing -' })))
    assert.match(block[0]?.detail ?? '', /cannot resolve istiod/)
  })

  test('a token: replaced, expiring within the threshold, expired', () => {
    const replaced = drifts(
      parseProbe(probeOutput({ 'istio-token': `file istio-token present ${'d'.repeat(64)}` }))
    )
    assert.match(replaced[0]?.detail ?? '', /differs from the copy mesh-expansion keeps/)
    const soon = drifts(parseProbe(probeOutput({ 'token-exp': `token-exp ${now + 3540}` })))
    assert.equal(soon.length, 1)
    assert.match(
      soon[0]?.detail ?? '',
      /^expires in 59 min \(2026-12-07T12:59:00\.000Z\), within settings\.tokenRefreshWithin \(1 d\); apply places a new token without a restart$/
    )
    const expired = drifts(parseProbe(probeOutput({ 'token-exp': `token-exp ${now - 7200}` })))
    assert.match(expired[0]?.detail ?? '', /^expired 2 h ago .*cannot get its certificate/)
    // a threshold of 0 accepts any token still valid
    assert.deepEqual(
      drifts(parseProbe(probeOutput({ 'token-exp': `token-exp ${now + 60}` })), {
        ...expectation,
        tokenRefreshWithin: 0
      }),
      []
    )
  })

  test('the token itself never appears: only digests and the exp claim are parsed', () => {
    const facts = parseProbe(probeOutput({ 'token-exp': 'token-exp eyJhbGciOi.eyJzdWIi.sig' }))
    assert.equal(facts.tokenExp, 'unreadable')
  })

  test('the workload certificate: expired, or never issued', () => {
    const expired = drifts(parseProbe(probeOutput({ cert: `cert-not-after ${now - 60}` })))
    assert.match(expired[0]?.detail ?? '', /^expired 1 min ago .*did not rotate it/)
    const none = drifts(parseProbe(probeOutput({ cert: 'cert-not-after none' })))
    assert.match(none[0]?.detail ?? '', /never got one from istiod/)
  })

  test('the package: downgraded by hand, not installed, or pushed with another version', () => {
    const down = drifts(parseProbe(probeOutput({ package: 'package 1.29.0' })))
    assert.equal(down[0]?.area, 'package')
    assert.equal(
      down[0]?.detail,
      '1.29.0 installed, 1.30.3 wanted (downgraded on the host?); apply installs the package wanted'
    )
    const gone = drifts(parseProbe(probeOutput({ package: 'package none' })))
    assert.equal(gone[0]?.detail, 'not installed; apply installs it')
    // a pushed file whose version is not istiod's: the file decides, as install.sh does
    const pushed = { ...expectation, wantedVersion: '1.30.3' }
    const facts = parseProbe(
      probeOutput({ package: 'package 1.30.2', 'package-recorded': 'package-recorded 1.30.2' })
    )
    assert.deepEqual(
      drifts(facts, pushed).filter(f => f.area === 'package'),
      []
    )
  })

  test('version skew with istiod: one minor behind is supported, two is not, newer never', () => {
    const at = (sidecar: string, istiod: string) =>
      skewFinding(sidecar, { ...expectation, istioVersion: istiod })
    assert.equal(at('1.29.4', '1.30.3').state, 'ok')
    assert.equal(at('1.30.3', '1.30.0').state, 'ok')
    assert.match(
      at('1.28.0', '1.30.3').detail,
      /2 minor versions behind istiod 1\.30\.3: outside the supported skew/
    )
    assert.match(at('1.31.0', '1.30.3').detail, /newer than istiod/)
    assert.equal(at('1.30.0', '').state, 'unknown')
    assert.match(
      skewFinding('1.30.0', { ...expectation, revision: 'canary' }).subject,
      /revision canary/
    )
  })

  test('the service stopped, not ready, and its WorkloadEntry', () => {
    const stopped = drifts(
      parseProbe(probeOutput({ service: 'service inactive', ready: 'ready no' })),
      {
        ...expectation,
        entry: {
          name: 'vm-1',
          health: { state: 'unhealthy', reason: 'Unhealthy', message: 'probe failed' }
        }
      }
    )
    assert.deepEqual(
      stopped.map(f => f.area),
      ['service', 'readiness', 'registration']
    )
    assert.match(
      stopped[0]?.detail ?? '',
      /the sidecar is inactive \(systemctl is-active istio\); apply starts it/
    )
    assert.match(stopped[2]?.detail ?? '', /not healthy \(Unhealthy: probe failed\)/)
    const gone = drifts(parseProbe(probeOutput()), {
      ...expectation,
      entry: { name: 'vm-1', health: { state: 'missing' } }
    })
    assert.match(
      gone[0]?.detail ?? '',
      /^missing: the mesh sends this host no traffic; apply registers it again/
    )
  })

  test('a capture rule flushed', () => {
    const flushed = drifts(parseProbe(probeOutput({ ipt3: '' })))
    assert.equal(flushed.length, 1)
    assert.match(
      flushed[0]?.detail ?? '',
      /^missing: inbound capture of port 8080 \(-A ISTIO_INBOUND -p tcp --dport 8080 -j ISTIO_IN_REDIRECT\)/
    )
    const none = findings(parseProbe(probeOutput({ 'ipt-status': 'ipt-status no-iptables' })))
    assert.ok(none.some(f => f.area === 'capture' && f.state === 'unknown'))
  })
})

describe('capture rules from cluster.env', () => {
  test('explicit ports, CIDRs, everything, or left to the host', () => {
    assert.equal(clusterEnvValue("A='x'\nB='it'\\''s'\n", 'B'), "it's")
    const env = "ISTIO_INBOUND_PORTS='80,443'\nISTIO_SERVICE_CIDR='10.0.0.0/8,10.1.1.1'\n"
    assert.deepEqual(
      expectedCapture(env).map(r => r.rule),
      [
        '-A OUTPUT -p tcp -j ISTIO_OUTPUT',
        '-A PREROUTING -p tcp -j ISTIO_INBOUND',
        '-A ISTIO_INBOUND -p tcp --dport 80 -j ISTIO_IN_REDIRECT',
        '-A ISTIO_INBOUND -p tcp --dport 443 -j ISTIO_IN_REDIRECT',
        '-A ISTIO_OUTPUT -d 10.0.0.0/8 -j ISTIO_REDIRECT',
        '-A ISTIO_OUTPUT -d 10.1.1.1/32 -j ISTIO_REDIRECT'
      ]
    )
    assert.deepEqual(expectedCapture("ISTIO_CUSTOM_IP_TABLES='true'\n"), [])
    assert.deepEqual(
      expectedCapture("ISTIO_INBOUND_PORTS=''\n").map(r => r.rule),
      ['-A OUTPUT -p tcp -j ISTIO_OUTPUT']
    )
    const missing = missingCapture(expectedCapture(env), [
      '-A OUTPUT -p tcp -j ISTIO_OUTPUT',
      '-A PREROUTING -p tcp -j ISTIO_INBOUND',
      '-A ISTIO_INBOUND -p tcp -m tcp --dport 80 -j ISTIO_IN_REDIRECT'
    ])
    assert.deepEqual(
      missing.map(r => r.purpose),
      [
        'inbound capture of port 443',
        'outbound redirect of 10.0.0.0/8',
        'outbound redirect of 10.1.1.1'
      ]
    )
  })
})

describe('the cluster', () => {
  const object = (kind: string, name: string): KubeObject => ({
    apiVersion: 'v1',
    kind,
    metadata: { name, namespace: 'vm' }
  })
  const entry = (
    kind: string,
    name: string,
    action: PlanEntry['action'],
    diff = ''
  ): PlanEntry => ({
    kind,
    name,
    namespace: 'vm',
    action,
    diff,
    object: object(kind, name)
  })

  test('the plan as findings: a deleted entry, changed labels, a conflict; what is left over', () => {
    const out = clusterFindings(
      {
        entries: [
          entry(
            'WorkloadGroup',
            'drift',
            'update',
            '~ metadata.labels.tier: undefined -> backend\n~ spec.metadata.labels.tier: x -> backend'
          ),
          entry('WorkloadEntry', 'vm-1', 'create', '+ spec: {}'),
          entry('ServiceEntry', 'drift', 'unchanged'),
          entry('Service', 'drift', 'conflict')
        ]
      },
      [object('ServiceEntry', 'drift'), object('ServiceEntry', 'old')]
    )
    assert.deepEqual(
      out.map(f => `${f.state} ${f.subject}: ${f.detail}`),
      [
        'drift WorkloadGroup vm/drift: differs from the description: metadata.labels.tier: undefined -> backend; spec.metadata.labels.tier: x -> backend; apply updates it',
        'drift WorkloadEntry vm/vm-1: missing (deleted, or new in the description); apply creates it',
        'ok ServiceEntry vm/drift: as described',
        'drift Service vm/drift: not ours: apply would refuse it (settings.adopt takes it over)',
        "drift ServiceEntry vm/old: this owner's, but the description no longer has it; `cleanup` removes it, apply leaves it"
      ]
    )
  })
})

function report(hosts: HostDrift[], extra: Partial<DriftReport> = {}): DriftReport {
  const driftedHosts = hosts.filter(h => h.status === 'drift').map(h => h.host)
  const uncheckedHosts = hosts.filter(h => h.status === 'unchecked').map(h => h.host)
  return {
    command: 'drift',
    owner: 'fleet',
    ok: driftedHosts.length === 0 && uncheckedHosts.length === 0,
    drifted: driftedHosts.length > 0,
    driftedHosts,
    uncheckedHosts,
    hosts,
    cluster: { status: 'ok', istioVersion: '1.30.3', revision: '', findings: [] },
    problems: [],
    tokenRefreshWithinSeconds: 86400,
    checkedAt: '2026-12-07T12:00:00.000Z',
    durationMs: 1200,
    ...extra
  }
}

const okHost: HostDrift = {
  host: 'vm-1',
  status: 'ok',
  findings: [{ area: 'service', subject: 'istio', state: 'ok', detail: 'active' }]
}
const driftHost: HostDrift = {
  host: 'vm-2',
  status: 'drift',
  findings: [
    { area: 'service', subject: 'istio', state: 'ok', detail: 'active' },
    {
      area: 'file',
      subject: '/etc/istio/config/mesh',
      state: 'drift',
      detail: 'missing; <apply> places it again'
    }
  ]
}
const downHost: HostDrift = {
  host: 'vm-3',
  status: 'unchecked',
  findings: [
    { area: 'connection', subject: 'vm-3', state: 'unknown', detail: 'not checked: refused' }
  ]
}

describe('exit code and rendering', () => {
  test('0 no drift, 3 drift (even with hosts not checked), 1 not all checked, 2 invalid', () => {
    assert.equal(driftExitCode(report([okHost]), false), 0)
    assert.equal(driftExitCode(report([okHost, driftHost, downHost]), false), 3)
    assert.equal(driftExitCode(report([okHost, downHost]), false), 1)
    assert.equal(driftExitCode(report([]), true), 2)
    const clusterDrift = report([okHost], {
      ok: false,
      drifted: true,
      cluster: { status: 'drift', istioVersion: '1.30.3', revision: '', findings: [] }
    })
    assert.equal(driftExitCode(clusterDrift, false), 3)
    assert.equal(driftHeadline(clusterDrift), 'drift found on the cluster')
  })

  test('the terminal: a table per host, drift first, what is as described folded', () => {
    const lines = driftLines(report([okHost, driftHost, downHost]))
    const text = lines.join('\n')
    assert.match(text, /^vm-1: ok\n {2}1 compared, all as described$/m)
    assert.match(
      text,
      /^vm-2: drift \(1\)\n {2}DRIFT {2}file {2}\/etc\/istio\/config\/mesh {2}missing; <apply> places it again$/m
    )
    assert.match(text, /^vm-3: not checked\n {2}\? {2}connection {2}vm-3 {2}not checked: refused$/m)
    assert.equal(lines[lines.length - 1], 'drift found on 1 of 3 host(s): vm-2')
    assert.match(
      driftLines(report([okHost]), { all: true }).join('\n'),
      /ok {2}service {2}istio {2}active/
    )
  })

  test('the job summary: escaped HTML, the drifted host open', () => {
    const md = driftMarkdown(report([okHost, driftHost]), {
      description: 'mesh/fleet.yaml',
      runUrl: 'https://github.com/o/r/actions/runs/1'
    })
    assert.match(md, /<b>drift found on 1 of 2 host\(s\): vm-2<\/b>/)
    assert.match(md, /<tr><td>vm-2<\/td><td>drift<\/td><td>\/etc\/istio\/config\/mesh<\/td><\/tr>/)
    assert.match(md, /<details open><summary>vm-2: drift \(1\)<\/summary>/)
    assert.match(md, /<details><summary>vm-1: ok<\/summary>/)
    assert.match(md, /missing; &lt;apply&gt; places it again/)
    assert.doesNotMatch(md, /<apply>/)
  })

  test('durations as people say them', () => {
    assert.deepEqual(
      [duration(42), duration(3540), duration(3600 + 120), duration(86400 * 2 + 3600 * 5)],
      ['42 s', '59 min', '1 h 2 min', '2 d 5 h']
    )
  })
})

describe('the command', () => {
  const run = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const { runCli } = await import('../../src/commands/index.ts')
    let stdout = ''
    let stderr = ''
    const code = await runCli(args, {
      cwd: process.cwd(),
      env,
      stdout: text => void (stdout += text),
      stderr: text => void (stderr += text)
    })
    return { code, stdout, stderr }
  }

  test('is listed, has help with its exit codes', async () => {
    const { usage } = await import('../../src/commands/index.ts')
    assert.match(
      usage(),
      /^ {2}drift +compare the hosts and the cluster with the description; writes nothing$/m
    )
    const help = await run(['drift', '--help'])
    assert.equal(help.code, 0)
    assert.match(
      help.stdout,
      /Exit codes: 0 no drift, 3 drift found, 1 something could not be checked, 2 invalid input/
    )
  })

  test('without the SSH secrets: exit 2, nothing read, each problem said once', async () => {
    const r = await run(['drift', '-c', 'examples/lab.yaml'])
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.match(
      r.stderr,
      /^Error: no SSH private key: the variable SSH_PRIVATE_KEY is empty or unset$/m
    )
    const json = await run(['drift', '-c', 'examples/lab.yaml', '--json'])
    assert.equal(json.code, 2)
    const report = JSON.parse(json.stdout) as DriftReport
    assert.deepEqual([report.command, report.drifted, report.ok], ['drift', false, false])
  })
})

describe('the scheduled-conformance example', () => {
  test('runs drift and files one issue from the outputs, in a step of its own', async () => {
    const { readFileSync } = await import('node:fs')
    const { parse } = await import('yaml')
    const workflow = parse(
      readFileSync('examples/workflows/scheduled-conformance.yml', 'utf8')
    ) as {
      on: { schedule?: unknown[] }
      jobs: Record<
        string,
        { permissions?: Record<string, string>; steps: Array<Record<string, unknown>> }
      >
    }
    assert.ok(Array.isArray(workflow.on.schedule))
    const job = workflow.jobs.drift
    assert.ok(job)
    const driftStep = job.steps.find(
      s => (s.with as Record<string, string> | undefined)?.command === 'drift'
    )
    assert.equal(driftStep?.id, 'drift')
    const issue = job.steps.find(
      s => typeof s.run === 'string' && s.run.includes('gh issue create')
    )
    assert.ok(issue, 'no issue step')
    assert.match(String(issue.if), /always\(\)/)
    assert.equal((issue.env as Record<string, string>).REPORT, '${{ steps.drift.outputs.report }}')
    assert.match(String(issue.run), /gh issue comment/)
    assert.equal(job.permissions?.issues, 'write')
  })
})
