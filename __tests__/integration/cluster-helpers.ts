// Shared set-up of the cluster-side integration tests: a sandbox API on loopback, a connection
// through the real client, and descriptions parsed by the real parser.
import { request } from 'node:https'
import { parseDescription, type Description } from '../../src/config/index.ts'
import { connect, type Connection } from '../../src/cluster/index.ts'
import {
  startSandboxCluster,
  type SandboxCluster,
  type SandboxClusterOptions
} from '../../lab/cluster/index.ts'
import type { ClusterClient, RetryPolicy } from '../../src/cluster/index.ts'
import { isWrite } from '../../lab/cluster/observe.ts'

/** Fast retries for tests (the policy's bounds are what is under test, not its sizes). */
export const FAST_RETRY: RetryPolicy = { attempts: 5, baseMs: 5, maxDelayMs: 50, totalMs: 5_000 }

/** A sandbox and a connection to it for the length of `fn`; both closed after. */
export async function withSandbox<T>(
  options: SandboxClusterOptions,
  fn: (sb: SandboxCluster, client: ClusterClient) => Promise<T>
): Promise<T> {
  const sb = await sandbox(options)
  const c = await connectTo(sb.kubeconfig)
  try {
    return await fn(sb, c.connection.client)
  } finally {
    await c.connection.close()
    await sb.close()
  }
}

export async function sandbox(options: SandboxClusterOptions = {}): Promise<SandboxCluster> {
  return startSandboxCluster({ host: '127.0.0.1', echo: false, ...options })
}

export interface Connected {
  connection: Connection
  logs: string[]
  secrets: string[]
}

/** Connects with the kubeconfig as content (the Action input path), no proxy from the environment. */
export async function connectTo(kubeconfig: string): Promise<Connected> {
  const logs: string[] = []
  const secrets: string[] = []
  const connection = await connect({
    kubeconfigContent: kubeconfig,
    env: {},
    retry: FAST_RETRY,
    log: line => logs.push(line),
    onSecret: value => secrets.push(value)
  })
  return { connection, logs, secrets }
}

export function describe_(yaml: string): Description {
  const result = parseDescription(yaml, 'test.yaml')
  if (!result.ok) throw new Error(result.errors.map(e => `${e.path}: ${e.message}`).join('\n'))
  return result.description
}

export const BASIC = `
cluster:
  exposeIstiod: true
workloadGroups:
  - name: mysql
    namespace: vm
    labels: {app: mysql, version: v1}
    ports: {tcp-mysql: 3306}
    probe: {tcpSocket: {port: 3306}}
    service: {kind: ServiceEntry}
  - name: web
    namespace: vm
    ports: {http: 8080}
    registration: auto
    service: {kind: Service}
vms:
  - name: mysql-1
    group: mysql
    host: 198.18.2.2
    address: 198.18.2.2
  - name: mysql-2
    group: mysql
    host: 198.18.2.3
    address: 198.18.2.3
  - name: web-1
    group: web
    host: 198.18.2.4
`

/** The writes the sandbox received so far (its request log; access reviews store nothing). */
export function writeCount(sb: SandboxCluster): number {
  return sb.requestLog.entries.filter(isWrite).length
}

const PLURALS: Readonly<Record<string, string>> = {
  Namespace: 'namespaces',
  Service: 'services',
  Endpoints: 'endpoints',
  ConfigMap: 'configmaps',
  ServiceEntry: 'serviceentries'
}

/** An object as a test writes it through the API. */
export type ApiObject = {
  apiVersion: string
  kind: string
  metadata: Record<string, unknown> & { name: string; namespace?: string }
} & Record<string, unknown>

/** Writes an object as another tool would (POST, or PUT of an existing one), its own field manager. */
export async function asSomeoneElse(
  sb: SandboxCluster,
  object: ApiObject,
  method: 'POST' | 'PUT' = 'POST'
): Promise<void> {
  const group = object.apiVersion.includes('/') ? `/apis/${object.apiVersion}` : '/api/v1'
  const ns = object.metadata.namespace
  const collection = `${group}${ns !== undefined ? `/namespaces/${ns}` : ''}/${PLURALS[object.kind] ?? ''}`
  const path = `${collection}${method === 'PUT' ? `/${object.metadata.name}` : ''}?fieldManager=someone-else`
  const body = JSON.stringify(object)
  const url = new URL(sb.url)
  await new Promise<void>((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method,
        ca: sb.ca.certPem,
        timeout: 5_000,
        headers: {
          authorization: `Bearer ${sb.adminToken}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body)
        }
      },
      res => {
        let text = ''
        res.on('data', (chunk: Buffer) => (text += chunk.toString()))
        res.on('end', () =>
          (res.statusCode ?? 0) < 300
            ? resolve()
            : reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`))
        )
      }
    )
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)))
    req.on('error', reject)
    req.end(body)
  })
}
