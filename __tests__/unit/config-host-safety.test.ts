// Issue 15, the description's part: env keys that a root shell would run, the ports the capture
// must leave alone, package integrity, and one SSH target per machine however its address is
// written. Every rule is checked through parseDescription (FILE:LINE:COL), then on the
// resolved description (the run's own safety net and the package plan).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  formatError,
  parseDescription,
  reachablePortsOf,
  type Description
} from '../../src/config/index.ts'
import { normalizeHost } from '../../src/config/formats.ts'
import { captureProblems } from '../../src/engine/files.ts'
import { inputsPhase } from '../../src/engine/phases/inputs.ts'
import type { RunState } from '../../src/engine/state.ts'
import { packageSourceFor } from '../../src/host/fleet.ts'

function parseOk(text: string): Description {
  const result = parseDescription(text, 'mesh.yaml')
  assert.ok(result.ok, result.ok ? '' : result.errors.map(formatError).join('\n'))
  return result.description
}

function errorsOf(text: string): string[] {
  const result = parseDescription(text, 'mesh.yaml')
  assert.equal(result.ok, false, 'expected errors')
  return result.ok ? [] : result.errors.map(formatError)
}

const group = (extra = '', ports = '{http: 8080}'): string =>
  `workloadGroups:\n  - name: web\n    namespace: vm\n    ports: ${ports}\n${extra}`
const vm = (name: string, host: string, extra = ''): string =>
  `  - name: ${name}\n    host: ${JSON.stringify(host)}\n${extra}`
const SHA = 'ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789'

describe('proxyMetadata keys are shell variable names', () => {
  test('a key with shell syntax in proxyConfig is refused at the key', () => {
    const errors = errorsOf(
      group(
        '    proxyConfig:\n      proxyMetadata:\n        ISTIO_META_OK: "1"\n        X=1;touch /tmp/x;Y: "1"\n'
      ) + `vms:\n${vm('a', '198.18.2.2')}`
    )
    assert.deepEqual(errors, [
      'mesh.yaml:8:9 workloadGroups[0].proxyConfig.proxyMetadata["X=1;touch /tmp/x;Y"]: ' +
        'invalid environment variable name "X=1;touch /tmp/x;Y": letters, digits and "_", not ' +
        'starting with a digit (the key becomes a line of cluster.env, which a root shell sources)'
    ])
  })

  test('the proto name proxy_metadata is checked too, and values must be text', () => {
    const errors = errorsOf(
      group('    proxyConfig:\n      proxy_metadata: {"1ABC": x, GOOD: 3}\n') +
        `vms:\n${vm('a', '198.18.2.2')}`
    )
    assert.equal(errors.length, 2, errors.join('\n'))
    assert.match(
      errors[0] ?? '',
      /^mesh\.yaml:6:24 .*proxy_metadata\["1ABC"\]: invalid environment variable name "1ABC"/
    )
    assert.match(errors[1] ?? '', /^mesh\.yaml:6:41 .*proxy_metadata\.GOOD: expected a string/)
  })

  test('the proxy.istio.io/config annotation, as YAML or JSON, is read for its keys', () => {
    for (const value of [
      `'{"proxyMetadata": {"A B": "x"}}'`,
      '|\n        proxyMetadata:\n          "A B": x'
    ]) {
      const errors = errorsOf(
        group(`    annotations:\n      proxy.istio.io/config: ${value}\n`) +
          `vms:\n${vm('a', '198.18.2.2')}`
      )
      assert.deepEqual(errors, [
        'mesh.yaml:6:30 workloadGroups[0].annotations["proxy.istio.io/config"]: proxyMetadata: ' +
          'invalid environment variable name "A B": letters, digits and "_", not starting with ' +
          'a digit (the key becomes a line of cluster.env, which a root shell sources)'
      ])
    }
  })

  test('an annotation that is no ProxyConfig is said so; good keys pass', () => {
    const bad = errorsOf(
      group('    annotations:\n      proxy.istio.io/config: "[1, 2"\n') +
        `vms:\n${vm('a', '198.18.2.2')}`
    )
    assert.match(bad[0] ?? '', /^mesh\.yaml:6:30 .*cannot be read as a ProxyConfig/)
    const d = parseOk(
      group(
        '    annotations:\n      proxy.istio.io/config: \'{"proxyMetadata": {"GODEBUG": "a;b"}}\'\n' +
          '    proxyConfig: {proxyMetadata: {_X1: "$(reboot)"}}\n'
      ) + `vms:\n${vm('a', '198.18.2.2')}`
    )
    assert.deepEqual(d.workloadGroups[0]?.proxyConfig, { proxyMetadata: { _X1: '$(reboot)' } })
  })
})

