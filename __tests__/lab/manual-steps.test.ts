// Acceptance test of the lab as a whole: the Istio docs' manual VM steps ("Virtual Machine
// Installation"), done by hand with plain OpenSSH scp/ssh against a lab VM, then a curl from the
// VM as the ordinary user to the echo service by its cluster DNS name. The answer must come
// through the sidecar stand-in (`server: envoy`) and the echo must see the VM's identity in
// x-forwarded-client-cert.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { labTestOptions } from '../helpers/lab.ts'
import { createLabCa, type LabCa } from '../../lab/pki.ts'
import { buildSidecarDeb } from '../../lab/mesh/deb.ts'
import { renderClusterEnv, renderHosts, renderMeshConfig } from '../../lab/mesh/files.ts'
import { startIstiod, type Istiod } from '../../lab/mesh/istiod.ts'
import { createLocalTokenAuthority } from '../../lab/mesh/tokens.ts'
import {
  BRIDGE_ADDRESS,
  GATEWAY_ADDRESS,
  downLab,
  runInVm,
  sshCommand,
  upLab,
  type LabVm
} from '../../lab/vms/index.ts'

interface Result {
  code: number
  stdout: string
  stderr: string
}

function exec(argv: string[], timeoutMs = 60_000): Promise<Result> {
  const [file, ...args] = argv
  return new Promise((resolve, reject) => {
    const child = spawn(file ?? 'false', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', code => {
      clearTimeout(timer)
      resolve({ code: code ?? 1, stdout, stderr })
    })
  })
}

/** One ssh per step, as a person following the docs would. */
async function ssh(vm: LabVm, command: string): Promise<string> {
  const result = await exec([...sshCommand(vm), command])
  assert.equal(result.code, 0, `ssh ${vm.name} "${command}" failed: ${result.stderr}`)
  return result.stdout
}

