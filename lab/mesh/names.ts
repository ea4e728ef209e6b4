// The name table istiod serves for DNS capture, read from a Kubernetes API: every Service with a
// ClusterIP as <name>.<namespace>.svc.<domain> -> IP (the agent adds the short forms).
import { request } from 'node:https'

export interface ServiceNamesOptions {
  /** API server URL, e.g. https://198.18.0.1:6443 */
  server: string
  caPem: string
  /** A token allowed to list services in all namespaces. */
  token: string
  clusterDomain?: string
  timeoutMs?: number
}

interface ServiceList {
  items?: Array<{
    metadata?: { name?: string; namespace?: string }
    spec?: { clusterIP?: string }
  }>
}

function getJson(url: URL, options: ServiceNamesOptions): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        ca: options.caPem,
        timeout: options.timeoutMs ?? 10_000,
        headers: { accept: 'application/json', authorization: `Bearer ${options.token}` }
      },
      res => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          if (res.statusCode !== 200) {
            reject(
              new Error(
                `GET ${url.pathname} answered HTTP ${res.statusCode}: ${text.slice(0, 300)}`
              )
            )
            return
          }
          try {
            resolve(JSON.parse(text))
          } catch (error) {
            reject(
              new Error(
                `GET ${url.pathname} answered with something that is not JSON: ${String(error)}`
              )
            )
          }
        })
      }
    )
    req.on('timeout', () => req.destroy(new Error(`GET ${url.pathname} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

/** A `names` function for startIstiod that reads the Services at each call. */
export function serviceNamesFromApi(
  options: ServiceNamesOptions
): () => Promise<Record<string, string>> {
  const domain = options.clusterDomain ?? 'cluster.local'
  return async () => {
    const list = (await getJson(
      new URL('/api/v1/services', options.server),
      options
    )) as ServiceList
    const names: Record<string, string> = {}
    for (const item of list.items ?? []) {
      const ip = item.spec?.clusterIP
      const name = item.metadata?.name
      const namespace = item.metadata?.namespace
      if (!ip || ip === 'None' || !name || !namespace) continue
      names[`${name}.${namespace}.svc.${domain}`] = ip
    }
    return names
  }
}
