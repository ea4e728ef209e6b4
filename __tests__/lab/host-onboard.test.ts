// The host side against the lab's VMs: three VMs onboarded in parallel over SSH until the
// sidecar stand-in is ready; a second run that changes and restarts nothing; a wrong host key
// and a stopped sshd that fail only their host (within the stated time); a reboot after which
// the sidecar comes back; connection and channel counts; and the local transport, with the
// built entry point running inside a VM that plays the runner and onboards itself.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'
import { build } from 'esbuild'
import { labTestOptions } from '../helpers/lab.ts'
import { createLabCa, type LabCa } from '../../lab/pki.ts'
import { buildSidecarDeb } from '../../lab/mesh/deb.ts'
import { startIstiod, type Istiod } from '../../lab/mesh/istiod.ts'
import { createLocalTokenAuthority } from '../../lab/mesh/tokens.ts'
import {
  BRIDGE_ADDRESS,
  GATEWAY_ADDRESS,
  VM_NODE_PATH,
  downLab,
  restartVm,
  runInVm,
  startSshd,
  stopSshd,
  upLab,
  type LabState,
  type LabVm
} from '../../lab/vms/index.ts'
import { parseWorkloadGroupYaml, renderVmFiles } from '../../src/istio/index.ts'
import { remoteCommand, type HostFiles } from '../../src/host/bundle.ts'
import { fanOut } from '../../src/host/fanout.ts'
import { onboardHost, type HostResult, type HostTarget } from '../../src/host/onboard.ts'
import type { LocalJob } from '../../src/host/onboardLocal.ts'
import { connectBudgetMs, connectSsh } from '../../src/host/ssh.ts'
import { uninstallHost } from '../../src/host/uninstall.ts'

const VERSION = '1.30.3'
const workloadGroup = parseWorkloadGroupYaml(`apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata:
  name: vm-app
  namespace: vm
spec:
  metadata:
    labels:
      app: vm-app
  template:
    serviceAccount: vm-sa
    ports:
      http: 8080
`)
const mesh = 'defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\n'
const CONNECT_TIMEOUT_MS = 5000

