// WorkloadEntry auto-registration, as istiod does it for a proxy whose cluster.env carries
// ISTIO_META_AUTO_REGISTER_GROUP (reference §5): on connect, a WorkloadEntry named
// <group>-<ip>[-<network>] from the WorkloadGroup's template, owned by the group; on disconnect,
// `istio.io/disconnectedAt`, then deletion after the grace period unless the proxy came back.
import { request } from 'node:https'
import type { ConnectedProxy } from './istiod.ts'

export interface AutoRegistrationOptions {
  /** API server URL, e.g. https://198.18.0.1:6443 */
  server: string
  caPem: string
  /** istiod's credentials: get WorkloadGroups, manage WorkloadEntries. */
  token: string
  /** PILOT_WORKLOAD_ENTRY_GRACE_PERIOD (default 10 s). */
  graceSeconds?: number
  /** The value of istio.io/workloadController (istiod's pod name). */
  controller?: string
  /** networking.istio.io versions to try, preferred first (default v1, v1beta1, v1alpha3). */
  versions?: string[]
}

export interface AutoRegistration {
  onConnected(proxy: ConnectedProxy): Promise<void>
  onDisconnected(proxy: ConnectedProxy): Promise<void>
  /**
   * The proxy reported its application's health: the WorkloadEntry's Healthy condition follows,
   * when the entry has `proxy.istio.io/health-checks-enabled: "true"`.
   */
  onHealth(proxy: ConnectedProxy): Promise<void>
  /** Cancels pending deletions (the entries stay). */
  close(): void
}

interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata?: {
    name?: string
    namespace?: string
    uid?: string
    resourceVersion?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    ownerReferences?: unknown[]
  }
  spec?: Record<string, unknown>
  status?: { conditions?: Condition[]; [key: string]: unknown }
}

interface Condition {
  type: string
  status: string
  lastProbeTime?: string
  lastTransitionTime?: string
  reason?: string
  message?: string
}

const HEALTH_CHECKS = 'proxy.istio.io/health-checks-enabled'

class HttpError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

export function entryName(group: string, ip: string, network: string): string {
  const name = `${group}-${ip.replace(/:/g, '-')}${network ? `-${network}` : ''}`
  return name.slice(-253)
}

