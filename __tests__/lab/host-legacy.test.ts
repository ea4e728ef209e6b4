// The host side of the generations before 1.8 on a lab VM: certificates instead of a token,
// sidecar.env, and (scripts-0.8) dnsmasq serving the control-plane names from kubedns. The lab
// istiod also serves as istio-pilot on 15011, so the sidecar stand-in really gets ready with the
// provisioned certificates; a second run changes nothing; uninstall takes everything back.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { labTestOptions } from '../helpers/lab.ts'
import { createLabCa, type LabCa } from '../../lab/pki.ts'
import { buildSidecarDeb } from '../../lab/mesh/deb.ts'
import { legacyPilotNames } from '../../lab/mesh/index.ts'
import { startIstiod, type Istiod } from '../../lab/mesh/istiod.ts'
import { createLocalTokenAuthority } from '../../lab/mesh/tokens.ts'
import {
  GATEWAY_ADDRESS,
  downLab,
  runInVm,
  upLab,
  type LabState,
  type LabVm
} from '../../lab/vms/index.ts'
import { renderScriptsClusterEnv } from '../../src/istio/legacy/scripts.ts'
import type { HostFiles } from '../../src/host/bundle.ts'
import { onboardHost, type HostResult, type HostTarget } from '../../src/host/onboard.ts'
import { connectSsh } from '../../src/host/ssh.ts'
import { uninstallHost } from '../../src/host/uninstall.ts'

const VERSION = '1.30.3'
const IDENTITY = 'spiffe://cluster.local/ns/vm/sa/legacy'
const KUBEDNS = `address=/istio-pilot/${GATEWAY_ADDRESS}\naddress=/istio-pilot.istio-system/${GATEWAY_ADDRESS}\n`
const BEGIN = '# BEGIN mesh-expansion (managed block: a re-run replaces it)'

