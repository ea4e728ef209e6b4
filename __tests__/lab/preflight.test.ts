// Preflight on the lab: a run whose inputs are wrong stops before its first write, lists every
// problem at once, and neither the sandbox API nor any VM's sshd sees anything from it. The
// same description without the fault then onboards, so the counts above are not vacuous.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { labTestOptions } from '../helpers/lab.ts'
import {
  LAB_SIDECAR_PACKAGE,
  startLabEnvironment,
  type LabEnvironment
} from '../../lab/environment.ts'
import { sshLogins } from '../../lab/vms/logins.ts'
import { isWrite } from '../../lab/cluster/observe.ts'

interface Fault {
  /** environment the run gets instead of the lab's secrets */
  env?: (secrets: LabEnvironment['secrets']) => Record<string, string>
  packagePath?: string
}

describe('preflight on the lab', labTestOptions(), () => {
  let env: LabEnvironment
  let dir: string

  before(async () => {
    env = await startLabEnvironment({ vms: 2 })
    dir = mkdtempSync(join(tmpdir(), 'mesh-expansion-preflight-'))
  })
  after(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true })
    await env?.close()
  })

  function description(packagePath: string): string {
    const [vm1, vm2] = env.vms
    assert.ok(vm1 && vm2)
    return `cluster: {istioNamespace: istio-system}
workloadGroups:
  - name: echo-vm
    namespace: vm
    serviceAccount: echo-vm
    labels: {app: echo-vm}
    ports: {http-echo: 8080}
    probe: {httpGet: {path: /ready, port: 8080}}
    service: {kind: ServiceEntry, hosts: [echo-vm.vm.svc.cluster.local]}
    sidecar: {package: ${packagePath}}
vms:
  - {name: vm-1, host: ${vm1.address}}
  - {name: vm-2, host: ${vm2.address}}
ssh: {user: ${vm1.user}}
`
  }

  /** The real CLI, as a user runs it, with the lab's kubeconfig. */
  async function run(
    fault: Fault,
    command = 'apply'
  ): Promise<{ code: number; stdout: string; writes: number; logins: number }> {
    const file = join(dir, 'mesh.yaml')
    writeFileSync(file, description(fault.packagePath ?? LAB_SIDECAR_PACKAGE))
    const from = env.cluster.requestLog.mark()
    const loginsBefore = await sshLogins(env.vms)
    const secrets = fault.env ? fault.env(env.secrets) : env.secrets
    // asynchronously: the sandbox API answers from this very process
    const result = await new Promise<{ code: number; out: string }>(resolve => {
      execFile(
        process.execPath,
        [
          'src/cli.ts',
          command,
          '-c',
          file,
          '--kubeconfig',
          env.kubeconfigPath,
          '--owner',
          'preflight'
        ],
        { timeout: 240_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...secrets } },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
          resolve({ code, out: `${stdout}${stderr}` })
        }
      )
    })
    const writes = env.cluster.requestLog.since(from).filter(isWrite).length
    return {
      code: result.code,
      stdout: result.out,
      writes,
      logins: (await sshLogins(env.vms)) - loginsBefore
    }
  }

  const noKey: Fault = { env: s => ({ SSH_PRIVATE_KEY: '', SSH_KNOWN_HOSTS: s.SSH_KNOWN_HOSTS }) }
  // known_hosts as the lab writes it, without vm-2's lines
  const vm2Unknown: Fault = {
    env: s => ({
      SSH_PRIVATE_KEY: s.SSH_PRIVATE_KEY,
      SSH_KNOWN_HOSTS: s.SSH_KNOWN_HOSTS.split('\n')
        .filter(line => !line.startsWith(`${env.vms[1]?.address ?? '?'} `))
        .join('\n')
    })
  }
  const noPackage: Fault = { packagePath: '/nonexistent/istio-sidecar.deb' }

  const cases: [string, Fault, RegExp][] = [
    ['the SSH key variable is empty', noKey, /the variable SSH_PRIVATE_KEY is empty or unset/],
    [
      'known_hosts misses vm-2',
      vm2Unknown,
      /vm-2: SSH_KNOWN_HOSTS has no known_hosts line for 198\.18\.\d+\.\d+/
    ],
    [
      'the package path does not exist',
      noPackage,
      /sidecar\.package of vm-1, vm-2: cannot read \/nonexistent\/istio-sidecar\.deb: no such file or directory/
    ]
  ]
  for (const [name, fault, problem] of cases) {
    test(`${name}: stopped in preflight, exit 2, no write, no SSH login`, async () => {
      const r = await run(fault)
      assert.equal(r.code, 2, r.stdout)
      assert.match(r.stdout, problem)
      const problems = r.stdout.split('\n').filter(line => /^\s*✗ the run: /.test(line))
      assert.equal(problems.length, 1, `only the fault is a problem:\n${r.stdout}`)
      assert.match(r.stdout, /stopped in preflight: nothing was changed/)
      assert.equal(r.writes, 0, 'write requests to the sandbox API')
      assert.equal(r.logins, 0, 'SSH logins on the VMs')
    })
  }

  test('all three at once: every problem is listed in the one run', async () => {
    const all: Fault = {
      env: s => ({
        SSH_PRIVATE_KEY: '',
        SSH_KNOWN_HOSTS: vm2Unknown.env?.(s).SSH_KNOWN_HOSTS ?? ''
      }),
      packagePath: noPackage.packagePath
    }
    const r = await run(all)
    assert.equal(r.code, 2, r.stdout)
    const problems = r.stdout.split('\n').filter(line => /^\s*✗ the run: /.test(line))
    assert.equal(problems.length, 3, r.stdout)
    assert.match(r.stdout, /SSH_PRIVATE_KEY is empty or unset/)
    assert.match(r.stdout, /vm-2: SSH_KNOWN_HOSTS has no known_hosts line/)
    assert.match(r.stdout, /cannot read \/nonexistent\/istio-sidecar\.deb/)
    assert.equal(r.writes, 0)
    assert.equal(r.logins, 0)
  })

  test('known_hosts and the package together; then the same description without the faults onboards', async () => {
    const both = await run({ ...vm2Unknown, ...noPackage })
    assert.equal(both.code, 2, both.stdout)
    assert.match(both.stdout, /vm-2: SSH_KNOWN_HOSTS has no known_hosts line/)
    assert.match(both.stdout, /cannot read \/nonexistent\/istio-sidecar\.deb/)
    assert.equal(both.writes, 0)

    const good = await run({})
    assert.equal(good.code, 0, good.stdout)
    assert.ok(good.writes > 0, 'the request log counts the writes of a run that writes')
    assert.equal(good.logins, 2, 'one SSH login per host')
    const gone = await run({}, 'cleanup')
    assert.equal(gone.code, 0, gone.stdout)
  })
})
