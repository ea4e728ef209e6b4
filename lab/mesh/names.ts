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

/** A GET's JSON body; any other status than 200 rejects with ` HTTP <status>:` in the message. */
export function getJson(url: URL, options: ServiceNamesOptions): Promise<unknown> {
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

interface ServiceEntryList {
  items?: Array<{ spec?: { hosts?: string[]; addresses?: string[] } }>
}

/** ServiceEntries with addresses, from the first networking.istio.io version the API serves. */
async function serviceEntryNames(options: ServiceNamesOptions): Promise<Record<string, string>> {
  for (const version of ['v1', 'v1beta1', 'v1alpha3']) {
    let list: ServiceEntryList
    try {
      const url = new URL(`/apis/networking.istio.io/${version}/serviceentries`, options.server)
      list = (await getJson(url, options)) as ServiceEntryList
    } catch (error) {
      if (error instanceof Error && / HTTP 404:/.test(error.message)) continue
      throw error
    }
    const names: Record<string, string> = {}
    for (const item of list.items ?? []) {
      // The first IPv4 address (not a CIDR) stands for every host of the entry.
      const address = (item.spec?.addresses ?? []).find(a => /^\d+\.\d+\.\d+\.\d+$/.test(a))
      if (!address) continue
      for (const host of item.spec?.hosts ?? []) if (!host.includes('*')) names[host] = address
    }
    return names
  }
  return {}
}

/**
 * A `names` function for startIstiod that reads, at each call, the Services (their ClusterIP)
 * and the ServiceEntries with an address, as istiod's name table for DNS capture holds them.
 */
export function serviceNamesFromApi(
  options: ServiceNamesOptions
): () => Promise<Record<string, string>> {
  const domain = options.clusterDomain ?? 'cluster.local'
  return async () => {
    const list = (await getJson(
      new URL('/api/v1/services', options.server),
      options
    )) as ServiceList
    const names: Record<string, string> = await serviceEntryNames(options)
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
