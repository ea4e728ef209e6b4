// ISTIO_SERVICE_CIDR without a cloud CLI (the old scripts only asked gcloud): the ServiceCIDR
// objects where the API serves them, else the range the API server names when a dry-run Service
// asks for an address outside it, else the kube-apiserver pod's --service-cluster-ip-range.
import { isIP } from 'node:net'
import { errorMessage } from '../../util/errors.ts'
import { ClusterError } from '../errors.ts'
import type { ClusterClient, KubeObject } from '../types.ts'

export interface ServiceCidr {
  cidrs: string[]
  source: 'servicecidr' | 'dry-run' | 'apiserver-flags'
}

/** An IPv4 or IPv6 CIDR with a prefix length that fits the family. */
export function isCidr(value: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(value)
  if (!m) return false
  const family = isIP(m[1] ?? '')
  const bits = Number(m[2])
  return family !== 0 && String(bits) === m[2] && bits <= (family === 4 ? 32 : 128)
}

/** Distinct CIDRs in order of first appearance. */
function unique(cidrs: readonly string[]): string[] {
  return [...new Set(cidrs)]
}

/**
 * The ranges in the API server's refusal of an out-of-range clusterIP, e.g. `spec.clusterIP:
 * Invalid value: "1.1.1.1": provided IP is not in the valid range. The range of valid IPs is
 * 10.96.0.0/12` (newer servers word the first part differently; the last sentence stays).
 * [] when the message names no range.
 */
export function cidrFromDryRunMessage(message: string): string[] {
  const out: string[] = []
  for (const m of message.matchAll(/range of valid IPs is ([^\n]*)/gi)) {
    const sentence = (m[1] ?? '').split(/\.(?:\s|$)/)[0] ?? ''
    for (const token of sentence.match(/[0-9A-Fa-f.:]+\/\d{1,3}/g) ?? [])
      if (isCidr(token)) out.push(token)
  }
  return unique(out)
}

/**
 * The --service-cluster-ip-range of a kube-apiserver command line (`--flag=value` or
 * `--flag value`; a comma list for dual stack). [] when absent or malformed.
 */
export function cidrFromApiserverArgs(args: readonly string[]): string[] {
  const flag = '--service-cluster-ip-range'
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? ''
    const value = arg.startsWith(`${flag}=`)
      ? arg.slice(flag.length + 1)
      : arg === flag
        ? (args[i + 1] ?? '')
        : undefined
    if (value === undefined) continue
    const cidrs = value.split(',').map(s => s.trim())
    if (cidrs.length > 0 && cidrs.every(isCidr)) return unique(cidrs)
  }
  return []
}

/** spec.cidrs of ServiceCIDR objects, the `kubernetes` one (the API server's flag) first. */
export function cidrsFromServiceCidrObjects(objects: readonly KubeObject[]): string[] {
  const sorted = [...objects].sort(
    (a, b) => Number(b.metadata.name === 'kubernetes') - Number(a.metadata.name === 'kubernetes')
  )
  const out: string[] = []
  for (const o of sorted) {
    if (o.metadata.deletionTimestamp) continue
    const spec = o.spec as { cidrs?: unknown } | undefined
    if (Array.isArray(spec?.cidrs))
      for (const c of spec.cidrs) if (typeof c === 'string' && isCidr(c)) out.push(c)
  }
  return unique(out)
}

/** Failures after which no other path can work either. */
function fatal(error: unknown): boolean {
  return (
    error instanceof ClusterError && (error.kind === 'unreachable' || error.kind === 'unauthorized')
  )
}

type Attempt = { found: ServiceCidr } | { why: string }

