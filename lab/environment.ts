// The whole lab as one call: VMs, the sandbox cluster, istiod, the sidecar package and an app on
// every VM. It is what `npm run demo` and the end-to-end tests start the product against.
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  debugConnections,
  echoScriptPath,
  startSandboxCluster,
  type SandboxCluster
} from './cluster/index.ts'
import { netnsAnnotation } from './cluster/index.ts'
import { connect } from '../src/cluster/connection.ts'
import { parseDescription } from '../src/config/index.ts'
import { apply } from '../src/engine/run.ts'
import { buildSidecarDeb } from './mesh/deb.ts'
import { serviceNamesFromApi, startLabIstiod, type LabIstiod } from './mesh/index.ts'
import { startClusterDns, type ClusterDns } from './mesh/clusterDns.ts'
import { startSniRouter, type SniRouter } from './mesh/sniRouter.ts'
import {
  addClusterAddress,
  BRIDGE_ADDRESS,
  CLUSTER_NETNS,
  downLab,
  GATEWAY_ADDRESS,
  RUN_DIR,
  runInVm,
  upLab,
  type LabState,
  type LabVm,
  type UpOptions
} from './vms/index.ts'

/** Where the environment puts the sidecar package: the example descriptions name this path. */
export const LAB_SIDECAR_PACKAGE = join(RUN_DIR, 'istio-sidecar.deb')
/** The port of the app every VM runs (the lab's echo server). */
export const LAB_APP_PORT = 8080

export interface LabEnvironment {
  lab: LabState
  /** The VMs the product onboards (the meshed pod's VM excluded). */
  vms: LabVm[]
  cluster: SandboxCluster
  /** The default revision's istiod stand-in. */
  istiod: LabIstiod
  /** The istiod stand-in of each revision of `moreRevisions`, by revision name. */
  revisionIstiods: ReadonlyMap<string, LabIstiod>
  /** The kubeconfig file (0600) of the sandbox cluster. */
  kubeconfigPath: string
  /** The secrets a description names: SSH_PRIVATE_KEY and SSH_KNOWN_HOSTS. */
  secrets: Record<'SSH_PRIVATE_KEY' | 'SSH_KNOWN_HOSTS', string>
  /** The VM that plays the meshed `sleep-mesh` pod, when asked for. */
  podVm: LabVm | undefined
  close(): Promise<void>
}

export type LabGeneration = 'modern' | 'scripts-0.8' | 'meshexpansion-1.1' | 'multinetwork-1.4'

/** The Istio release the sandbox seeds for each generation. */
export const LAB_GENERATION_VERSIONS: Readonly<Record<LabGeneration, string>> = {
  modern: '1.30.3',
  'scripts-0.8': '0.8.0',
  'meshexpansion-1.1': '1.1.0',
  'multinetwork-1.4': '1.4.0'
}

export interface LabEnvironmentOptions {
  vms: number
  latencyMs?: number
  /**
   * One more VM that plays a meshed pod (`pod/sample/app=sleep-mesh`): its requests leave through
   * a sidecar with the identity of the `sleep` service account, as an injected pod's do. The
   * product itself onboards it, under an owner of its own.
   */
  meshedPod?: boolean
  /**
   * Which Istio the sandbox plays (default modern): the older generations get pilot and
   * Citadel, their gateways or ILBs, the istiod stand-in also as istio-pilot on 15011, and for
   * scripts-0.8 a cluster DNS server at the dns-ilb address.
   */
  generation?: LabGeneration
  /**
   * More revisions installed beside the default one (modern only): each gets istiod-<rev> in the
   * cluster and an istiod stand-in of its own, and the gateway's 15012 routes by SNI as the
   * east-west gateway does for revisions (lab/mesh/sniRouter.ts).
   */
  moreRevisions?: readonly string[]
  /** The cluster's network (modern): the east-west gateway and istio-system carry it. */
  network?: string
  /** meshexpansion-1.1 / multinetwork-1.4: false seeds the ingress gateway without its meshExpansion ports */
  meshExpansionPorts?: boolean
  /**
   * Passed to upLab: Node 24 inside the VMs (a VM that plays the CI runner), bind mounts, and
   * per-VM specs (another sshd port, more host key types).
   */
  vmOptions?: Pick<UpOptions, 'nodeBinary' | 'binds' | 'vmSpecs'>
  log?: (line: string) => void
}