describe('host side of the older generations on a lab VM', labTestOptions(), () => {
  let lab: LabState | undefined
  let ca: LabCa
  let istiod: Istiod | undefined
  let workdir: string
  let deb: string
  let files: HostFiles

  const vm = (): LabVm => {
    const found = lab?.vms[0]
    assert.ok(found, 'no lab VM')
    return found
  }

  async function target(): Promise<HostTarget> {
    const v = vm()
    const content = await readFile(v.knownHostsPath, 'utf8')
    return {
      name: v.name,
      connect: () =>
        connectSsh({
          host: v.sshHost,
          port: v.sshPort,
          user: v.user,
          privateKey: v.privateKey,
          hostKeys: { kind: 'known_hosts', content },
          connectTimeoutMs: 5000
        })
    }
  }

  const onboard = async (): Promise<HostResult> =>
    onboardHost(await target(), {
      files,
      version: VERSION,
      package: { kind: 'push', path: deb },
      commandTimeoutMs: 120_000,
      readyTimeoutSec: 45
    })

  async function inVm(command: string): Promise<string> {
    const r = await runInVm(vm(), command, { timeoutMs: 30_000 })
    assert.equal(r.code, 0, `${command}: ${r.stdout}${r.stderr}`)
    return r.stdout
  }

  const failed = (r: HostResult): string =>
    JSON.stringify({ status: r.status, error: r.error, logs: r.logs }, null, 1)

  before(async () => {
    ca = await createLabCa()
    workdir = await mkdtemp(join(tmpdir(), 'mx-host-legacy-'))
    deb = await buildSidecarDeb(workdir, { version: VERSION })
    // what machineCerts put on a VM: the istio.<sa> secret's three files
    const workload = await ca.issue({ commonName: 'legacy', uris: [IDENTITY] })
    files = {
      'cluster.env': renderScriptsClusterEnv({ form: '1.0', serviceCidr: '10.96.0.0/12' }),
      'mesh.yaml': '',
      hosts: '', // scripts-0.8: the names come from dnsmasq, not /etc/hosts
      'root-cert.pem': ca.certPem,
      'istio-token': '',
      'cert-chain.pem': workload.certPem,
      'key.pem': workload.keyPem,
      'sidecar.env': 'ISTIO_INBOUND_PORTS=8080\n',
      kubedns: KUBEDNS
    }
    lab = await upLab({ vms: 1, log: line => process.stderr.write(`${line}\n`) })
    istiod = await startIstiod({
      host: GATEWAY_ADDRESS,
      port: 15012,
      extraPorts: [15011],
      extraServerNames: legacyPilotNames(),
      ca,
      reviewer: createLocalTokenAuthority().reviewer,
      names: () => ({}),
      heartbeatSeconds: 1
    })
  })

  after(async () => {
    await istiod?.close()
    await downLab()
    if (workdir) await rm(workdir, { recursive: true, force: true })
  })

  test('onboards with certificates, sidecar.env and dnsmasq; the sidecar gets ready', async () => {
    // the image has dnsmasq installed but disabled: onboarding has to turn it on
    assert.equal(
      (await runInVm(vm(), 'systemctl is-enabled dnsmasq')).stdout.trim(),
      'disabled',
      'the lab image ships dnsmasq disabled'
    )
    assert.notEqual((await runInVm(vm(), 'getent hosts istio-pilot')).code, 0)

    const result = await onboard()
    assert.equal(result.status, 'ok', failed(result))
    assert.deepEqual([result.changed, result.restarted, result.ready], [true, true, true])
    assert.ok(
      result.phases.some(p => p.name === 'dnsmasq' && p.ok),
      JSON.stringify(result.phases)
    )

    assert.equal(
      await inVm(
        'stat -c "%n %U %a" /etc/certs/root-cert.pem /etc/certs/cert-chain.pem /etc/certs/key.pem /var/lib/istio/envoy/sidecar.env /etc/dnsmasq.d/kubedns'
      ),
      [
        '/etc/certs/root-cert.pem istio-proxy 644',
        '/etc/certs/cert-chain.pem istio-proxy 644',
        '/etc/certs/key.pem istio-proxy 600',
        '/var/lib/istio/envoy/sidecar.env root 644',
        '/etc/dnsmasq.d/kubedns root 644',
        ''
      ].join('\n')
    )
    assert.equal(await inVm('cat /var/lib/istio/envoy/sidecar.env'), 'ISTIO_INBOUND_PORTS=8080\n')
    assert.equal(await inVm('cat /etc/dnsmasq.d/kubedns'), KUBEDNS)
    assert.equal(
      await inVm(
        'ls /var/run/secrets/tokens/istio-token /var/lib/mesh-expansion/istio-token /etc/tmpfiles.d/mesh-expansion.conf 2>/dev/null | wc -l'
      ),
      '0\n',
      'no token anywhere'
    )

    // the host resolves through dnsmasq: our block first in resolv.conf
    const resolv = (await inVm('cat /etc/resolv.conf')).split('\n')
    assert.deepEqual(resolv.slice(0, 3), [BEGIN, 'nameserver 127.0.0.1', '# END mesh-expansion'])
    assert.equal(
      (await inVm('systemctl is-enabled dnsmasq; systemctl is-active dnsmasq')).trim(),
      'enabled\nactive'
    )
    assert.match(await inVm('getent hosts istio-pilot'), /^198\.18\.0\.2\s+istio-pilot$/m)
    assert.match(
      await inVm('getent hosts istio-pilot.istio-system'),
      /^198\.18\.0\.2\s+istio-pilot\.istio-system$/m
    )
    assert.doesNotMatch(await inVm('cat /etc/hosts'), /istio-pilot/, 'not from /etc/hosts')

    // the stand-in used the provisioned certificates and reached pilot by its dnsmasq name
    const log = await inVm('cat /var/log/istio/istio.log')
    assert.match(log, /using the provisioned certificates/)
    assert.match(log, /discoveryAddress=istio-pilot\.istio-system:15011/)
    const proxy = await istiod!.waitForProxy(() => true, 10_000)
    assert.equal(proxy.spiffeId, IDENTITY)
    assert.deepEqual(
      istiod!.events().filter(e => e.kind === 'certificate-issued'),
      [],
      'no CSR without a token'
    )
  })

  test('a second run changes and restarts nothing', async () => {
    const state = 'systemctl show -p MainPID -p NRestarts istio dnsmasq'
    const before = await inVm(state)
    const resolvBefore = await inVm('cat /etc/resolv.conf')
    const result = await onboard()
    assert.equal(result.status, 'ok', failed(result))
    assert.deepEqual(
      [result.changed, result.restarted, result.ready, result.package],
      [false, false, true, 'unchanged']
    )
    assert.equal(await inVm(state), before)
    assert.equal(await inVm('cat /etc/resolv.conf'), resolvBefore)
  })

  test('uninstall removes everything it placed; the names resolve no more', async () => {
    const result = await uninstallHost(await target(), {
      keepPackage: false,
      commandTimeoutMs: 60_000
    })
    assert.equal(result.status, 'ok', failed(result))
    assert.equal(result.changed, true)
    assert.equal(
      await inVm(
        'ls /etc/certs/root-cert.pem /etc/certs/cert-chain.pem /etc/certs/key.pem /var/lib/istio/envoy/sidecar.env /etc/dnsmasq.d/kubedns /var/lib/mesh-expansion 2>/dev/null | wc -l'
      ),
      '0\n'
    )
    assert.doesNotMatch(await inVm('cat /etc/resolv.conf'), /mesh-expansion|127\.0\.0\.1/)
    assert.notEqual((await runInVm(vm(), 'getent hosts istio-pilot')).code, 0)
    // dnsmasq itself stays (the package and its service are the host's)
    assert.equal((await runInVm(vm(), 'dpkg -s dnsmasq')).code, 0)
    // and a second uninstall finds nothing left to do
    const again = await uninstallHost(await target(), {
      keepPackage: false,
      commandTimeoutMs: 60_000
    })
    assert.deepEqual([again.status, again.changed], ['ok', false], failed(again))
  })
})
