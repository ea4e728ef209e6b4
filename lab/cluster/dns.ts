// Cluster names for the pods: `ip netns exec NAME` bind-mounts /etc/netns/NAME/* over /etc, so a
// hosts file there gives every pod command (and the echo app) the Services' names, as kube-dns
// would: <svc>.<ns>.svc.cluster.local, <svc>.<ns>.svc, <svc>.<ns>. ServiceEntries with addresses
// are listed too. resolv.conf names no server, so no query leaves the lab.
import { existsSync, mkdirSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isObject } from './fields.ts'
import type { ObjectStore } from './store.ts'

export interface PodNames {
  /** /etc/netns/<netns> */
  dir: string
  /** the current hosts file text */
  render(): string
  close(): void
}

export function renderHosts(store: ObjectStore, clusterDomain = 'cluster.local'): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback']
  for (const svc of store.list('services')) {
    const spec = isObject(svc.spec) ? svc.spec : {}
    const ip = spec.clusterIP
    if (typeof ip !== 'string' || ip === '' || ip === 'None') continue
    const name = svc.metadata?.name ?? ''
    const ns = svc.metadata?.namespace ?? ''
    lines.push(`${ip}\t${name}.${ns}.svc.${clusterDomain} ${name}.${ns}.svc ${name}.${ns}`)
  }
  for (const se of store.list('serviceentries.networking.istio.io')) {
    const spec = isObject(se.spec) ? se.spec : {}
    const hosts = Array.isArray(spec.hosts)
      ? spec.hosts.filter(h => typeof h === 'string' && !h.includes('*'))
      : []
    const addresses = Array.isArray(spec.addresses)
      ? spec.addresses.filter(a => typeof a === 'string' && !a.includes('/'))
      : []
    const first = addresses[0]
    if (first !== undefined && hosts.length > 0) lines.push(`${String(first)}\t${hosts.join(' ')}`)
  }
  return lines.join('\n') + '\n'
}

/** Keeps /etc/netns/<netns>/hosts (and resolv.conf) in step with the store until close(). */
export function startPodNames(
  store: ObjectStore,
  netns: string,
  clusterDomain = 'cluster.local'
): PodNames {
  if (!/^[A-Za-z0-9_.-]+$/.test(netns)) throw new Error(`not a network namespace name: ${netns}`)
  const dir = join('/etc/netns', netns)
  const createdDir = !existsSync(dir)
  mkdirSync(dir, { recursive: true })
  const written: string[] = []
  const place = (file: string, text: string): void => {
    const target = join(dir, file)
    const tmp = `${target}.tmp-${process.pid}`
    writeFileSync(tmp, text, { mode: 0o644 })
    renameSync(tmp, target)
    if (!written.includes(target)) written.push(target)
  }
  place(
    'resolv.conf',
    '# the sandbox cluster: names come from /etc/hosts, no DNS server\noptions timeout:1 attempts:1\n'
  )
  let scheduled = false
  let closed = false
  const refresh = (): void => {
    scheduled = false
    if (!closed) place('hosts', renderHosts(store, clusterDomain))
  }
  refresh()
  const stop = store.onChange(event => {
    const r = event.resource
    if (
      scheduled ||
      !((r.group === '' && r.plural === 'services') || r.plural === 'serviceentries')
    )
      return
    scheduled = true
    queueMicrotask(refresh)
  })
  return {
    dir,
    render: () => renderHosts(store, clusterDomain),
    close: () => {
      closed = true
      stop()
      for (const f of written) rmSync(f, { force: true })
      if (createdDir) {
        try {
          rmdirSync(dir)
        } catch {
          // someone else put files there
        }
      }
    }
  }
}