async function inVm(vm: LabVm, command: string, input?: string | Buffer): Promise<void> {
  const result = await runInVm(vm, command, {
    timeoutMs: 60_000,
    ...(input !== undefined ? { input } : {})
  })
  if (result.code !== 0)
    throw new Error(`${vm.name}: ${command}: exit ${result.code}: ${result.stderr}`)
}

/** What a real VM has before onboarding: a name server and an app listening on its port. */
async function prepareVm(vm: LabVm, echo: Buffer): Promise<void> {
  // The lab has no DNS server: names resolve through the sidecar's DNS capture, which only sees
  // queries that are routed, so the VM names a resolver as any real VM does.
  await inVm(
    vm,
    `printf 'nameserver ${BRIDGE_ADDRESS}\\noptions timeout:1 attempts:1\\n' > /etc/resolv.conf`
  )
  await inVm(vm, 'cat > /opt/echo.py', echo)
  await startLabApp(vm)
}

/** Starts the VM's app (/opt/echo.py) unless it runs: a transient unit, so also after a reboot. */
export async function startLabApp(vm: LabVm): Promise<void> {
  await inVm(
    vm,
    `systemctl is-active --quiet mx-echo || systemd-run --unit=mx-echo -p Restart=always python3 /opt/echo.py --host 0.0.0.0 --port ${LAB_APP_PORT} --name ${vm.name}`
  )
}

/** The meshed pod's VM is onboarded by the product, as its own small description. */
async function onboardMeshedPod(vm: LabVm, env: LabEnvironment, legacy: boolean): Promise<void> {
  // Before 1.8 a sidecar captures only the service CIDR; a pod's Envoy sends traffic for a VM's
  // registered endpoint through itself, which the stand-in does only for captured ranges: the
  // lab's VM subnet is captured too.
  const cluster = legacy
    ? `cluster:
  legacy:
    serviceCidrs: [198.19.0.0/16, 198.18.2.0/24]
`
    : ''
  const parsed = parseDescription(
    `${cluster}workloadGroups:
  - name: sleep-mesh
    namespace: sample
    serviceAccount: sleep
    labels: {app: sleep-mesh}
    service: {kind: none}
    sidecar: {package: ${LAB_SIDECAR_PACKAGE}}
vms:
  - name: ${vm.name}
    host: ${vm.address}
    user: ${vm.user}
`,
    'meshed-pod.yaml'
  )
  if (!parsed.ok) throw new Error(parsed.errors.map(e => e.message).join('; '))
  const connection = await connect({ kubeconfigPath: env.kubeconfigPath })
  try {
    const report = await apply(parsed.description, connection, {
      owner: 'lab-meshed-pod',
      env: env.secrets,
      log: () => undefined,
      warn: () => undefined,
      onSecret: () => undefined,
      verify: false
    })
    if (!report.ok)
      throw new Error(`the meshed pod's sidecar did not come up: ${report.problems.join('; ')}`)
  } finally {
    await connection.close()
  }
}

