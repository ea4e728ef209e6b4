// The istiod stand-in: TLS on 15012 with a serving certificate from the lab CA, a certificate
// authority that authenticates VMs by their token (TokenReview, audience istio-ca), the name
// table for DNS capture, and the list of connected proxies. Its own small protocol, JSON over
// HTTPS, spoken by the sidecar stand-in's agent:
//   POST /v1/certificates  Authorization: Bearer <token>, {csr, node}  -> {certChain: [leaf, root]}
//                          (a renewal: the client certificate instead of the token)
//   POST /v1/connect       (client certificate) {node} -> NDJSON lines {names} every heartbeat
//   POST /v1/health        (client certificate) {healthy, message, node} -> {}
//   GET  /v1/names         (client certificate) -> {names}
//   GET  /ready            -> 200
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:https'
import { isIP, type Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { LabCa } from '../pki.ts'
import type { TokenReviewer } from './tokens.ts'

export type { TokenReviewer, TokenReviewStatus } from './tokens.ts'

export interface IstiodOptions {
  /** Address to listen on, e.g. 198.18.0.2 (the east-west gateway IP); also in the certificate. */
  host: string
  /** Default 15012. 0 picks a free port (tests). */
  port?: number
  /** More ports with the same service, e.g. 15011 for pilot before Istio 1.5 (legacy VMs). */
  extraPorts?: number[]
  /** More names for the serving certificate, e.g. istio-pilot.istio-system. */
  extraServerNames?: string[]
  ca: LabCa
  reviewer: TokenReviewer
  trustDomain?: string
  istioNamespace?: string
  /** A revision other than `default` adds istiod-<rev>.<ns>.svc to the serving certificate. */
  revision?: string
  /** The name table (service host -> IP) served for DNS capture, read at each push. */
  names: () => Record<string, string> | Promise<Record<string, string>>
  /**
   * The mesh as pushed beside the names (services with WorkloadEntry endpoints, PeerAuthentication
   * modes: lab/mesh/meshPush.ts), read at each push. Unset: the sidecar keeps its simple traffic
   * rules (the pre-1.8 generations).
   */
  mesh?: () => unknown
  /** Seconds between pushes on a proxy's stream (default 5). */
  heartbeatSeconds?: number
  /** Lifetime of workload certificates (default 24 h). */
  certificateValiditySeconds?: number
  /** Called when a proxy's stream opens (e.g. WorkloadEntry auto-registration). */
  onProxyConnected?: (proxy: ConnectedProxy) => void | Promise<void>
  /** Called when a proxy's stream closes. */
  onProxyDisconnected?: (proxy: ConnectedProxy) => void | Promise<void>
  /** Called when a proxy reports its application's health (its readiness probe changed). */
  onProxyHealth?: (proxy: ConnectedProxy) => void | Promise<void>
  /**
   * Looks up a WorkloadEntry (null when missing). Given, a proxy naming a manual entry
   * (ISTIO_META_WORKLOAD_ENTRY) connects only when it exists and, with health checks enabled on
   * it, matches the proxy's identity, as istiod 1.18+ does.
   */
  findWorkloadEntry?: (namespace: string, name: string) => Promise<WorkloadEntryView | null>
}

/** What the XDS gate reads of a WorkloadEntry. */
export interface WorkloadEntryView {
  serviceAccount: string
  /** annotation proxy.istio.io/health-checks-enabled: "true" */
  healthChecks: boolean
}

/** What the agent says about itself (from cluster.env and the VM). */
export interface ProxyNode {
  id?: string
  podName?: string
  namespace?: string
  serviceAccount?: string
  workloadName?: string
  ip?: string
  clusterId?: string
  network?: string
  autoRegisterGroup?: string
  labels?: string
  /** ISTIO_META_WORKLOAD_ENTRY: the manual WorkloadEntry whose health this proxy reports. */
  workloadEntry?: string
  /** 'true' when the mesh config has a readinessProbe. */
  hasProbe?: string
}

export interface ConnectedProxy {
  /** SPIFFE identity from the proxy's client certificate. */
  spiffeId: string
  namespace: string
  serviceAccount: string
  workloadName: string
  podName: string
  /** The address the proxy reports (ISTIO_SVC_IP), else the connection's source address. */
  ip: string
  /** The connection's source address. */
  remoteAddress: string
  clusterId: string
  network: string
  autoRegisterGroup: string
  /** ISTIO_METAJSON_LABELS of the proxy. */
  labels: Record<string, string>
  /** ISTIO_META_WORKLOAD_ENTRY of the proxy ('' when unset). */
  workloadEntry: string
  /** The proxy runs a readiness probe (the WorkloadGroup's probe) and reports health. */
  healthChecks: boolean
  /** The last health it reported. */
  health?: { healthy: boolean; message: string; time: Date }
  connectedAt: Date
}

export interface IstiodEvent {
  time: Date
  kind:
    | 'certificate-issued'
    | 'authentication-failed'
    | 'connected'
    | 'disconnected'
    | 'rejected'
    | 'health'
    | 'hook-failed'
    | 'certificate-refused'
  /** The identity involved when known. */
  identity?: string
  detail: string
}

/**
 * Faults for tests of a control plane under load. What a proxy sees is what it would see of a
 * real istiod: nothing listening (the kernel's RST: `connect: connection refused`), a
 * connection accepted and never answered (the agent's dial gives up: `i/o timeout`), a CSR
 * refused by the CA with `InvalidArgument` `CSR signing error (...)` (a CSRError:
 * security/pkg/server/ca/server.go CreateCertificate, security/pkg/pki/error HTTPErrorCode).
 */
export interface IstiodFaults {
  /** For `ms`, nothing listens: new connections are refused. Open streams stay. */
  refuseNew(ms: number): void
  /** For `ms`, new connections are accepted and never answered (no TLS handshake); each is held
   * until its client gives up. Open streams stay. */
  stallNew(ms: number): void
  /** CSRs of a proxy whose identity (SPIFFE id), pod name (hostname) or address matches are
   * refused for a reason of that host's, after authentication. */
  refuseCertificate(
    match: { identity?: string; podName?: string; address?: string },
    reason?: string
  ): { hits(): number; remove(): void }
  /** What the faults did so far. */
  counts(): { refusing: boolean; stalling: boolean; stalled: number; certificatesRefused: number }
  /** Listening and answering again at once; certificate refusals removed. */
  clear(): void
}

export interface Istiod {
  host: string
  port: number
  /** The extra ports, as bound. */
  extraPorts: number[]
  /** Hosts its serving certificate is valid for. */
  serverNames: string[]
  connectedProxies(): ConnectedProxy[]
  events(): IstiodEvent[]
  /** Resolves when a proxy matching the predicate is connected, or rejects after timeoutMs. */
  waitForProxy(
    predicate: (proxy: ConnectedProxy) => boolean,
    timeoutMs: number
  ): Promise<ConnectedProxy>
  faults: IstiodFaults
  close(): Promise<void>
}

const SPIFFE = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/
const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([^:]+):([^:]+)$/
const MAX_BODY = 256 * 1024

class RpcError extends Error {
  readonly status: number
  readonly code: string
  constructor(status: number, code: string, message: string) {
    super(message)
    this.status = status
    this.code = code
  }
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY) {
        reject(new RpcError(413, 'InvalidArgument', 'request too large'))
        req.destroy()
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      try {
        resolve(text ? JSON.parse(text) : {})
      } catch {
        reject(new RpcError(400, 'InvalidArgument', 'the request body is not JSON'))
      }
    })
    req.on('error', reject)
  })
}