describe('host side on the lab VMs', labTestOptions(), () => {
  let lab: LabState
  let ca: LabCa
  let istiod: Istiod | undefined
  let workdir: string
  let deb: string
  const tokens = createLocalTokenAuthority()
  const warnings: string[] = []

  const vm = (i: number): LabVm => {
    const found = lab.vms[i]
    assert.ok(found, `no lab VM #${i + 1}`)
    return found
  }

  function files(): HostFiles {
    return renderVmFiles({
      workloadGroup,
      meshConfig: mesh,
      clusterID: 'Kubernetes',
      ingress: GATEWAY_ADDRESS,
      rootCert: ca.certPem,
      token: tokens.mint({ namespace: 'vm', serviceAccount: 'vm-sa' })
    }).files
  }

  async function target(v: LabVm, knownHosts?: string): Promise<HostTarget> {
    const content = knownHosts ?? (await readFile(v.knownHostsPath, 'utf8'))
    return {
      name: v.name,
      connect: () =>
        connectSsh({
          host: v.sshHost,
          port: v.sshPort,
          user: v.user,
          privateKey: v.privateKey,
          hostKeys: { kind: 'known_hosts', content },
          connectTimeoutMs: CONNECT_TIMEOUT_MS,
          warn: m => warnings.push(m)
        })
    }
  }

  // SFTP for the package here (the stand-in is small enough to travel inline otherwise)
  const onboard = (t: HostTarget): Promise<HostResult> =>
    onboardHost(t, {
      files: files(),
      version: VERSION,
      package: { kind: 'push', path: deb },
      inlinePackageMaxBytes: 0,
      commandTimeoutMs: 120_000,
      readyTimeoutSec: 45
    })

  async function inVm(v: LabVm, command: string): Promise<string> {
    const r = await runInVm(v, command, { timeoutMs: 30_000 })
    assert.equal(r.code, 0, `${v.name}: ${command}: ${r.stderr}`)
    return r.stdout
  }

  const serviceState = (v: LabVm): Promise<string> =>
    inVm(v, 'systemctl show -p MainPID -p NRestarts -p ActiveEnterTimestampMonotonic istio')

  async function readyInVm(v: LabVm, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const r = await runInVm(
        v,
        'curl -s -o /dev/null -w "%{http_code}" --max-time 2 http://127.0.0.1:15021/healthz/ready',
        { timeoutMs: 10_000 }
      )
      if (r.stdout === '200') return true
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    return false
  }

  const explain = (results: HostResult[]): string =>
    JSON.stringify(
      results.map(r => ({ host: r.host, status: r.status, error: r.error, logs: r.logs })),
      null,
      1
    )

  before(async () => {
    ca = await createLabCa()
    workdir = await mkdtemp(join(tmpdir(), 'mx-host-lab-'))
    await chmod(workdir, 0o755) // the VM's ordinary user runs the entry from it
    deb = await buildSidecarDeb(workdir, { version: VERSION })
    // the entry point a runner VM runs, built like the product's bundle (ESM, one file)
    await build({
      entryPoints: [fileURLToPath(new URL('../../src/host/onboardLocalMain.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node24',
      outfile: join(workdir, 'onboard-local.mjs'),
      logLevel: 'silent'
    })
    lab = await upLab({
      vms: 4,
      nodeBinary: process.execPath,
      binds: [{ host: workdir, vm: '/opt/mx', readOnly: true }]
    })
    istiod = await startIstiod({
      host: GATEWAY_ADDRESS,
      port: 15012,
      ca,
      reviewer: tokens.reviewer,
      names: () => ({}),
      heartbeatSeconds: 1
    })
  })

  after(async () => {
    await istiod?.close()
    await downLab()
    if (workdir) await rm(workdir, { recursive: true, force: true })
  })

  test('three VMs onboarded in parallel end ready; 1 connection and at most 3 channels each', async () => {
    const started = Date.now()
    const report = await fanOut(await Promise.all([0, 1, 2].map(i => target(vm(i)))), onboard, {
      parallelism: 10,
      failFast: false,
      maxFailures: null
    })
    const took = Date.now() - started
    assert.equal(report.ok, true, explain(report.results))
    for (const r of report.results) {
      assert.equal(r.ready, true)
      assert.equal(r.changed, true)
      assert.equal(r.restarted, true)
      assert.equal(r.package, 'installed')
      assert.equal(r.stats.connections, 1)
      assert.ok(r.stats.channels <= 3, `${r.host}: ${r.stats.channels} channels`)
      assert.ok(
        r.phases.every(p => p.ok),
        JSON.stringify(r.phases)
      )
      for (const name of ['connect', 'push', 'preflight', 'package', 'files', 'service', 'ready']) {
        assert.ok(
          r.phases.some(p => p.name === name),
          `${r.host}: no ${name} phase`
        )
      }
    }
    process.stderr.write(`three VMs onboarded in ${took} ms\n`)
    for (const i of [0, 1, 2]) {
      const v = vm(i)
      assert.equal(
        (await inVm(v, 'systemctl is-active istio; systemctl is-enabled istio')).trim(),
        'active\nenabled'
      )
      const modes = await inVm(
        v,
        'stat -c "%n %U %a" /etc/certs/root-cert.pem /var/run/secrets/tokens /var/run/secrets/tokens/istio-token /var/lib/istio/envoy /var/lib/istio/envoy/cluster.env /etc/istio/config/mesh /var/lib/mesh-expansion /var/lib/mesh-expansion/istio-token'
      )
      // What root sources or reads (cluster.env, the mesh config) is root's, in root's
      // directories; the agent's own files (its certificates, the token it reads) are
      // istio-proxy's (src/host/install.sh, "Directory ownership").
      assert.equal(
        modes,
        [
          '/etc/certs/root-cert.pem istio-proxy 644',
          '/var/run/secrets/tokens root 755',
          '/var/run/secrets/tokens/istio-token istio-proxy 600',
          '/var/lib/istio/envoy root 755',
          '/var/lib/istio/envoy/cluster.env root 644',
          '/etc/istio/config/mesh root 644',
          '/var/lib/mesh-expansion root 700',
          '/var/lib/mesh-expansion/istio-token istio-proxy 600',
          ''
        ].join('\n')
      )
      const hosts = await inVm(v, 'cat /etc/hosts')
      assert.match(
        hosts,
        /# BEGIN mesh-expansion[^\n]*\n198\.18\.0\.2 istiod\.istio-system\.svc\n# END mesh-expansion\n/
      )
      assert.match(
        await inVm(v, 'cat /etc/tmpfiles.d/mesh-expansion.conf'),
        /^C \/run\/secrets\/tokens\/istio-token /m
      )
      assert.match(await inVm(v, 'iptables-save -t nat'), /ISTIO_OUTPUT/)
      assert.equal(
        await inVm(v, 'ls /var/tmp | grep -c mesh-expansion || true'),
        '0\n',
        'the pushed package is removed'
      )
      assert.equal(
        await inVm(v, 'ls /tmp | grep -c mesh-expansion || true'),
        '0\n',
        'the bundle cleans up'
      )
    }
  })

  test('a second run reports every host unchanged and restarts nothing (one exec each)', async () => {
    const beforeStates = await Promise.all([0, 1, 2].map(i => serviceState(vm(i))))
    const report = await fanOut(await Promise.all([0, 1, 2].map(i => target(vm(i)))), onboard, {
      parallelism: 10,
      failFast: false,
      maxFailures: null
    })
    assert.equal(report.ok, true, explain(report.results))
    for (const r of report.results) {
      assert.deepEqual(
        [r.changed, r.restarted, r.ready, r.package],
        [false, false, true, 'unchanged'],
        r.host
      )
      assert.deepEqual(r.stats.connections, 1)
      assert.deepEqual(r.stats.channels, 1)
    }
    const afterStates = await Promise.all([0, 1, 2].map(i => serviceState(vm(i))))
    assert.deepEqual(afterStates, beforeStates)
  })

  test('the per-command timeout returns promptly; on the host timeout(1) ends the command', async () => {
    const v = vm(1)
    const t = await (await target(v)).connect()
    try {
      const started = Date.now()
      const plain = await t.exec('sleep 31; echo done', { timeoutMs: 1000 })
      assert.equal(plain.timedOut, true)
      // a plain shell dies of the TERM, its sleep does not: the result still comes back
      assert.ok(Date.now() - started < 5000, `the timeout took ${Date.now() - started} ms`)
      await runInVm(v, 'pkill -f "sleep 31" || true')
      // under the wrapper: sudo -n and timeout(1) on the host end it even if the signal is lost
      const wrapped = await t.exec(remoteCommand(2), { stdin: 'sleep 32\n', timeoutMs: 60_000 })
      assert.equal(wrapped.timedOut, false)
      assert.equal(wrapped.code, 124, 'timeout(1) on the host ended the command')
      // the runner's timeout first: it returns promptly; OpenSSH signals with the SSH user's
      // rights, which cannot reach the root processes under sudo: the host's timeout(1), set to
      // the command timeout (the runner waits 10 s longer), is what ends an install
      const started2 = Date.now()
      const signalled = await t.exec(remoteCommand(600), { stdin: 'sleep 33\n', timeoutMs: 1000 })
      assert.equal(signalled.timedOut, true)
      assert.ok(Date.now() - started2 < 5000)
      await runInVm(v, 'pkill -f "sleep 33" || true')
    } finally {
      await t.close()
    }
    await new Promise(resolve => setTimeout(resolve, 1000))
    assert.equal((await runInVm(v, 'pgrep -f "sleep 3[123]" || true')).stdout, '')
  })

  test('a wrong host key fails that host with the fingerprint shown; the others complete', async () => {
    const impostor = vm(3)
    // vm1's key under vm4's name: what a man in the middle would present is vm4's real key
    const wrongLine = (await readFile(vm(0).knownHostsPath, 'utf8'))
      .split('\n')[0]
      ?.split(' ')
      .slice(1)
      .join(' ')
    const wrong = `${impostor.sshHost} ${wrongLine}\n`
    const report = await fanOut(
      [
        await target(vm(0)),
        await target(impostor, wrong),
        await target(vm(1)),
        await target(vm(2))
      ],
      onboard,
      { parallelism: 10, failFast: false, maxFailures: null }
    )
    const byHost = new Map(report.results.map(r => [r.host, r]))
    const bad = byHost.get(impostor.name)
    assert.equal(bad?.status, 'failed')
    assert.equal(bad?.error?.phase, 'connect')
    assert.match(
      bad?.error?.message ?? '',
      new RegExp(
        `is ${impostor.hostKeyFingerprint.replace(/[+/]/g, '\\$&')} which is not in known_hosts`
      )
    )
    for (const i of [0, 1, 2])
      assert.equal(byHost.get(vm(i).name)?.status, 'ok', explain(report.results))
    assert.equal(report.ok, false)
    assert.equal(report.failed, 1)
    assert.equal(
      await inVm(impostor, 'test -e /var/lib/mesh-expansion && echo touched || echo untouched'),
      'untouched\n'
    )
  })

  test('a VM whose sshd is stopped fails with a connect error after bounded retries, in time', async () => {
    const v = vm(3)
    await stopSshd(v)
    try {
      const started = Date.now()
      const result = await onboard(await target(v))
      const took = Date.now() - started
      assert.equal(result.status, 'failed')
      assert.equal(result.error?.phase, 'connect')
      assert.match(result.error?.message ?? '', /connection refused .*\(3 attempts in [\d.]+ s\)/)
      // refused connections cost only the backoff (0.5 + 1 s); the stated bound is the budget
      const budget = connectBudgetMs({ connectTimeoutMs: CONNECT_TIMEOUT_MS })
      assert.ok(took >= 1500 && took < budget, `took ${took} ms, budget ${budget} ms`)
      assert.equal(result.stats.connections, 0)
    } finally {
      await startSshd(v)
    }
  })

  test('a VM rebooted after onboarding comes back with the sidecar ready', async () => {
    const v = vm(0)
    await restartVm(v)
    assert.equal(
      await readyInVm(v, 60_000),
      true,
      await inVm(v, 'tail -n 20 /var/log/istio/istio.log || true')
    )
    assert.equal(
      (await inVm(v, 'stat -c "%U %a" /var/run/secrets/tokens/istio-token')).trim(),
      'istio-proxy 600'
    )
    // and a run after the reboot still changes nothing
    const again = await onboard(await target(v))
    assert.deepEqual(
      [again.status, again.changed, again.restarted],
      ['ok', false, false],
      JSON.stringify(again.error)
    )
  })

  test('local transport: the built entry runs inside a VM and onboards that VM, no SSH', async () => {
    const v = vm(3)
    const job: LocalJob = {
      name: v.name,
      files: files(),
      version: VERSION,
      package: { kind: 'push', path: '/opt/mx/istio-sidecar.deb' },
      readyTimeoutSec: 45
    }
    await writeFile(join(workdir, 'job.json'), JSON.stringify(job), { mode: 0o644 })
    // sshd is stopped so that nothing can go through SSH; the runner user reaches root by sudo -n
    await stopSshd(v)
    try {
      const r = await runInVm(
        v,
        [
          'runuser',
          '-u',
          v.user,
          '--',
          VM_NODE_PATH,
          '/opt/mx/onboard-local.mjs',
          '/opt/mx/job.json'
        ],
        {
          timeoutMs: 180_000
        }
      )
      const result = JSON.parse(r.stdout || '{}') as HostResult
      assert.equal(
        r.code,
        0,
        `${r.stderr}\n${JSON.stringify(result.error)}\n${result.logs?.join('\n')}`
      )
      assert.equal(result.status, 'ok')
      assert.equal(result.ready, true)
      assert.equal(result.package, 'installed')
      assert.equal(result.stats.connections, 0)
      assert.equal(await readyInVm(v, 5000), true)
    } finally {
      await startSshd(v)
    }
  })

  test('through a jump host (vm1 -> vm2): both host keys checked, two handshakes', async () => {
    const [hop, v] = [vm(0), vm(1)]
    const knownHosts = await readFile(lab.knownHostsPath, 'utf8')
    const result = await onboard({
      name: v.name,
      connect: () =>
        connectSsh({
          host: v.address,
          port: 22,
          user: v.user,
          privateKey: v.privateKey,
          hostKeys: { kind: 'known_hosts', content: knownHosts },
          jump: [{ host: hop.sshHost, port: hop.sshPort, user: hop.user }],
          connectTimeoutMs: CONNECT_TIMEOUT_MS
        })
    })
    assert.equal(result.status, 'ok', JSON.stringify(result.error))
    assert.equal(result.changed, false)
    assert.equal(result.stats.connections, 2)
    assert.equal(result.stats.channels, 1)
  })

  test('uninstall removes the service, package, files, hosts block and iptables capture', async () => {
    const v = vm(2)
    const result = await uninstallHost(await target(v), {
      keepPackage: false,
      commandTimeoutMs: 60_000
    })
    assert.equal(result.status, 'ok', JSON.stringify(result.error))
    assert.equal(result.package, 'removed')
    assert.equal(result.stats.channels, 1)
    assert.doesNotMatch(await inVm(v, 'iptables-save'), /ISTIO_/)
    assert.doesNotMatch(await inVm(v, 'cat /etc/hosts'), /mesh-expansion/)
    assert.equal(
      await inVm(
        v,
        'ls /etc/tmpfiles.d/mesh-expansion.conf /var/lib/mesh-expansion /etc/certs/root-cert.pem /var/run/secrets/tokens/istio-token 2>/dev/null | wc -l'
      ),
      '0\n'
    )
    assert.equal((await runInVm(v, 'dpkg -s istio-sidecar')).code !== 0, true)
    assert.deepEqual(warnings, [])
  })

  test('a failed preflight says why, one line per check, and changes nothing', async () => {
    const v = vm(2) // uninstalled by the previous test
    const result = await onboardHost(await target(v), {
      files: files(),
      version: VERSION,
      package: { kind: 'push', path: deb },
      commandTimeoutMs: 60_000,
      minDiskMb: 100_000_000,
      now: () => Date.now() + 3_600_000
    })
    assert.equal(result.status, 'failed')
    assert.equal(result.error?.phase, 'preflight')
    assert.match(result.error?.message ?? '', /clock: the host clock is 3\d{3}s away/)
    assert.match(
      result.error?.message ?? '',
      /^disk: only \d+ MB free under \/var\/lib, need 100000000 MB; clock: /
    )
    assert.equal(
      await inVm(
        v,
        'ls /var/lib/mesh-expansion 2>/dev/null | wc -l; dpkg -s istio-sidecar >/dev/null 2>&1 && echo installed || echo absent'
      ),
      '0\nabsent\n'
    )
  })

  test('a sidecar that never gets ready: capture removed, service disabled, istio.log in the error, host reachable', async () => {
    const v = vm(2)
    // a token istiod does not accept: the agent cannot get a certificate
    const bad = {
      ...files(),
      'istio-token': createLocalTokenAuthority().mint({ namespace: 'vm', serviceAccount: 'vm-sa' })
    }
    const result = await onboardHost(await target(v), {
      files: bad,
      version: VERSION,
      package: { kind: 'push', path: deb },
      commandTimeoutMs: 120_000,
      readyTimeoutSec: 6
    })
    assert.equal(result.status, 'failed')
    assert.equal(result.error?.phase, 'ready')
    assert.match(
      result.error?.message ?? '',
      /not ready on :15021 within 6s; service stopped and disabled, iptables capture removed/
    )
    assert.ok(
      result.logs.some(l => l.startsWith('istio.log: ')),
      result.logs.join('\n')
    )
    assert.doesNotMatch(await inVm(v, 'iptables-save'), /ISTIO_|mesh-expansion-track/)
    assert.equal((await runInVm(v, 'systemctl is-enabled istio')).stdout.trim(), 'disabled')
    assert.equal((await runInVm(v, 'systemctl is-active istio')).stdout.trim(), 'inactive')
    const t = await (await target(v)).connect()
    try {
      assert.equal(
        (await t.exec('echo still reachable', { timeoutMs: 10_000 })).stdout,
        'still reachable\n'
      )
    } finally {
      await t.close()
    }
    // with a good token, the next run repairs it
    const fixed = await onboard(await target(v))
    assert.deepEqual(
      [fixed.status, fixed.ready, fixed.restarted],
      ['ok', true, true],
      JSON.stringify(fixed.error)
    )
  })

  test('the host downloads the package from a URL and checks it (bad checksum and an unpinned http URL refused)', async () => {
    const v = vm(2)
    const removed = await uninstallHost(await target(v), {
      keepPackage: false,
      commandTimeoutMs: 60_000
    })
    assert.equal(removed.package, 'removed')
    const body = await readFile(deb)
    const sum = createHash('sha256').update(body).digest('hex')
    const server = createServer((req, res) => {
      if (req.url === '/istio-sidecar.deb') res.end(body)
      else if (req.url === '/istio-sidecar.deb.sha256') res.end(`${sum}  istio-sidecar.deb\n`)
      else {
        res.statusCode = 404
        res.end()
      }
    })
    await new Promise<void>(resolve => server.listen(18081, BRIDGE_ADDRESS, resolve))
    try {
      const url = `http://${BRIDGE_ADDRESS}:18081/istio-sidecar.deb`
      const refused = await onboardHost(await target(v), {
        files: files(),
        version: VERSION,
        package: { kind: 'url', url, sha256: 'f'.repeat(64) },
        commandTimeoutMs: 60_000
      })
      assert.equal(refused.status, 'failed')
      assert.equal(refused.error?.phase, 'package')
      assert.match(
        refused.error?.message ?? '',
        new RegExp(`checksum: the package's SHA-256 is ${sum}, expected f{64}`)
      )
      assert.equal((await runInVm(v, 'dpkg -s istio-sidecar')).code !== 0, true)
      // a plain http URL without a pinned sha256: anyone on the path could swap the package and
      // its .sha256 beside it, so it is refused before the download
      const unpinned = await onboardHost(await target(v), {
        files: files(),
        version: VERSION,
        package: { kind: 'url', url },
        commandTimeoutMs: 60_000
      })
      assert.equal(unpinned.status, 'failed')
      assert.match(unpinned.error?.message ?? '', /is not https and no sha256 is given: refused/)
      assert.equal((await runInVm(v, 'dpkg -s istio-sidecar')).code !== 0, true)
      const result = await onboardHost(await target(v), {
        files: files(),
        version: VERSION,
        package: { kind: 'url', url, sha256: sum },
        commandTimeoutMs: 60_000,
        readyTimeoutSec: 45
      })
      assert.equal(result.status, 'ok', JSON.stringify(result.error))
      assert.deepEqual(
        [result.package, result.ready, result.stats.channels],
        ['installed', true, 1]
      )
    } finally {
      await new Promise(resolve => server.close(resolve))
    }
  })

  test('a user without passwordless sudo fails the preflight with the reason', async () => {
    const v = vm(2)
    await inVm(v, 'mv /etc/sudoers.d/mesh /root/sudoers-mesh')
    try {
      const result = await onboard(await target(v))
      assert.equal(result.status, 'failed')
      assert.equal(result.error?.phase, 'preflight')
      assert.match(
        result.error?.message ?? '',
        /^sudo: sudo -n is refused for mesh: allow it without a password \(NOPASSWD\)/
      )
    } finally {
      await inVm(v, 'mv /root/sudoers-mesh /etc/sudoers.d/mesh')
    }
  })
})
