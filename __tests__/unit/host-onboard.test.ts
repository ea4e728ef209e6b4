// Onboarding against an in-memory host that speaks install.sh's protocol: one connection, the
// package pushed only when asked (then one more exec), results and phases parsed, failures kept
// with their phase, the connection always closed.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { HostFiles } from '../../src/host/bundle.ts'
import { ControlPlaneError, onboardHost, type HostTarget } from '../../src/host/onboard.ts'
import { parseRemoteOutput } from '../../src/host/results.ts'
import { hostLine } from '../../src/report/terminal.ts'
import { uninstallHost } from '../../src/host/uninstall.ts'
import {
  TransportError,
  newStats,
  type ExecOptions,
  type ExecResult,
  type HostTransport
} from '../../src/host/transport.ts'

const files: HostFiles = {
  'cluster.env': 'A=1\n',
  'mesh.yaml': 'defaultConfig: {}\n',
  hosts: '',
  'root-cert.pem': 'cert',
  'istio-token': 'token'
}

/** A host whose answers come from a function of the payload and what was pushed. */
class FakeHost implements HostTransport {
  readonly description = 'fake'
  readonly stats = newStats()
  pushed: string[] = []
  payloads: string[] = []
  closed = false
  private readonly answer: (payload: string, pushed: string[]) => Partial<ExecResult>
  constructor(answer: (payload: string, pushed: string[]) => Partial<ExecResult>) {
    this.answer = answer
  }
  async exec(_command: string, options: ExecOptions): Promise<ExecResult> {
    this.stats.channels++
    const payload = String(options.stdin)
    this.payloads.push(payload)
    return {
      code: 0,
      signal: null,
      stdout: '',
      stderr: '',
      timedOut: false,
      ...this.answer(payload, this.pushed)
    }
  }
  async putFile(_local: string, remote: string): Promise<void> {
    this.stats.channels++
    this.pushed.push(remote)
  }
  async close(): Promise<void> {
    this.closed = true
  }
}

const OK =
  'MX-PHASE preflight ok 12\nMX-PHASE package ok 300\nMX-PHASE files ok 5\nMX-PHASE service ok 40\nMX-PHASE ready ok 900\nMX-RESULT changed=1 restarted=1 ready=1 package=installed\n'

