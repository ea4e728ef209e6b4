// The API server's service proxy (`/api/v1/namespaces/<ns>/services/<name>[:<port>]/proxy/<path>`),
// only as far as the checks need it: istiod's debug endpoints on the monitoring port (15014),
// answered by an in-process callback (the lab wires it to the istiod stand-in). Every other
// service has "no endpoints", as a Service without ready pods has.
import { ApiError } from './status.ts'
import type { KubeObject } from './store.ts'

/** Answers a debug path of istiod (e.g. `/debug/connections`); undefined = 404. */
export type IstiodDebug = (path: string) => unknown

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

export function serveServiceProxy(
  request: ProxyRequest,
  service: KubeObject | undefined,
  istiodDebug: IstiodDebug | undefined
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
    const body = istiodDebug(request.path.split('?')[0] ?? '/')
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
