// Token rotation on the lab (issue 19): one VM onboarded by the real CLI with one-hour tokens. A
// re-apply with a 10-minute threshold keeps the token on the host (same bytes, the sidecar not
// restarted); an apply with a 2-hour threshold places a new one with a later expiry, still without
// a restart, the sidecar ready; then the VM is rebooted without its workload certificate, so the
// agent must get one with the token systemd-tmpfiles put back from our copy, which is the new one.
// The CLI runs from the sources in a child process (the sandbox API answers from this one).
// Timings are printed.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { labTestOptions } from '../helpers/lab.ts'
import { inVm, labCli } from '../helpers/labCli.ts'
import {
  LAB_SIDECAR_PACKAGE,
  startLabApp,
  startLabEnvironment,
  type LabEnvironment
} from '../../lab/environment.ts'
import { restartVm, runInVm, type LabVm } from '../../lab/vms/index.ts'
import type { RunReport } from '../../src/engine/report.ts'
import type { HostResult } from '../../src/host/onboard.ts'

const OWNER = 'token-lab'
const TOKEN = '/var/run/secrets/tokens/istio-token'
const COPY = '/var/lib/mesh-expansion/istio-token'

/** What tells a restarted sidecar from the same one: systemd's main PID and its start time. */
const SERVICE_PROPS = 'systemctl show istio -p ExecMainPID -p ActiveEnterTimestampMonotonic'

