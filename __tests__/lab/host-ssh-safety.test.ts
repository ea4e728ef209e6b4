// SSH trust and "never lock the operator out", on real Debian VMs with real OpenSSH, through the
// CLI as a user runs it:
// - a VM that offers ed25519 and RSA host keys is reached with known_hosts holding only its RSA
//   line (the host-key algorithms offered are those known for the host), and only its ed25519 one;
// - a pin names its host: the pin of VM A given to VM B's address does not let B in, and B sees
//   no login and no change; a fingerprint alone pins nothing (preflight, exit 2);
// - a VM whose sshd listens on 2223 only, in a group with no ports (ISTIO_INBOUND_PORTS='*', every
//   inbound port captured): apply, a re-run, verify and cleanup all get in over SSH, because the
//   capture the sidecar stand-in installs (pilot-agent istio-iptables) returns port 2223 while
//   it does redirect a port that is not excluded (the app's 8080); under STRICT mTLS, with that
//   RETURN removed by hand, SSH is locked out: the capture is real and the exclusion is what
//   keeps the operator in.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { labTestOptions } from '../helpers/lab.ts'
import {
  LAB_APP_PORT,
  LAB_SIDECAR_PACKAGE,
  startLabEnvironment,
  type LabEnvironment
} from '../../lab/environment.ts'
import { runInVm, type LabVm } from '../../lab/vms/index.ts'
import { sshLogins } from '../../lab/vms/logins.ts'
import type { RunReport } from '../../src/engine/report.ts'
import { connectSsh } from '../../src/host/ssh.ts'
import { hostKeyPolicy } from '../../src/host/targets.ts'
import type { TransportError } from '../../src/host/transport.ts'

const SSH_PORT = 2223
const RUN_TIMEOUT_MS = 240_000

interface CliRun {
  code: number
  report: RunReport | undefined
  output: string
}