export async function startLabEnvironment(options: LabEnvironmentOptions): Promise<LabEnvironment> {
  const log = options.log ?? (() => undefined)
  const workdir = await mkdtemp(join(tmpdir(), 'mesh-expansion-env-'))
  let cluster: SandboxCluster | undefined
  let istiod: LabIstiod | undefined
  const revisionIstiods = new Map<string, LabIstiod>()
  let router: SniRouter | undefined
  let dns: ClusterDns | undefined
  const generation = options.generation ?? 'modern'
  const legacy = generation !== 'modern'
  // the package is shared with the lab's owner: only the environment that wrote it removes it
  // (a waiter that gave up on the lab's lease removed the running owner's copy mid-run)
  let wrotePackage = false
  const close = async (): Promise<void> => {
    await dns?.close()
    await router?.close()
    for (const revisioned of revisionIstiods.values()) await revisioned.close()
    await istiod?.close()
    await cluster?.close()
    await downLab()
    await rm(workdir, { recursive: true, force: true })
    if (wrotePackage) await rm(LAB_SIDECAR_PACKAGE, { force: true })
  }
  try {
    log(`lab: booting ${options.vms + (options.meshedPod ? 1 : 0)} VM(s)`)
    const lab = await upLab({
      vms: options.vms + (options.meshedPod ? 1 : 0),
      ...(options.latencyMs ? { latencyMs: options.latencyMs } : {}),
      ...options.vmOptions
    })
    log(`lab: VMs reachable after ${((lab.readyMs ?? 0) / 1000).toFixed(1)}s`)
    cluster = await startSandboxCluster({
      host: BRIDGE_ADDRESS,
      port: 6443,
      podNetns: CLUSTER_NETNS,
      ...(legacy ? { istioVersion: LAB_GENERATION_VERSIONS[generation] } : {}),
      ...(generation === 'multinetwork-1.4' ? { network: 'network1' } : {}),
      ...(options.network !== undefined ? { network: options.network } : {}),
      ...(options.meshExpansionPorts === false ? { meshExpansion: false } : {}),
      ...(options.moreRevisions
        ? {
            moreRevisions: options.moreRevisions.map(revision => ({
              revision,
              istioVersion: LAB_GENERATION_VERSIONS.modern
            }))
          }
        : {}),
      istiodDebug: (path, revision) => {
        const asked = revision === '' ? istiod : revisionIstiods.get(revision)
        return path === '/debug/connections' && asked
          ? debugConnections(asked.connectedProxies())
          : undefined
      }
    })
    const echoService = cluster.store.get('services', 'sample', 'echo') as {
      spec: { clusterIP: string }
    }
    await addClusterAddress(echoService.spec.clusterIP)
    if (options.moreRevisions?.length) {
      // each revision's istiod behind the gateway's 15012, told apart by SNI
      istiod = await startLabIstiod({ cluster, host: '127.0.0.1', port: 0 })
      for (const revision of options.moreRevisions)
        revisionIstiods.set(
          revision,
          await startLabIstiod({ cluster, host: '127.0.0.1', port: 0, revision })
        )
      router = await startSniRouter({
        host: GATEWAY_ADDRESS,
        port: 15012,
        route: name => {
          const revision = /^istiod-([a-z0-9-]+)\.istio-system\.svc(?:\.cluster\.local)?$/.exec(
            name ?? ''
          )?.[1]
          const target = (revision && revisionIstiods.get(revision)) || istiod
          return { host: '127.0.0.1', port: target?.port ?? 0 }
        }
      })
    } else {
      istiod = await startLabIstiod({
        cluster,
        host: GATEWAY_ADDRESS,
        ...(legacy ? { legacyPilot: true, autoRegistration: false } : {})
      })
    }
    if (generation === 'scripts-0.8') {
      // the dns-ilb of mesh-expansion.yaml: the VMs' dnsmasq sends *.svc.cluster.local here
      dns = await startClusterDns({
        host: GATEWAY_ADDRESS,
        names: serviceNamesFromApi({
          server: cluster.url,
          caPem: cluster.ca.certPem,
          token: cluster.adminToken
        })
      })
    }
    log(`lab: sandbox cluster at ${cluster.url}, istiod stand-in at ${GATEWAY_ADDRESS}:15012`)

    const deb = await buildSidecarDeb(workdir, { version: cluster.istioVersion })
    wrotePackage = true
    await copyFile(deb, LAB_SIDECAR_PACKAGE)
    const kubeconfigPath = join(workdir, 'kubeconfig')
    await writeFile(kubeconfigPath, cluster.kubeconfig, { mode: 0o600 })

    const echo = readFileSync(echoScriptPath)
    await Promise.all(lab.vms.map(vm => prepareVm(vm, echo)))
    const vms = options.meshedPod ? lab.vms.slice(0, options.vms) : lab.vms
    const env: LabEnvironment = {
      lab,
      vms,
      cluster,
      istiod,
      revisionIstiods,
      kubeconfigPath,
      secrets: {
        SSH_PRIVATE_KEY: lab.vms[0]?.privateKey ?? '',
        SSH_KNOWN_HOSTS: readFileSync(lab.knownHostsPath, 'utf8')
      },
      podVm: options.meshedPod ? lab.vms[options.vms] : undefined,
      close
    }
    if (options.meshedPod && env.podVm) {
      await onboardMeshedPod(env.podVm, env, legacy)
      cluster.store.put({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: 'sleep-mesh-0',
          namespace: 'sample',
          labels: { app: 'sleep-mesh' },
          annotations: { [netnsAnnotation]: env.podVm.netns, 'sidecar.istio.io/status': '{}' }
        },
        spec: {
          serviceAccountName: 'sleep',
          containers: [
            { name: 'sleep', image: 'curlimages/curl' },
            { name: 'istio-proxy', image: 'proxyv2' }
          ]
        },
        status: { phase: 'Running', podIP: env.podVm.address }
      })
      log(`lab: ${env.podVm.name} plays the meshed pod sample/sleep-mesh-0`)
    }
    return env
  } catch (error) {
    await close()
    throw error
  }
}
