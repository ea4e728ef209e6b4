// Where a check's request comes from and goes to: its kind, the VM it is about, the URL (from
// `url`, or a VM's mesh address or a pod's IP for `to`) and what the diagnosis needs of it.
import type { Check, Endpoint, WorkloadGroup } from '../config/index.ts'
import type { RequestContext, RequestKind } from './diagnose.ts'
import type { Runtime, VmState } from './runtime.ts'

export function kindOf(check: Check): RequestKind {
  if (check.from.kind === 'vm') return check.to?.kind === 'vm' ? 'host-to-host' : 'host-to-cluster'
  return check.to?.kind === 'vm' ? 'cluster-to-host' : 'pod-to-pod'
}

/** The VM a check is about: its source, else its target. */
export function checkVm(check: Check): string | undefined {
  if (check.from.kind === 'vm') return check.from.name
  return check.to?.kind === 'vm' ? check.to.name : undefined
}

/** Why the check cannot run yet: a VM at either end is not ready (undefined: it can). */
export function unreadyEndpoint(check: Check, vms: Map<string, VmState>): string | undefined {
  for (const e of [check.from, check.to]) {
    if (e?.kind !== 'vm') continue
    const state = vms.get(e.name)
    if (state && !state.ready) return state.why ?? `vm/${e.name} is not ready`
  }
  return undefined
}

function endpointText(e: Endpoint): string {
  return e.kind === 'vm' ? `vm/${e.name}` : `pod/${e.namespace}/${e.selector}`
}

function hostPart(address: string): string {
  return address.includes(':') ? `[${address}]` : address
}

/** Where a check's request goes: its URL and, for a VM's service, the address to connect to. */
export interface TargetUrl {
  url: string
  /** The VM's address: the URL names the group's service host, which need not resolve. */
  connectTo?: string
}

/**
 * The group's service host and port in front of a VM port: a request to it is routed by the
 * caller's sidecar to the service's endpoints, with mTLS (one to the VM's address matches no
 * service: PassthroughCluster, plaintext, no caller identity). undefined: no service for it.
 */
export function serviceRoute(
  group: WorkloadGroup,
  vmPort: number
): { host: string; port: number } | undefined {
  const { service } = group
  if (service.kind === 'none') return undefined
  const port = service.ports.find(p => p.targetPort === vmPort)
  if (!port) return undefined
  const host =
    service.kind === 'ServiceEntry'
      ? service.hosts[0]
      : `${service.name}.${group.namespace}.svc.cluster.local`
  return host ? { host, port: port.number } : undefined
}

/**
 * The URL requested: `url` as given; to a VM, its group's service host (connecting to the VM's
 * address), else the VM's address; to a pod, its IP; with the check's port and path.
 */
export async function targetUrl(
  rt: Runtime,
  check: Check,
  vms: Map<string, VmState>
): Promise<TargetUrl | { error: string }> {
  if (check.url !== null) return { url: check.url }
  const to = check.to
  if (!to) return { error: 'the check has neither url nor to' }
  if (to.kind === 'vm') {
    const state = vms.get(to.name)
    const address = state?.address
    if (!state || !address) return { error: `the address of vm/${to.name} is not known` }
    const port = check.port ?? 80
    const route = serviceRoute(state.group, port)
    if (route) {
      return { url: `http://${route.host}:${route.port}${check.path}`, connectTo: address }
    }
    return { url: `http://${hostPart(address)}:${port}${check.path}` }
  }
  const pods = rt.deps.pods
  if (!pods) return { error: 'no cluster connection to find the target pod' }
  const pod = await pods.findPod(to.namespace, to.selector)
  if (!pod?.ip) return { error: `no running pod with an IP matches ${endpointText(to)}` }
  return { url: `http://${hostPart(pod.ip)}:${check.port ?? 80}${check.path}` }
}

/** What the diagnosis knows of a request before it is sent (all but where it comes from). */
export type RequestTarget = Omit<RequestContext, 'from'>

export function requestTarget(check: Check, { url, connectTo }: TargetUrl): RequestTarget {
  const parsed = new URL(url)
  return {
    kind: kindOf(check),
    url,
    ...(connectTo !== undefined ? { connectTo } : {}),
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80)),
    expect: check.expect,
    requireEnvoy: check.from.kind === 'vm' || check.to?.kind === 'vm'
  }
}

/** The target's host is a name to resolve, not an IPv4 or IPv6 address. */
export function isHostName(host: string): boolean {
  return !/^[\d.]+$/.test(host) && !host.includes(':')
}
