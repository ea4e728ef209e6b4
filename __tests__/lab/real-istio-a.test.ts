// What a real Istio would refuse where the stand-ins used to agree with the product (issue 13,
// items 1, 5, 6, 7): istiod on a port other than 15012, a probed manual entry whose address is
// asked of its host (istiod 1.18+ refuses the XDS connection naming a missing entry), a host
// without `sudo` (a dependency of the package; istio-start.sh ends in `sudo -E -u istio-proxy`)
// and a multi-root bundle the agent rewrites with the CA's one root.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { labTestOptions } from '../helpers/lab.ts'
import {
  LAB_SIDECAR_PACKAGE,
  startLabEnvironment,
  type LabEnvironment
} from '../../lab/environment.ts'
import { startLabIstiod, type LabIstiod } from '../../lab/mesh/index.ts'
import { createLabCa } from '../../lab/pki.ts'
import { runInVm, type LabVm } from '../../lab/vms/index.ts'
import { parseDescription, type Description } from '../../src/config/index.ts'
import { connect } from '../../src/cluster/connection.ts'
import { apply, cleanup, type EngineOptions } from '../../src/engine/run.ts'
import type { RunReport } from '../../src/engine/report.ts'

const run = promisify(execFile)

/** A second gateway address on the lab's bridge, where only the istiod on 15013 listens. */
const OTHER_GATEWAY = '198.18.0.3'
const OTHER_PORT = 15013
/** A name the runner resolves (its /etc/hosts, for this file only) to the third VM. */
const NAMED_HOST = 'named-vm.mesh-expansion-lab.invalid'