describe('the capture never takes a port that must stay reachable', () => {
  test("a group port that is a VM's SSH port is refused, naming the VM and the fix", () => {
    const errors = errorsOf(
      group('', '{http: 8080, tcp-admin: 2223}') +
        `vms:\n${vm('a', '198.18.2.2', '    port: 2223\n')}${vm('b', '198.18.2.3')}`
    )
    assert.deepEqual(errors, [
      'mesh.yaml:4:36 workloadGroups[0].ports.tcp-admin: port 2223 would be captured by the sidecar (ISTIO_INBOUND_PORTS lists the group\'s ports) and it is the SSH port of vm "a": the host would be unreachable; serve the workload on another port, or move sshd (vms[].port) / drop the port from reachablePorts'
    ])
  })

  test('ssh.port counts for every VM that does not set its own', () => {
    const errors = errorsOf(
      group('', '{tcp-ssh: 2200}') + `vms:\n${vm('a', '198.18.2.2')}ssh:\n  port: 2200\n`
    )
    assert.match(errors[0] ?? '', /^mesh\.yaml:4:22 .*port 2200 .*the SSH port of vm "a"/)
  })

  test('reachablePorts of settings and of the group count the same way', () => {
    const settings = errorsOf(
      group('', '{http: 8080}') +
        `vms:\n${vm('a', '198.18.2.2')}settings:\n  reachablePorts: [8080]\n`
    )
    assert.match(settings[0] ?? '', /^mesh\.yaml:4:19 .*port 8080 .*a reachable port of vm "a"/)
    const own = errorsOf(
      group('    reachablePorts: [8080]\n', '{http: 8080}') + `vms:\n${vm('a', '198.18.2.2')}`
    )
    assert.match(own[0] ?? '', /^mesh\.yaml:4:19 .*port 8080 .*a reachable port of vm "a"/)
  })

  test('port 22 in the ports of a group whose only VM is the runner itself is fine', () => {
    parseOk(group('', '{tcp-ssh: 22}') + `vms:\n${vm('me', 'local', '    address: 198.18.0.9\n')}`)
  })

  test('proxyMetadata that would capture the SSH port if it were honoured is refused', () => {
    // the group has no ports: ISTIO_INBOUND_PORTS is *, the exclusions decide
    const exclude = errorsOf(
      group(
        '    proxyConfig:\n      proxyMetadata: {ISTIO_LOCAL_EXCLUDE_PORTS: "15090,15021"}\n',
        '{}'
      ) +
        '    service: {kind: none}\n' +
        `vms:\n${vm('a', '198.18.2.2', '    port: 2223\n')}`
    )
    assert.deepEqual(exclude, [
      'mesh.yaml:6:50 workloadGroups[0].proxyConfig.proxyMetadata.ISTIO_LOCAL_EXCLUDE_PORTS: ' +
        'proxyMetadata ISTIO_LOCAL_EXCLUDE_PORTS="15090,15021" would let the sidecar capture ' +
        'port 2223, the SSH port of vm "a": the host would be unreachable; remove it: ' +
        'cluster.env takes ISTIO_INBOUND_PORTS from ports and ISTIO_LOCAL_EXCLUDE_PORTS from ' +
        'the SSH port and reachablePorts'
    ])
    const inbound = errorsOf(
      group(
        `    annotations:\n      proxy.istio.io/config: '{"proxyMetadata": {"ISTIO_INBOUND_PORTS": "8080,22"}}'\n`
      ) + `vms:\n${vm('a', '198.18.2.2')}`
    )
    assert.match(
      inbound[0] ?? '',
      /^mesh\.yaml:6:30 .*ISTIO_INBOUND_PORTS="8080,22" would let the sidecar capture port 22, the SSH port of vm "a"/
    )
    // with both, `*` hands the decision to the exclusions: that key is named
    const both = errorsOf(
      group(
        '    proxyConfig:\n      proxyMetadata: {ISTIO_INBOUND_PORTS: "*", ISTIO_LOCAL_EXCLUDE_PORTS: "22"}\n'
      ) + `vms:\n${vm('a', '198.18.2.2', '    port: 2223\n')}`
    )
    assert.match(
      both[0] ?? '',
      /proxyMetadata\.ISTIO_LOCAL_EXCLUDE_PORTS: proxyMetadata ISTIO_LOCAL_EXCLUDE_PORTS="22" would let the sidecar capture port 2223/
    )
    // values that leave every guarded port alone pass
    parseOk(
      group(
        '    proxyConfig:\n      proxyMetadata: {ISTIO_INBOUND_PORTS: "8080", ISTIO_LOCAL_EXCLUDE_PORTS: "22,2223"}\n'
      ) + `vms:\n${vm('a', '198.18.2.2', '    port: 2223\n')}`
    )
  })

  test('reachablePortsOf: the SSH port, then settings, then the group, each once', () => {
    const d = parseOk(
      group('    reachablePorts: [9100, 8443]\n', '{}') +
        '    service: {kind: none}\n' +
        `vms:\n${vm('a', '198.18.2.2', '    port: 2223\n')}${vm('me', 'local', '    address: 198.18.0.9\n')}` +
        'settings:\n  reachablePorts: [8443, 2223]\n'
    )
    const [a, me] = d.vms
    assert.ok(a && me)
    const web = d.workloadGroups[0]
    assert.deepEqual(reachablePortsOf(a, web, d.settings), [2223, 8443, 9100])
    assert.deepEqual(reachablePortsOf(me, web, d.settings), [8443, 2223, 9100])
  })

  test('the run refuses it in its inputs phase too (a description built in code)', async () => {
    const d = parseOk(group() + `vms:\n${vm('a', '198.18.2.2', '    port: 2223\n')}`)
    const web = d.workloadGroups[0]
    assert.ok(web)
    web.ports = { http: 8080, 'tcp-admin': 2223 }
    const expected =
      'a: port 2223 is its SSH port, and the ports of group web list it: the sidecar would ' +
      'capture it (ISTIO_INBOUND_PORTS lists the ports) and leave the host unreachable; take ' +
      "it out of the group's ports, or move the VM's SSH port"
    assert.deepEqual(captureProblems(d, d.vms), [expected])
    const state = { description: d, vms: d.vms, options: { env: {} } } as unknown as RunState
    await inputsPhase({ packages: true }).run(state, {} as never)
    assert.ok(state.inputs?.problems.includes(expected), state.inputs?.problems.join('\n'))
    web.ports = { http: 8080 }
    assert.deepEqual(captureProblems(d, d.vms), [])
  })
})

