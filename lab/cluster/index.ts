// The sandbox cluster: an HTTPS Kubernetes API server in this process, seeded like a cluster with
// a chosen Istio version, plus its kubeconfig, direct store access, request log, faults and deny
// list for tests. See lab/README.md, "Sandbox cluster".
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { stringify } from 'yaml'
import { createLabCa, type LabCa } from '../pki.ts'
import { installTokenController } from './controllers.ts'
import { startPodNames, type PodNames } from './dns.ts'
import { startEcho, type EchoServer } from './echo.ts'
import { ExecServer } from './exec.ts'
import { DenyList, Faults, RequestLog } from './observe.ts'
import { compareVersions, istioVersionsFor, resourceTypes, type ResourceType } from './resources.ts'
import { seedBootstrapPolicy, type AuthorizationMode } from './rbac.ts'
import { installCitadelHooks, seedIstio, seedRevision } from './seed.ts'
import { handleRequest, reviewToken, type ServerContext, type UserInfo } from './server.ts'
import { istiodDebugNeedsAuth, type IstiodDebug } from './serviceProxy.ts'
import { ObjectStore } from './store.ts'
import { apiAudience, TokenAuthority, type TokenReviewResult } from './tokens.ts'

export { ObjectStore, type KubeObject, type StoreEvent } from './store.ts'
export { RequestLog, Faults, DenyList } from './observe.ts'
export type { RequestLogEntry, FaultRule, ActiveFault, LogFilter } from './observe.ts'
export type { TokenReviewResult } from './tokens.ts'
export { apiAudience } from './tokens.ts'
export { seedIstio, type SeedOptions } from './seed.ts'
export { customResourceType, type ResourceType } from './resources.ts'
export { startEcho, echoScriptPath, type EchoServer, type EchoReply } from './echo.ts'
export { netnsAnnotation, executablesAnnotation } from './exec.ts'
export {
  authorize,
  bootstrapClusterRoles,
  bootstrapClusterRoleBindings,
  rulesFor,
  type AuthorizationMode,
  type PolicyRule
} from './rbac.ts'
export { debugConnections, istiodDebugNeedsAuth, type IstiodDebug } from './serviceProxy.ts'

export interface SandboxClusterOptions {
  /** address to listen on (default 127.0.0.1; the lab uses 198.18.0.1) */
  host?: string
  /** 0 = any free port (default) */
  port?: number
  istioVersion?: string
  /** Istio revision ('' = default) */
  revision?: string
  /** More revisions installed beside it (modern only): istiod-<rev>, its ConfigMaps and webhook */
  moreRevisions?: ReadonlyArray<{ revision: string; istioVersion: string }>
  istioNamespace?: string
  clusterID?: string
  trustDomain?: string
  meshId?: string
  network?: string
  /** load-balancer address of istio-eastwestgateway (default ip 198.18.0.2); 'none' = no gateway */
  eastWestGateway?: { ip: string } | { hostname: string } | 'none'
  /** signs the serving certificate and is the mesh root (istio-ca-root-cert); default: a new one */
  ca?: LabCa
  /** network namespace of the pods: exec and the echo app run there; absent = on the host */
  podNetns?: string
  /** where the echo app listens; false = no echo app. Default: 0.0.0.0:80,8080 in podNetns, else 127.0.0.1:<any> */
  echo?: false | { ip?: string; ports?: number[] }
  /** the admin bearer token (default: random) */
  adminToken?: string
  /** the Kubernetes version /version reports (default v1.33.0) */
  kubernetesVersion?: string
  /** networking.istio.io versions served, preferred first (default by istioVersion: v1 from 1.22) */
  istioNetworkingVersions?: string[]
  /** security.istio.io versions served */
  istioSecurityVersions?: string[]
  /** namespace of echo and sleep (default 'sample') */
  appNamespace?: string
  /** seed an Istio install (default true) */
  seed?: boolean
  /** executables the sleep pod "has" (default: all the host has) */
  sleepExecutables?: string[]
  /** longest a pod exec may run (default 10 minutes) */
  execMaxDurationMs?: number
  /** with podNetns: keep /etc/netns/<podNetns>/hosts listing the Services (default true) */
  podNames?: boolean
  /** before 1.5: Helm's meshExpansion gateway ports and resources (default true from 1.0) */
  meshExpansion?: boolean
  /** 1.3/1.4: multi-network install with istiocoredns (default: when network is set) */
  multiNetwork?: boolean
  /** istiod's debug endpoints (`/debug/connections`) through the service proxy on :15014 */
  istiodDebug?: IstiodDebug
  /**
   * networking.k8s.io versions serving ServiceCIDR, with the `kubernetes` ServiceCIDR seeded
   * (Kubernetes 1.33+ serves v1; 1.31/1.32 v1beta1 behind a gate); default none, as older clusters
   */
  serviceCidrVersions?: string[]
  /** refuse every dry-run write in the name of this admission webhook (one without dry-run support) */
  dryRunRefusedBy?: string
  /** the kube-apiserver static pod in kube-system with --service-cluster-ip-range (default true) */
  apiserverPod?: boolean
  /** more resource types served, e.g. custom resources of a made-up API group (customResourceType) */
  customResources?: ResourceType[]
  /**
   * 'RBAC' (default, as kubeadm's `--authorization-mode=Node,RBAC` for everyone but nodes): the
   * Role/ClusterRole/bindings in the store decide; 'AlwaysAllow': any authenticated user may do
   * anything. The admin is in system:masters, allowed everything in both. In front of either,
   * the deny list acts as a webhook authorizer that answers `denied` does (the union authorizer
   * stops at the first Deny: k8s.io/apiserver pkg/authorization/union/union.go). See
   * lab/cluster/rbac.ts.
   */
  authorization?: AuthorizationMode
}

