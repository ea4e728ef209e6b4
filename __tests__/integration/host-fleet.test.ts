// The engine's entry to the host side: this job's shard of the description's VMs, the package
// source and version of each VM, and the settings handed to the fan-out. Hosts that cannot be
// reached fail one by one (loopback, a closed port); the others are not affected.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parseDescription, type Description } from '../../src/config/index.ts'
import { onboardFleet, packageSourceFor, shardVms, sidecarVersion } from '../../src/host/fleet.ts'

function describeYaml(text: string): Description {
  const parsed = parseDescription(text, 'test.yaml')
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors))
  return parsed.description
}

const files = {
  'cluster.env': '',
  'mesh.yaml': '',
  hosts: '',
  'root-cert.pem': '',
  'istio-token': ''
}

describe('fleet', () => {
  let dir: string
  let key: string
  let closedPort: number
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mx-fleet-'))
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')])
    key = readFileSync(join(dir, 'k'), 'utf8')
    const probe = createServer()
    await new Promise<void>(resolve => probe.listen(0, '127.0.0.1', resolve))
    closedPort = (probe.address() as AddressInfo).port
    await new Promise<void>(resolve => probe.close(() => resolve()))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const yaml = (extra = ''): string => `workloadGroups:
  - name: app
    namespace: vm
    ports: {http: 8080}
    sidecar: {version: 1.29.1}
vms:
${Array.from({ length: 6 }, (_, i) => `  - {name: vm-${i + 1}, host: 127.0.0.${i + 1}, port: PORT}`).join('\n')}
  - {name: pinned, host: 127.0.0.7, port: PORT, sidecar: {package: /cache/istio-sidecar.deb}}
  - {name: fetched, host: 127.0.0.8, port: PORT, sidecar: {version: auto, package: "https://mirror.example/istio-sidecar.deb"}}
  - {name: newest, host: 127.0.0.9, port: PORT, sidecar: {version: auto}}
${extra}`

  test('package source and version per VM', () => {
    const d = describeYaml(yaml().replaceAll('PORT', '22'))
    const vm = (name: string) => d.vms.find(v => v.name === name)!
    assert.deepEqual(packageSourceFor(vm('vm-1'), '1.30.3'), { kind: 'auto', version: '1.29.1' })
    assert.deepEqual(packageSourceFor(vm('pinned'), '1.30.3'), {
      kind: 'push',
      path: '/cache/istio-sidecar.deb'
    })
    assert.deepEqual(packageSourceFor(vm('fetched'), '1.30.3'), {
      kind: 'url',
      url: 'https://mirror.example/istio-sidecar.deb'
    })
    assert.deepEqual(packageSourceFor(vm('newest'), '1.30.3', '/runner/cache'), {
      kind: 'auto-push',
      version: '1.30.3',
      cacheDir: '/runner/cache'
    })
    assert.equal(sidecarVersion(vm('newest'), '1.30.3'), '1.30.3')
    assert.throws(() => packageSourceFor(vm('newest'), ''), /sidecar version is unknown/)
  })

  test("the shard in settings picks this job's VMs", () => {
    const base = yaml().replaceAll('PORT', '22')
    const one = shardVms(describeYaml(`${base}settings: {shard: 1/2}\n`))
    const two = shardVms(describeYaml(`${base}settings: {shard: 2/2}\n`))
    assert.equal(one.length + two.length, 9)
    assert.deepEqual(
      [...one, ...two].map(v => v.name).sort(),
      describeYaml(base)
        .vms.map(v => v.name)
        .sort()
    )
  })

  test('unreachable hosts fail one by one with connect errors; maxFailures stops the rest', async () => {
    const d = describeYaml(
      yaml(
        `settings: {parallelism: 3, maxFailures: 4}\nssh: {strictHostKeyChecking: false}\n`
      ).replaceAll('PORT', String(closedPort))
    )
    const warnings: string[] = []
    const asked: string[] = []
    const started = Date.now()
    const report = await onboardFleet({
      description: d,
      env: { SSH_PRIVATE_KEY: key },
      warn: m => warnings.push(m),
      filesFor: async vm => {
        asked.push(vm.name)
        return files
      },
      istioVersion: '1.30.3'
    })
    assert.ok(Date.now() - started < 20_000)
    // hosts already running finish: at most maxFailures + parallelism - 1 fail
    assert.ok(report.failed >= 4 && report.failed <= 6, `failed ${report.failed}`)
    assert.equal(report.failed + report.skipped, 9)
    assert.ok(report.skipped >= 3)
    assert.equal(report.ok, false)
    for (const r of report.results.filter(r => r.status === 'failed')) {
      assert.equal(r.error?.phase, 'connect')
      assert.match(r.error?.message ?? '', /connection refused/)
    }
    assert.deepEqual(asked, [], 'no files (no token) for hosts that could not be reached')
    assert.ok(warnings.some(w => /host key checking is disabled/.test(w)))
  })

  test('missing secrets are a clear error before any host is touched', async () => {
    const d = describeYaml(yaml().replaceAll('PORT', '22'))
    await assert.rejects(
      onboardFleet({
        description: d,
        env: {},
        warn: () => {},
        filesFor: async () => files,
        istioVersion: '1.30.3'
      }),
      /SSH_PRIVATE_KEY is empty or unset/
    )
  })
})