describe('token rotation on the lab', labTestOptions(), () => {
  let env: LabEnvironment
  let dir = ''
  let vm: LabVm
  const started = Date.now()
  /** The token the host holds after each step, and the service as it was then. */
  let firstToken = ''
  let refreshedToken = ''
  let service = ''

  function description(tokenRefreshWithin: number): string {
    return `cluster: {istioNamespace: istio-system}
workloadGroups:
  - name: rotate
    namespace: vm
    serviceAccount: rotate
    labels: {app: rotate}
    ports: {http-echo: 8080}
    probe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 2}
    registration: manual
    service: {kind: ServiceEntry, hosts: [rotate.vm.svc.cluster.local]}
    sidecar: {package: ${LAB_SIDECAR_PACKAGE}}
vms:
  - {name: ${vm.name}, host: ${vm.address}}
ssh: {user: ${vm.user}}
settings: {tokenDuration: 3600, tokenRefreshWithin: ${tokenRefreshWithin}}
`
  }

  /** apply with the threshold given; exits 0; the VM's result from the JSON report. */
  async function apply(tokenRefreshWithin: number): Promise<HostResult> {
    const t = Date.now()
    const run = await labCli(env, {
      command: 'apply',
      yaml: description(tokenRefreshWithin),
      dir,
      owner: OWNER
    })
    assert.equal(
      run.code,
      0,
      `apply: exit ${run.code}\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-2000)}`
    )
    const report = JSON.parse(run.stdout) as RunReport
    const host = report.hosts.find(h => h.host === vm.name)
    assert.ok(host, run.stdout.slice(-3000))
    // nothing secret in what a user reads
    assert.doesNotMatch(run.stdout + run.stderr, /eyJ[\w-]{8,}\.[\w-]{8,}/, 'a token leaked')
    console.log(
      `  apply (tokenRefreshWithin ${tokenRefreshWithin}): ${((Date.now() - t) / 1000).toFixed(1)} s, token ${JSON.stringify(host.token)}`
    )
    return host
  }

  const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

  /** The `exp` claim of a JWT. */
  function expOf(token: string): number {
    const payload = token.split('.')[1] ?? ''
    const exp = (
      JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }
    ).exp
    assert.equal(typeof exp, 'number', 'the token has an exp claim')
    return exp as number
  }

  async function readyInVm(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const r = await runInVm(
        vm,
        'curl -s -o /dev/null -w "%{http_code}" --max-time 2 http://127.0.0.1:15021/healthz/ready',
        { timeoutMs: 10_000 }
      )
      if (r.stdout === '200') return true
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    return false
  }

  const log = (): Promise<string> => inVm(vm, 'tail -n 20 /var/log/istio/istio.log || true')

  before(async () => {
    env = await startLabEnvironment({ vms: 1 })
    const [a] = env.vms
    assert.ok(a)
    vm = a
    dir = mkdtempSync(join(tmpdir(), 'mx-token-rotation-'))
    console.log(`  lab up: ${((Date.now() - started) / 1000).toFixed(1)} s`)
  })

  after(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true })
    await env?.close()
    console.log(`  token rotation lab test: ${((Date.now() - started) / 1000).toFixed(1)} s in all`)
  })

  test('onboarded, then re-applied: the token far from expiry stays, the sidecar is not restarted', async () => {
    const first = await apply(600)
    assert.equal(first.status, 'ok', JSON.stringify(first.error))
    assert.equal(first.ready, true)
    assert.equal(first.token?.action, 'refreshed', 'the first token is placed')
    assert.equal(first.token?.reason, 'missing')
    firstToken = await inVm(vm, `cat ${TOKEN}`)
    assert.equal(await inVm(vm, `cat ${COPY}`), firstToken, 'the copy for reboots is the token')
    service = await inVm(vm, SERVICE_PROPS)
    assert.match(service, /^ExecMainPID=[1-9]\d*$/m)

    const again = await apply(600)
    assert.deepEqual(
      [again.status, again.ready, again.changed, again.restarted],
      ['ok', true, false, false],
      JSON.stringify(again)
    )
    assert.equal(again.token?.action, 'kept', JSON.stringify(again.token))
    assert.ok((again.token?.leftSeconds ?? 0) > 600, JSON.stringify(again.token))
    const token = await inVm(vm, `cat ${TOKEN}`)
    assert.equal(sha256(token), sha256(firstToken), 'the token file is unchanged')
    assert.equal(sha256(await inVm(vm, `cat ${COPY}`)), sha256(firstToken))
    assert.equal(await inVm(vm, SERVICE_PROPS), service, 'the sidecar was not restarted')
  })

  test('within the threshold: a new token with a later expiry, no restart, still ready', async () => {
    // a second at least between the two tokens, so that their exp differ
    await new Promise(resolve => setTimeout(resolve, 1100))
    const host = await apply(7200)
    assert.deepEqual(
      [host.status, host.ready, host.changed, host.restarted],
      ['ok', true, false, false],
      JSON.stringify(host)
    )
    assert.equal(host.token?.action, 'refreshed', JSON.stringify(host.token))
    assert.equal(host.token?.reason, 'expiring', JSON.stringify(host.token))
    refreshedToken = await inVm(vm, `cat ${TOKEN}`)
    assert.notEqual(sha256(refreshedToken), sha256(firstToken), 'the token file changed')
    assert.ok(
      expOf(refreshedToken) > expOf(firstToken),
      `new exp ${expOf(refreshedToken)}, old ${expOf(firstToken)}`
    )
    assert.equal(
      (await inVm(vm, `stat -c "%U %a" ${TOKEN}`)).trim(),
      'istio-proxy 600',
      'owner and mode as placed'
    )
    assert.equal(
      sha256(await inVm(vm, `cat ${COPY}`)),
      sha256(refreshedToken),
      'the copy for reboots is the new token'
    )
    assert.equal(await inVm(vm, SERVICE_PROPS), service, 'the sidecar was not restarted')
    assert.equal(await readyInVm(10_000), true, await log())
  })

  test('a reboot without the workload certificate bootstraps with the refreshed token', async () => {
    // the agent would otherwise authenticate with its certificate: without it, only the token.
    // Stopped first, so that it cannot write a renewed one before the reboot.
    await inVm(vm, 'systemctl stop istio && rm -f /etc/certs/cert-chain.pem /etc/certs/key.pem')
    const removedAt = Number((await inVm(vm, 'date +%s')).trim())
    const t = Date.now()
    await restartVm(vm)
    // the lab's app is a transient unit: started again, as a real VM's app starts at boot
    await startLabApp(vm)
    assert.equal(await readyInVm(90_000), true, await log())
    console.log(`  reboot to ready: ${((Date.now() - t) / 1000).toFixed(1)} s`)
    assert.notEqual(await inVm(vm, SERVICE_PROPS), service, 'a new boot, a new sidecar')
    const token = await inVm(vm, `cat ${TOKEN}`)
    assert.equal(sha256(token), sha256(refreshedToken), 'tmpfiles put the refreshed token back')
    assert.equal((await inVm(vm, `stat -c "%U %a" ${TOKEN}`)).trim(), 'istio-proxy 600')
    // the certificate was issued again, for the token: it did not exist before the reboot
    const issuedAt = Number((await inVm(vm, 'stat -c %Y /etc/certs/cert-chain.pem')).trim())
    assert.ok(issuedAt >= removedAt, `cert-chain.pem from ${issuedAt}, removed at ${removedAt}`)
    assert.match(
      await inVm(vm, 'cat /var/log/istio/istio.log'),
      /generated new workload certificate/
    )

    // and an apply after the reboot keeps that token and restarts nothing
    const rebooted = await inVm(vm, SERVICE_PROPS)
    const again = await apply(600)
    assert.deepEqual(
      [again.status, again.ready, again.changed, again.restarted, again.token?.action],
      ['ok', true, false, false, 'kept'],
      JSON.stringify(again)
    )
    assert.equal(sha256(await inVm(vm, `cat ${TOKEN}`)), sha256(refreshedToken))
    assert.equal(await inVm(vm, SERVICE_PROPS), rebooted)
  })
})