async function scp(vm: LabVm, files: string[]): Promise<void> {
  const result = await exec([
    'scp',
    '-q',
    '-i',
    vm.privateKeyPath,
    '-o',
    `UserKnownHostsFile=${vm.knownHostsPath}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-P',
    String(vm.sshPort),
    ...files,
    `${vm.user}@${vm.sshHost}:`
  ])
  assert.equal(result.code, 0, `scp failed: ${result.stderr}`)
}

const ECHO_PORT = 18080

describe('the Istio docs manual VM steps against the lab', labTestOptions(), () => {
  let ca: LabCa
  let istiod: Istiod | undefined
  let echo: Server | undefined
  let vm: LabVm
  let workdir: string
  const tokens = createLocalTokenAuthority()

  before(async () => {
    ca = await createLabCa()
    workdir = await mkdtemp(join(tmpdir(), 'mxmesh-manual-'))
    const lab = await upLab({ vms: 1 })
    const first = lab.vms[0]
    assert.ok(first, 'the lab has no VM')
    vm = first
    istiod = await startIstiod({
      host: GATEWAY_ADDRESS,
      port: 15012,
      ca,
      reviewer: tokens.reviewer,
      names: () => ({ 'echo.sample.svc.cluster.local': BRIDGE_ADDRESS }),
      heartbeatSeconds: 1
    })
    echo = createServer((req, res) => {
      const body = JSON.stringify({ path: req.url, headers: req.headers })
      res.writeHead(200, { 'content-type': 'application/json', server: 'echo' })
      res.end(body)
    })
    await new Promise<void>(resolve => echo?.listen(ECHO_PORT, BRIDGE_ADDRESS, resolve))
  })

  after(async () => {
    await istiod?.close()
    await new Promise(resolve => (echo ? echo.close(resolve) : resolve(undefined)))
    await downLab()
    if (workdir) await rm(workdir, { recursive: true, force: true })
  })

  test('files by hand, scp + ssh, systemctl start istio, curl through the sidecar', async () => {
    // The lab's VMs have no nameserver of their own (no route to the runner's); a real VM has
    // one, and DNS capture only redirects queries the kernel can route.
    await runInVm(
      vm,
      `printf 'nameserver ${BRIDGE_ADDRESS}\\noptions timeout:1 attempts:1\\n' > /etc/resolv.conf`
    )

    // On the runner: what `istioctl x workload entry configure` would write, and the package.
    const input = {
      workloadName: 'vm-app',
      namespace: 'vm',
      serviceAccount: 'vm-sa',
      istiodIp: GATEWAY_ADDRESS,
      inboundPorts: [8080],
      labels: { app: 'vm-app', version: 'v1' }
    }
    await writeFile(join(workdir, 'cluster.env'), renderClusterEnv(input))
    await writeFile(join(workdir, 'mesh.yaml'), renderMeshConfig(input))
    await writeFile(join(workdir, 'hosts'), renderHosts(input))
    await writeFile(join(workdir, 'root-cert.pem'), ca.certPem)
    await writeFile(
      join(workdir, 'istio-token'),
      tokens.mint({ namespace: 'vm', serviceAccount: 'vm-sa' })
    )
    const deb = await buildSidecarDeb(workdir, { version: '1.30.3' })
    await scp(
      vm,
      ['cluster.env', 'mesh.yaml', 'hosts', 'root-cert.pem', 'istio-token']
        .map(f => join(workdir, f))
        .concat(deb)
    )

    // On the VM: the docs' steps, one ssh each.
    await ssh(vm, 'sudo mkdir -p /etc/certs')
    await ssh(vm, 'sudo cp "${HOME}"/root-cert.pem /etc/certs/root-cert.pem')
    await ssh(vm, 'sudo mkdir -p /var/run/secrets/tokens')
    await ssh(vm, 'sudo cp "${HOME}"/istio-token /var/run/secrets/tokens/istio-token')
    await ssh(vm, 'sudo dpkg -i "${HOME}"/istio-sidecar.deb')
    await ssh(vm, 'sudo cp "${HOME}"/cluster.env /var/lib/istio/envoy/cluster.env')
    await ssh(vm, 'sudo cp "${HOME}"/mesh.yaml /etc/istio/config/mesh')
    await ssh(vm, "sudo sh -c 'cat $(eval echo ~$SUDO_USER)/hosts >> /etc/hosts'")
    await ssh(vm, 'sudo mkdir -p /etc/istio/proxy')
    await ssh(
      vm,
      'sudo chown -R istio-proxy /var/lib/istio /etc/certs /etc/istio/proxy /etc/istio/config /var/run/secrets /etc/certs/root-cert.pem'
    )
    await ssh(vm, 'sudo systemctl start istio')

    // Verify as the docs do: readiness, then the service by its cluster name.
    const deadline = Date.now() + 30_000
    let ready = ''
    while (Date.now() < deadline) {
      ready = (
        await exec([
          ...sshCommand(vm),
          'curl -s -o /dev/null -w "%{http_code}" localhost:15021/healthz/ready'
        ])
      ).stdout
      if (ready === '200') break
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    const log = await ssh(vm, 'sudo cat /var/log/istio/istio.log')
    assert.equal(ready, '200', `the sidecar did not become ready; istio.log:\n${log}`)
    assert.match(log, /pushed key\/cert pair/)
    assert.match(await ssh(vm, 'sudo iptables-save -t nat'), /-A ISTIO_OUTPUT .*-j ISTIO_REDIRECT/)
    assert.match(await ssh(vm, 'sudo ls /etc/certs'), /cert-chain\.pem\nkey\.pem\nroot-cert\.pem/)
    const connected = await istiod!.waitForProxy(p => p.ip === vm.address, 10_000)
    assert.equal(connected.spiffeId, 'spiffe://cluster.local/ns/vm/sa/vm-sa')

    const answer = await ssh(
      vm,
      `curl -sS -i --max-time 10 http://echo.sample.svc.cluster.local:${ECHO_PORT}/`
    )
    assert.match(answer, /^server: envoy\r$/m)
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as {
      headers: Record<string, string>
    }
    assert.match(
      body.headers['x-forwarded-client-cert'] ?? '',
      /URI=spiffe:\/\/cluster\.local\/ns\/vm\/sa\/vm-sa$/
    )

    await ssh(vm, 'sudo systemctl stop istio')
    assert.doesNotMatch(await ssh(vm, 'sudo iptables-save -t nat'), /ISTIO_/)
  })
})