export interface ServiceAccountTokenRequest {
  namespace: string
  serviceAccount: string
  audiences?: string[]
  /** any value, also negative (expired) or below the API's 10 minute minimum */
  expirationSeconds?: number
}

export interface SandboxCluster {
  /** https://host:port */
  url: string
  /** kubeconfig YAML for the admin (CA data, bearer token) */
  kubeconfig: string
  writeKubeconfig(path: string): Promise<void>
  adminToken: string
  /** the CA that signed the serving certificate (also the mesh root) */
  ca: LabCa
  store: ObjectStore
  requestLog: RequestLog
  faults: Faults
  denyList: DenyList
  /** the authorization mode in force; settable at any time (lab/cluster/rbac.ts) */
  authorization: AuthorizationMode
  /**
   * Denies `user` the `verb` on `resource` ('configmaps', 'pods/exec', '*') ahead of RBAC, as a
   * webhook authorizer's explicit deny; returns an undo.
   */
  deny(user: string, verb: string, resource: string): () => void
  /** The TokenReview logic in-process (for the istiod stand-in); audiences default: the API's. */
  reviewToken(token: string, audiences?: string[]): TokenReviewResult
  /** A bearer token for a named user (for 403 tests); never logged. */
  issueUserToken(username: string, groups?: string[]): string
  /** A ServiceAccount JWT minted directly (expired or short-lived ones included). */
  mintServiceAccountToken(request: ServiceAccountTokenRequest): string
  /** A kubeconfig with the same cluster and another token. */
  kubeconfigFor(token: string, userName?: string): string
  /** Waits until background controllers caught up (before 1.5: Citadel's istio.<sa> secrets). */
  settled(): Promise<void>
  /** the echo app, when started */
  echo: EchoServer | undefined
  istioVersion: string
  close(): Promise<void>
}

export function kubeconfigYaml(
  url: string,
  caPem: string,
  token: string,
  userName = 'admin',
  namespace = 'default'
): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'sandbox',
        cluster: {
          server: url,
          'certificate-authority-data': Buffer.from(caPem).toString('base64')
        }
      }
    ],
    users: [{ name: userName, user: { token } }],
    contexts: [{ name: 'sandbox', context: { cluster: 'sandbox', user: userName, namespace } }],
    'current-context': 'sandbox',
    preferences: {}
  })
}

