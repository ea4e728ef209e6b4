// runChecks against small in-memory hosts, pods and control plane (our own interfaces, no
// module mocks): order, skips after a failed prerequisite, retries, users, the STRICT policy.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseDescription, type Description } from '../../src/config/index.ts'
import {
  countResults,
  resultTable,
  runChecks,
  STRICT_POLICY_NAME,
  type VerifyDeps
} from '../../src/verify/index.ts'
import type {
  ConnectedProxy,
  ControlPlane,
  HostShell,
  PodShell,
  PolicyClient,
  ShellResult,
  WorkloadEntryHealth
} from '../../src/verify/types.ts'

function description(extra = ''): Description {
  const parsed = parseDescription(
    `workloadGroups:
  - name: vm-app
    namespace: vm
    ports: {http: 8080}
    probe: {httpGet: {port: 8080}}
vms:
  - name: vm-1
    host: 198.18.2.2
    address: 198.18.2.2
checks:
  - name: vm to echo
    from: vm/vm-1
    url: http://echo.sample.svc.cluster.local/
    attempts: 3
    timeout: 2
  - name: sleep to vm
    from: pod/sample/app=sleep
    to: vm/vm-1
    attempts: 2
${extra}`,
    'test.yaml'
  )
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.errors))
  return parsed.description
}

const ok = (stdout: string, stderr = ''): ShellResult => ({ code: 0, stdout, stderr })

interface FakeVm {
  ready: boolean
  active: boolean
  intercept: boolean
  names: Record<string, string>
  calls: Array<{ command: string; user: string | undefined }>
}

function fakeVm(overrides: Partial<FakeVm> = {}): FakeVm & HostShell {
  const vm: FakeVm = {
    ready: true,
    active: true,
    intercept: true,
    names: { 'echo.sample.svc.cluster.local': '198.19.0.10' },
    calls: [],
    ...overrides
  }
  return Object.assign(vm, {
    async run(
      command: string,
      options: { user?: string; timeoutMs: number }
    ): Promise<ShellResult> {
      vm.calls.push({ command, user: options.user })
      if (command.includes('for t in curl')) return ok('curl\n')
      if (command === 'systemctl is-active istio') return ok(vm.active ? 'active\n' : 'inactive\n')
      if (command.startsWith('tail '))
        return ok('x\twarn\tca\tfailed to warm certificate: authentication failure: expired\n')
      if (command === 'hostname -s') return ok('vm-1\n')
      const getent = /^getent hosts (\S+)$/.exec(command)
      if (getent) {
        const ip = vm.names[getent[1] ?? '']
        return ip ? ok(`${ip}      ${getent[1]}\n`) : { code: 2, stdout: '', stderr: '' }
      }
      if (command.startsWith('curl ') && command.includes('15021')) {
        return vm.ready
          ? ok('HTTP/1.1 200 OK\r\n\r\n\n__mx_remote_ip=127.0.0.1\n')
          : {
              code: 7,
              stdout: '\n__mx_remote_ip=\n',
              stderr: 'curl: (7) Failed to connect: Connection refused\n'
            }
      }
      if (command.startsWith('curl ')) {
        const server = vm.intercept ? 'envoy' : 'BaseHTTP/0.6 Python/3.11.2'
        return ok(
          `HTTP/1.1 200 OK\r\nserver: ${server}\r\n\r\n{"headers":{}}\n__mx_remote_ip=198.19.0.10\n`
        )
      }
      return { code: 127, stdout: '', stderr: `unexpected command ${command}` }
    }
  })
}

interface FakePods extends PodShell {
  execs: string[][]
  callerUri: string
}

