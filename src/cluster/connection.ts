// Connecting to the cluster: which kubeconfig (the Action input's content, a path, KUBECONFIG,
// ~/.kube/config, in-cluster), which context, which proxy (HTTPS_PROXY / NO_PROXY, which the
// client library ignores on its own), then a first request that proves the server answers.
import { existsSync, readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join, resolve } from 'node:path'
import type { KubeConfig } from '@kubernetes/client-node'
import { createClusterClient, loadClientNode, type ClientOptions } from './client.ts'
import { errorMessage } from '../util/errors.ts'
import { ClusterError } from './errors.ts'
import type { ClusterClient } from './types.ts'

export interface ConnectOptions extends ClientOptions {
  /** kubeconfig content (the Action's `kubeconfig` input): masked, written 0600, removed on close */
  readonly kubeconfigContent?: string
  /** a kubeconfig path (the description's cluster.kubeconfig) */
  readonly kubeconfigPath?: string | null
  readonly context?: string | null
  /** KUBECONFIG, HOME, HTTPS_PROXY, NO_PROXY, KUBERNETES_SERVICE_HOST… (default process.env) */
  readonly env?: NodeJS.ProcessEnv
  /** relative kubeconfig paths are taken from here (default process.cwd()) */
  readonly cwd?: string
  /** called with every secret value as soon as it is read (the Action masks it) */
  readonly onSecret?: (value: string) => void
  /** skip the first GET /version */
  readonly skipCheck?: boolean
  /** the pod's service account files (default /var/run/secrets/kubernetes.io/serviceaccount) */
  readonly serviceAccountDir?: string
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/** The in-cluster configuration from `env` (client-node's own reads process.env only). */
function loadInCluster(
  kc: KubeConfig,
  env: NodeJS.ProcessEnv,
  dir: string,
  onSecret?: (value: string) => void
): void {
  const host = env.KUBERNETES_SERVICE_HOST ?? ''
  const port = env.KUBERNETES_SERVICE_PORT ?? '443'
  const tokenFile = join(dir, 'token')
  if (!existsSync(tokenFile)) {
    throw new ClusterError(
      'invalid',
      `in a pod but without a service account token at ${tokenFile}`,
      0
    )
  }
  if (onSecret) onSecret(readFileSync(tokenFile, 'utf8').trim())
  const namespaceFile = join(dir, 'namespace')
  kc.loadFromOptions({
    clusters: [
      {
        name: 'inCluster',
        server: `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`,
        caFile: join(dir, 'ca.crt'),
        skipTLSVerify: false
      }
    ],
    users: [{ name: 'inClusterUser', authProvider: { name: 'tokenFile', config: { tokenFile } } }],
    contexts: [
      {
        name: 'inClusterContext',
        cluster: 'inCluster',
        user: 'inClusterUser',
        ...(existsSync(namespaceFile)
          ? { namespace: readFileSync(namespaceFile, 'utf8').trim() }
          : {})
      }
    ],
    currentContext: 'inClusterContext'
  })
}

export interface Connection {
  readonly client: ClusterClient
  readonly kubeConfig: KubeConfig
  /** where the kubeconfig came from: 'input', a path, or 'in-cluster' */
  readonly source: string
  readonly context: string
  /** the proxy used, when one is */
  readonly proxy: string | undefined
  /** the temporary file holding the kubeconfig input (removed by close) */
  readonly temporaryFile: string | undefined
  /** removes the temporary kubeconfig; safe to call twice */
  close(): Promise<void>
}

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name] ?? env[name.toLowerCase()]
  return value === undefined || value === '' ? undefined : value
}

function ipv4ToNumber(ip: string): number | undefined {
  const parts = ip.split('.')
  if (parts.length !== 4) return undefined
  let n = 0
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined
    n = n * 256 + Number(part)
  }
  return n
}

/** Whether NO_PROXY (comma-separated hosts, .domains, *.domains, IPs, IPv4 CIDRs, host:port) covers the URL. */
export function noProxyMatches(url: URL, noProxy: string): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const port = url.port || (url.protocol === 'https:' ? '443' : '80')
  for (const raw of noProxy.split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase()
    if (entry === '') continue
    if (entry === '*') return true
    const portMatch = /^(.*?):(\d+)$/.exec(entry)
    if (portMatch && !entry.includes('::') && !entry.startsWith('[')) {
      if (portMatch[2] !== port) continue
      entry = portMatch[1] ?? ''
    }
    entry = entry.replace(/^\[|\]$/g, '')
    const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(entry)
    if (cidr) {
      const base = ipv4ToNumber(cidr[1] ?? '')
      const addr = ipv4ToNumber(host)
      const bits = Number(cidr[2])
      if (base === undefined || addr === undefined || bits > 32) continue
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
      if ((base & mask) >>> 0 === (addr & mask) >>> 0) return true
      continue
    }
    const domain = entry.replace(/^\*?\./, '')
    if (host === domain || host.endsWith(`.${domain}`)) return true
  }
  return false
}

/** The proxy for the API server from HTTPS_PROXY / HTTP_PROXY, unless NO_PROXY covers it. */
export function proxyFor(server: string, env: NodeJS.ProcessEnv): string | undefined {
  let url: URL
  try {
    url = new URL(server)
  } catch {
    return undefined
  }
  const proxy =
    url.protocol === 'https:'
      ? (envValue(env, 'HTTPS_PROXY') ?? envValue(env, 'HTTP_PROXY'))
      : envValue(env, 'HTTP_PROXY')
  if (proxy === undefined) return undefined
  const noProxy = envValue(env, 'NO_PROXY')
  if (noProxy !== undefined && noProxyMatches(url, noProxy)) return undefined
  return proxy
}