describe('package integrity', () => {
  test('an http:// package without sha256 is refused at the package, group or VM level', () => {
    const message =
      'an http:// package needs sidecar.sha256 (or use https://): anyone on the path could replace it'
    assert.deepEqual(
      errorsOf(
        group('    sidecar: {package: "http://198.18.0.1/p.deb"}\n') +
          `vms:\n${vm('a', '198.18.2.2')}`
      ),
      [`mesh.yaml:5:24 workloadGroups[0].sidecar.package: ${message}`]
    )
    // the group's sha256 belongs to the group's package, not to one a VM gives instead
    assert.deepEqual(
      errorsOf(
        group(`    sidecar: {package: "https://198.18.0.1/p.deb", sha256: ${SHA}}\n`) +
          `vms:\n${vm('a', '198.18.2.2', '    sidecar: {package: "HTTP://198.18.0.1/q.deb"}\n')}`
      ),
      [`mesh.yaml:9:24 vms[0].sidecar.package: ${message}`]
    )
  })

  test('sha256: 64 hex digits, beside a package URL', () => {
    const bad = errorsOf(
      group() +
        `vms:\n${vm('a', '198.18.2.2', '    sidecar: {package: "http://198.18.0.1/p.deb", sha256: abc}\n')}` +
        vm('b', '198.18.2.3', `    sidecar: {sha256: ${SHA}}\n`) +
        vm('c', '198.18.2.4', `    sidecar: {package: /opt/p.deb, sha256: ${SHA}}\n`)
    )
    assert.equal(bad.length, 3, bad.join('\n'))
    assert.match(
      bad[0] ?? '',
      /^mesh\.yaml:8:59 vms\[0\]\.sidecar\.sha256: invalid sha256 "abc": expected 64 hexadecimal digits/
    )
    assert.match(
      bad[1] ?? '',
      /^mesh\.yaml:11:23 vms\[1\]\.sidecar\.sha256: sha256 checks the package given beside it/
    )
    assert.match(
      bad[2] ?? '',
      /^mesh\.yaml:14:44 vms\[2\]\.sidecar\.sha256: sha256 applies to a package URL/
    )
  })

  test('the sha256 reaches the package source, lower case; https without one stays as it was', () => {
    const d = parseOk(
      group(`    sidecar: {package: "http://198.18.0.1/p.deb", sha256: ${SHA}}\n`) +
        `vms:\n${vm('a', '198.18.2.2')}` +
        vm('b', '198.18.2.3', '    sidecar: {package: "https://198.18.0.1/q.deb"}\n') +
        vm('c', '198.18.2.4', `    sidecar: {package: "HTTP://198.18.0.1/r.deb", sha256: ${SHA}}\n`)
    )
    const [a, b, c] = d.vms
    assert.ok(a && b && c)
    assert.deepEqual(packageSourceFor(a, '1.30.0'), {
      kind: 'url',
      url: 'http://198.18.0.1/p.deb',
      sha256: SHA.toLowerCase()
    })
    assert.deepEqual(packageSourceFor(b, '1.30.0'), {
      kind: 'url',
      url: 'https://198.18.0.1/q.deb'
    })
    assert.deepEqual(packageSourceFor(c, '1.30.0'), {
      kind: 'url',
      url: 'HTTP://198.18.0.1/r.deb',
      sha256: SHA.toLowerCase()
    })
  })
})