function fakePods(callerUri = 'spiffe://cluster.local/ns/sample/sa/sleep'): FakePods {
  const pods: FakePods = {
    execs: [],
    callerUri,
    async findPod(namespace, selector) {
      return namespace === 'sample' && selector === 'app=sleep'
        ? { name: 'sleep-1', container: 'sleep', serviceAccount: 'sleep', injected: true }
        : null
    },
    async exec(_ns, _pod, _container, argv) {
      pods.execs.push(argv)
      // a pod without sh and curl: the runtime's "executable file not found"
      if (argv[0] === 'sh' || argv[0] === 'curl') {
        return {
          code: 127,
          stdout: '',
          stderr: `exec: "${argv[0]}": executable file not found in $PATH`
        }
      }
      if (argv[0] === 'wget' && argv[1] === '--help') return ok('BusyBox')
      if (argv[0] === 'wget') {
        return {
          code: 0,
          stdout: JSON.stringify({
            headers: {
              'x-forwarded-client-cert': `By=spiffe://cluster.local/ns/vm/sa/vm-app;URI=${pods.callerUri}`
            }
          }),
          stderr: '  HTTP/1.1 200 OK\n  server: envoy\n'
        }
      }
      return { code: 127, stdout: '', stderr: 'not found' }
    }
  }
  return pods
}

function controlPlane(
  proxies: ConnectedProxy[],
  health: WorkloadEntryHealth = { state: 'healthy' }
): ControlPlane {
  return {
    async connectedProxies() {
      return proxies
    },
    async workloadEntryHealth(namespace, name) {
      assert.equal(namespace, 'vm')
      assert.equal(name, 'vm-1')
      return health
    }
  }
}

function policy(): PolicyClient & { log: string[] } {
  const log: string[] = []
  return {
    log,
    async applyPeerAuthentication(manifest) {
      const meta = manifest['metadata'] as {
        name: string
        namespace: string
        labels: Record<string, string>
      }
      log.push(
        `apply ${meta.namespace}/${meta.name} ${JSON.stringify(manifest['spec'])} ${meta.labels['app.kubernetes.io/managed-by']}`
      )
    },
    async deletePeerAuthentication(namespace, name) {
      log.push(`delete ${namespace}/${name}`)
    }
  }
}

function deps(vm: HostShell, extra: Partial<VerifyDeps> = {}): VerifyDeps & { sleeps: number[] } {
  const sleeps: number[] = []
  return {
    sleeps,
    host: name => (name === 'vm-1' ? vm : undefined),
    vmAddress: name => (name === 'vm-1' ? '198.18.2.2' : undefined),
    pods: fakePods(),
    controlPlane: controlPlane([{ id: 'vm-1.vm', ip: '198.18.2.2' }]),
    sleep: async ms => {
      sleeps.push(ms)
    },
    ...extra
  }
}