const isIp = (s: string): boolean => /^\d+\.\d+\.\d+\.\d+$/.test(s) || s.includes(':')

export async function startSandboxCluster(
  options: SandboxClusterOptions = {}
): Promise<SandboxCluster> {
  const host = options.host ?? '127.0.0.1'
  const istioVersion = options.istioVersion ?? '1.30.3'
  const versions = istioVersionsFor(istioVersion)
  const store = new ObjectStore(
    resourceTypes({
      istioNetworkingVersions: options.istioNetworkingVersions ?? versions.networking,
      istioSecurityVersions: options.istioSecurityVersions ?? versions.security,
      ...(options.serviceCidrVersions ? { serviceCidrVersions: options.serviceCidrVersions } : {}),
      ...(options.customResources ? { extra: options.customResources } : {})
    })
  )
  const ca = options.ca ?? (await createLabCa())
  const serving = await ca.issue({
    commonName: 'kube-apiserver',
    dnsNames: [
      'localhost',
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.cluster.local'
    ],
    ipAddresses: [
      ...new Set([
        ...(isIp(host) && host !== '0.0.0.0' && host !== '::' ? [host] : []),
        '127.0.0.1',
        '198.19.0.1'
      ])
    ],
    validForSeconds: 30 * 86400
  })
  const adminToken = options.adminToken ?? randomBytes(24).toString('base64url')
  const users = new Map<string, UserInfo>([
    [adminToken, { username: 'admin', groups: ['system:masters', 'system:authenticated'] }]
  ])
  const ctx: ServerContext = {
    store,
    tokens: new TokenAuthority(),
    requestLog: new RequestLog(),
    faults: new Faults(),
    denyList: new DenyList(),
    authorizationMode: options.authorization ?? 'RBAC',
    users,
    kubernetesVersion: options.kubernetesVersion ?? 'v1.33.0',
    serverAddress: '',
    watches: new Set(),
    ...(options.istiodDebug ? { istiodDebug: options.istiodDebug } : {}),
    istiodDebugAuth: istiodDebugNeedsAuth(istioVersion),
    ...(options.dryRunRefusedBy !== undefined ? { dryRunRefusedBy: options.dryRunRefusedBy } : {})
  }
  const stopTokenController = installTokenController(store, ctx.tokens, ca.certPem)
  const exec = new ExecServer(ctx, {
    ...(options.podNetns ? { podNetns: options.podNetns } : {}),
    ...(options.execMaxDurationMs ? { maxDurationMs: options.execMaxDurationMs } : {})
  })
  const server: Server = createServer(
    { cert: serving.certPem, key: serving.keyPem },
    (req, res) => {
      void handleRequest(ctx, req, res)
    }
  )
  server.on('upgrade', (req, socket, head: Buffer) => {
    void exec.handleUpgrade(req, socket, head)
  })
  server.on('tlsClientError', () => undefined)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const urlHost = host.includes(':') ? `[${host}]` : host
  const url = `https://${urlHost}:${port}`
  ctx.serverAddress = `${urlHost}:${port}`

  let echo: EchoServer | undefined
  let citadel: ReturnType<typeof installCitadelHooks> | undefined
  let podNames: PodNames | undefined
  const close = async (): Promise<void> => {
    stopTokenController()
    podNames?.close()
    citadel?.stop()
    await citadel?.settled()
    for (const finish of [...ctx.watches]) finish()
    exec.close()
    await new Promise<void>(resolve => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
    await echo?.close()
  }
  try {
    // kube-apiserver's rbac/bootstrap-roles post-start hook
    seedBootstrapPolicy(store)
    if (options.echo !== false) {
      const ip = options.echo?.ip ?? (options.podNetns ? '0.0.0.0' : '127.0.0.1')
      const ports = options.echo?.ports ?? (options.podNetns ? [8080, 80] : [0])
      echo = await startEcho({
        host: ip,
        ports,
        name: 'echo',
        ...(options.podNetns ? { netns: options.podNetns } : {})
      })
    }
    if (options.seed !== false) {
      seedIstio(store, {
        istioVersion,
        ...(options.revision ? { revision: options.revision } : {}),
        istioNamespace: options.istioNamespace ?? 'istio-system',
        clusterID: options.clusterID ?? 'Kubernetes',
        trustDomain: options.trustDomain ?? 'cluster.local',
        ...(options.meshId ? { meshId: options.meshId } : {}),
        ...(options.network ? { network: options.network } : {}),
        eastWestGateway: options.eastWestGateway ?? { ip: '198.18.0.2' },
        rootCertPem: ca.certPem,
        ...(options.appNamespace ? { appNamespace: options.appNamespace } : {}),
        ...(options.sleepExecutables ? { sleepExecutables: options.sleepExecutables } : {}),
        ...(options.meshExpansion !== undefined ? { meshExpansion: options.meshExpansion } : {}),
        ...(options.multiNetwork !== undefined ? { multiNetwork: options.multiNetwork } : {}),
        ...(options.apiserverPod !== undefined ? { apiserverPod: options.apiserverPod } : {})
      })
      for (const more of options.moreRevisions ?? []) {
        seedRevision(store, {
          istioVersion: more.istioVersion,
          revision: more.revision,
          istioNamespace: options.istioNamespace ?? 'istio-system',
          clusterID: options.clusterID ?? 'Kubernetes',
          trustDomain: options.trustDomain ?? 'cluster.local',
          ...(options.meshId ? { meshId: options.meshId } : {}),
          ...(options.network ? { network: options.network } : {}),
          eastWestGateway: 'none',
          rootCertPem: ca.certPem
        })
      }
      if (compareVersions(istioVersion, '1.5') < 0) {
        citadel = installCitadelHooks(
          store,
          ca.certPem,
          spiffe =>
            ca.issue({
              commonName: spiffe.split('/').pop() ?? 'workload',
              uris: [spiffe],
              validForSeconds: 90 * 86400
            }),
          options.trustDomain ?? 'cluster.local'
        )
        await citadel.settled()
      }
    }
    if (options.podNetns && options.podNames !== false) {
      podNames = startPodNames(store, options.podNetns, 'cluster.local')
    }
  } catch (error) {
    await close()
    throw error
  }

  const kubeconfig = kubeconfigYaml(url, ca.certPem, adminToken)
  return {
    get authorization(): AuthorizationMode {
      return ctx.authorizationMode
    },
    set authorization(mode: AuthorizationMode) {
      ctx.authorizationMode = mode
    },
    url,
    kubeconfig,
    writeKubeconfig: path => writeFile(path, kubeconfig, { mode: 0o600 }),
    adminToken,
    ca,
    store,
    requestLog: ctx.requestLog,
    faults: ctx.faults,
    denyList: ctx.denyList,
    deny: (user, verb, resource) => ctx.denyList.add(user, verb, resource),
    reviewToken: (token, audiences = [apiAudience]) => reviewToken(ctx, token, audiences),
    issueUserToken: (username, groups = []) => {
      const token = randomBytes(24).toString('base64url')
      users.set(token, { username, groups: [...groups, 'system:authenticated'] })
      return token
    },
    mintServiceAccountToken: request => {
      const sa = store.get('serviceaccounts', request.namespace, request.serviceAccount)
      if (!sa)
        throw new Error(
          `serviceaccount ${request.namespace}/${request.serviceAccount} does not exist`
        )
      return ctx.tokens.mint({
        namespace: request.namespace,
        serviceAccount: request.serviceAccount,
        serviceAccountUid: sa.metadata?.uid ?? '',
        audiences: request.audiences ?? [apiAudience],
        expirationSeconds: request.expirationSeconds ?? 3600
      }).token
    },
    kubeconfigFor: (token, userName = 'user') => kubeconfigYaml(url, ca.certPem, token, userName),
    settled: async () => {
      await citadel?.settled()
    },
    echo,
    istioVersion,
    close
  }
}