describe('one SSH target per machine', () => {
  test('normalizeHost', () => {
    assert.equal(normalizeHost('::ffff:10.0.0.5'), '10.0.0.5')
    assert.equal(normalizeHost('0:0:0:0:0:ffff:a00:5'), '10.0.0.5')
    assert.equal(normalizeHost('2001:DB8::1'), '2001:db8::1')
    assert.equal(normalizeHost('2001:db8:0:0::1'), '2001:db8::1')
    assert.equal(normalizeHost('Host.Example.'), 'host.example')
    assert.equal(normalizeHost('10.0.0.5'), '10.0.0.5')
    assert.notEqual(normalizeHost('10.0.0.5'), normalizeHost('10.0.0.6'))
  })

  const pairs: [string, string, string][] = [
    ['10.0.0.5', '::ffff:10.0.0.5', 'host ::ffff:10.0.0.5 port 22 (the same host as 10.0.0.5)'],
    ['2001:DB8::1', '2001:db8:0::1', 'host 2001:db8:0::1 port 22 (the same host as 2001:DB8::1)'],
    [
      'vm1.Example.org.',
      'VM1.example.org',
      'host VM1.example.org port 22 (the same host as vm1.Example.org.)'
    ]
  ]
  for (const [first, second, said] of pairs) {
    test(`${first} and ${second} are one host`, () => {
      assert.deepEqual(errorsOf(group() + `vms:\n${vm('a', first)}${vm('b', second)}`), [
        `mesh.yaml:9:11 vms[1].host: ${said} is already used by vms[0] "a" (at 7:11)`
      ])
    })
  }

  test('another port, or another address, is another target', () => {
    parseOk(
      group() + `vms:\n${vm('a', '10.0.0.5')}${vm('b', '::ffff:10.0.0.5', '    port: 2222\n')}`
    )
    parseOk(group() + `vms:\n${vm('a', '10.0.0.5')}${vm('b', '::ffff:10.0.0.6')}`)
  })

  test('mesh addresses are compared normalised too', () => {
    const errors = errorsOf(
      group() +
        `vms:\n${vm('a', '198.18.2.2', '    address: 2001:db8::7\n')}` +
        vm('b', '198.18.2.3', '    address: "2001:DB8:0::7"\n')
    )
    assert.match(
      errors[0] ?? '',
      /^mesh\.yaml:11:14 vms\[1\]\.address: address 2001:DB8:0::7 is already used by vms\[0\]/
    )
  })
})