function asNode(value: unknown): ProxyNode {
  if (typeof value !== 'object' || value === null) return {}
  const node: ProxyNode = {}
  for (const [key, field] of Object.entries(value)) {
    if (typeof field === 'string') (node as Record<string, string>)[key] = field
  }
  return node
}

function parseLabels(text: string | undefined): Record<string, string> {
  if (!text) return {}
  try {
    const parsed = JSON.parse(text) as unknown
    if (typeof parsed !== 'object' || parsed === null) return {}
    return Object.fromEntries(
      Object.entries(parsed).filter(
        (entry): entry is [string, string] => typeof entry[1] === 'string'
      )
    )
  } catch {
    return {}
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text)
  })
  res.end(text)
}

/** The SPIFFE identity of a verified client certificate, or undefined. */
function peerIdentity(req: IncomingMessage): string | undefined {
  const socket = req.socket as TLSSocket
  if (!socket.authorized) return undefined
  const altNames = socket.getPeerCertificate().subjectaltname ?? ''
  for (const entry of altNames.split(', ')) {
    if (entry.startsWith('URI:spiffe://')) return entry.slice(4)
  }
  return undefined
}

async function csrIdentities(csrPem: string): Promise<string[]> {
  let csr: x509.Pkcs10CertificateRequest
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem)
  } catch (error) {
    throw new RpcError(400, 'InvalidArgument', `failed to parse the CSR: ${String(error)}`)
  }
  const extension = csr.getExtension('2.5.29.17') // subjectAltName
  if (!extension) return []
  const san =
    extension instanceof x509.SubjectAlternativeNameExtension
      ? extension
      : new x509.SubjectAlternativeNameExtension(extension.rawData)
  return san.names
    .toJSON()
    .filter(name => name.type === 'url')
    .map(name => name.value)
}

