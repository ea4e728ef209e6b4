// The cluster side of the checks over @kubernetes/client-node (loaded lazily): exec in pods
// (kubectl exec), istiod's /debug/connections through the API server's service proxy, the
// WorkloadEntry's Healthy condition, and the temporary PeerAuthentication.
import { request as httpRequest } from 'node:http'
import { request as httpsRequest, type RequestOptions } from 'node:https'
import { Writable } from 'node:stream'
import type { KubeConfig } from '@kubernetes/client-node'
import type { ClusterClient, KubeObject } from '../cluster/types.ts'
import { errorMessage } from '../util/errors.ts'
import type {
  CannotTell,
  ConnectedProxy,
  ControlPlane,
  PodRef,
  PodShell,
  PolicyClient,
  ShellResult,
  WorkloadEntryHealth
} from './types.ts'

type ClientNode = typeof import('@kubernetes/client-node')
let loaded: Promise<ClientNode> | undefined
function clientNode(): Promise<ClientNode> {
  loaded ??= import('@kubernetes/client-node')
  return loaded
}

export interface KubeVerifyOptions {
  /** For WorkloadEntries and the PeerAuthentication (apply, get, delete). */
  client: ClusterClient
  istioNamespace: string
  /** istiod's Service: `istiod` or `istiod-<revision>`. */
  istiodService: string
  /** The revision of istiod ('' or 'default': the default one), to find its pods. */
  istiodRevision?: string
  /** istiod's monitoring port, where /debug is served (15014). */
  monitoringPort?: number
  /** apiVersion of WorkloadEntry (networking.istio.io/v1 or v1beta1...). */
  networkingApiVersion: string
  /** apiVersion of PeerAuthentication, as given to runChecks (default security.istio.io/v1beta1). */
  securityApiVersion?: string
  /** One API request (list, proxy GET) may take this long (default 15 s). */
  requestTimeoutMs?: number
}

export interface KubeVerifyClients {
  pods: PodShell
  controlPlane: ControlPlane
  policy: PolicyClient
}

export interface PodLike {
  metadata?: {
    name?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    deletionTimestamp?: unknown
  }
  spec?: {
    serviceAccountName?: string
    containers?: Array<{ name?: string }>
    initContainers?: Array<{ name?: string }>
  }
  status?: { phase?: string; podIP?: string }
}

/**
 * The istiod pods of one revision ('' or `default`: the default one). Helm labels every istiod
 * pod `istio.io/rev` (`default` without a revision) since revisions came (1.6); pods without the
 * label (older installs) all count, as there is only one control plane then.
 */
export function ofRevision<T extends PodLike>(pods: readonly T[], revision: string): T[] {
  const wanted = revision === '' ? 'default' : revision
  if (!pods.some(p => p.metadata?.labels?.['istio.io/rev'] !== undefined)) return [...pods]
  return pods.filter(p => (p.metadata?.labels?.['istio.io/rev'] ?? 'default') === wanted)
}

/** What the checks need of a pod object. */
export function podRefOf(pod: PodLike): PodRef | null {
  const name = pod.metadata?.name
  if (!name) return null
  const containers = (pod.spec?.containers ?? []).map(c => c.name ?? '')
  const init = (pod.spec?.initContainers ?? []).map(c => c.name ?? '')
  const annotations = pod.metadata?.annotations ?? {}
  const preferred = annotations['kubectl.kubernetes.io/default-container']
  const container =
    preferred && containers.includes(preferred)
      ? preferred
      : (containers.find(c => c !== 'istio-proxy') ?? containers[0] ?? '')
  return {
    name,
    container,
    serviceAccount: pod.spec?.serviceAccountName || 'default',
    injected:
      containers.includes('istio-proxy') ||
      init.includes('istio-proxy') ||
      annotations['sidecar.istio.io/status'] !== undefined,
    ...(pod.status?.podIP ? { ip: pod.status.podIP } : {})
  }
}

/** The first running pod (not being deleted) of a list, as a PodRef. */
export function pickPod(pods: PodLike[]): PodRef | null {
  const running = pods.filter(
    p => p.status?.phase === 'Running' && p.metadata?.deletionTimestamp == null
  )
  for (const pod of running) {
    const ref = podRefOf(pod)
    if (ref) return ref
  }
  return null
}

/** istiod's /debug/connections JSON (`{totalClients, clients: [{connectionId, address}]}`). */
export function parseDebugConnections(json: unknown): ConnectedProxy[] {
  if (typeof json !== 'object' || json === null) {
    throw new Error('istiod /debug/connections did not answer with a JSON object')
  }
  const clients = (json as { clients?: unknown }).clients ?? []
  if (!Array.isArray(clients)) throw new Error('istiod /debug/connections: clients is not a list')
  const out: ConnectedProxy[] = []
  for (const c of clients as Array<{ connectionId?: unknown; address?: unknown }>) {
    const connectionId = typeof c.connectionId === 'string' ? c.connectionId : ''
    const address = typeof c.address === 'string' ? c.address : ''
    // connection IDs are `<proxy ID>-<counter>`
    const id = connectionId.replace(/-\d+$/, '')
    const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(address)
    const ip = v6 ? (v6[1] ?? '') : address.replace(/:\d+$/, '')
    out.push({ id, ip })
  }
  return out
}

