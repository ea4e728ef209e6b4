// Connecting to the cluster: which kubeconfig (the Action input's content, a path, KUBECONFIG,
// ~/.kube/config, in-cluster), which context, which proxy (HTTPS_PROXY / NO_PROXY, which the
// client library ignores on its own), then a first request that proves the server answers.
import { existsSync } from 'node:fs'
import { BlockList, isIP } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, resolve } from 'node:path'
import type { KubeConfig } from '@kubernetes/client-node'
import { LineCounter, isMap, isSeq } from 'yaml'
import {
  InputFileError,
  KUBECONFIG_MAX_BYTES,
  MAX_NESTING,
  aliasNesting,
  checkInlineSize,
  parseBounded,
  readInputFile,
  shownName
} from '../config/index.ts'
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
  const small = (path: string, what: string): string => {
    try {
      return readInputFile(path, { what, maxBytes: KUBECONFIG_MAX_BYTES }).trim()
    } catch (error) {
      throw new ClusterError('invalid', errorMessage(error), 0)
    }
  }
  const token = small(tokenFile, 'the service account token')
  if (onSecret) onSecret(token)
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
          ? { namespace: small(namespaceFile, 'the service account namespace') }
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

/** An address as the URL parser writes it in a hostname (IPv6 compressed, lower case). */
function canonicalIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip
}

/** Whether the address `host` is inside the CIDR `range` (IPv4 or IPv6, node:net's BlockList). */
function inCidr(host: string, range: string): boolean {
  const slash = range.lastIndexOf('/')
  const base = range.slice(0, slash)
  const bits = Number(range.slice(slash + 1))
  const family = isIP(base)
  const hostFamily = isIP(host)
  if (family === 0 || hostFamily !== family || !/^\d{1,3}$/.test(range.slice(slash + 1)))
    return false
  if (bits > (family === 4 ? 32 : 128)) return false
  const list = new BlockList()
  const type = family === 4 ? 'ipv4' : 'ipv6'
  list.addSubnet(base, bits, type)
  return list.check(host, type)
}

/**
 * Whether NO_PROXY (comma-separated hosts, .domains, *.domains, IPs, IPv4 and IPv6 CIDRs,
 * host:port, [ipv6]:port) covers the URL.
 */