describe('onboardHost', () => {
  let dir: string
  let deb: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mx-onboard-'))
    deb = join(dir, 'istio-sidecar.deb')
    writeFileSync(deb, 'package bytes')
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const target = (host: FakeHost): HostTarget => ({ name: 'vm-1', connect: async () => host })

  test('pushes the package only when the host asks, then runs the bundle again', async () => {
    const host = new FakeHost((_payload, pushed) =>
      pushed.length === 0
        ? {
            code: 20,
            stdout:
              'MX-PHASE preflight ok 10\nMX-NEED push family=deb arch=amd64\nMX-PHASE package ok 1\n'
          }
        : { stdout: OK }
    )
    const result = await onboardHost(target(host), {
      files,
      version: '1.30.3',
      package: { kind: 'push', path: deb },
      commandTimeoutMs: 60_000,
      inlinePackageMaxBytes: 0
    })
    assert.equal(result.status, 'ok', JSON.stringify(result.error))
    assert.deepEqual(host.pushed, [
      '/var/tmp/mesh-expansion-' +
        (await import('node:crypto'))
          .createHash('sha256')
          .update('package bytes')
          .digest('hex')
          .slice(0, 16) +
        '.pkg'
    ])
    assert.equal(result.stats.channels, 3)
    assert.equal(result.changed && result.restarted && result.ready, true)
    assert.equal(result.package, 'installed')
    assert.deepEqual(
      result.phases.map(p => p.name),
      [
        'connect',
        'exec',
        'preflight',
        'package',
        'push',
        'exec',
        'preflight',
        'package',
        'files',
        'service',
        'ready'
      ]
    )
    assert.equal(host.closed, true)
  })

  test("auto-push: the runner fetches the official package for the host's arch into its cache, then pushes", async () => {
    const body = Buffer.from('official arm64 package')
    const sum = (await import('node:crypto')).createHash('sha256').update(body).digest('hex')
    const asked: string[] = []
    // no network in tests: the official URL is answered here
    const fakeFetch = (async (url: string | URL | Request) => {
      const text = String(url)
      asked.push(text)
      return new Response(text.endsWith('.sha256') ? `${sum}  istio-sidecar-arm64.deb\n` : body)
    }) as typeof fetch
    const host = new FakeHost((payload, pushed) =>
      pushed.length === 0
        ? { code: 20, stdout: 'MX-NEED push family=deb arch=arm64\n' }
        : {
            stdout: payload.includes(sum) ? OK : 'MX-FAIL package checksum: wrong\n',
            code: payload.includes(sum) ? 0 : 21
          }
    )
    const result = await onboardHost(target(host), {
      files,
      version: '1.30.3',
      package: {
        kind: 'auto-push',
        version: '1.30.3',
        cacheDir: join(dir, 'cache'),
        fetch: fakeFetch
      },
      commandTimeoutMs: 60_000,
      inlinePackageMaxBytes: 0
    })
    assert.equal(result.status, 'ok', JSON.stringify(result.error))
    assert.deepEqual(asked, [
      'https://storage.googleapis.com/istio-release/releases/1.30.3/deb/istio-sidecar-arm64.deb.sha256',
      'https://storage.googleapis.com/istio-release/releases/1.30.3/deb/istio-sidecar-arm64.deb'
    ])
    assert.deepEqual(host.pushed, [`/var/tmp/mesh-expansion-${sum.slice(0, 16)}.pkg`])
    assert.ok(result.phases.some(p => p.name === 'download'))
  })

  test('files given as a function are rendered after the connection, as their own phase', async () => {
    const order: string[] = []
    const host = new FakeHost(() => ({ stdout: OK }))
    const result = await onboardHost(
      {
        name: 'vm-1',
        connect: async () => {
          order.push('connect')
          return host
        }
      },
      {
        files: async () => {
          order.push('render')
          return files
        },
        version: '',
        package: { kind: 'none' },
        commandTimeoutMs: 5000
      }
    )
    assert.equal(result.status, 'ok')
    assert.deepEqual(order, ['connect', 'render'])
    assert.equal(result.phases[1]?.name, 'render')
    const failed = await onboardHost(target(new FakeHost(() => ({ stdout: OK }))), {
      files: async () => {
        throw new Error('TokenRequest refused: 403')
      },
      version: '',
      package: { kind: 'none' },
      commandTimeoutMs: 5000
    })
    assert.deepEqual(failed.error, { phase: 'render', message: 'TokenRequest refused: 403' })
    // a refusal is not diagnosed: not the control plane's, never tried again
    assert.equal(failed.diagnosis, undefined)
  })

  test("a render the control plane failed for a passing reason is diagnosed as the control plane's", async () => {
    const host = new FakeHost(() => ({ stdout: OK }))
    const message =
      'cannot reach the Kubernetes API at https://198.18.0.1:6443: UND_ERR_CONNECT_TIMEOUT Connect Timeout Error'
    const result = await onboardHost(target(host), {
      files: async () => {
        throw new ControlPlaneError(message)
      },
      version: '',
      package: { kind: 'none' },
      commandTimeoutMs: 5000
    })
    assert.equal(result.status, 'failed')
    assert.deepEqual(result.error, { phase: 'render', message })
    assert.deepEqual(result.diagnosis, { cause: 'control-plane', reason: message })
    // nothing ran on the host, and its connection was closed
    assert.equal(host.payloads.length, 0)
    assert.equal(host.closed, true)
  })

  test('a small pushed package travels inside the second exec: no SFTP, two channels', async () => {
    const host = new FakeHost((payload, pushed) => {
      assert.deepEqual(pushed, [])
      return payload.includes('MX_PKG_INLINE=1;')
        ? { stdout: OK }
        : { code: 20, stdout: 'MX-NEED push family=deb arch=amd64\n' }
    })
    const result = await onboardHost(target(host), {
      files,
      version: '1.30.3',
      package: { kind: 'push', path: deb },
      commandTimeoutMs: 60_000
    })
    assert.equal(result.status, 'ok', JSON.stringify(result.error))
    assert.equal(result.stats.channels, 2)
    assert.ok(!result.phases.some(p => p.name === 'push'))
    assert.match(
      host.payloads[1] ?? '',
      new RegExp(Buffer.from('package bytes').toString('base64'))
    )
  })

  test('an unchanged host costs one exec', async () => {
    const host = new FakeHost(() => ({
      stdout: OK.replace(/changed=1 restarted=1/, 'changed=0 restarted=0').replace(
        'installed',
        'unchanged'
      )
    }))
    const result = await onboardHost(target(host), {
      files,
      version: '1.30.3',
      package: { kind: 'push', path: deb },
      commandTimeoutMs: 60_000
    })
    assert.equal(result.status, 'ok')
    assert.equal(result.stats.channels, 1)
    assert.equal(result.changed, false)
    assert.equal(result.restarted, false)
  })

  test('an update rolled back on the host: failed, rolledBack, the previous sidecar ready', async () => {
    const host = new FakeHost(() => ({
      code: 42,
      stdout:
        'MX-PHASE preflight ok 1\nMX-LOG the new sidecar is not ready: putting back the previous one\nMX-RESULT changed=1 restarted=1 ready=1 package=installed rolledback=1\nMX-FAIL ready rolled-back: the new sidecar was not ready within 1s; the previous version is running again\nMX-PHASE ready fail 1000\n'
    }))
    const result = await onboardHost(target(host), {
      files,
      version: '',
      package: { kind: 'none' },
      commandTimeoutMs: 60_000
    })
    assert.equal(result.status, 'failed')
    assert.equal(result.rolledBack, true)
    assert.match(hostLine(result), /^✗ vm-1: rolled back to the previous sidecar after /)
    assert.deepEqual(result.error, {
      phase: 'ready',
      message:
        'rolled-back: the new sidecar was not ready within 1s; the previous version is running again'
    })
    // a plain failure is not a rollback
    const plain = await onboardHost(
      target(
        new FakeHost(() => ({
          code: 41,
          stdout:
            'MX-RESULT changed=1 restarted=1 ready=0 package=unchanged rolledback=0\nMX-FAIL ready ready: no\n'
        }))
      ),
      { files, version: '', package: { kind: 'none' }, commandTimeoutMs: 60_000 }
    )
    assert.equal(plain.status, 'failed')
    assert.equal(plain.rolledBack, false)
    assert.match(hostLine(plain), /^✗ vm-1: failed in ready /)
  })

  test('a failed check keeps its phase, message and log lines', async () => {
    const host = new FakeHost(() => ({
      code: 41,
      stdout:
        'MX-PHASE preflight ok 1\nMX-LOG istio.log: error cannot reach istiod\nMX-RESULT changed=1 restarted=1 ready=0 package=unchanged\nMX-FAIL ready ready: the sidecar was not ready on :15021 within 1s\nMX-PHASE ready fail 1000\n'
    }))
    const result = await onboardHost(target(host), {
      files,
      version: '',
      package: { kind: 'none' },
      commandTimeoutMs: 60_000
    })
    assert.equal(result.status, 'failed')
    assert.deepEqual(result.error, {
      phase: 'ready',
      message: 'ready: the sidecar was not ready on :15021 within 1s'
    })
    assert.deepEqual(result.logs, ['istio.log: error cannot reach istiod'])
    assert.equal(result.restarted, true)
    assert.equal(host.closed, true)
  })

  test('a connect error is the connect phase, with no connection counted', async () => {
    const result = await onboardHost(
      {
        name: 'vm-9',
        connect: async () => {
          throw new TransportError(
            'hostkey',
            'host key for 198.18.2.9 is SHA256:x which is not in known_hosts'
          )
        }
      },
      { files, version: '', package: { kind: 'none' }, commandTimeoutMs: 1000 }
    )
    assert.equal(result.status, 'failed')
    assert.equal(result.error?.phase, 'connect')
    assert.match(result.error?.message ?? '', /SHA256:x/)
    assert.equal(result.stats.connections, 0)
  })

  test('a timed out exec says so', async () => {
    const host = new FakeHost(() => ({
      code: -1,
      timedOut: true,
      stdout: 'MX-PHASE preflight ok 1\n'
    }))
    const result = await onboardHost(target(host), {
      files,
      version: '',
      package: { kind: 'none' },
      commandTimeoutMs: 5000
    })
    assert.equal(result.error?.phase, 'preflight')
    assert.match(result.error?.message ?? '', /did not finish within 5 s and was killed/)
  })

  test('uninstall sends the uninstall mode without files', async () => {
    const host = new FakeHost(() => ({
      stdout: 'MX-RESULT changed=1 restarted=0 ready=0 package=kept\n'
    }))
    const result = await uninstallHost(target(host), { keepPackage: true, commandTimeoutMs: 5000 })
    assert.equal(result.status, 'ok')
    assert.equal(result.package, 'kept')
    assert.match(host.payloads[0] ?? '', /install\.sh" uninstall /)
    assert.match(host.payloads[0] ?? '', /MX_KEEP_PACKAGE=1;/)
    assert.doesNotMatch(host.payloads[0] ?? '', /istio-token/)
  })
})

describe('parseRemoteOutput', () => {
  test('reads every kind of line and ignores the rest', () => {
    const report = parseRemoteOutput(
      'noise\nMX-PHASE files ok 17\nMX-FAIL preflight clock: off by 500s\nMX-FAIL preflight disk: only 3 MB free: need 200\nMX-NEED push family=rpm arch=arm64\nMX-LOG x: y\nMX-RESULT changed=0 restarted=0 ready=1 package=unchanged\n'
    )
    assert.deepEqual(report.phases, [{ name: 'files', ok: true, ms: 17 }])
    assert.deepEqual(report.failures, [
      { phase: 'preflight', check: 'clock', message: 'off by 500s' },
      { phase: 'preflight', check: 'disk', message: 'only 3 MB free: need 200' }
    ])
    assert.deepEqual(report.need, { family: 'rpm', arch: 'arm64' })
    assert.deepEqual(report.logs, ['x: y'])
    assert.deepEqual(report.result, {
      changed: false,
      restarted: false,
      ready: true,
      package: 'unchanged',
      rolledBack: false
    })
  })

  test('reads rolledback=1', () => {
    const report = parseRemoteOutput(
      'MX-RESULT changed=1 restarted=1 ready=1 package=installed rolledback=1\n'
    )
    assert.equal(report.result?.rolledBack, true)
  })
})