export function createAutoRegistration(options: AutoRegistrationOptions): AutoRegistration {
  const grace = (options.graceSeconds ?? 10) * 1000
  const controller = options.controller ?? 'istiod-lab'
  const versions = options.versions ?? ['v1', 'v1beta1', 'v1alpha3']
  const pending = new Map<string, NodeJS.Timeout>()
  let version: string | undefined

  function call(method: string, path: string, body?: unknown): Promise<KubeObject> {
    return new Promise((resolve, reject) => {
      const text = body === undefined ? '' : JSON.stringify(body)
      const req = request(
        new URL(path, options.server),
        {
          method,
          ca: options.caPem,
          timeout: 10_000,
          headers: {
            authorization: `Bearer ${options.token}`,
            accept: 'application/json',
            'content-type': 'application/json'
          }
        },
        res => {
          let data = ''
          res.on('data', (chunk: Buffer) => (data += chunk.toString()))
          res.on('end', () => {
            const status = res.statusCode ?? 0
            if (status >= 300)
              reject(
                new HttpError(status, `${method} ${path}: HTTP ${status} ${data.slice(0, 300)}`)
              )
            else resolve(data ? (JSON.parse(data) as KubeObject) : {})
          })
        }
      )
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)))
      req.on('error', reject)
      req.end(text)
    })
  }

  const base = (v: string, namespace: string, plural: string): string =>
    `/apis/networking.istio.io/${v}/namespaces/${namespace}/${plural}`

  async function getGroup(namespace: string, name: string): Promise<KubeObject> {
    for (const v of version ? [version] : versions) {
      try {
        const group = await call('GET', `${base(v, namespace, 'workloadgroups')}/${name}`)
        version = v
        return group
      } catch (error) {
        // 404 for an unknown version or a missing group: try the next version, then give up.
        if (!(error instanceof HttpError) || error.status !== 404) throw error
      }
    }
    throw new Error(`workloadgroup ${name} not found in namespace ${namespace}`)
  }

  return {
    async onConnected(proxy) {
      const group = proxy.autoRegisterGroup
      if (!group) return
      const ns = proxy.namespace
      const wg = await getGroup(ns, group)
      const spec = (wg.spec ?? {}) as {
        metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }
        template?: Record<string, unknown> & {
          labels?: Record<string, string>
          serviceAccount?: string
          network?: string
        }
      }
      const template = spec.template ?? {}
      // ISTIO_WORKLOAD_ENTRY_VALIDATE_IDENTITY: the proxy must be the group's service account.
      const account = template.serviceAccount || 'default'
      if (proxy.serviceAccount !== account) {
        throw new Error(
          `auto-registration of ${proxy.spiffeId} refused: workloadgroup ${ns}/${group} is for service account ${account}`
        )
      }
      const proxyLabels = { ...proxy.labels }
      delete proxyLabels['istio-locality']
      const labels = { ...template.labels, ...spec.metadata?.labels, ...proxyLabels }
      const network = proxy.network || template.network || ''
      const name = entryName(group, proxy.ip, network)
      const timer = pending.get(`${ns}/${name}`)
      if (timer) clearTimeout(timer)
      pending.delete(`${ns}/${name}`)
      const v = version ?? 'v1'
      const entry: KubeObject = {
        apiVersion: `networking.istio.io/${v}`,
        kind: 'WorkloadEntry',
        metadata: {
          name,
          namespace: ns,
          labels,
          annotations: {
            'istio.io/autoRegistrationGroup': group,
            ...spec.metadata?.annotations,
            'istio.io/workloadController': controller,
            'istio.io/connectedAt': new Date().toISOString(),
            ...(proxy.healthChecks ? { [HEALTH_CHECKS]: 'true' } : {})
          },
          ownerReferences: [
            {
              apiVersion: wg.apiVersion,
              kind: 'WorkloadGroup',
              name: group,
              uid: wg.metadata?.uid,
              controller: true
            }
          ]
        },
        spec: {
          ...template,
          address: proxy.ip,
          labels,
          ...(network ? { network } : {})
        }
      }
      try {
        await call('POST', base(v, ns, 'workloadentries'), entry)
      } catch (error) {
        if (!(error instanceof HttpError) || error.status !== 409) throw error
        const existing = await call('GET', `${base(v, ns, 'workloadentries')}/${name}`)
        const replaced = {
          ...entry,
          metadata: { ...entry.metadata, resourceVersion: existing.metadata?.resourceVersion }
        }
        await call('PUT', `${base(v, ns, 'workloadentries')}/${name}`, replaced)
      }
    },

    async onDisconnected(proxy) {
      const group = proxy.autoRegisterGroup
      if (!group) return
      const ns = proxy.namespace
      const v = version ?? 'v1'
      const name = entryName(group, proxy.ip, proxy.network)
      const path = `${base(v, ns, 'workloadentries')}/${name}`
      let existing: KubeObject
      try {
        existing = await call('GET', path)
      } catch (error) {
        if (error instanceof HttpError && error.status === 404) return
        throw error
      }
      const annotations = { ...existing.metadata?.annotations }
      delete annotations['istio.io/connectedAt']
      annotations['istio.io/disconnectedAt'] = new Date().toISOString()
      await call('PUT', path, { ...existing, metadata: { ...existing.metadata, annotations } })
      const key = `${ns}/${name}`
      const timer = setTimeout(() => {
        pending.delete(key)
        call('DELETE', path).catch(() => undefined) // gone already: nothing to do
      }, grace)
      timer.unref()
      pending.set(key, timer)
    },

    async onHealth(proxy) {
      const health = proxy.health
      if (!health) return
      const name = proxy.autoRegisterGroup
        ? entryName(proxy.autoRegisterGroup, proxy.ip, proxy.network)
        : proxy.workloadEntry
      if (!name) return
      let existing: KubeObject | undefined
      let path = ''
      // An auto-registered entry is being created as the first report arrives: wait for it.
      for (let attempt = 0; attempt < 10 && !existing; attempt++) {
        if (attempt > 0) await new Promise(resolve => setTimeout(resolve, 300))
        for (const v of version ? [version] : versions) {
          path = `${base(v, proxy.namespace, 'workloadentries')}/${name}`
          try {
            existing = await call('GET', path)
            break
          } catch (error) {
            if (!(error instanceof HttpError) || error.status !== 404) throw error
          }
        }
        if (!proxy.autoRegisterGroup) break
      }
      if (!existing || existing.metadata?.annotations?.[HEALTH_CHECKS] !== 'true') return
      const now = new Date().toISOString()
      const status = health.healthy ? 'True' : 'False'
      const conditions = existing.status?.conditions ?? []
      const previous = conditions.find(c => c.type === 'Healthy')
      const condition: Condition = {
        type: 'Healthy',
        status,
        lastProbeTime: now,
        lastTransitionTime:
          previous?.status === status ? (previous.lastTransitionTime ?? now) : now,
        ...(health.healthy ? {} : { message: health.message })
      }
      await call('PUT', `${path}/status`, {
        ...existing,
        status: {
          ...existing.status,
          conditions: [...conditions.filter(c => c.type !== 'Healthy'), condition]
        }
      })
    },

    close() {
      for (const timer of pending.values()) clearTimeout(timer)
      pending.clear()
    }
  }
}
