// The description parser as a library: defaults, positions, error collection, the JSON Schema.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  formatError,
  formatPath,
  parseDescription,
  protocolOfPortName,
  type Description
} from '../../src/config/index.ts'
import * as f from '../../src/config/formats.ts'
import { runCli } from '../../src/commands/index.ts'
import { renderSchema } from '../../scripts/schema.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const read = (file: string): string => readFileSync(`${root}/${file}`, 'utf8')

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

const GROUP = 'workloadGroups:\n  - name: echo-vm\n    namespace: vm\n    ports: {http: 8080}\n'

describe('defaults', () => {
  test('a minimal description comes back with every default explicit', () => {
    const description = parseOk(read('__tests__/fixtures/valid/minimal.yaml'))
    assert.deepEqual(description, {
      cluster: {
        kubeconfig: null,
        context: null,
        istioNamespace: 'istio-system',
        revision: 'auto',
        clusterID: 'auto',
        istiodAddress: 'auto',
        ingressService: 'istio-eastwestgateway',
        exposeIstiod: false,
        generation: 'auto',
        network: '',
        legacy: {
          secretPrefix: 'istio.',
          serviceCidrs: [],
          controlPlaneAuth: 'MUTUAL_TLS',
          enableMeshExpansionPorts: false,
          fixGlobalDns: false,
          services: []
        }
      },
      workloadGroups: [
        {
          name: 'echo-vm',
          namespace: 'vm',
          serviceAccount: 'echo-vm',
          labels: { app: 'echo-vm' },
          annotations: {},
          ports: { http: 8080 },
          network: '',
          locality: '',
          weight: null,
          probe: null,
          registration: 'manual',
          service: {
            kind: 'ServiceEntry',
            name: 'echo-vm',
            hosts: ['echo-vm.vm.svc.cluster.local'],
            ports: [{ name: 'http', number: 8080, protocol: 'HTTP', targetPort: 8080 }]
          },
          captureDns: true,
          includeOutboundIPRanges: ['*'],
          excludeOutboundIPRanges: [],
          proxyConfig: null,
          sidecar: { version: 'auto', package: null },
          reachablePorts: []
        }
      ],
      vms: [
        {
          name: 'vm-1',
          group: 'echo-vm',
          host: '198.18.2.2',
          port: 22,
          user: 'root',
          address: 'auto',
          network: '',
          jump: [],
          sidecar: { version: 'auto', package: null }
        }
      ],
      ssh: {
        user: 'root',
        port: 22,
        privateKeyEnv: 'SSH_PRIVATE_KEY',
        privateKeyPath: null,
        passphraseEnv: null,
        knownHostsEnv: 'SSH_KNOWN_HOSTS',
        strictHostKeyChecking: true,
        connectTimeout: 10,
        commandTimeout: 600,
        keepalive: 15,
        jump: []
      },
      settings: {
        parallelism: 10,
        tokenDuration: 3600,
        tokenRefreshWithin: 86400,
        owner: 'mesh-expansion',
        failFast: false,
        maxFailures: null,
        shard: { index: 1, count: 1 },
        publicAddressLookup: null,
        reachablePorts: [],
        adopt: [],
        rollout: null
      },
      checks: []
    })
  })

  test('derived defaults follow the fields they derive from', () => {
    const d = parseOk(read('__tests__/fixtures/valid/full.yaml'))
    const [mysql, web] = d.workloadGroups
    assert.equal(mysql?.network, 'network2')
    assert.deepEqual(mysql?.service, {
      kind: 'Service',
      name: 'mysql',
      hosts: [],
      ports: [{ name: 'tcp-mysql', number: 3306, protocol: 'TCP', targetPort: 3306 }]
    })
    assert.equal(web?.network, 'network1', 'a group inherits the cluster network')
    assert.equal(web?.serviceAccount, 'web')
    assert.deepEqual(
      web?.service.ports.map(p => p.protocol),
      ['HTTP', 'GRPC']
    )
    assert.deepEqual(web?.probe?.httpGet?.httpHeaders, [{ name: 'X-Probe', value: '1' }])
    const [db, webVm, runner] = d.vms
    assert.deepEqual(db?.jump, [{ host: '198.18.0.2', port: 22, user: 'bastion' }])
    assert.equal(db?.network, 'network3')
    assert.deepEqual(db?.sidecar, { version: '1.30.3', package: './packages/istio-sidecar.deb' })
    assert.deepEqual(webVm?.jump, [{ host: 'jump.lab.example', port: 22, user: 'mesh' }])
    assert.equal(webVm?.network, 'network1')
    assert.equal(runner?.host, 'local')
    assert.deepEqual(d.settings.shard, { index: 2, count: 4 })
    assert.equal(d.settings.maxFailures, 3)
    assert.deepEqual(d.checks[0]?.to, { kind: 'vm', name: 'mysql-1' })
    assert.deepEqual(d.checks[1]?.from, {
      kind: 'pod',
      namespace: 'shop',
      selector: 'app.kubernetes.io/name=client,tier in (front,edge)'
    })
    assert.equal(
      d.checks[1]?.name,
      `pod/shop/app.kubernetes.io/name=client,tier in (front,edge) -> https://web.shop.example.com/`
    )
  })

  test('a check to a vm defaults to the first port of its group', () => {
    const d = parseOk(
      `${GROUP}vms:\n  - {name: vm-1, host: 198.18.2.2}\nchecks:\n  - {from: pod/vm/app=sleep, to: vm/vm-1}\n`
    )
    assert.equal(d.checks[0]?.port, 8080)
    assert.equal(d.checks[0]?.url, null)
  })

  test('empty sections and keys mean "not given"', () => {
    const d = parseOk(
      `cluster:\nssh:\nsettings:\n${GROUP}vms:\n  - name: vm-1\n    host: 198.18.2.2\n    user:\n`
    )
    assert.equal(d.cluster.istioNamespace, 'istio-system')
    assert.equal(d.vms[0]?.user, 'root')
  })

  test('anchors and merge keys', () => {
    const d = parseOk(read('__tests__/fixtures/valid/anchors.yaml'))
    assert.deepEqual(
      d.vms.map(vm => [vm.name, vm.host, vm.user, vm.sidecar.version]),
      [
        ['vm-1', '198.18.2.2', 'mesh', '1.30.3'],
        ['vm-2', '198.18.2.3', 'mesh', '1.30.3'],
        ['vm-3', '198.18.2.4', 'root', '1.30.3']
      ]
    )
  })
})