describe('real Istio: what the stand-ins now refuse', labTestOptions(), () => {
  let env: LabEnvironment
  let connection: Awaited<ReturnType<typeof connect>>
  let hostsBefore = ''

  before(async () => {
    env = await startLabEnvironment({ vms: 4 })
    connection = await connect({ kubeconfigPath: env.kubeconfigPath })
  })
  after(async () => {
    if (hostsBefore) writeFileSync('/etc/hosts', hostsBefore)
    await connection?.close()
    await env?.close()
  })

  function vm(index: number): LabVm {
    const found = env.vms[index]
    assert.ok(found, `VM ${index}`)
    return found
  }

  /** One group `<name>-vm` in namespace `<name>` with the lab's package; `vms`: YAML lines. */
  function describeGroup(
    name: string,
    vms: string[],
    sshUser: string,
    more: { cluster?: string; group?: string } = {}
  ): Description {
    const parsed = parseDescription(
      `${more.cluster ? `cluster: ${more.cluster}\n` : ''}workloadGroups:
  - name: ${name}-vm
    namespace: ${name}
    ports: {http: 8080}
${more.group ? `    ${more.group}\n` : ''}    sidecar: {package: ${LAB_SIDECAR_PACKAGE}}
vms:
${vms.map(line => `  - ${line}`).join('\n')}
ssh: {user: ${sshUser}}
`,
      'real-istio.yaml'
    )
    if (!parsed.ok) throw new Error(parsed.errors.map(e => e.message).join('; '))
    return parsed.description
  }

  function options(owner: string, lines: string[], secrets = env.secrets): EngineOptions {
    return {
      owner,
      env: secrets,
      log: line => lines.push(line),
      warn: line => lines.push(`warning: ${line}`),
      onSecret: () => undefined
    }
  }

  function explain(report: RunReport, lines: string[]): string {
    return [...report.problems, ...lines.slice(-40)].join('\n')
  }

  async function inVm(v: LabVm, command: string): Promise<{ code: number; stdout: string }> {
    const result = await runInVm(v, command, { timeoutMs: 30_000 })
    return { code: result.code, stdout: result.stdout + result.stderr }
  }

  test('a host without sudo fails its preflight naming it and changes nothing; with sudo it passes', async () => {
    const [bare, full] = [vm(0), vm(1)]
    // root logs in itself (no sudo to become root), then sudo goes
    const prepared = await inVm(
      bare,
      'install -d -m 700 /root/.ssh && install -m 600 /home/mesh/.ssh/authorized_keys /root/.ssh/ && ' +
        'SUDO_FORCE_REMOVE=yes dpkg --purge --force-depends sudo >/dev/null && ! command -v sudo'
    )
    assert.equal(prepared.code, 0, prepared.stdout)
    const d = describeGroup(
      'deps',
      [`{name: bare, host: ${bare.address}, user: root}`, `{name: full, host: ${full.address}}`],
      full.user
    )
    const lines: string[] = []
    const report = await apply(d, connection, options('deps', lines))
    const byHost = new Map(report.hosts.map(h => [h.host, h]))
    assert.equal(byHost.get('full')?.ready, true, explain(report, lines))
    const failed = byHost.get('bare')
    assert.equal(failed?.status, 'failed', explain(report, lines))
    assert.equal(failed?.error?.phase, 'preflight')
    assert.match(failed?.error?.message ?? '', /depends: the sidecar package needs sudo\b/)
    const untouched = await inVm(
      bare,
      'dpkg -s istio-sidecar >/dev/null 2>&1 && echo installed; ' +
        'ls /var/lib/istio /etc/certs /var/lib/mesh-expansion 2>/dev/null; ' +
        'grep -c mesh-expansion /etc/hosts; true'
    )
    assert.equal(untouched.stdout.trim(), '0', untouched.stdout)
    const gone = await cleanup(d, connection, options('deps', []))
    assert.ok(gone.ok, gone.problems.join('\n'))
  })

  test('a probed manual entry whose address is asked of its host is registered before its sidecar starts', async () => {
    const named = vm(2)
    // the SSH host is a name: the mesh address is asked of the host once connected
    hostsBefore = readFileSync('/etc/hosts', 'utf8')
    writeFileSync('/etc/hosts', `${hostsBefore}${named.address} ${NAMED_HOST}\n`)
    const line = env.secrets.SSH_KNOWN_HOSTS.split('\n').find(l =>
      l.startsWith(`${named.address} `)
    )
    assert.ok(line, 'known_hosts line of the VM')
    const secrets = {
      ...env.secrets,
      SSH_KNOWN_HOSTS: `${env.secrets.SSH_KNOWN_HOSTS.trimEnd()}\n${line.replace(named.address, NAMED_HOST)}\n`
    }
    const d = describeGroup('probed', [`{name: probed-1, host: ${NAMED_HOST}}`], named.user, {
      group: 'probe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 2}'
    })
    const lines: string[] = []
    const report = await apply(d, connection, options('probed', lines, secrets))
    const host = report.hosts.find(h => h.host === 'probed-1')
    assert.equal(host?.ready, true, explain(report, lines))
    const entry = env.cluster.store.get(
      'workloadentries.networking.istio.io',
      'probed',
      'probed-1'
    ) as { spec?: { address?: string } } | undefined
    assert.equal(entry?.spec?.address, named.address)
    const refused = env.istiod
      .events()
      .filter(e => e.kind === 'rejected' && /WorkloadEntry probed\/probed-1/.test(e.detail ?? ''))
    assert.deepEqual(refused, [], 'istiod never refused the proxy')
    const gone = await cleanup(d, connection, options('probed', [], secrets))
    assert.ok(gone.ok, gone.problems.join('\n'))
    writeFileSync('/etc/hosts', hostsBefore)
    hostsBefore = ''
  })

  test('a root bundle the agent rewrites with its CA root: the re-run is unchanged and does not restart', async () => {
    const v = vm(1)
    // a second root next to the mesh's: the agent writes back only the CA's own
    const other = await createLabCa('another root of the bundle')
    env.cluster.store.put(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bundle' } },
      { manager: 'test' }
    )
    env.cluster.store.put(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'istio-ca-root-cert', namespace: 'bundle' },
        data: { 'root-cert.pem': env.cluster.ca.certPem + other.certPem }
      },
      { manager: 'test' }
    )
    const d = describeGroup('bundle', [`{name: bundle-1, host: ${v.address}}`], v.user)
    const lines: string[] = []
    const first = await apply(d, connection, options('bundle', lines))
    assert.equal(first.hosts[0]?.ready, true, explain(first, lines))
    // the agent replaced the bundle with the CA's one root, 0600
    const written = await inVm(
      v,
      'stat -c %a /etc/certs/root-cert.pem; grep -c BEGIN /etc/certs/root-cert.pem'
    )
    assert.deepEqual(written.stdout.trim().split('\n'), ['600', '1'], written.stdout)
    const again = await apply(d, connection, options('bundle', lines))
    assert.equal(again.hosts[0]?.ready, true, explain(again, lines))
    assert.equal(again.hosts[0]?.changed, false, explain(again, lines))
    assert.equal(again.hosts[0]?.restarted, false)
    const gone = await cleanup(d, connection, options('bundle', []))
    assert.ok(gone.ok, gone.problems.join('\n'))
  })

  test('istiod on another address and port than 15012: the VM gets its certificate and XDS there', async () => {
    const v = vm(3)
    await run('ip', ['addr', 'add', `${OTHER_GATEWAY}/32`, 'dev', env.lab.bridge])
    let istiod: LabIstiod | undefined
    try {
      istiod = await startLabIstiod({
        cluster: env.cluster,
        host: OTHER_GATEWAY,
        port: OTHER_PORT,
        autoRegistration: false
      })
      const d = describeGroup('port', [`{name: port-1, host: ${v.address}}`], v.user, {
        cluster: `{istiodAddress: '${OTHER_GATEWAY}:${OTHER_PORT}'}`
      })
      const lines: string[] = []
      const report = await apply(d, connection, options('port', lines))
      assert.equal(report.hosts[0]?.ready, true, explain(report, lines))
      const proxy = await istiod.waitForProxy(p => p.ip === v.address, 10_000)
      assert.equal(proxy.namespace, 'port')
      assert.ok(
        istiod.events().some(e => e.kind === 'certificate-issued'),
        'the certificate came from the istiod on the other port'
      )
      const env_ = await inVm(v, 'cat /var/lib/istio/envoy/cluster.env /etc/hosts')
      assert.match(env_.stdout, /^PILOT_ADDRESS='?istiod\.istio-system\.svc:15013'?$/m)
      assert.match(env_.stdout, /^198\.18\.0\.3\s+istiod\.istio-system\.svc$/m)
      const gone = await cleanup(d, connection, options('port', []))
      assert.ok(gone.ok, gone.problems.join('\n'))
    } finally {
      await istiod?.close()
      await run('ip', ['addr', 'del', `${OTHER_GATEWAY}/32`, 'dev', env.lab.bridge]).catch(
        () => undefined
      )
    }
  })
})
