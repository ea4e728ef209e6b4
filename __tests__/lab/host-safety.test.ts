// Safety on the hosts (issue 15), on real Debian VMs: the install script is a root program on
// ground it does not own. A hostile proxy user who swaps the token directory and plants symlinks
// at the temporary paths gains nothing on the next run (/etc and /root hashed before and after);
// a package whose bytes are not the pinned ones is refused on the host and nothing is installed;
// an update whose sidecar never becomes ready is rolled back to the old one, which serves again;
// two applies at once on one VM queue on the host's lock and leave the files of the last one.
// One VM per scenario: vm 1 hostile, vm 2 checksum then rollback, vm 3 concurrency.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'
import { labTestOptions } from '../helpers/lab.ts'
import { until } from '../helpers/wait.ts'
import {
  LAB_SIDECAR_PACKAGE,
  startLabEnvironment,
  type LabEnvironment
} from '../../lab/environment.ts'
import { buildSidecarDeb } from '../../lab/mesh/deb.ts'
import { BRIDGE_ADDRESS, runInVm, type LabVm } from '../../lab/vms/index.ts'
import { connect } from '../../src/cluster/connection.ts'
import { parseDescription, type Description } from '../../src/config/index.ts'
import type { RunReport } from '../../src/engine/report.ts'
import { apply, type EngineOptions } from '../../src/engine/run.ts'
import { pushedPackagePath } from '../../src/host/bundle.ts'
import type { HostResult } from '../../src/host/onboard.ts'
import { hostLine } from '../../src/report/terminal.ts'

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url))
/** The lab's cluster plays this Istio; the bad update claims the next patch release. */
const GOOD_VERSION = '1.30.3'
const BAD_VERSION = '1.30.4'
/** The good package is ready in 1-3 s; the bad update is given up on after this long. */
const READY_TIMEOUT_SEC = 45
const BAD_UPDATE_READY_TIMEOUT_SEC = 10
/** The paths that are the sidecar's own under /etc and /root: a run may change them. */
const SIDECAR_PATHS = [
  '/etc/certs',
  '/etc/istio',
  '/etc/hosts',
  '/etc/tmpfiles.d/mesh-expansion.conf',
  '/etc/systemd/system/multi-user.target.wants/istio.service'
]
/** Where the runner serves a package over HTTP to the VMs (on the lab's bridge). */
const PACKAGE_PORT = 18083
/** How many process ids after the current one get a planted temporary path. */
const PLANTED_PIDS = 5000

const ownPath = (path: string): boolean =>
  SIDECAR_PATHS.some(own => path === own || path.startsWith(`${own}/`))

/** Path -> type, owner, mode, link target and SHA-256 of every file under /etc and /root. */
type Snapshot = Map<string, string>

interface CliRun {
  name: string
  code: number
  output: string
  report: RunReport | undefined
  endedAt: number
}