describe('errors', () => {
  test('every error of a file is reported, sorted by position', () => {
    const errors = errorsOf(
      [
        'settings: {parallelism: 0}',
        'workloadGroups:',
        '  - name: echo-vm',
        '    namespace: VM',
        '    ports: {http: 8080}',
        'vms:',
        '  - {name: vm-1, host: 198.18.2.2, group: echo}',
        '  - {name: vm-1, host: 198.18.2.3, colour: blue}',
        ''
      ].join('\n')
    )
    assert.deepEqual(errors, [
      'mesh.yaml:1:25 settings.parallelism: must be from 1 to 1000, got 0',
      'mesh.yaml:4:16 workloadGroups[0].namespace: invalid name "VM": must be a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters)',
      'mesh.yaml:7:43 vms[0].group: unknown group "echo" (known: echo-vm)',
      'mesh.yaml:8:12 vms[1].name: duplicate vm name "vm-1" (first at 7:12)',
      'mesh.yaml:8:36 vms[1].colour: unknown key "colour" (valid keys: name, group, host, port, user, address, network, jump, sidecar)'
    ])
  })

  test('inline secrets are refused wherever they are, keys included', () => {
    const pem = '"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----"'
    const errors = errorsOf(
      `${GROUP}vms:\n  - name: vm-1\n    host: 198.18.2.2\n    sidecar: {package: ${pem}}\n`
    )
    assert.equal(errors.length, 1)
    assert.match(
      errors[0] ?? '',
      /^mesh\.yaml:8:24 vms\[0\]\.sidecar\.package: looks like a private key/
    )
    const inKey = errorsOf(`${GROUP}cluster:\n  ${pem}: x\n`)
    assert.equal(inKey.length, 1)
    assert.match(inKey[0] ?? '', /^mesh\.yaml:6:3 cluster\[.*looks like a private key/)
  })

  test('a duplicate key deep in a list names its path', () => {
    assert.deepEqual(errorsOf(`${GROUP}    namespace: other\n`), [
      'mesh.yaml:5:5 workloadGroups[0].namespace: duplicate key "namespace" (first at 3:5)'
    ])
  })

  test('only one "local" VM', () => {
    assert.deepEqual(
      errorsOf(`${GROUP}vms:\n  - {name: a, host: local}\n  - {name: b, host: local}\n`),
      [
        'mesh.yaml:7:21 vms[1].host: host "local" (the runner) is already used by vms[0] "a" (at 6:21)'
      ]
    )
  })

  test('odd YAML shapes give plain errors', () => {
    assert.deepEqual(errorsOf(`${GROUP}? [a]\n: b\n`), [
      'mesh.yaml:5:3 a key must be a plain name, not a list or mapping'
    ])
    // an empty value under a known key means "not given"; elsewhere it is reported
    assert.deepEqual(errorsOf(`${GROUP}    labels: {app: }\n`), [
      'mesh.yaml:5:14 workloadGroups[0].labels.app: expected a string, got nothing'
    ])
    assert.deepEqual(errorsOf(`${GROUP}vm:\n`), [
      'mesh.yaml:5:1 vm: unknown key "vm"; did you mean "vms"? (valid keys: cluster, workloadGroups, vms, ssh, settings, checks)'
    ])
    assert.deepEqual(errorsOf(`${GROUP}ssh: {port: 1e400}\n`), [
      'mesh.yaml:5:13 ssh.port: number out of range: 1e400'
    ])
    assert.deepEqual(errorsOf(`${GROUP}ssh: {connectTimeout: 10s}\n`), [
      'mesh.yaml:5:23 ssh.connectTimeout: expected a number, got "10s"'
    ])
    assert.deepEqual(errorsOf(`${GROUP}vms: [1, null]\n`), [
      'mesh.yaml:5:7 vms[0]: expected a mapping (key: value), got the number 1',
      'mesh.yaml:5:10 vms[1]: expected a mapping (key: value), got nothing'
    ])
  })

  test('CRLF line endings and a byte order mark do not shift positions', () => {
    const text = `\uFEFF${GROUP}vms:\n  - {name: a, host: 198.18.2.300}\n`.replace(/\n/g, '\r\n')
    assert.deepEqual(errorsOf(text), [
      'mesh.yaml:6:21 vms[0].host: invalid IPv4 address "198.18.2.300"'
    ])
  })

  test('an alias bomb is an error, not a hang', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]']
    for (let i = 1; i < 8; i++) {
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`
      )
    }
    const errors = errorsOf(`${lines.join('\n')}\n`)
    assert.equal(errors.length, 1)
    assert.match(errors[0] ?? '', /^mesh\.yaml:1:1 cannot read the YAML: /)
  })
})

describe('positions', () => {
  const lab = read('examples/lab.yaml')
  const lineOf = (needle: string): number => lab.split('\n').findIndex(l => l.includes(needle)) + 1

  test('locate maps description paths to line:column', () => {
    const result = parseDescription(lab, 'lab.yaml')
    assert.ok(result.ok)
    assert.deepEqual(result.locate(['vms', 1, 'host']), { line: lineOf('198.18.2.3'), column: 11 })
    assert.deepEqual(result.locate(['workloadGroups', 0, 'ports', 'http-echo']), {
      line: lineOf('http-echo: 8080'),
      column: 18
    })
    assert.deepEqual(result.locate(['checks', 1]), {
      line: lineOf('name: cluster to vm-2'),
      column: 5
    })
    // a path that is not written (a default) falls back to the nearest parent
    assert.deepEqual(result.locate(['vms', 2, 'user']), { line: lineOf('name: vm-3'), column: 5 })
  })

  test('paths read like the description', () => {
    assert.equal(formatPath(['vms', 1, 'group']), 'vms[1].group')
    assert.equal(
      formatPath(['workloadGroups', 0, 'labels', 'app.kubernetes.io/name']),
      'workloadGroups[0].labels["app.kubernetes.io/name"]'
    )
    assert.equal(
      formatPath(['workloadGroups', 0, 'ports', 'tcp-mysql']),
      'workloadGroups[0].ports.tcp-mysql'
    )
    assert.equal(formatPath([]), '')
  })
})

describe('formats', () => {
  test('addresses', () => {
    assert.equal(f.host('2001:db8::2'), undefined)
    assert.equal(f.host('vm-1.lab.example'), undefined)
    assert.match(f.host('198.18.2') ?? '', /invalid IPv4/)
    assert.match(f.host('2001:db8::zz') ?? '', /invalid IPv6/)
    assert.equal(f.istiodAddress('[2001:db8::1]:15012'), undefined)
    assert.equal(f.istiodAddress('istiod.example.com:15012'), undefined)
    assert.match(f.istiodAddress('2001:db8::1:15012:x') ?? '', /invalid address/)
    assert.equal(f.cidr('2001:db8::/32'), undefined)
    assert.match(f.cidr('2001:db8::/129') ?? '', /invalid CIDR/)
    assert.match(f.cidr('198.18.0.0') ?? '', /invalid CIDR/)
  })

  test('label selectors', () => {
    for (const ok of [
      'app=sleep',
      'app==sleep',
      'app!=x',
      'app',
      '!app',
      'env in (a, b),tier notin (c)',
      'app.kubernetes.io/name=x'
    ]) {
      assert.equal(f.labelSelector(ok), undefined, ok)
    }
    for (const bad of ['', '=x', 'app in (a', 'a b=c', 'app=sl eep', '-x=y']) {
      assert.notEqual(f.labelSelector(bad), undefined, bad)
    }
    // an empty value is valid in Kubernetes
    assert.equal(f.labelSelector('app='), undefined)
  })

  test('endpoints', () => {
    assert.deepEqual(f.parseEndpoint('vm/vm-1'), { kind: 'vm', name: 'vm-1' })
    assert.deepEqual(f.parseEndpoint('pod/default/app.kubernetes.io/name=sleep'), {
      kind: 'pod',
      namespace: 'default',
      selector: 'app.kubernetes.io/name=sleep'
    })
    assert.equal(typeof f.parseEndpoint('pod/default'), 'string')
  })

  test('did you mean', () => {
    assert.equal(f.closest('hots', ['name', 'host', 'port']), 'host')
    assert.equal(f.closest('xyz', ['name', 'host', 'port']), undefined)
  })

  test('port names give protocols by Istio convention', () => {
    assert.equal(protocolOfPortName('http-web'), 'HTTP')
    assert.equal(protocolOfPortName('grpc-web'), 'GRPC')
    assert.equal(protocolOfPortName('https'), 'HTTPS')
    assert.equal(protocolOfPortName('tcp-mysql'), 'TCP')
    assert.equal(protocolOfPortName('metrics'), 'TCP')
  })
})

describe('JSON Schema', () => {
  test('schema/ is generated from the current sources', () => {
    assert.equal(read('schema/mesh-expansion.schema.json'), renderSchema())
  })

  test('it carries defaults and rejects unknown keys', () => {
    const schema = JSON.parse(renderSchema()) as {
      additionalProperties: boolean
      required: string[]
      properties: { ssh: { properties: { port: { default: number } } } }
    }
    assert.equal(schema.additionalProperties, false)
    assert.deepEqual(schema.required, ['workloadGroups'])
    assert.equal(schema.properties.ssh.properties.port.default, 22)
  })
})

describe('validate command', () => {
  async function run(args: string[]) {
    let stdout = ''
    let stderr = ''
    const code = await runCli(args, {
      cwd: root,
      env: {},
      stdout: text => (stdout += text),
      stderr: text => (stderr += text)
    })
    return { code, stdout, stderr }
  }

  test('--json on a valid file gives the defaulted description', async () => {
    const result = await run(['validate', '--json', '-c', 'examples/lab.yaml'])
    assert.equal(result.code, 0)
    const output = JSON.parse(result.stdout) as { valid: boolean; description: Description }
    assert.equal(output.valid, true)
    assert.deepEqual(
      output.description.vms.map(vm => `${vm.user}@${vm.host}:${vm.port}`),
      ['mesh@198.18.2.2:22', 'mesh@198.18.2.3:22', 'mesh@198.18.2.4:22']
    )
  })

  test('--json on an invalid file lists the errors', async () => {
    const file = '__tests__/fixtures/invalid/unknown-group.yaml'
    const result = await run(['validate', '--config', file, '--json'])
    assert.equal(result.code, 2)
    assert.deepEqual(JSON.parse(result.stdout), {
      valid: false,
      errors: [
        {
          file,
          line: 12,
          column: 12,
          path: 'vms[1].group',
          message: 'unknown group "mysq"; did you mean "mysql"? (known: mysql)'
        }
      ]
    })
  })

  test('usage errors exit 2 without a stack trace', async () => {
    for (const args of [
      ['validate'],
      ['validate', '--nope', '-c', 'x'],
      ['validate', 'file.yaml']
    ]) {
      const result = await run(args)
      assert.equal(result.code, 2, args.join(' '))
      assert.match(result.stderr, /^Error: /)
      assert.doesNotMatch(result.stderr, /\n\s+at /)
    }
    const missing = await run(['validate', '-c', 'does-not-exist.yaml'])
    assert.equal(missing.code, 2)
    assert.equal(
      missing.stderr,
      'Error: cannot read the description does-not-exist.yaml: no such file or directory\n'
    )
  })

  test('--help', async () => {
    const result = await run(['validate', '--help'])
    assert.equal(result.code, 0)
    assert.match(result.stdout, /^Usage: mesh-expansion validate -c FILE/)
  })
})

describe('parseDescription: the older generations', () => {
  test('cluster.legacy is read, and a bad service names its line and what is valid', () => {
    const ok = parseDescription(
      `cluster:
  generation: multinetwork-1.4
  legacy:
    services: [echo.sample]
    serviceCidrs: [198.19.0.0/16]
    fixGlobalDns: true
workloadGroups: [{name: web, namespace: vm, ports: {http: 8080}}]
vms: [{name: vm-1, host: 198.18.2.2}]
`,
      'legacy.yaml'
    )
    assert.ok(ok.ok)
    assert.deepEqual(ok.description.cluster.legacy.services, ['echo.sample'])
    assert.equal(ok.description.cluster.legacy.fixGlobalDns, true)
    const bad = parseDescription(
      `cluster:
  legacy:
    services: [echo]
workloadGroups: [{name: web, namespace: vm, ports: {http: 8080}}]
vms: [{name: vm-1, host: 198.18.2.2}]
`,
      'legacy.yaml'
    )
    assert.ok(!bad.ok)
    const error = bad.errors[0]
    assert.equal(error?.path, 'cluster.legacy.services[0]')
    assert.equal(error?.line, 3)
    assert.match(error?.message ?? '', /<name>\.<namespace>/)
  })
})