export async function startIstiod(options: IstiodOptions): Promise<Istiod> {
  const trustDomain = options.trustDomain ?? 'cluster.local'
  const namespace = options.istioNamespace ?? 'istio-system'
  const heartbeatMs = (options.heartbeatSeconds ?? 5) * 1000
  const serverNames = [`istiod.${namespace}.svc`, `istiod.${namespace}.svc.cluster.local`]
  if (options.revision && options.revision !== 'default') {
    serverNames.push(`istiod-${options.revision}.${namespace}.svc`)
    serverNames.push(`istiod-${options.revision}.${namespace}.svc.cluster.local`)
  }
  serverNames.push(...(options.extraServerNames ?? []))
  const serving = await options.ca.issue({
    commonName: serverNames[0] ?? 'istiod',
    dnsNames: serverNames,
    ipAddresses: isIP(options.host) ? [options.host] : [],
    validForSeconds: 7 * 86400
  })

  const certificateRefusals = new Set<{
    match: { identity?: string; podName?: string; address?: string }
    reason: string | undefined
    hits: number
  }>()
  let certificatesRefused = 0
  const log: IstiodEvent[] = []
  const record = (event: Omit<IstiodEvent, 'time'>): void => {
    log.push({ time: new Date(), ...event })
    if (log.length > 1000) log.shift()
  }
  const proxies = new Map<number, ConnectedProxy>()
  const timers = new Set<NodeJS.Timeout>()
  const waiters = new Set<() => void>()
  let nextProxy = 1

  function runHook(
    hook: ((proxy: ConnectedProxy) => void | Promise<void>) | undefined,
    proxy: ConnectedProxy
  ): void {
    if (!hook) return
    Promise.resolve()
      .then(() => hook({ ...proxy }))
      .catch((error: unknown) =>
        record({
          kind: 'hook-failed',
          identity: proxy.spiffeId,
          detail: error instanceof Error ? error.message : String(error)
        })
      )
  }

  async function issueCertificate(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const header = req.headers.authorization ?? ''
    const body = (await readBody(req)) as {
      csr?: unknown
      node?: unknown
      validitySeconds?: unknown
    }
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : ''
    const fail = (reason: string, identity?: string): RpcError => {
      record({ kind: 'authentication-failed', detail: reason, ...(identity ? { identity } : {}) })
      return new RpcError(401, 'Unauthenticated', `authentication failure: ${reason}`)
    }
    // As istiod (pilot/pkg/bootstrap/server.go: ClientAuth VerifyClientCertIfGiven, then the
    // authenticators in order, the first success wins): a client certificate that does not verify
    // (expired, another CA) fails the TLS handshake; a verified one authenticates whatever the
    // token says (ClientCertAuthenticator); else the token (the Kubernetes JWT authenticator).
    const socket = req.socket as TLSSocket
    if (!socket.authorized && Object.keys(socket.getPeerCertificate()).length > 0) {
      record({
        kind: 'authentication-failed',
        detail: `client certificate: ${String(socket.authorizationError)}`
      })
      throw new RpcError(
        503,
        'Unavailable',
        'connection error: desc = "transport: authentication handshake failed: remote error: tls: bad certificate"'
      )
    }
    const renewal = SPIFFE.exec(peerIdentity(req) ?? '') ?? undefined
    if (!token && !renewal) throw fail('no bearer token in the request')
    if (typeof body.csr !== 'string')
      throw new RpcError(400, 'InvalidArgument', 'the request has no csr')
    let tokenNamespace: string
    let tokenAccount: string
    if (renewal) {
      tokenNamespace = renewal[2] ?? ''
      tokenAccount = renewal[3] ?? ''
    } else {
      let review
      try {
        review = await options.reviewer(token, ['istio-ca'])
      } catch (error) {
        throw fail(`token review failed: ${error instanceof Error ? error.message : String(error)}`)
      }
      if (!review.authenticated) throw fail(review.error ?? 'the token was not authenticated')
      if (review.audiences && !review.audiences.includes('istio-ca')) {
        throw fail(
          `the token audiences ${JSON.stringify(review.audiences)} do not include istio-ca`
        )
      }
      const user = SERVICE_ACCOUNT_USER.exec(review.user?.username ?? '')
      if (!user) throw fail(`${review.user?.username ?? 'the token'} is not a service account`)
      tokenNamespace = user[1] ?? ''
      tokenAccount = user[2] ?? ''
    }
    const requested = await csrIdentities(body.csr)
    const tokenIdentity = `system:serviceaccount:${tokenNamespace}:${tokenAccount}`
    if (requested.length !== 1) {
      throw fail(
        `the CSR must name exactly one SPIFFE identity, it names ${requested.length}`,
        tokenIdentity
      )
    }
    const match = SPIFFE.exec(requested[0] ?? '')
    if (!match || match[2] !== tokenNamespace || match[3] !== tokenAccount) {
      throw fail(
        `the requested identity ${requested[0]} does not match the token's ${tokenIdentity}`,
        tokenIdentity
      )
    }
    const identity = `spiffe://${trustDomain}/ns/${tokenNamespace}/sa/${tokenAccount}`
    const node = asNode(body.node)
    const address = node.ip || (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '')
    const refusal = [...certificateRefusals].find(
      r =>
        (r.match.identity === undefined || r.match.identity === identity) &&
        (r.match.podName === undefined || r.match.podName === node.podName) &&
        (r.match.address === undefined || r.match.address === address)
    )
    if (refusal) {
      refusal.hits++
      certificatesRefused++
      const reason =
        refusal.reason ??
        `certificate request of ${node.podName ?? '?'} (${address}) for ${identity} refused: the CSR's key is not allowed by the CA's policy`
      record({ kind: 'certificate-refused', identity, detail: reason })
      throw new RpcError(400, 'InvalidArgument', `CSR signing error (${reason})`)
    }
    const wanted = typeof body.validitySeconds === 'number' ? body.validitySeconds : undefined
    const validity = Math.min(wanted ?? Infinity, options.certificateValiditySeconds ?? 86400)
    let leaf: string
    try {
      leaf = await options.ca.signCsr(body.csr, {
        commonName: tokenAccount.slice(0, 64),
        uris: [identity],
        validForSeconds: validity
      })
    } catch (error) {
      throw new RpcError(400, 'InvalidArgument', `failed to sign the CSR: ${String(error)}`)
    }
    record({
      kind: 'certificate-issued',
      identity,
      detail: `${renewal ? 'renewal ' : ''}for ${node.podName ?? '?'} (${node.ip ?? req.socket.remoteAddress ?? '?'})`
    })
    sendJson(res, 200, { certChain: [leaf, options.ca.certPem] })
  }

  // istiod's OnConnect (pilot/pkg/autoregistration/controller.go, 1.18+): the entry a proxy
  // names must exist, or the XDS connection is refused with the error, and an entry with
  // health checks must be the proxy's own (ensureProxyCanControlEntry)
  async function admitWorkloadEntry(proxy: ConnectedProxy, namespace: string): Promise<void> {
    if (!options.findWorkloadEntry || proxy.autoRegisterGroup !== '' || proxy.workloadEntry === '')
      return
    const entry = await options.findWorkloadEntry(namespace, proxy.workloadEntry)
    let refusal = ''
    if (entry === null) {
      refusal =
        'proxy metadata indicates that it must correspond to an existing WorkloadEntry, ' +
        `however WorkloadEntry ${namespace}/${proxy.workloadEntry} is not found`
    } else if (entry.healthChecks && proxy.namespace !== namespace) {
      refusal = `registration of WorkloadEntry namespace mismatch: "${proxy.namespace}" vs "${namespace}"`
    } else if (
      entry.healthChecks &&
      entry.serviceAccount !== '' &&
      entry.serviceAccount !== proxy.serviceAccount
    ) {
      refusal = `registration of WorkloadEntry service account mismatch: "${proxy.serviceAccount}" vs "${entry.serviceAccount}"`
    }
    if (refusal === '') return
    record({ kind: 'rejected', identity: proxy.spiffeId, detail: refusal })
    throw new RpcError(500, 'Unknown', refusal)
  }

  async function connect(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const identity = peerIdentity(req)
    if (!identity) {
      record({ kind: 'rejected', detail: 'connect without a valid client certificate' })
      throw new RpcError(
        401,
        'Unauthenticated',
        'authentication failure: no valid client certificate'
      )
    }
    const node = asNode(((await readBody(req)) as { node?: unknown }).node)
    const [, , certNamespace = '', certAccount = ''] = SPIFFE.exec(identity) ?? []
    const remoteAddress = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? ''
    const id = nextProxy++
    const proxy: ConnectedProxy = {
      spiffeId: identity,
      namespace: certNamespace,
      serviceAccount: certAccount,
      workloadName: node.workloadName ?? '',
      podName: node.podName ?? '',
      ip: node.ip || remoteAddress,
      remoteAddress,
      clusterId: node.clusterId ?? '',
      network: node.network ?? '',
      autoRegisterGroup: node.autoRegisterGroup ?? '',
      labels: parseLabels(node.labels),
      workloadEntry: node.workloadEntry ?? '',
      healthChecks: node.hasProbe === 'true',
      connectedAt: new Date()
    }
    await admitWorkloadEntry(proxy, node.namespace || certNamespace)
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
    const push = async (): Promise<void> => {
      const names = await options.names()
      const mesh = options.mesh ? { mesh: await options.mesh() } : {}
      if (!res.writableEnded) res.write(JSON.stringify({ names, ...mesh }) + '\n')
    }
    await push()
    proxies.set(id, proxy)
    record({ kind: 'connected', identity, detail: `${proxy.podName} ${proxy.ip}` })
    runHook(options.onProxyConnected, proxy)
    for (const wake of waiters) wake()
    const timer = setInterval(() => {
      push().catch(() => res.destroy())
    }, heartbeatMs)
    timers.add(timer)
    res.on('close', () => {
      clearInterval(timer)
      timers.delete(timer)
      if (proxies.delete(id)) {
        record({ kind: 'disconnected', identity, detail: `${proxy.podName} ${proxy.ip}` })
        runHook(options.onProxyDisconnected, proxy)
      }
    })
  }

  async function reportHealth(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const identity = peerIdentity(req)
    if (!identity) {
      throw new RpcError(
        401,
        'Unauthenticated',
        'authentication failure: no valid client certificate'
      )
    }
    const body = (await readBody(req)) as { healthy?: unknown; message?: unknown; node?: unknown }
    const node = asNode(body.node)
    const remote = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? ''
    const matching = [...proxies.values()].filter(
      p => p.spiffeId === identity && (p.ip === (node.ip || remote) || p.remoteAddress === remote)
    )
    if (matching.length === 0) {
      throw new RpcError(404, 'NotFound', `no connected proxy ${identity} at ${node.ip || remote}`)
    }
    const health = {
      healthy: body.healthy === true,
      message: typeof body.message === 'string' ? body.message : '',
      time: new Date()
    }
    for (const proxy of matching) {
      proxy.health = health
      record({
        kind: 'health',
        identity,
        detail: `${proxy.podName} ${health.healthy ? 'healthy' : 'unhealthy'}: ${health.message}`
      })
      runHook(options.onProxyHealth, proxy)
    }
    sendJson(res, 200, {})
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method === 'POST' && path === '/v1/certificates') return issueCertificate(req, res)
    if (req.method === 'POST' && path === '/v1/connect') return connect(req, res)
    if (req.method === 'GET' && path === '/v1/names') {
      if (!peerIdentity(req))
        throw new RpcError(
          401,
          'Unauthenticated',
          'authentication failure: no valid client certificate'
        )
      return sendJson(res, 200, { names: await options.names() })
    }
    if (req.method === 'POST' && path === '/v1/health') return reportHealth(req, res)
    if (req.method === 'GET' && path === '/ready') return sendJson(res, 200, { ready: true })
    throw new RpcError(404, 'Unimplemented', `unknown method ${req.method} ${path}`)
  }

  const servers = [options.port ?? 15012, ...(options.extraPorts ?? [])].map(() =>
    createServer(
      {
        key: serving.keyPem,
        cert: serving.certPem,
        ca: [options.ca.certPem],
        requestCert: true,
        rejectUnauthorized: false // the token, not a certificate, authenticates the first request
      },
      (req, res) => {
        handle(req, res).catch((error: unknown) => {
          const rpc =
            error instanceof RpcError
              ? error
              : new RpcError(
                  500,
                  'Internal',
                  error instanceof Error ? error.message : String(error)
                )
          if (!res.headersSent) sendJson(res, rpc.status, { code: rpc.code, message: rpc.message })
          else res.destroy()
        })
      }
    )
  )
  const closeAll = (): Promise<void[]> =>
    Promise.all(
      servers.map(
        server =>
          new Promise<void>(resolve => {
            // not listening: never started, or refusing new connections (the open ones go too)
            if (!server.listening) {
              server.closeAllConnections()
              return resolve()
            }
            server.close(() => resolve())
            server.closeAllConnections()
          })
      )
    )
  const ports: number[] = []
  try {
    for (const [index, server] of servers.entries()) {
      // A client that rejects our certificate (wrong root cert on the VM) ends up here; the
      // agent logs the reason on its side.
      server.on('tlsClientError', () => undefined)
      const wanted = index === 0 ? (options.port ?? 15012) : (options.extraPorts?.[index - 1] ?? 0)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(wanted, options.host, () => {
          server.off('error', reject)
          resolve()
        })
      })
      const address = server.address()
      ports.push(typeof address === 'object' && address ? address.port : wanted)
    }
  } catch (error) {
    await closeAll()
    throw error
  }
  const [port = 0, ...extraPorts] = ports

  // The fault switch. A stalled connection never reaches TLS: the server's own 'connection'
  // listeners (the TLS handshake) are called only for the others.
  let stallUntil = 0
  let stalled = 0
  const held = new Set<Socket>()
  for (const server of servers) {
    const own = server.listeners('connection') as Array<(socket: Socket) => void>
    server.removeAllListeners('connection')
    server.on('connection', (socket: Socket) => {
      if (Date.now() < stallUntil) {
        stalled++
        held.add(socket)
        socket.on('error', () => undefined)
        socket.on('data', () => undefined) // read and ignored: no ServerHello, ever
        socket.on('end', () => socket.destroy())
        socket.on('close', () => held.delete(socket))
        return
      }
      for (const listener of own) listener.call(server, socket)
    })
  }
  let refuseTimer: NodeJS.Timeout | undefined
  let closing = false
  const listenAgain = async (): Promise<void> => {
    refuseTimer = undefined
    for (const [index, server] of servers.entries()) {
      if (closing || server.listening) continue
      await new Promise<void>(resolve => {
        server.once('error', () => resolve())
        server.listen(ports[index], options.host, () => resolve())
      })
    }
  }
  const faults: IstiodFaults = {
    refuseNew(ms) {
      if (refuseTimer) clearTimeout(refuseTimer)
      // net.Server.close stops accepting at once and keeps the open connections (the streams)
      for (const server of servers) if (server.listening) server.close()
      refuseTimer = setTimeout(() => void listenAgain(), Math.max(0, ms))
    },
    stallNew(ms) {
      stallUntil = Date.now() + Math.max(0, ms)
    },
    refuseCertificate(match, reason) {
      const entry = { match, reason, hits: 0 }
      certificateRefusals.add(entry)
      return { hits: () => entry.hits, remove: () => void certificateRefusals.delete(entry) }
    },
    counts: () => ({
      refusing: refuseTimer !== undefined,
      stalling: Date.now() < stallUntil,
      stalled,
      certificatesRefused
    }),
    clear() {
      stallUntil = 0
      certificateRefusals.clear()
      if (refuseTimer) {
        clearTimeout(refuseTimer)
        void listenAgain()
      }
    }
  }

  return {
    host: options.host,
    port,
    extraPorts,
    serverNames,
    connectedProxies: () =>
      [...proxies.values()].map(proxy => ({
        ...proxy,
        ...(proxy.health ? { health: { ...proxy.health } } : {})
      })),
    events: () => [...log],
    waitForProxy(predicate, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const found = [...proxies.values()].find(predicate)
          if (!found) return false
          cleanup()
          resolve({ ...found })
          return true
        }
        const timer = setTimeout(() => {
          cleanup()
          reject(new Error(`no matching proxy connected to istiod within ${timeoutMs} ms`))
        }, timeoutMs)
        const cleanup = (): void => {
          clearTimeout(timer)
          waiters.delete(wake)
        }
        const wake = (): void => {
          check()
        }
        waiters.add(wake)
        check()
      })
    },
    faults,
    async close() {
      closing = true
      if (refuseTimer) clearTimeout(refuseTimer)
      for (const socket of held) socket.destroy()
      for (const timer of timers) clearInterval(timer)
      timers.clear()
      await closeAll()
    }
  }
}