describe('host safety on the lab VMs (issue 15)', labTestOptions(), () => {
  let env: LabEnvironment
  let connection: Awaited<ReturnType<typeof connect>>
  let workdir: string
  let neverReadyDeb: string
  let tamperedDeb: string
  let goodSha256: string

  before(async () => {
    env = await startLabEnvironment({ vms: 3 })
    connection = await connect({ kubeconfigPath: env.kubeconfigPath })
    workdir = await mkdtemp(join(tmpdir(), 'mx-host-safety-'))
    // an update that installs and starts, but whose agent never becomes ready
    neverReadyDeb = await buildSidecarDeb(workdir, {
      version: BAD_VERSION,
      readiness: 'never',
      fileName: 'istio-sidecar-never-ready.deb'
    })
    // the good package's version and files, one file more: a valid package, other bytes
    tamperedDeb = await buildSidecarDeb(workdir, {
      version: GOOD_VERSION,
      marker: 'tampered on the way\n',
      fileName: 'istio-sidecar-tampered.deb'
    })
    goodSha256 = createHash('sha256')
      .update(await readFile(LAB_SIDECAR_PACKAGE))
      .digest('hex')
  })

  after(async () => {
    await connection?.close()
    await env?.close()
    if (workdir) await rm(workdir, { recursive: true, force: true })
  })

  function vm(index: number): LabVm {
    const found = env.vms[index]
    assert.ok(found, `no lab VM #${index + 1}`)
    return found
  }

  /** One group `name` in namespace `vm` with one VM `name-1`; `run` goes into cluster.env. */
  function descriptionText(
    name: string,
    v: LabVm,
    more: { run?: string; sidecar?: string } = {}
  ): string {
    return `workloadGroups:
  - name: ${name}
    namespace: vm
    ports: {http: 8080}
    proxyConfig: {proxyMetadata: {MX_TEST_RUN: "${more.run ?? 'first'}"}}
    sidecar: ${more.sidecar ?? `{package: ${LAB_SIDECAR_PACKAGE}}`}
vms:
  - {name: ${name}-1, host: ${v.address}}
ssh: {user: ${v.user}}
`
  }

  function description(text: string): Description {
    const parsed = parseDescription(text, 'host-safety.yaml')
    if (!parsed.ok) throw new Error(parsed.errors.map(e => e.message).join('; '))
    return parsed.description
  }

  function options(owner: string, lines: string[], readyTimeoutSec: number): EngineOptions {
    return {
      owner,
      env: env.secrets,
      log: line => lines.push(line),
      warn: line => lines.push(`warning: ${line}`),
      onSecret: () => undefined,
      verify: false,
      readyTimeoutSec
    }
  }

  /** The engine's apply in this process; the report and its only host. */
  async function applyOnce(
    owner: string,
    text: string,
    readyTimeoutSec = READY_TIMEOUT_SEC
  ): Promise<{ report: RunReport; host: HostResult | undefined; why: string }> {
    const lines: string[] = []
    const report = await apply(
      description(text),
      connection,
      options(owner, lines, readyTimeoutSec)
    )
    const host = report.hosts[0]
    const why = [
      ...report.problems,
      JSON.stringify(host ? { status: host.status, error: host.error, logs: host.logs } : null),
      ...lines.slice(-30)
    ].join('\n')
    return { report, host, why }
  }

  async function inVm(
    v: LabVm,
    command: string,
    user?: string
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return runInVm(v, command, { timeoutMs: 60_000, ...(user ? { user } : {}) })
  }

  async function okInVm(v: LabVm, command: string): Promise<string> {
    const r = await inVm(v, command)
    assert.equal(r.code, 0, `${v.name}: ${command}: ${r.stderr}`)
    return r.stdout
  }

  const readyCode = async (v: LabVm): Promise<string> =>
    (
      await inVm(
        v,
        'curl -s -o /dev/null -w "%{http_code}" --max-time 2 http://127.0.0.1:15021/healthz/ready'
      )
    ).stdout

  /** Waits (bounded) for the sidecar on the VM to answer ready. */
  async function becomesReady(v: LabVm, timeoutMs: number): Promise<void> {
    await until(`${v.name} ready on :15021`, timeoutMs, async () => (await readyCode(v)) === '200')
  }

  const installedVersion = async (v: LabVm): Promise<string> =>
    (
      await inVm(
        v,
        "dpkg-query -W -f '${Status} ${Version}' istio-sidecar 2>/dev/null | sed -n 's/^install ok installed //p'"
      )
    ).stdout.trim()

  const clusterEnvRun = async (v: LabVm): Promise<string> =>
    (
      await inVm(
        v,
        "sed -n 's/^MX_TEST_RUN=//p' /var/lib/istio/envoy/cluster.env 2>/dev/null | tr -d \"'\""
      )
    ).stdout.trim()

  /** Every file under /etc and /root: type, owner, mode, link target, content hash. */
  async function snapshot(v: LabVm): Promise<Snapshot> {
    const out = await okInVm(
      v,
      "find /etc /root -xdev -printf '%p\\t%y %u:%g %m %l\\n'; echo '--hashes--'; " +
        'find /etc /root -xdev -type f -print0 | xargs -0 -r sha256sum'
    )
    const [meta = '', hashes = ''] = out.split('--hashes--\n')
    const files: Snapshot = new Map()
    for (const line of meta.split('\n')) {
      const tab = line.indexOf('\t')
      if (tab > 0) files.set(line.slice(0, tab), line.slice(tab + 1))
    }
    for (const line of hashes.split('\n')) {
      const m = /^([0-9a-f]{64}) {2}(.*)$/.exec(line)
      if (m?.[2] !== undefined) files.set(m[2], `${files.get(m[2]) ?? '?'} sha256:${m[1]}`)
    }
    return files
  }

  /** What changed between two snapshots, outside the sidecar's own paths. */
  function foreignChanges(before: Snapshot, after: Snapshot): string[] {
    const changes: string[] = []
    for (const path of new Set([...before.keys(), ...after.keys()])) {
      if (ownPath(path)) continue
      const [was, is] = [before.get(path), after.get(path)]
      if (was !== is) changes.push(`${path}: ${was ?? '(absent)'} -> ${is ?? '(absent)'}`)
    }
    return changes.sort()
  }

  test('a hostile proxy user (token dir swapped, temp paths planted) gains nothing from the next run', async () => {
    const v = vm(0)
    const first = await applyOnce('hostile', descriptionText('hostile', v))
    assert.equal(first.host?.status, 'ok', first.why)
    assert.equal(first.host?.ready, true, first.why)

    // root's own things the proxy user must never get: a directory and a file
    await okInVm(
      v,
      'install -d -o root -g root -m 755 /etc/mx-victim && ' +
        "printf 'root only\\n' > /etc/mx-victim/keep && chmod 644 /etc/mx-victim/keep && " +
        "printf 'root only\\n' > /etc/mx-victim-file && chmod 644 /etc/mx-victim-file"
    )
    const before = await snapshot(v)

    // as istio-proxy: the token directory becomes a link to root's directory...
    const swap = await inVm(
      v,
      'mv /var/run/secrets/tokens /var/run/secrets/tokens.away && ln -s /etc/mx-victim /var/run/secrets/tokens',
      'istio-proxy'
    )
    // ...and every temporary name the old script would use (<dest>.mx-tmp.<pid>) for the next
    // process ids links to root's file
    const plant = await inVm(
      v,
      `python3 - <<'EOF'
import os
last = int(open('/proc/sys/kernel/ns_last_pid').read())
planted, refused = 0, []
for dest in ('/var/lib/istio/envoy/cluster.env', '/etc/istio/config/mesh',
             '/etc/certs/root-cert.pem', '/var/lib/istio/envoy/sidecar.env'):
    try:
        for pid in range(last + 1, last + ${PLANTED_PIDS}):
            os.symlink('/etc/mx-victim-file', '%s.mx-tmp.%d' % (dest, pid))
            planted += 1
    except OSError as error:
        refused.append('%s: %s' % (dest, error.strerror))
print('planted %d after pid %d; refused: %s' % (planted, last, '; '.join(refused) or 'none'))
EOF`,
      'istio-proxy'
    )
    process.stderr.write(
      `hostile user: token dir swap ${swap.code === 0 ? 'succeeded' : `refused (${swap.stderr.trim()})`}; ${plant.stdout.trim()}\n`
    )
    if (swap.code !== 0) {
      // the first run left the proxy user no way to swap it (the fix): the state an older
      // version and a hostile user leave behind is made by root, so the next run still meets it
      await okInVm(
        v,
        'mv /var/run/secrets/tokens /var/run/secrets/tokens.away && ln -s /etc/mx-victim /var/run/secrets/tokens && ' +
          'chown -h istio-proxy:istio-proxy /var/run/secrets/tokens'
      )
    }

    // the next run (cluster.env changes, so it is written again; the token always is)
    const secondStarted = Date.now()
    const second = await applyOnce('hostile', descriptionText('hostile', v, { run: 'second' }))
    const outcome =
      second.host?.status === 'ok'
        ? 'repaired'
        : `refused: ${second.host?.error?.phase}: ${second.host?.error?.message}`
    process.stderr.write(
      `the run after the hostile user: ${outcome} in ${Date.now() - secondStarted} ms ` +
        `(host phases ${JSON.stringify(second.host?.phases.map(p => [p.name, p.ms]) ?? [])}; ` +
        `${second.host?.logs.length ?? 0} log lines)\n`
    )

    // what the hostile user tries next: replace root's file through the directory it was given
    const replace = await inVm(
      v,
      "printf 'owned\\n' > /etc/mx-victim/.swap && mv -f /etc/mx-victim/.swap /etc/mx-victim/keep",
      'istio-proxy'
    )
    const after = await snapshot(v)
    const changes = foreignChanges(before, after)
    process.stderr.write(
      `the proxy user's replacement of /etc/mx-victim/keep: ${replace.code === 0 ? 'succeeded' : 'refused'}; ` +
        `changed outside the sidecar's paths: ${changes.length === 0 ? 'nothing' : `\n  ${changes.join('\n  ')}`}\n`
    )
    assert.equal(
      (await okInVm(v, 'stat -c "%U:%G %a" /etc/mx-victim /etc/mx-victim-file')).trim(),
      'root:root 755\nroot:root 644',
      `root's directory and file keep their owner and mode; changes outside the sidecar's paths:\n${changes.join('\n')}`
    )
    assert.deepEqual(changes, [], `changed outside the sidecar's own paths (${outcome})`)
    assert.notEqual(replace.code, 0, "the proxy user replaced a file in root's directory")
    assert.equal(
      await okInVm(v, 'cat /etc/mx-victim/keep /etc/mx-victim-file'),
      'root only\n'.repeat(2)
    )

    // refused (nothing changed) or repaired: never an unrelated failure
    if (second.host?.status !== 'ok') {
      assert.match(second.host?.error?.message ?? '', /unsafe-path: /, second.why)
    } else {
      // repaired: real directories, the token directory root's, the token a file of the
      // proxy's in it. /var/run/secrets may be the proxy's again: the package's unit chowns it
      // at every start (ExecStartPre, as upstream's istio.service does), which is why every
      // run must meet it as hostile ground
      assert.match(
        await okInVm(
          v,
          'stat -c "%n %F %U %a" /var/run/secrets /var/run/secrets/tokens /var/run/secrets/tokens/istio-token'
        ),
        new RegExp(
          [
            '^/var/run/secrets directory (root|istio-proxy) 755',
            '/var/run/secrets/tokens directory root 755',
            '/var/run/secrets/tokens/istio-token regular file istio-proxy 600',
            '$'
          ].join('\n')
        )
      )
      assert.equal(await clusterEnvRun(v), 'second')
      assert.equal(
        (await okInVm(v, 'stat -c %F /var/lib/istio/envoy/cluster.env')).trim(),
        'regular file',
        'cluster.env is a file, not a planted link'
      )
    }
    // either way the sidecar serves (refused before any restart, or restarted and ready)
    await becomesReady(v, 30_000)
  })

  test('a package whose bytes are not the pinned ones is refused on the host; nothing installed', async () => {
    const v = vm(1)
    const nothingInstalled = async (when: string): Promise<void> => {
      assert.equal(await installedVersion(v), '', `${when}: istio-sidecar is installed`)
      assert.equal(
        await okInVm(
          v,
          'for f in /var/lib/istio/envoy/cluster.env /etc/istio/config/mesh /etc/certs/root-cert.pem ' +
            '/var/run/secrets/tokens/istio-token /etc/tmpfiles.d/mesh-expansion.conf /usr/local/bin/pilot-agent ' +
            '/usr/share/doc/istio-sidecar/lab-marker; do [ -e "$f" ] && echo "$f"; done; ' +
            'grep -l mesh-expansion /etc/hosts; getent passwd istio-proxy; true'
        ),
        '',
        `${when}: files placed`
      )
    }

    // pinned in the description (sidecar.sha256 of a URL): whoever is on the path serves
    // other bytes (a valid package of the same version, one file more)
    const tampered = await readFile(tamperedDeb)
    const server = createServer((req, res) => {
      if (req.url === '/istio-sidecar.deb') res.end(tampered)
      else {
        res.statusCode = 404
        res.end()
      }
    })
    await new Promise<void>(resolve => server.listen(PACKAGE_PORT, BRIDGE_ADDRESS, resolve))
    try {
      const pinned = await applyOnce(
        'rollback',
        descriptionText('rollback', v, {
          sidecar: `{package: "http://${BRIDGE_ADDRESS}:${PACKAGE_PORT}/istio-sidecar.deb", sha256: ${goodSha256}}`
        })
      )
      assert.equal(pinned.host?.status, 'failed', pinned.why)
      assert.equal(pinned.host?.error?.phase, 'package', pinned.why)
      assert.match(
        pinned.host?.error?.message ?? '',
        new RegExp(`checksum: .*${goodSha256}`),
        pinned.why
      )
    } finally {
      await new Promise(resolve => server.close(resolve))
    }
    await nothingInstalled('pinned sha256')

    // a package pushed by the runner, whose bytes on the host are not what the runner hashed:
    // at the path the package is pushed to, another user of the host put its own file, or the
    // SSH user's copy is not what was sent (a push cut short, replaced since)
    const planted = pushedPackagePath(goodSha256)
    for (const user of ['nobody', v.user]) {
      const plant = await runInVm(v, `cat > ${planted}`, {
        user,
        input: tampered,
        timeoutMs: 30_000
      })
      assert.equal(plant.code, 0, plant.stderr)
      const pushed = await applyOnce('rollback', descriptionText('rollback', v))
      await okInVm(v, `rm -f ${planted}`)
      process.stderr.write(
        `a pushed package replaced by ${user} on the host: ${pushed.host ? hostLine(pushed.host) : pushed.why}\n`
      )
      if (pushed.host?.status === 'ok') {
        // the host did not take the file it found there: it asked for the package again
        assert.equal(
          (await inVm(v, 'test -e /usr/share/doc/istio-sidecar/lab-marker')).code,
          1,
          `the tampered package was installed: ${pushed.why}`
        )
        assert.equal(await installedVersion(v), GOOD_VERSION)
        break
      }
      assert.equal(pushed.host?.error?.phase, 'package', pushed.why)
      // checked and refused, or refused before reading it (a file of someone else)
      assert.match(
        pushed.host?.error?.message ?? '',
        user === v.user ? /checksum: .*sha-?256/i : /checksum: .*sha-?256|unsafe-path: /i,
        pushed.why
      )
      await nothingInstalled(`a push replaced by ${user}`)
    }
  })

  test('an update whose sidecar never becomes ready is rolled back; the old one serves; a good run then succeeds', async () => {
    const v = vm(1)
    const good = await applyOnce('rollback', descriptionText('rollback', v))
    assert.equal(good.host?.status, 'ok', good.why)
    assert.equal(good.host?.ready, true, good.why)
    assert.equal(await installedVersion(v), GOOD_VERSION)

    const started = Date.now()
    const bad = await applyOnce(
      'rollback',
      descriptionText('rollback', v, {
        run: 'bad-update',
        sidecar: `{version: ${BAD_VERSION}, package: ${neverReadyDeb}}`
      }),
      BAD_UPDATE_READY_TIMEOUT_SEC
    )
    process.stderr.write(
      `bad update: ${bad.host ? hostLine(bad.host) : 'no host result'} (${Date.now() - started} ms)\n`
    )
    assert.equal(bad.report.ok, false, bad.why)
    assert.equal(bad.host?.status, 'failed', bad.why)
    assert.equal(bad.host?.error?.phase, 'ready', bad.why)
    assert.match(bad.host?.error?.message ?? '', /rolled.back/, bad.why)

    // the old sidecar again: its package, its agent, its files, serving
    await becomesReady(v, 30_000)
    assert.equal(await installedVersion(v), GOOD_VERSION)
    assert.match(await okInVm(v, '/usr/local/bin/pilot-agent version'), /version 1\.30\.3-lab/)
    assert.equal(await clusterEnvRun(v), 'first', 'cluster.env of the last good run')
    assert.equal(
      (await okInVm(v, 'systemctl is-active istio; systemctl is-enabled istio')).trim(),
      'active\nenabled'
    )
    assert.match(await okInVm(v, 'iptables-save -t nat'), /ISTIO_OUTPUT/)

    const again = await applyOnce('rollback', descriptionText('rollback', v, { run: 'third' }))
    assert.equal(again.host?.status, 'ok', again.why)
    assert.equal(again.host?.ready, true, again.why)
    assert.equal(await clusterEnvRun(v), 'third')
    assert.equal(await installedVersion(v), GOOD_VERSION)

    // last, the runner's side of it: the result and the report's line say rolled back
    assert.equal((bad.host as { rolledBack?: boolean } | undefined)?.rolledBack, true, bad.why)
    assert.match(hostLine(bad.host as HostResult), /rolled back/)
  })

  test('two applies at once on one VM: one waits for the other (or fails on the lock); the last one wins', async () => {
    const v = vm(2)
    /** The CLI in a process of its own, as two CI jobs would run it. */
    const cli = async (name: string): Promise<CliRun> => {
      const file = join(workdir, `race-${name}.yaml`)
      await writeFile(file, descriptionText('race', v, { run: name }))
      return new Promise(resolve => {
        execFile(
          process.execPath,
          [CLI, 'apply', '-c', file, '--kubeconfig', env.kubeconfigPath, '--json'],
          {
            timeout: 300_000,
            maxBuffer: 16 * 1024 * 1024,
            env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env.secrets }
          },
          (error, stdout, stderr) => {
            const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
            let report: RunReport | undefined
            try {
              report = JSON.parse(stdout) as RunReport
            } catch {
              report = undefined
            }
            resolve({ name, code, output: `${stdout}${stderr}`, report, endedAt: Date.now() })
          }
        )
      })
    }
    const runs = await Promise.all([cli('a'), cli('b')])
    const summary = runs
      .map(r => {
        const host = r.report?.hosts[0]
        return `${r.name}: exit ${r.code}, ${host ? hostLine(host) : r.output.slice(-2000)}; phases ${JSON.stringify(host?.phases ?? [])}; lock: ${JSON.stringify(host?.logs.filter(line => /wait|lock/i.test(line)) ?? [])}`
      })
      .join('\n')
    process.stderr.write(`${summary}\n`)
    for (const r of runs) {
      const host = r.report?.hosts[0]
      if (r.code === 0) {
        assert.equal(host?.status, 'ok', summary)
        assert.equal(host?.ready, true, summary)
      } else {
        // the only acceptable failure: it found the other run holding the host and said so
        assert.equal(host?.error?.phase, 'preflight', summary)
        assert.match(host?.error?.message ?? '', /^lock: /, summary)
      }
    }
    // one waited for the other on the host (the script says so), or gave up on the lock
    assert.ok(
      runs.some(
        r =>
          r.code !== 0 ||
          r.report?.hosts[0]?.logs.some(line => /waiting for another .*run/i.test(line))
      ),
      `neither run waited for the other:\n${summary}`
    )
    const succeeded = runs.filter(r => r.code === 0).sort((x, y) => x.endedAt - y.endedAt)
    const last = succeeded[succeeded.length - 1]
    assert.ok(last, `neither run succeeded:\n${summary}`)
    // consistent: the sidecar of the run that finished last, ready, nothing half-done
    assert.equal(await clusterEnvRun(v), last.name, summary)
    await becomesReady(v, 30_000)
    assert.equal(await installedVersion(v), GOOD_VERSION)
    assert.equal(await okInVm(v, 'dpkg --audit'), '', 'dpkg left half-configured')
    assert.equal(
      await okInVm(
        v,
        "find /etc /var/lib/istio /var/lib/mesh-expansion /var/run/secrets /tmp /var/tmp -xdev -name '*mx-tmp*' 2>/dev/null; true"
      ),
      '',
      'temporary files left'
    )
    assert.equal(
      (
        await inVm(
          v,
          'test ! -e /run/mesh-expansion.lock || flock -n /run/mesh-expansion.lock true'
        )
      ).code,
      0,
      'the lock is still held'
    )
  })
})
