// The API server's service proxy (`/api/v1/namespaces/<ns>/services/<name>[:<port>]/proxy/<path>`),
// only as far as the checks need it: istiod's debug endpoints on the monitoring port (15014),
// answered by an in-process callback (the lab wires it to the istiod stand-in). Every other
// service has "no endpoints", as a Service without ready pods has.
//
// From Istio 1.11 istiod serves its debug handlers only to localhost or an authenticated caller
// (pilot/pkg/xds/debug.go, allowAuthenticatedOrLocalhost): the API server's proxy is neither (it
// connects from its own address and drops the caller's credentials), so istiod answers 401 with
// an empty body. On localhost (`pilot-discovery request GET /debug/...` in the istiod pod, see
// exec.ts) the same handlers answer.
import { ApiError } from './status.ts'
import type { KubeObject } from './store.ts'

/** Answers a debug path of istiod (e.g. `/debug/connections`); undefined = 404. */
/** istiod's debug answer for a path, asked of one revision's istiod ('' = the default one). */
export type IstiodDebug = (path: string, revision: string) => unknown

export interface ProxyRequest {
  namespace: string
  /** `name`, `name:port` or `name:portName` */
  service: string
  /** the path after `/proxy`, with its query */
  path: string
}

/** Splits a service proxy URL path; null when it is not one. */
export function parseServiceProxyPath(pathWithQuery: string): ProxyRequest | null {
  const m = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/]+)\/proxy(\/[^?]*)?(\?.*)?$/.exec(
    pathWithQuery
  )
  if (!m) return null
  return {
    namespace: decodeURIComponent(m[1] ?? ''),
    service: decodeURIComponent(m[2] ?? ''),
    path: (m[3] ?? '/') + (m[4] ?? '')
  }
}

/** istiod asks for authentication on its debug handlers unless the caller is on localhost. */
export function istiodDebugNeedsAuth(istioVersion: string): boolean {
  const [major = 0, minor = 0] = istioVersion.split('.').map(n => Number.parseInt(n, 10) || 0)
  return major > 1 || (major === 1 && minor >= 11)
}

export function serveServiceProxy(
  request: ProxyRequest,
  service: KubeObject | undefined,
  istiodDebug: IstiodDebug | undefined,
  debugNeedsAuth = false
): { code: number; body: unknown } {
  const [name = '', port = ''] = request.service.split(':')
  if (!service) {
    throw new ApiError(404, 'NotFound', `services "${name}" not found`, {
      name,
      kind: 'services'
    })
  }
  const monitoring = port === '15014' || port === 'http-monitoring'
  if (/^istiod(-.+)?$/.test(name) && monitoring && istiodDebug) {
    // the proxied request comes from the API server: not loopback, no credentials
    if (debugNeedsAuth && request.path.startsWith('/debug')) return { code: 401, body: '' }
    const body = istiodDebug(request.path.split('?')[0] ?? '/', name.replace(/^istiod-?/, ''))
    if (body === undefined) return { code: 404, body: '404 page not found\n' }
    return { code: 200, body }
  }
  throw new ApiError(
    503,
    'ServiceUnavailable',
    `no endpoints available for service "${request.service}"`
  )
}

/** Istio's /debug/connections shape from the istiod stand-in's connected proxies. */
export function debugConnections(
  proxies: ReadonlyArray<{ podName: string; namespace: string; remoteAddress: string }>,
  connectedAt = new Date()
): { totalClients: number; clients?: unknown[] } {
  const clients = proxies.map((p, i) => ({
    // istiod: `<proxy ID>-<counter>`, the proxy ID of a VM being `<host name>.<namespace>`
    connectionId: `${p.podName}.${p.namespace}-${i + 1}`,
    connectedAt: connectedAt.toISOString(),
    address: `${p.remoteAddress}:15012`
  }))
  return { totalClients: clients.length, ...(clients.length > 0 ? { clients } : {}) }
}

/**
 * `pilot-discovery request <method> <path>` in the istiod pod (pilot/cmd/pilot-discovery/app/
 * request.go): a GET of http://127.0.0.1:15014/<path>, which istiod answers because the caller is
 * on localhost. Prints the body (also of a 404) and exits 0; another status above 399 is an error.
 * undefined: the command is not that one.
 */
export function pilotDiscoveryRequest(
  command: readonly string[],
  istiodDebug: IstiodDebug | undefined,
  revision = ''
): { code: number; stdout: string; stderr: string } | undefined {
  const [program = '', sub, method = '', path = ''] = command
  if (program.split('/').pop() !== 'pilot-discovery' || sub !== 'request') return undefined
  const url = `http://127.0.0.1:15014/${path.replace(/^\//, '')}`
  if (command.length < 4) {
    return { code: 1, stdout: '', stderr: 'Error: requires at least 2 arg(s), only received 1\n' }
  }
  if (!istiodDebug) {
    return {
      code: 1,
      stdout: '',
      stderr: `Error: Get "${url}": dial tcp 127.0.0.1:15014: connect: connection refused\n`
    }
  }
  const body = method === 'GET' ? istiodDebug(new URL(url).pathname, revision) : undefined
  if (body === undefined) return { code: 0, stdout: '404 page not found\n\n', stderr: '' }
  return { code: 0, stdout: `${JSON.stringify(body)}\n`, stderr: '' }
}
