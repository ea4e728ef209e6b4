// The manual procedure of the Istio docs, scripted the way the old setup scripts do it: host after
// host, `scp` per file and `ssh` per step (OpenSSH, strict host keys), and istioctl-like
// sequential API reads for each host's files. It ends where the product ends: the sidecar ready.
import { spawn } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { connect } from '../src/cluster/connection.ts'
import { prepareCluster } from '../src/cluster/prepare.ts'
import { mintToken, rootCert } from '../src/cluster/identity.ts'
import { registerWorkloadEntries } from '../src/cluster/registration.ts'
import { filesRenderer } from '../src/engine/files.ts'
import { LAB_SIDECAR_PACKAGE, type LabEnvironment } from '../lab/environment.ts'
import type { LabVm } from '../lab/vms/index.ts'
import { benchDescription } from './description.ts'
import { cpuBetween, cpuSnapshot } from './cpu.ts'
import { sshLogins } from '../lab/vms/logins.ts'
import { countApiRequests, toolRequests, type FleetRun } from './results.ts'

interface Counters {
  connections: number
  bytesSent: number
}

function run(argv: string[], timeoutMs: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', reject)
    child.once('close', code => {
      clearTimeout(timer)
      resolve({ code, stderr })
    })
  })
}

function sshOptions(env: LabEnvironment): string[] {
  return [
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${env.lab.knownHostsPath}`,
    '-o',
    'LogLevel=ERROR',
    '-i',
    env.lab.privateKeyPath
  ]
}

async function scp(
  env: LabEnvironment,
  vm: LabVm,
  file: string,
  bytes: number,
  c: Counters
): Promise<void> {
  c.connections++
  c.bytesSent += bytes
  const r = await run(
    ['scp', '-q', ...sshOptions(env), '-P', String(vm.sshPort), file, `${vm.user}@${vm.sshHost}:`],
    120_000
  )
  if (r.code !== 0) throw new Error(`${vm.name}: scp ${file}: exit ${r.code}: ${r.stderr.trim()}`)
}

/**
 * One `ssh` per step. Exit 255 is OpenSSH's own failure (the connection, not the command): a
 * session opened while the sidecar installs its capture can be cut, so, as a person would, the
 * step is tried again (at most 3 times; each try counts as a connection). Every step is idempotent.
 */
async function ssh(env: LabEnvironment, vm: LabVm, command: string, c: Counters): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    c.connections++
    c.bytesSent += command.length
    const r = await run(
      ['ssh', ...sshOptions(env), '-p', String(vm.sshPort), `${vm.user}@${vm.sshHost}`, command],
      120_000
    )
    if (r.code === 0) return
    if (r.code !== 255 || attempt === 3)
      throw new Error(`${vm.name}: ssh ${command}: exit ${r.code}: ${r.stderr.trim()}`)
  }
}

/** The docs' steps after the files are on the VM (home directory), one `ssh` each. */
export const DOCS_STEPS = [
  'sudo mkdir -p /etc/certs',
  'sudo cp root-cert.pem /etc/certs/root-cert.pem',
  'sudo mkdir -p /var/run/secrets/tokens',
  'sudo cp istio-token /var/run/secrets/tokens/istio-token',
  'sudo dpkg -i istio-sidecar.deb',
  'sudo cp cluster.env /var/lib/istio/envoy/cluster.env',
  'sudo cp mesh.yaml /etc/istio/config/mesh',
  "sudo sh -c 'cat hosts >> /etc/hosts'",
  'sudo mkdir -p /etc/istio/proxy',
  'sudo chown -R istio-proxy /var/lib/istio /etc/certs /etc/istio/proxy /etc/istio/config /var/run/secrets /etc/certs/root-cert.pem',
  'sudo systemctl start istio',
  // bounded: 240 tries, 0.5 s apart
  'for i in $(seq 1 240); do curl -sf -o /dev/null http://localhost:15021/healthz/ready && exit 0; sleep 0.5; done; exit 1'
] as const

export interface BaselineContext {
  env: LabEnvironment
  workdir: string
  rttMs: number
  log: (line: string) => void
}

/** Onboards `vms` (fresh) the manual way; throws when a host does not come up. */
export async function baselineRun(ctx: BaselineContext, vms: readonly LabVm[]): Promise<FleetRun> {
  const { env } = ctx
  const description = benchDescription(
    vms.map(vm => ({
      name: vm.name,
      address: vm.address,
      sshHost: vm.sshHost,
      sshPort: vm.sshPort
    })),
    LAB_SIDECAR_PACKAGE
  )
  const owner = `baseline-${vms.length}-${ctx.rttMs}`
  const counters: Counters = { connections: 0, bytesSent: 0 }
  const requestLog = env.cluster.requestLog
  const loginsBefore = await sshLogins(vms)
  const from = requestLog.mark()
  const packageBytes = (await readFile(LAB_SIDECAR_PACKAGE)).length
  const cpuBefore = await cpuSnapshot(vms)
  const started = process.hrtime.bigint()

  const connection = await connect({ kubeconfigPath: env.kubeconfigPath })
  let ready = 0
  try {
    const { client } = connection
    // Once for the fleet, as the docs do: namespace, service account, WorkloadGroup, and the
    // WorkloadEntries (kubectl apply).
    const prepared = await prepareCluster(client, description, { owner })
    const addresses = new Map(vms.map(vm => [vm.name, vm.address]))
    await registerWorkloadEntries(
      client,
      description,
      prepared.discovery,
      prepared.ownership,
      addresses
    )
    const render = filesRenderer(
      description,
      prepared.discovery,
      prepared.ownership,
      addresses,
      {
        rootCert: namespace => rootCert(client, namespace),
        token: (namespace, serviceAccount) =>
          mintToken(client, namespace, serviceAccount, { seconds: 3600, onSecret: () => undefined })
      },
      () => undefined
    )
    const istioNamespace = prepared.discovery.istioNamespace
    for (const vm of description.vms) {
      const labVm = vms.find(v => v.name === vm.name) as LabVm
      // istioctl x workload entry configure: its reads, one after the other
      await client.get({
        apiVersion: `networking.istio.io/${prepared.discovery.networkingVersion}`,
        kind: 'WorkloadGroup',
        namespace: 'vm',
        name: 'echo-vm'
      })
      await client.get({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        namespace: istioNamespace,
        name: 'istio-sidecar-injector'
      })
      await client.get({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        namespace: istioNamespace,
        name: 'istio'
      })
      await client.get({
        apiVersion: 'v1',
        kind: 'Service',
        namespace: istioNamespace,
        name: 'istio-eastwestgateway'
      })
      const files = await render(vm) // the root cert ConfigMap and a TokenRequest
      const dir = join(ctx.workdir, `baseline-${vm.name}`)
      await mkdir(dir, { recursive: true, mode: 0o700 })
      for (const [name, content] of Object.entries(files)) {
        const path = join(dir, name)
        await writeFile(path, content, { mode: 0o600 })
        await scp(env, labVm, path, Buffer.byteLength(content), counters)
      }
      await scp(env, labVm, LAB_SIDECAR_PACKAGE, packageBytes, counters)
      for (const step of DOCS_STEPS) await ssh(env, labVm, step, counters)
      ready++
      ctx.log(`baseline: ${vm.name} ready (${ready}/${vms.length})`)
    }
  } finally {
    await connection.close()
  }
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6
  const cpu = cpuBetween(cpuBefore, await cpuSnapshot(vms))
  const api = countApiRequests(toolRequests(requestLog.since(from)))
  const logins = (await sshLogins(vms)) - loginsBefore
  return {
    tool: 'baseline',
    hosts: vms.length,
    rttMs: ctx.rttMs,
    wallMs: Math.round(wallMs),
    ready,
    failed: vms.length - ready,
    sshLogins: logins,
    connectionsPerHost: counters.connections / Math.max(1, vms.length),
    channelsPerHost: counters.connections / Math.max(1, vms.length),
    bytesSent: counters.bytesSent,
    apiRequests: api.requests,
    apiWrites: api.writes,
    peakRssKiB: null,
    runnerCpuSec: null,
    ...cpu
  }
}