async function fromServiceCidrObjects(client: ClusterClient): Promise<Attempt> {
  const served = await client.servedVersions('networking.k8s.io')
  const versions = ['v1', 'v1beta1'].filter(v => served.includes(v))
  if (versions.length === 0) return { why: 'networking.k8s.io is not served' }
  const whys: string[] = []
  for (const version of versions) {
    try {
      const cidrs = cidrsFromServiceCidrObjects(
        await client.list(`networking.k8s.io/${version}`, 'ServiceCIDR')
      )
      if (cidrs.length > 0) return { found: { cidrs, source: 'servicecidr' } }
      whys.push(`networking.k8s.io/${version} lists no ServiceCIDR with spec.cidrs`)
    } catch (error) {
      if (fatal(error)) throw error
      // a version that does not serve the kind: 404, or the client finds no such kind in it
      whys.push(`networking.k8s.io/${version}: ${errorMessage(error)}`)
    }
  }
  return { why: whys.join('; ') }
}

/** Addresses no service range is expected to hold; the second in case the first is in one. */
const PROBE_IPS = ['1.1.1.1', '203.0.113.1']

async function fromDryRun(client: ClusterClient): Promise<Attempt> {
  const whys: string[] = []
  for (const ip of PROBE_IPS) {
    // generateName: a name of ours can never collide with a Service someone has
    const metadata = { generateName: 'mesh-expansion-cidr-probe-', namespace: 'default' }
    const probe: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: metadata as unknown as KubeObject['metadata'],
      spec: { clusterIP: ip, ports: [{ name: 'probe', port: 80, protocol: 'TCP' }] }
    }
    try {
      await client.dryRunCreate(probe)
      whys.push(`the API server accepted clusterIP ${ip}`)
    } catch (error) {
      if (fatal(error)) throw error
      const cidrs = cidrFromDryRunMessage(errorMessage(error))
      if (cidrs.length > 0) return { found: { cidrs, source: 'dry-run' } }
      return { why: errorMessage(error) }
    }
  }
  return { why: whys.join('; ') }
}

function commandLine(pod: KubeObject): string[] {
  const spec = pod.spec as { containers?: unknown } | undefined
  const containers = Array.isArray(spec?.containers) ? spec.containers : []
  return containers.flatMap((c: unknown) => {
    const { command, args } = (c ?? {}) as { command?: unknown; args?: unknown }
    const strings = (v: unknown): string[] =>
      Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []
    return [...strings(command), ...strings(args)]
  })
}

async function fromApiserverPods(client: ClusterClient): Promise<Attempt> {
  let pods: KubeObject[]
  try {
    pods = await client.list('v1', 'Pod', {
      namespace: 'kube-system',
      labelSelector: 'component=kube-apiserver'
    })
  } catch (error) {
    if (fatal(error)) throw error
    return { why: errorMessage(error) }
  }
  if (pods.length === 0)
    return {
      why: 'no pod labelled component=kube-apiserver in kube-system (a managed control plane?)'
    }
  for (const pod of pods) {
    const cidrs = cidrFromApiserverArgs(commandLine(pod))
    if (cidrs.length > 0) return { found: { cidrs, source: 'apiserver-flags' } }
  }
  return {
    why: `pod ${pods.map(p => p.metadata.name).join(', ')} has no --service-cluster-ip-range flag`
  }
}

/** The cluster's service CIDR(s): ServiceCIDR objects, then a dry-run Service, then apiserver flags. */
export async function discoverServiceCidr(client: ClusterClient): Promise<ServiceCidr> {
  const paths: Array<[string, (c: ClusterClient) => Promise<Attempt>]> = [
    ['ServiceCIDR objects', fromServiceCidrObjects],
    ['a dry-run Service with clusterIP outside the range', fromDryRun],
    ['the kube-apiserver pod flags', fromApiserverPods]
  ]
  const tried: string[] = []
  for (const [what, path] of paths) {
    let attempt: Attempt
    try {
      attempt = await path(client)
    } catch (error) {
      if (fatal(error)) throw error
      attempt = { why: errorMessage(error) }
    }
    if ('found' in attempt) return attempt.found
    tried.push(`${what}: ${attempt.why}`)
  }
  throw new ClusterError(
    'not-found',
    `could not find the cluster's service CIDR; tried ${tried.join('; ')}. ` +
      'Set it explicitly in cluster.legacy.serviceCidrs (e.g. [10.96.0.0/12])',
    0
  )
}