describe('SSH trust and no lockout on the lab', labTestOptions(), () => {
  let env: LabEnvironment
  let dir: string
  // vm1 offers ed25519 and RSA host keys; vm2 is a default VM; vm3's sshd listens on 2223 only
  let dual: LabVm
  let plain: LabVm
  let onPort: LabVm

  before(async () => {
    env = await startLabEnvironment({
      vms: 3,
      vmOptions: {
        vmSpecs: [{ hostKeyTypes: ['ed25519', 'rsa'] }, undefined, { sshPort: SSH_PORT }]
      }
    })
    dir = mkdtempSync(join(tmpdir(), 'mesh-expansion-ssh-safety-'))
    const [a, b, c] = env.vms
    assert.ok(a && b && c)
    dual = a
    plain = b
    onPort = c
  })
  after(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true })
    await env?.close()
  })

  /** One VM in its own group: no ports (every inbound port captured) unless given. */
  function description(vm: LabVm, ports = ''): string {
    return `cluster: {istioNamespace: istio-system}
workloadGroups:
  - name: ${vm.name}
    namespace: vm
    serviceAccount: ${vm.name}
    labels: {app: ${vm.name}}
${ports === '' ? '' : `    ports: {${ports}}\n`}    service: {kind: none}
    sidecar: {package: ${LAB_SIDECAR_PACKAGE}}
vms:
  - name: ${vm.name}
    host: ${vm.address}
    port: ${vm.sshdPort}
ssh: {user: ${vm.user}}
`
  }

  /** The real CLI with --json, run asynchronously (the sandbox API answers from this process). */
  async function cli(
    command: 'apply' | 'verify' | 'cleanup',
    vm: LabVm,
    knownHosts: string,
    ports = ''
  ): Promise<CliRun> {
    const file = join(dir, `${vm.name}.yaml`)
    writeFileSync(file, description(vm, ports))
    const secrets = { SSH_PRIVATE_KEY: env.secrets.SSH_PRIVATE_KEY, SSH_KNOWN_HOSTS: knownHosts }
    const args = ['src/cli.ts', command, '-c', file, '--kubeconfig', env.kubeconfigPath]
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>(resolve => {
      execFile(
        process.execPath,
        [...args, '--owner', `ssh-safety-${vm.name}`, '--json'],
        {
          timeout: RUN_TIMEOUT_MS,
          maxBuffer: 16 * 1024 * 1024,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...secrets }
        },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
          resolve({ code, stdout, stderr })
        }
      )
    })
    let report: RunReport | undefined
    try {
      report = JSON.parse(result.stdout) as RunReport
    } catch {
      report = undefined
    }
    const hosts = report?.hosts.map(h => ({ host: h.host, status: h.status, error: h.error }))
    const output = `exit ${result.code}\nproblems: ${JSON.stringify(report?.problems)}\nhosts: ${JSON.stringify(hosts)}\n${result.stderr.slice(-4000)}`
    return { code: result.code, report, output }
  }

  async function inVm(vm: LabVm, command: string): Promise<string> {
    const r = await runInVm(vm, command, { timeoutMs: 30_000 })
    assert.equal(r.code, 0, `${vm.name}: ${command}: ${r.stderr}`)
    return r.stdout
  }

  /** known_hosts lines for a VM's own address (its sshd port), of the key types given. */
  function knownHostsOf(vm: LabVm, types: string[]): string {
    const name = vm.sshdPort === 22 ? vm.address : `[${vm.address}]:${vm.sshdPort}`
    return vm.hostKeys
      .filter(k => types.includes(k.type))
      .map(k => `${name} ${k.publicKey.split(' ').slice(0, 2).join(' ')}\n`)
      .join('')
  }

  /** What onboarding would have changed on a VM: the sidecar's files and package. */
  const sidecarTrace = (vm: LabVm): Promise<string> =>
    inVm(
      vm,
      'ls -d /var/lib/istio/envoy /etc/certs /usr/local/bin/istio-start.sh 2>/dev/null; dpkg-query -W -f="${Status}" istio-sidecar 2>/dev/null; true'
    )

  /**
   * Packets counted by two rules of ISTIO_INBOUND: the one that redirects to the inbound port,
   * and the RETURN of the SSH port.
   */
  async function inboundCounts(vm: LabVm): Promise<{ redirect: number; sshReturn: number }> {
    const out = await inVm(vm, 'iptables -t nat -L ISTIO_INBOUND -n -v -x')
    const lines = out.split('\n')
    const redirect = lines.find(line => /\sISTIO_IN_REDIRECT\s/.test(line))
    const sshReturn = lines.find(
      line => /\sRETURN\s/.test(line) && line.includes(`dpt:${SSH_PORT}`)
    )
    assert.ok(redirect && sshReturn, `ISTIO_INBOUND lacks a rule:\n${out}`)
    const packets = (line: string): number => Number(line.trim().split(/\s+/)[0])
    return { redirect: packets(redirect), sshReturn: packets(sshReturn) }
  }

  /** curl from the runner (bounded); its exit code and stderr. */
  const curl = (url: string): Promise<{ code: number; stderr: string }> =>
    new Promise(resolve =>
      execFile(
        'curl',
        ['-sS', '-o', '/dev/null', '--max-time', '5', url],
        { timeout: 15_000 },
        (error, _out, stderr) =>
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stderr })
      )
    )

  /** Polls `probe` until it returns a value, at most `timeoutMs`. */
  async function until<T>(
    what: string,
    timeoutMs: number,
    probe: () => Promise<T | undefined>
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = await probe()
      if (value !== undefined) return value
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
      await new Promise(resolve => setTimeout(resolve, 500))
    }
  }

  /** A TCP connection from the runner to the VM (bounded); resolves whatever the outcome. */
  const touch = (host: string, port: number): Promise<void> =>
    new Promise(resolve => {
      const socket = netConnect({ host, port, timeout: 2000 })
      const done = (): void => {
        socket.destroy()
        resolve()
      }
      socket.on('connect', () => setTimeout(done, 200))
      socket.on('timeout', done)
      socket.on('error', done)
    })

  test('the VMs are as the tests need: two key types offered; sshd on 2223 only', async () => {
    assert.deepEqual(
      dual.hostKeys.map(k => k.type),
      ['ssh-ed25519', 'ssh-rsa']
    )
    // OpenSSH's own scan: the VM presents both keys, so an RSA-only known_hosts is not vacuous
    const scan = await new Promise<string>((resolve, reject) =>
      execFile(
        'ssh-keyscan',
        ['-T', '5', '-t', 'ed25519,rsa', dual.address],
        { timeout: 20_000 },
        (error, stdout) => (error ? reject(error) : resolve(stdout))
      )
    )
    for (const key of dual.hostKeys) {
      assert.ok(scan.includes(key.publicKey.split(' ')[1] ?? '?'), `${key.type} not offered`)
    }
    assert.equal(onPort.sshdPort, SSH_PORT)
    assert.equal(onPort.sshPort, SSH_PORT)
    const listening = await inVm(onPort, 'ss -Htln')
    assert.match(listening, new RegExp(`:${SSH_PORT}\\s`))
    assert.doesNotMatch(listening, /:22\s/)
    assert.equal(plain.sshdPort, 22)
    assert.deepEqual(
      plain.hostKeys.map(k => k.type),
      ['ssh-ed25519']
    )
  })

  test('known_hosts with only the RSA line of a VM that offers ed25519 and RSA: the run connects; with only the ed25519 line too', async () => {
    const rsaOnly = knownHostsOf(dual, ['ssh-rsa'])
    assert.match(rsaOnly, /^\S+ ssh-rsa \S+\n$/)
    const first = await cli('apply', dual, rsaOnly, `http-echo: ${LAB_APP_PORT}`)
    assert.equal(first.code, 0, first.output)
    assert.equal(first.report?.hosts[0]?.status, 'ok', first.output)
    assert.equal(first.report?.hosts[0]?.ready, true, first.output)
    const edOnly = knownHostsOf(dual, ['ssh-ed25519'])
    assert.match(edOnly, /^\S+ ssh-ed25519 \S+\n$/)
    const again = await cli('apply', dual, edOnly, `http-echo: ${LAB_APP_PORT}`)
    assert.equal(again.code, 0, again.output)
    assert.equal(again.report?.hosts[0]?.status, 'ok', again.output)
    const gone = await cli('cleanup', dual, rsaOnly, `http-echo: ${LAB_APP_PORT}`)
    assert.equal(gone.code, 0, gone.output)
  })

  test('the pin of VM A given to VM B: refused with a clear message, nothing changed on B', async () => {
    const before = { logins: await sshLogins([plain]), trace: await sidecarTrace(plain) }
    assert.equal(before.trace, '', 'B has no sidecar to start with')
    // swapped pins: A's fingerprint for B's address, B's for A's
    const swapped = `${plain.address} ${dual.hostKeyFingerprint}\n${dual.address} ${plain.hostKeyFingerprint}\n`
    const run = await cli('apply', plain, swapped)
    assert.equal(run.code, 1, run.output)
    const host = run.report?.hosts[0]
    assert.equal(host?.status, 'failed', run.output)
    const message = host?.error?.message ?? ''
    assert.ok(
      message.includes(
        `host key for ${plain.address} is ${plain.hostKeyFingerprint} which is not in known_hosts`
      ),
      run.output
    )
    assert.ok(message.includes(`pinned for ${dual.address} only`), run.output)
    assert.equal(await sshLogins([plain]), before.logins, 'no SSH login on B')
    assert.equal(await sidecarTrace(plain), before.trace, 'nothing of the sidecar on B')

    // a fingerprint without a host pins nothing: stopped in preflight
    const bare = await cli('apply', plain, `${plain.hostKeyFingerprint}\n`)
    assert.equal(bare.code, 2, bare.output)
    assert.match(bare.output, /a fingerprint pin must name its host/)
    assert.equal(await sshLogins([plain]), before.logins, 'no SSH login on B')

    // the control: B's own pin for B's address gets in (and only now does B see a login)
    const t = await connectSsh({
      host: plain.address,
      port: plain.sshdPort,
      user: plain.user,
      privateKey: plain.privateKey,
      hostKeys: hostKeyPolicy(`${plain.address} ${plain.hostKeyFingerprint}\n`, true),
      connectTimeoutMs: 5000
    })
    try {
      assert.equal((await t.exec('echo in', { timeoutMs: 10_000 })).stdout, 'in\n')
    } finally {
      await t.close()
    }
    assert.equal(await sidecarTrace(plain), before.trace)
  })

  test("sshd on 2223 and ISTIO_INBOUND_PORTS='*': apply, re-run, verify and cleanup all get in", async () => {
    const knownHosts = knownHostsOf(onPort, ['ssh-ed25519'])
    assert.match(
      knownHosts,
      new RegExp(`^\\[${onPort.address.replace(/\./g, '\\.')}\\]:${SSH_PORT} `)
    )

    // STRICT mTLS in the VM's namespace (pushed to the sidecar by the istiod stand-in): a
    // captured plaintext connection is reset, as Envoy does, so a captured sshd is unreachable
    env.cluster.store.put({
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: { name: 'strict', namespace: 'vm' },
      spec: { mtls: { mode: 'STRICT' } }
    })

    const applied = await cli('apply', onPort, knownHosts)
    assert.equal(applied.code, 0, applied.output)
    assert.equal(applied.report?.hosts[0]?.ready, true, applied.output)

    // the capture is really there: every inbound port but the excluded ones, 2223 among those
    const clusterEnv = await inVm(onPort, 'cat /var/lib/istio/envoy/cluster.env')
    assert.match(clusterEnv, /^ISTIO_INBOUND_PORTS='?\*'?$/m)
    const exclude = /^ISTIO_LOCAL_EXCLUDE_PORTS='?([0-9,]*)'?$/m.exec(clusterEnv)?.[1] ?? ''
    assert.ok(exclude.split(',').includes(String(SSH_PORT)), `excluded: ${exclude}`)
    const nat = await inVm(onPort, 'iptables-save -t nat')
    assert.match(nat, /^-A PREROUTING -p tcp -j ISTIO_INBOUND$/m)
    assert.match(
      nat,
      new RegExp(`^-A ISTIO_INBOUND -p tcp -m tcp --dport ${SSH_PORT} -j RETURN$`, 'm')
    )
    assert.match(nat, /^-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT$/m)
    assert.doesNotMatch(nat, new RegExp(`--dport ${LAB_APP_PORT} -j RETURN`))
    // a port that is not excluded is redirected (its rule counts the connection); the SSH port
    // returns (its rule counts it)
    const before = await inboundCounts(onPort)
    await touch(onPort.address, LAB_APP_PORT)
    const afterApp = await inboundCounts(onPort)
    assert.ok(
      afterApp.redirect > before.redirect,
      `8080 not redirected: ${JSON.stringify([before, afterApp])}`
    )
    await touch(onPort.address, SSH_PORT)
    const afterSsh = await inboundCounts(onPort)
    assert.ok(
      afterSsh.sshReturn > afterApp.sshReturn,
      `2223 not returned: ${JSON.stringify([afterApp, afterSsh])}`
    )

    // STRICT has reached the sidecar: plaintext to the captured app port is reset (bounded wait)
    const strict = await until('plaintext to 8080 refused under STRICT', 30_000, async () => {
      const r = await curl(`http://${onPort.address}:${LAB_APP_PORT}/`)
      return r.code === 56 || r.code === 52 ? r : undefined
    })
    assert.match(strict.stderr, /reset|Empty reply/i)
    // without that RETURN the SSH port is captured like any other: no SSH gets in (the lockout
    // the exclusion prevents)
    const rule = `-p tcp -m tcp --dport ${SSH_PORT} -j RETURN`
    await inVm(onPort, `iptables -t nat -D ISTIO_INBOUND ${rule}`)
    try {
      await assert.rejects(
        connectSsh({
          host: onPort.address,
          port: SSH_PORT,
          user: onPort.user,
          privateKey: onPort.privateKey,
          hostKeys: hostKeyPolicy(knownHosts, true),
          connectTimeoutMs: 3000,
          attempts: 1
        }),
        (e: TransportError) => {
          assert.equal(e.kind, 'connect', e.message)
          return true
        }
      )
    } finally {
      await inVm(onPort, `iptables -t nat -I ISTIO_INBOUND 1 ${rule}`)
    }

    const rerun = await cli('apply', onPort, knownHosts)
    assert.equal(rerun.code, 0, `the re-run is locked out?\n${rerun.output}`)
    assert.equal(rerun.report?.hosts[0]?.status, 'ok', rerun.output)

    const verified = await cli('verify', onPort, knownHosts)
    assert.equal(verified.code, 0, verified.output)

    const removed = await cli('cleanup', onPort, knownHosts)
    assert.equal(removed.code, 0, removed.output)
    assert.equal(removed.report?.ok, true, removed.output)
    // and SSH still gets in afterwards
    const t = await connectSsh({
      host: onPort.address,
      port: SSH_PORT,
      user: onPort.user,
      privateKey: onPort.privateKey,
      hostKeys: hostKeyPolicy(knownHosts, true),
      connectTimeoutMs: 5000
    })
    try {
      assert.equal((await t.exec('echo in', { timeoutMs: 10_000 })).stdout, 'in\n')
    } finally {
      await t.close()
    }
  })
})