function maskKubeconfigSecrets(
  kc: KubeConfig,
  onSecret: ((value: string) => void) | undefined
): void {
  if (!onSecret) return
  for (const user of kc.getUsers()) {
    for (const value of [user.token, user.password, user.keyData]) {
      if (typeof value === 'string' && value !== '') onSecret(value)
    }
  }
}

function load(kc: KubeConfig, file: string, shown: string): void {
  try {
    kc.loadFromFile(file)
  } catch (error) {
    throw new ClusterError(
      'invalid',
      `kubeconfig ${shown} cannot be read: ${errorMessage(error)}`,
      0
    )
  }
}

/** Whether connect() would find a kubeconfig (or run in a pod) without the input content. */
export function kubeconfigAvailable(
  path: string | null | undefined,
  env: NodeJS.ProcessEnv
): boolean {
  return Boolean(
    path ||
    envValue(env, 'KUBECONFIG') !== undefined ||
    (env.HOME !== undefined && existsSync(join(env.HOME, '.kube', 'config'))) ||
    envValue(env, 'KUBERNETES_SERVICE_HOST') !== undefined
  )
}

/** Loads the kubeconfig, selects the context, applies the proxy and checks the server answers. */
export async function connect(options: ConnectOptions = {}): Promise<Connection> {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  const k8s = await loadClientNode()
  const kc = new k8s.KubeConfig()
  let tempDir: string | undefined
  let source: string
  let temporaryFile: string | undefined
  const close = async (): Promise<void> => {
    if (tempDir !== undefined) {
      const dir = tempDir
      tempDir = undefined
      await rm(dir, { recursive: true, force: true })
    }
  }
  try {
    if (options.kubeconfigContent !== undefined && options.kubeconfigContent.trim() !== '') {
      options.onSecret?.(options.kubeconfigContent)
      tempDir = await mkdtemp(join(tmpdir(), 'mesh-expansion-kube-'))
      temporaryFile = join(tempDir, 'config')
      await writeFile(temporaryFile, options.kubeconfigContent, { mode: 0o600 })
      load(kc, temporaryFile, 'from the input')
      source = 'input'
    } else if (options.kubeconfigPath) {
      const file = resolve(cwd, options.kubeconfigPath)
      if (!existsSync(file))
        throw new ClusterError('invalid', `kubeconfig ${file} does not exist`, 0)
      load(kc, file, file)
      source = file
    } else if (envValue(env, 'KUBECONFIG') !== undefined) {
      const files = (env.KUBECONFIG ?? '').split(delimiter).filter(f => f !== '' && existsSync(f))
      if (files.length === 0)
        throw new ClusterError(
          'invalid',
          `KUBECONFIG names no existing file (${env.KUBECONFIG ?? ''})`,
          0
        )
      load(kc, resolve(cwd, files[0] ?? ''), files[0] ?? '')
      for (const extra of files.slice(1)) {
        const more = new k8s.KubeConfig()
        load(more, resolve(cwd, extra), extra)
        kc.mergeConfig(more, true)
      }
      source = files.join(delimiter)
    } else if (env.HOME !== undefined && existsSync(join(env.HOME, '.kube', 'config'))) {
      source = join(env.HOME, '.kube', 'config')
      load(kc, source, source)
    } else if (envValue(env, 'KUBERNETES_SERVICE_HOST') !== undefined) {
      loadInCluster(kc, env, options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR, options.onSecret)
      source = 'in-cluster'
    } else {
      throw new ClusterError(
        'invalid',
        'no kubeconfig: pass the kubeconfig input, set cluster.kubeconfig, KUBECONFIG or ~/.kube/config, or run in a pod',
        0
      )
    }
    maskKubeconfigSecrets(kc, options.onSecret)

    if (options.context) {
      if (!kc.getContextObject(options.context)) {
        const names = kc.getContexts().map(c => c.name)
        throw new ClusterError(
          'invalid',
          `context "${options.context}" is not in the kubeconfig (it has: ${names.join(', ') || 'none'})`,
          0
        )
      }
      kc.setCurrentContext(options.context)
    }
    const cluster = kc.getCurrentCluster()
    if (!cluster) {
      throw new ClusterError(
        'invalid',
        `the kubeconfig's context "${kc.getCurrentContext()}" names no cluster`,
        0
      )
    }
    let proxy = cluster.proxyUrl
    if (proxy === undefined) {
      proxy = proxyFor(cluster.server, env)
      if (proxy !== undefined) {
        const withProxy = { ...cluster, proxyUrl: proxy }
        kc.loadFromOptions({
          clusters: kc.getClusters().map(c => (c.name === cluster.name ? withProxy : c)),
          users: kc.getUsers(),
          contexts: kc.getContexts(),
          currentContext: kc.getCurrentContext()
        })
      }
    }
    const client = await createClusterClient(kc, options)
    if (!options.skipCheck) await client.version()
    return {
      client,
      kubeConfig: kc,
      source,
      context: kc.getCurrentContext(),
      proxy,
      temporaryFile,
      close
    }
  } catch (error) {
    await close()
    throw error
  }
}