/** The Healthy condition of a WorkloadEntry object (null: it does not exist). */
export function workloadEntryHealthOf(object: unknown): WorkloadEntryHealth {
  if (object === null || object === undefined) return { state: 'missing' }
  const conditions = (object as { status?: { conditions?: unknown } }).status?.conditions
  if (!Array.isArray(conditions)) return { state: 'unknown' }
  const healthy = (
    conditions as Array<{ type?: string; status?: string; reason?: string; message?: string }>
  ).find(c => c.type === 'Healthy')
  if (!healthy) return { state: 'unknown' }
  if (healthy.status === 'True') return { state: 'healthy' }
  if (healthy.status === 'False') {
    return { state: 'unhealthy', reason: healthy.reason ?? '', message: healthy.message ?? '' }
  }
  return { state: 'unknown' }
}

class Collector extends Writable {
  text = ''
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    if (this.text.length < 1_000_000) this.text += chunk.toString('utf8')
    done()
  }
}

interface StatusLike {
  status?: string
  message?: string
  reason?: string
  details?: { causes?: Array<{ reason?: string; message?: string }> }
}

/** Exit code of an exec from its final Status (Success = 0). */
export function execExitCode(status: StatusLike | undefined): { code: number; message?: string } {
  if (!status) return { code: -1, message: 'the exec ended without a status' }
  if (status.status === 'Success') return { code: 0 }
  const exit = status.details?.causes?.find(c => c.reason === 'ExitCode')?.message
  if (exit !== undefined && /^\d+$/.test(exit)) return { code: Number(exit) }
  const message = status.message ?? status.reason ?? 'exec failed'
  // the runtime's "executable file not found": like a shell's 127
  return { code: /not found|no such file/i.test(message) ? 127 : 126, message }
}

async function getJson(kc: KubeConfig, path: string, timeoutMs: number): Promise<unknown> {
  const server = kc.getCurrentCluster()?.server
  if (!server) throw new Error('the kubeconfig names no server')
  const url = new URL(path, server.endsWith('/') ? server : `${server}/`)
  const options: RequestOptions = {
    method: 'GET',
    headers: { accept: 'application/json' },
    timeout: timeoutMs
  }
  await kc.applyToHTTPSOptions(options)
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest
  return new Promise((resolve, reject) => {
    const req = send(url, options, res => {
      let body = ''
      res.on('data', (chunk: Buffer) => {
        if (body.length < 4_000_000) body += chunk.toString('utf8')
      })
      res.on('end', () => {
        const code = res.statusCode ?? 0
        if (code < 200 || code >= 300) {
          reject(
            Object.assign(new Error(`GET ${url.pathname}: HTTP ${code} ${body.slice(0, 300)}`), {
              statusCode: code
            })
          )
          return
        }
        try {
          resolve(JSON.parse(body))
        } catch {
          reject(new Error(`GET ${url.pathname}: not JSON: ${body.slice(0, 200)}`))
        }
      })
    })
    req.on('timeout', () =>
      req.destroy(new Error(`GET ${url.pathname}: no answer in ${timeoutMs} ms`))
    )
    req.on('error', reject)
    req.end()
  })
}

/** kubectl exec: the exit code from the final Status; -1 when the exec itself failed. */
async function execInPod(
  kc: KubeConfig,
  namespace: string,
  pod: string,
  container: string,
  argv: string[],
  execTimeoutMs: number
): Promise<ShellResult> {
  const k8s = await clientNode()
  const stdout = new Collector()
  const stderr = new Collector()
  let status: StatusLike | undefined
  return new Promise<ShellResult>(resolve => {
    let settled = false
    let socket: { close(): void } | undefined
    const finish = (result: ShellResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(result)
    }
    const timer = setTimeout(() => {
      socket?.close()
      finish({
        code: -1,
        stdout: stdout.text,
        stderr: `${stderr.text}exec timed out after ${execTimeoutMs} ms`
      })
    }, execTimeoutMs)
    new k8s.Exec(kc)
      .exec(namespace, pod, container, argv, stdout, stderr, null, false, s => {
        status = s as StatusLike
      })
      .then(ws => {
        socket = ws
        ws.on('close', () => {
          const exit = execExitCode(status)
          finish({
            code: exit.code,
            stdout: stdout.text,
            stderr: stderr.text + (exit.message ? `${exit.message}\n` : '')
          })
        })
      })
      .catch((error: unknown) =>
        finish({
          code: -1,
          stdout: '',
          stderr: `exec in ${namespace}/${pod} failed: ${errorMessage(error)}`
        })
      )
  })
}