export function noProxyMatches(url: URL, noProxy: string): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const port = url.port || (url.protocol === 'https:' ? '443' : '80')
  for (const raw of noProxy.split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase()
    if (entry === '') continue
    if (entry === '*') return true
    // host:port and [ipv6]:port; a bare IPv6 address or CIDR has colons but no port
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry)
    const portMatch = bracketed ? null : /^([^:]*):(\d+)$/.exec(entry)
    const entryPort = bracketed?.[2] ?? portMatch?.[2]
    if (entryPort !== undefined && entryPort !== port) continue
    entry = bracketed?.[1] ?? portMatch?.[1] ?? entry
    if (entry.includes('/')) {
      if (inCidr(host, entry)) return true
      continue
    }
    if (isIP(entry) !== 0) {
      if (canonicalIp(entry) === host) return true
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

/** The kubeconfig `kind` of YAML problem, in words: never the parser's message, which quotes lines. */
const YAML_PROBLEMS: Record<string, string> = {
  BAD_INDENT: 'bad indentation',
  DUPLICATE_KEY: 'a duplicate key',
  MULTILINE_IMPLICIT_KEY: 'a key that spans lines',
  MISSING_CHAR: 'a missing character (an unclosed quote or bracket?)',
  BLOCK_AS_IMPLICIT_KEY: 'a block used as a key',
  UNEXPECTED_TOKEN: 'an unexpected character',
  TAB_AS_INDENT: 'a tab used for indentation',
  BAD_SCALAR_START: 'a value that cannot start with its first character',
  BAD_ALIAS: 'a bad alias',
  BAD_DIRECTIVE: 'a bad directive',
  MULTIPLE_DOCS: 'more than one document',
  MULTIPLE_ANCHORS: 'several anchors on one value',
  MULTIPLE_TAGS: 'several tags on one value',
  TAG_RESOLVE_FAILED: 'a value its tag cannot read',
  ALIAS_PROPS: 'an alias with an anchor or tag',
  KEY_OVER_1024_CHARS: 'a key longer than 1024 characters'
}

type KubeconfigProblem = { offset?: number | undefined; what: string }

/** The list entries and keys connect() relies on; each problem is a path and a kind, never a value. */
function kubeconfigShape(
  data: Record<string, unknown>
): { path: (string | number)[]; what: string } | undefined {
  if (!['clusters', 'contexts', 'users'].some(key => key in data)) {
    return {
      path: [],
      what: 'it is not a kubeconfig: it has none of the keys clusters, contexts, users'
    }
  }
  if (data.kind !== undefined && data.kind !== null && data.kind !== 'Config') {
    return { path: ['kind'], what: 'it is not a kubeconfig: its kind is not Config' }
  }
  const mapping = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
  const entries = { clusters: 'cluster', contexts: 'context', users: 'user' } as const
  for (const [list, inner] of Object.entries(entries)) {
    const items = data[list]
    if (items === undefined || items === null) continue
    if (!Array.isArray(items)) return { path: [list], what: `${list} is not a list` }
    for (const [i, item] of items.entries()) {
      if (!mapping(item)) return { path: [list, i], what: `${list}[${i}] is not a mapping` }
      if (typeof item.name !== 'string' || item.name === '')
        return { path: [list, i], what: `${list}[${i}].name is missing or not text` }
      const body = item[inner]
      if (body !== undefined && body !== null && !mapping(body))
        return { path: [list, i, inner], what: `${list}[${i}].${inner} is not a mapping` }
      if (inner === 'cluster' && (!mapping(body) || typeof body.server !== 'string'))
        return { path: [list, i], what: `${list}[${i}].cluster.server is missing or not text` }
      if (inner === 'context' && (!mapping(body) || typeof body.cluster !== 'string'))
        return { path: [list, i], what: `${list}[${i}].context.cluster is missing or not text` }
      const exec = mapping(body) ? body.exec : undefined
      if (inner === 'user' && exec !== undefined && exec !== null) {
        const at = [list, i, inner, 'exec']
        if (!mapping(exec)) return { path: at, what: `${list}[${i}].user.exec is not a mapping` }
        if (typeof exec.command !== 'string' || exec.command === '')
          return { path: at, what: `${list}[${i}].user.exec.command is missing or not text` }
        if (
          typeof exec.apiVersion !== 'string' ||
          !exec.apiVersion.startsWith('client.authentication.k8s.io/')
        )
          return {
            path: at,
            what: `${list}[${i}].user.exec.apiVersion is missing or not client.authentication.k8s.io/…`
          }
      }
    }
  }
  return undefined
}

/** Why a kubeconfig's text cannot be used, at which offset; undefined when it can. */
function kubeconfigProblem(text: string, lineCounter: LineCounter): KubeconfigProblem | undefined {
  if (text.trim() === '') return { what: 'it is empty' }
  const parsed = parseBounded(text, MAX_NESTING, { lineCounter, uniqueKeys: true })
  if (!parsed.ok)
    return { offset: parsed.offset, what: `it is nested more than ${MAX_NESTING} levels deep` }
  const [doc, second] = parsed.docs
  if (doc === undefined) return { what: 'it is empty' }
  if (second !== undefined)
    return { offset: second.range[0], what: 'it has more than one YAML document' }
  const problem = doc.errors[0]
  if (problem !== undefined) {
    const kind = YAML_PROBLEMS[problem.code] ?? problem.code.toLowerCase().replace(/_/g, ' ')
    return { offset: problem.pos[0], what: `it is not valid YAML: ${kind}` }
  }
  const nesting = aliasNesting(doc, MAX_NESTING)
  if (nesting)
    return {
      offset: nesting.node.range?.[0],
      what: 'it has an alias that cannot be resolved, refers to itself or nests too deep'
    }
  const contents = doc.contents
  if (!isMap(contents)) {
    const kind = isSeq(contents) ? 'a list' : contents === null ? 'nothing' : 'a single value'
    return {
      offset: contents?.range?.[0],
      what: `it is not a kubeconfig: it holds ${kind}, not a mapping with clusters, contexts and users`
    }
  }
  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: 100 })
  } catch {
    return { what: 'it has too many aliases' }
  }
  const shape = kubeconfigShape(data as Record<string, unknown>)
  if (!shape) return undefined
  const node = doc.getIn(shape.path, true) as { range?: [number, number, number] } | undefined
  return { offset: node?.range?.[0], what: shape.what }
}