describe('runChecks', () => {
  test('everything in the mesh: all pass, in order, with evidence', async () => {
    const vm = fakeVm()
    const pods = fakePods()
    const results = await runChecks(description(), deps(vm, { pods }))
    assert.deepEqual(
      results.map(r => [r.name, r.kind, r.status]),
      [
        ['vm/vm-1: sidecar ready', 'sidecar-ready', 'pass'],
        ['vm/vm-1: connected to istiod', 'istiod-connection', 'pass'],
        ['vm/vm-1: WorkloadEntry healthy', 'workload-entry-health', 'pass'],
        ['vm to echo', 'host-to-cluster', 'pass'],
        ['sleep to vm', 'cluster-to-host', 'pass']
      ]
    )
    // the SSH user is root: the request to the cluster runs as nobody, the readiness as root
    const request = vm.calls.find(
      c => c.command.includes('echo.sample') && c.command.startsWith('curl')
    )
    assert.equal(request?.user, 'nobody')
    assert.equal(vm.calls.find(c => c.command.includes('15021'))?.user, undefined)
    const toEcho = results[3]
    assert.equal(toEcho?.evidence.resolved, '198.19.0.10')
    assert.equal(toEcho?.evidence.headers?.['server'], 'envoy')
    assert.equal(toEcho?.evidence.tool, 'curl')
    // the pod has neither sh nor curl: wget found by direct probes
    const fromPod = results[4]
    assert.equal(fromPod?.evidence.tool, 'wget')
    assert.deepEqual(pods.execs.at(-1)?.slice(0, 2), ['wget', '-S'])
    assert.ok(pods.execs.at(-1)?.includes('http://198.18.2.2:8080/'))
    assert.ok(
      fromPod?.evidence.notes?.includes('caller identity spiffe://cluster.local/ns/sample/sa/sleep')
    )
    assert.deepEqual(countResults(results), { passed: 5, failed: 0, skipped: 0 })
  })

  test('a client that `command -v` finds but that does not run: the next one is used', async () => {
    const pods = fakePods()
    const exec = pods.exec.bind(pods)
    pods.exec = async (ns, pod, container, argv, timeoutMs) => {
      if (argv[0] === 'sh') {
        pods.execs.push(argv)
        return ok('curl\nwget\n')
      }
      return exec(ns, pod, container, argv, timeoutMs)
    }
    const results = await runChecks(description(), deps(fakeVm(), { pods }))
    assert.equal(results[4]?.status, 'pass', results[4]?.diagnosis)
    assert.equal(results[4]?.evidence.tool, 'wget')
    assert.deepEqual(
      pods.execs.map(a => a[0]),
      ['sh', 'curl', 'wget']
    )
  })

  test('an exec that fails itself (RBAC): says so, no HTTP diagnosis', async () => {
    const pods = fakePods()
    const exec = pods.exec.bind(pods)
    pods.exec = async (ns, pod, container, argv, timeoutMs) =>
      argv[0] === 'wget' && argv[1] === '-S'
        ? { code: -1, stdout: '', stderr: 'exec in sample/sleep-1 failed: HTTP 403 Forbidden' }
        : exec(ns, pod, container, argv, timeoutMs)
    const results = await runChecks(description(), deps(fakeVm(), { pods }))
    assert.equal(results[4]?.status, 'fail')
    assert.equal(
      results[4]?.diagnosis,
      'cannot exec in pod sample/sleep-1: exec in sample/sleep-1 failed: HTTP 403 Forbidden (needs create on pods/exec)'
    )
  })

  test('sidecar stopped: only readiness fails; what depends on it is skipped', async () => {
    const vm = fakeVm({ ready: false, active: false })
    const d = deps(vm)
    const results = await runChecks(description(), d)
    assert.deepEqual(
      results.map(r => r.status),
      ['fail', 'skip', 'skip', 'skip', 'skip']
    )
    assert.match(
      results[0]?.diagnosis ?? '',
      /^sidecar not ready: the istio service is inactive on vm-1; start it with `systemctl start istio`; istiod refused the bootstrap token/
    )
    assert.match(results[3]?.diagnosis ?? '', /^not run: the sidecar of vm\/vm-1 is not ready/)
    // 5 readiness attempts with waits between them (1, 2, 4, 5 s), no more
    assert.equal(vm.calls.filter(c => c.command.includes('15021')).length, 5)
    assert.deepEqual(d.sleeps, [1000, 2000, 4000, 5000])
  })

  test('outbound not intercepted: only the host → cluster check fails, after its attempts', async () => {
    const vm = fakeVm({ intercept: false })
    const d = deps(vm)
    const results = await runChecks(description(), d)
    assert.deepEqual(
      results.map(r => r.status),
      ['pass', 'pass', 'pass', 'fail', 'pass']
    )
    assert.match(
      results[3]?.diagnosis ?? '',
      /^resolved to 198\.19\.0\.10 but not intercepted: no `server: envoy`/
    )
    assert.equal(results[3]?.evidence.attempts, 3)
  })

  test('name not resolved: the host → cluster check fails with the DNS diagnosis, no request made', async () => {
    const vm = fakeVm({ names: {} })
    const results = await runChecks(description(), deps(vm))
    assert.equal(results[3]?.status, 'fail')
    assert.match(results[3]?.diagnosis ?? '', /does not resolve on vm\/vm-1/)
    assert.equal(
      vm.calls.filter(c => c.command.startsWith('curl') && c.command.includes('echo.sample'))
        .length,
      0
    )
  })

  test('a pod outside the mesh: only the cluster → host check fails', async () => {
    const results = await runChecks(
      description(),
      deps(fakeVm(), { pods: fakePods('tcp://198.18.0.10:40000') })
    )
    assert.deepEqual(
      results.map(r => r.status),
      ['pass', 'pass', 'pass', 'pass', 'fail']
    )
    assert.match(
      results[4]?.diagnosis ?? '',
      /^the calling pod is not in the mesh: the VM's sidecar saw the caller as tcp:\/\/198\.18\.0\.10:40000/
    )
  })

  test('istiod does not list the proxy; the WorkloadEntry is unhealthy', async () => {
    const results = await runChecks(
      description(),
      deps(fakeVm(), {
        controlPlane: controlPlane([{ id: 'other.vm', ip: '198.18.2.9' }], {
          state: 'unhealthy',
          reason: 'Failed',
          message: 'connection refused'
        })
      })
    )
    assert.equal(results[1]?.status, 'fail')
    assert.match(results[1]?.diagnosis ?? '', /^proxy not connected to istiod/)
    assert.equal(results[2]?.status, 'fail')
    assert.match(results[2]?.diagnosis ?? '', /WorkloadEntry vm\/vm-1 is unhealthy/)
  })

  test('istiod sees the VM behind NAT: found by its proxy ID (hostname -s . namespace)', async () => {
    const vm = fakeVm()
    const results = await runChecks(
      description(),
      deps(vm, { controlPlane: controlPlane([{ id: 'vm-1.vm', ip: '203.0.113.7' }]) })
    )
    assert.equal(results[1]?.status, 'pass', results[1]?.diagnosis)
    assert.ok(vm.calls.some(c => c.command === 'hostname -s'))
  })

  test('a control plane that does not tell its connections: the istiod check is skipped', async () => {
    const cp = controlPlane([])
    cp.connectedProxies = async () => null
    const results = await runChecks(description(), deps(fakeVm(), { controlPlane: cp }))
    assert.equal(results[1]?.status, 'skip')
    assert.match(
      results[1]?.diagnosis ?? '',
      /^not checked: istiod does not serve \/debug\/connections/
    )
    assert.equal(countResults(results).failed, 0)
  })

  test('STRICT policy: applied before, removed after, also when a check throws', async () => {
    const p = policy()
    const pods = fakePods()
    pods.findPod = async () => {
      throw new Error('API down')
    }
    const results = await runChecks(
      description(),
      deps(fakeVm(), { pods, policy: p, strictMtls: true })
    )
    assert.deepEqual(p.log, [
      `apply vm/${STRICT_POLICY_NAME} {"mtls":{"mode":"STRICT"}} mesh-expansion`,
      `delete vm/${STRICT_POLICY_NAME}`
    ])
    assert.match(results[4]?.diagnosis ?? '', /^the check could not run: API down/)
    const strict = results.at(-1)
    assert.equal(strict?.kind, 'strict-mtls')
    assert.equal(strict?.status, 'pass')
  })

  test('STRICT policy that cannot be removed is a failure that says so', async () => {
    const p = policy()
    p.deletePeerAuthentication = async () => {
      throw new Error('forbidden')
    }
    const results = await runChecks(description(), deps(fakeVm(), { policy: p, strictMtls: true }))
    const strict = results.at(-1)
    assert.equal(strict?.status, 'fail')
    assert.match(
      strict?.diagnosis ?? '',
      /cannot remove PeerAuthentication vm\/mesh-expansion-verify-strict \(remove it by hand\): forbidden/
    )
  })

  test('an unreachable VM: readiness fails with the connection error', async () => {
    const broken: HostShell = {
      run: async () => {
        throw new Error('connect ECONNREFUSED')
      }
    }
    const results = await runChecks(description(), deps(broken))
    assert.equal(results[0]?.status, 'fail')
    assert.match(results[0]?.diagnosis ?? '', /^cannot run commands on vm-1: connect ECONNREFUSED$/)
  })

  test('the table has a row per result', async () => {
    const results = await runChecks(description(), deps(fakeVm({ intercept: false })))
    const table = resultTable(results)
    assert.deepEqual(table.header, ['Check', 'Result', 'Evidence', 'Diagnosis'])
    assert.equal(table.rows.length, results.length)
    const row = table.rows[3] ?? []
    assert.equal(row[0], 'vm to echo')
    assert.equal(row[1], 'fail')
    assert.match(
      row[2] ?? '',
      /^HTTP 200, server: BaseHTTP\/0\.6 Python\/3\.11\.2; → 198\.19\.0\.10; \d+ ms, 3 attempts$/
    )
    assert.match(row[3] ?? '', /not intercepted/)
  })
})