export function createKubeVerifyClients(
  kc: KubeConfig,
  options: KubeVerifyOptions
): KubeVerifyClients {
  const timeoutMs = options.requestTimeoutMs ?? 15_000
  const pods: PodShell = {
    async findPod(namespace, selector) {
      const path =
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?labelSelector=` +
        encodeURIComponent(selector)
      const list = (await getJson(kc, path, timeoutMs)) as { items?: PodLike[] }
      return pickPod(list.items ?? [])
    },
    exec: (namespace, pod, container, argv, execTimeoutMs) =>
      execInPod(kc, namespace, pod, container, argv, execTimeoutMs)
  }
  /** `pilot-discovery request GET /debug/connections` in every running istiod pod, merged. */
  async function connectionsOnLocalhost(
    refused: string
  ): Promise<ConnectedProxy[] | null | CannotTell> {
    const rev = options.istiodRevision ?? ''
    const selector = `app=istiod${rev !== '' && rev !== 'default' ? `,istio.io/rev=${rev}` : ''}`
    const ns = options.istioNamespace
    const cannot = (why: string): CannotTell => ({
      cannotTell: `istiod answers ${refused} to /debug/connections through the API server (from 1.11 it serves it only to localhost or an authenticated caller), and ${why}`
    })
    let istiods: PodLike[]
    try {
      const path = `/api/v1/namespaces/${encodeURIComponent(ns)}/pods?labelSelector=${encodeURIComponent(selector)}`
      istiods = ((await getJson(kc, path, timeoutMs)) as { items?: PodLike[] }).items ?? []
    } catch (error) {
      return cannot(`its pods cannot be listed: ${errorMessage(error)}`)
    }
    const running = ofRevision(
      istiods.filter(p => p.status?.phase === 'Running' && p.metadata?.name),
      rev
    )
    if (running.length === 0) return cannot(`no running pod matches ${selector} in ${ns}`)
    const all: ConnectedProxy[] = []
    for (const pod of running) {
      const name = pod.metadata?.name ?? ''
      // each replica lists only the proxies connected to it
      const argv = ['pilot-discovery', 'request', 'GET', '/debug/connections']
      const r = await execInPod(kc, ns, name, 'discovery', argv, timeoutMs)
      if (r.code !== 0) {
        const why = r.stderr.trim().split('\n').slice(-1)[0] ?? ''
        return cannot(
          `\`${argv.join(' ')}\` in ${ns}/${name} failed (exit ${r.code}: ${why}; needs create on pods/exec in ${ns})`
        )
      }
      if (/^404 page not found/.test(r.stdout.trim())) return null
      try {
        all.push(...parseDebugConnections(JSON.parse(r.stdout)))
      } catch (error) {
        return cannot(`${ns}/${name} answered something else: ${errorMessage(error)}`)
      }
    }
    return all
  }
  // Every VM's "connected to istiod" check asks istiod for the same list; from 1.11 each ask
  // is an exec in every istiod pod. Checks running at the same moment share one ask (single
  // flight); a check that starts after it ended (a retry) asks again, so nothing goes stale.
  let inFlight: Promise<ConnectedProxy[] | null | CannotTell> | undefined
  async function askConnectedProxies(): Promise<ConnectedProxy[] | null | CannotTell> {
    const service = `${options.istiodService}:${options.monitoringPort ?? 15014}`
    const path =
      `/api/v1/namespaces/${encodeURIComponent(options.istioNamespace)}/services/` +
      `${encodeURIComponent(service)}/proxy/debug/connections`
    try {
      return parseDebugConnections(await getJson(kc, path, timeoutMs))
    } catch (error) {
      const code = (error as { statusCode?: number }).statusCode
      // no such Service or debug endpoint (pilot before 1.5...): the check says it cannot tell
      if (code === 404) return null
      // istiod 1.11+ serves /debug only to localhost or an authenticated caller, and the API
      // server's proxy is neither: ask on localhost, in istiod's own pods
      if (code === 401 || code === 403) return connectionsOnLocalhost(`HTTP ${code}`)
      throw error
    }
  }
  const controlPlane: ControlPlane = {
    connectedProxies() {
      inFlight ??= askConnectedProxies().finally(() => {
        inFlight = undefined
      })
      return inFlight
    },
    async workloadEntryHealth(namespace, name) {
      const object = await options.client.get({
        apiVersion: options.networkingApiVersion,
        kind: 'WorkloadEntry',
        namespace,
        name
      })
      return workloadEntryHealthOf(object)
    }
  }
  const policy: PolicyClient = {
    async applyPeerAuthentication(manifest) {
      await options.client.apply(manifest as unknown as KubeObject)
    },
    async deletePeerAuthentication(namespace, name) {
      await options.client.delete({
        apiVersion: options.securityApiVersion ?? 'security.istio.io/v1beta1',
        kind: 'PeerAuthentication',
        namespace,
        name
      })
    }
  }
  return { pods, controlPlane, policy }
}