/**
 * Loads a kubeconfig's text, refusing one that is not a kubeconfig with a message that says where
 * (line and column) and what kind of problem, and never shows what the file holds: a kubeconfig
 * holds tokens and keys, and a wrong path may name any file.
 */
function loadText(kc: KubeConfig, text: string, shown: string): void {
  const lineCounter = new LineCounter()
  const problem = kubeconfigProblem(text, lineCounter)
  if (problem) {
    const at =
      problem.offset === undefined
        ? ''
        : ` (line ${lineCounter.linePos(problem.offset).line}, column ${lineCounter.linePos(problem.offset).col})`
    throw new ClusterError('invalid', `kubeconfig ${shown} cannot be read: ${problem.what}${at}`, 0)
  }
  try {
    kc.loadFromString(text)
  } catch {
    // client-node's own messages may quote the file
    throw new ClusterError(
      'invalid',
      `kubeconfig ${shown} cannot be read: the client library refused it`,
      0
    )
  }
}

/** Reads a kubeconfig file within the limits (a regular file, size) and loads it. */
function load(kc: KubeConfig, file: string, shown: string): void {
  let text: string
  try {
    text = readInputFile(file, { what: 'kubeconfig', shown, maxBytes: KUBECONFIG_MAX_BYTES })
  } catch (error) {
    if (!(error instanceof InputFileError)) throw error
    const name = shownName(shown)
    const message =
      error.code === 'ENOENT'
        ? `kubeconfig ${name} does not exist`
        : `kubeconfig ${name} cannot be read: ${error.reason}`
    throw new ClusterError('invalid', message, 0)
  }
  loadText(kc, text, shownName(shown))
  kc.makePathsAbsolute(dirname(file))
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
      // checked and loaded from memory first: a bad kubeconfig never reaches the disk
      try {
        checkInlineSize(options.kubeconfigContent, {
          what: 'the kubeconfig input',
          maxBytes: KUBECONFIG_MAX_BYTES
        })
      } catch (error) {
        throw new ClusterError('invalid', errorMessage(error), 0)
      }
      loadText(kc, options.kubeconfigContent, 'from the input')
      tempDir = await mkdtemp(join(tmpdir(), 'mesh-expansion-kube-'))
      temporaryFile = join(tempDir, 'config')
      await writeFile(temporaryFile, options.kubeconfigContent, { mode: 0o600 })
      source = 'input'
    } else if (options.kubeconfigPath) {
      const file = resolve(cwd, options.kubeconfigPath)
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
        // names from the file, quoted when they are not plain text: none can start a line
        const names = kc.getContexts().map(c => shownName(String(c.name)))
        throw new ClusterError(
          'invalid',
          `context ${JSON.stringify(options.context)} is not in the kubeconfig (it has: ${names.join(', ') || 'none'})`,
          0
        )
      }
      kc.setCurrentContext(options.context)
    }
    const cluster = kc.getCurrentCluster()
    if (!cluster) {
      const current = kc.getCurrentContext() as string | undefined
      throw new ClusterError(
        'invalid',
        current === undefined || current === ''
          ? 'the kubeconfig has no current-context: set one, or name a context (cluster.context, --context)'
          : `the kubeconfig's context ${JSON.stringify(current)} names no cluster`,
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
