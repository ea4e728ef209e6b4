// multinetwork-1.4 (1.3/1.4 gateways): the `.global` names VMs use to call cluster services,
// and the cluster DNS stub that sends `*.global` to istiocoredns. Addresses come from the pure
// allocator of src/istio/legacy/multiNetwork.ts, fed with what the cluster's ServiceEntries say,
// so they are stable across runs and never collide with an address someone else uses.
import { isIPv4, requireDnsSubdomain } from '../../istio/legacy/common.ts'
import {
  allocateGlobalAddresses,
  allocationsFromServiceEntries,
  ensureCorefileGlobalStub,
  globalHost,
  renderGlobalServiceEntry,
  renderKubeDnsStub
} from '../../istio/legacy/multiNetwork.ts'
import { isValidIPAddress } from '../../istio/ip.ts'
import { ClusterError } from '../errors.ts'
import {
  foreignPhrase,
  foreignReason,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  type Ownership
} from '../objects.ts'
import { apply, planEntry } from '../plan.ts'
import { describeRef, refOf, type ClusterClient, type KubeObject } from '../types.ts'
import { checked, fromYaml } from './registry.ts'
import { withOwnership } from '../objects.ts'

export interface GlobalNamesInput {
  /** cluster Services the VMs call */
  services: { name: string; namespace: string }[]
  /** the cluster gateway address (IP or hostname) */
  gateway: string
  networkingVersion: string
  ownership: Ownership
  /** compute the allocation, write nothing (written is then 0) */
  dryRun?: boolean
}

interface ServicePort {
  name?: string
  port: number
  protocol?: string
  appProtocol?: string
}

const isManagedObject = (o: KubeObject): boolean =>
  o.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE

/** The Service's TCP ports by name (15443 carries TLS over TCP only); unnamed ones as tcp-<port>. */
function portsOf(service: KubeObject): {
  ports: Record<string, number>
  protocols: Record<string, string>
} {
  const what = describeRef(refOf(service))
  const spec = (service['spec'] ?? {}) as { ports?: ServicePort[] }
  const ports: Record<string, number> = {}
  const protocols: Record<string, string> = {}
  for (const p of spec.ports ?? []) {
    if ((p.protocol ?? 'TCP') !== 'TCP') continue
    const name = p.name !== undefined && p.name !== '' ? p.name : `tcp-${p.port}`
    ports[name] = p.port
    if (p.appProtocol !== undefined && /^[A-Za-z0-9-]+$/.test(p.appProtocol))
      protocols[name] = p.appProtocol
  }
  if (Object.keys(ports).length === 0) {
    throw new ClusterError(
      'invalid',
      `${what} has no TCP port: a .global name reaches it through the gateway's TLS port 15443`,
      0
    )
  }
  return { ports, protocols }
}

/**
 * One `.global` ServiceEntry per cluster Service (`<name>.<ns>.forvms` in the Service's
 * namespace: host `<name>.<ns>.global`, MESH_INTERNAL, DNS, a 127.255.x.y address, endpoints at
 * the gateway with every port → 15443). Previous allocations are read back from our entries,
 * addresses of every other ServiceEntry are avoided; a re-run writes nothing.
 */
export async function ensureGlobalServiceEntries(
  client: ClusterClient,
  input: GlobalNamesInput
): Promise<{ allocations: Record<string, string>; written: number }> {
  const gatewayIsIP = isValidIPAddress(input.gateway) && !input.gateway.includes('%')
  if (!gatewayIsIP) checked('gateway', () => requireDnsSubdomain('gateway', input.gateway))
  const services = await Promise.all(
    input.services.map(async s => {
      const live = await client.get({
        apiVersion: 'v1',
        kind: 'Service',
        name: s.name,
        namespace: s.namespace
      })
      if (live === null) {
        throw new ClusterError(
          'not-found',
          `Service ${s.namespace}/${s.name} does not exist: a .global name is made for an ` +
            'existing cluster Service (check the name and namespace)',
          404
        )
      }
      return { ...s, host: checked('service', () => globalHost(s)), ...portsOf(live) }
    })
  )
  const apiVersion = `networking.istio.io/${input.networkingVersion}`
  const entries = await client.list(apiVersion, 'ServiceEntry')
  const wanted = new Set(services.map(s => s.host))
  for (const e of entries) {
    const hosts = ((e['spec'] ?? {}) as { hosts?: string[] }).hosts ?? []
    const clash = hosts.find(h => wanted.has(h))
    if (clash !== undefined && !isManagedObject(e)) {
      throw new ClusterError(
        'conflict',
        `${describeRef(refOf(e))} already declares ${clash} and was not created by ` +
          'mesh-expansion: remove it, or leave that service out of the .global names',
        0
      )
    }
  }
  const { previous, usedElsewhere } = allocationsFromServiceEntries(
    entries as unknown as Parameters<typeof allocationsFromServiceEntries>[0]
  )
  // our entries of services no longer asked for stay in the cluster: their addresses stay taken
  const stale = Object.entries(previous).filter(([h]) => !wanted.has(h))
  const { allocations } = checked('.global addresses', () =>
    allocateGlobalAddresses(
      [...wanted],
      Object.fromEntries(Object.entries(previous).filter(([h]) => wanted.has(h))),
      [...usedElsewhere, ...stale.map(([, a]) => a)]
    )
  )
  // the renderer takes IPs; a hostname gateway is a valid DNS endpoint, set after rendering
  const placeholder = '192.0.2.1'
  const desired = services.map(s => {
    const object = fromYaml(
      checked(s.host, () =>
        renderGlobalServiceEntry(
          { name: s.name, namespace: s.namespace, ports: s.ports, protocols: s.protocols },
          allocations[s.host] ?? '',
          [gatewayIsIP ? input.gateway : placeholder]
        )
      )
    )
    object.apiVersion = apiVersion
    if (!gatewayIsIP) {
      for (const ep of (object['spec'] as { endpoints: { address: string }[] }).endpoints)
        ep.address = input.gateway
    }
    return withOwnership(object, input.ownership)
  })
  const key = (o: KubeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`
  const live = new Map(entries.map(e => [key(e), e]))
  for (const o of desired) {
    const l = live.get(key(o))
    const foreign = l === undefined ? null : foreignReason(l, input.ownership.owner)
    if (foreign !== null) {
      throw new ClusterError(
        'conflict',
        `${describeRef(refOf(o))} ${foreignPhrase(foreign)}: it is left alone`,
        0
      )
    }
  }
  if (input.dryRun) return { allocations: { ...allocations }, written: 0 }
  const thePlan = { entries: desired.map(o => planEntry(o, live.get(key(o)) ?? null)) }
  const result = await apply(client, thePlan)
  return { allocations: { ...allocations }, written: result.written.length }
}

export interface DnsStubStatus {
  where: 'kube-dns' | 'coredns' | 'none'
  status: 'ok' | 'fixed' | 'missing'
  message: string
}

/** Annotation on the DNS ConfigMap recording, per owner, the stub it added. */
export const GLOBAL_STUB_ANNOTATION_PREFIX = 'mesh-expansion.io/global-stub-'

interface StubRecord {
  where: 'kube-dns' | 'coredns'
  /** the data key written: Corefile or stubDomains */
  key: string
  /** its value before (null: the key did not exist) */
  before: string | null
  /** the value written */
  after: string
}

function annotationKey(owner: string): string {
  const name = `global-stub-${owner}`
  if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(owner) || name.length > 63) {
    throw new ClusterError(
      'invalid',
      `owner "${owner}" cannot name an annotation: letters, digits, '-', '_', '.', at most ` +
        `${63 - 'global-stub-'.length} characters`,
      0
    )
  }
  return GLOBAL_STUB_ANNOTATION_PREFIX + owner
}

const FLAVOURS = [
  { where: 'coredns', name: 'coredns', key: 'Corefile' },
  { where: 'kube-dns', name: 'kube-dns', key: 'stubDomains' }
] as const

async function dnsConfigMaps(
  client: ClusterClient
): Promise<{ flavour: (typeof FLAVOURS)[number]; map: KubeObject }[]> {
  const maps = await Promise.all(
    FLAVOURS.map(f =>
      client.get({ apiVersion: 'v1', kind: 'ConfigMap', name: f.name, namespace: 'kube-system' })
    )
  )
  return FLAVOURS.flatMap((flavour, i) => {
    const map = maps[i] ?? null
    return map === null ? [] : [{ flavour, map }]
  })
}

function dataOf(map: KubeObject): Record<string, string> {
  return { ...((map['data'] ?? {}) as Record<string, string>) }
}

/** The targets of the `proxy`/`forward` lines of the Corefile's `global:53` block, or null. */
function corefileGlobalTargets(corefile: string): string[] | null {
  const lines = corefile.split('\n')
  const start = lines.findIndex(l => /^\s*global(\.)?:53\s*\{\s*$/.test(l))
  if (start < 0) return null
  const targets: string[] = []
  let depth = 0
  for (let i = start; i < lines.length; i++) {
    const line = lines[i] ?? ''
    const m = /^\s*(proxy|forward)\s+\S+\s+(.*)$/.exec(line)
    if (m && i > start) {
      for (const t of (m[2] ?? '').split(/\s+/)) {
        if (t === '{' || t === '') break
        targets.push(t.replace(/^dns:\/\//, '').replace(/:53$/, ''))
      }
    }
    for (const ch of line) depth += ch === '{' ? 1 : ch === '}' ? -1 : 0
    if (depth === 0) break
  }
  return targets
}

/** Whether the `global` stub of the value points at ip; a reason when not. */
function stubPointsAt(
  where: 'coredns' | 'kube-dns',
  value: string | undefined,
  ip: string
): string | null {
  if (where === 'coredns') {
    const targets = corefileGlobalTargets(value ?? '')
    if (targets === null) return 'the Corefile has no global:53 block'
    return targets.includes(ip)
      ? null
      : `the Corefile's global:53 block forwards to ${targets.join(' ') || 'nothing'}, not ${ip}`
  }
  if (value === undefined || value.trim() === '') return 'it has no stubDomains'
  let parsed: unknown
  try {
    parsed = JSON.parse(value)
  } catch {
    return 'its stubDomains is not JSON'
  }
  const global = (parsed as Record<string, unknown> | null)?.['global']
  if (!Array.isArray(global)) return 'its stubDomains has no "global" entry'
  return global.includes(ip)
    ? null
    : `its stubDomains sends global to ${JSON.stringify(global)}, not ${ip}`
}

/**
 * The cluster DNS ConfigMap is not ours and is edited on purpose (docs/cluster.md, "Ownership"):
 * the key we change belongs to another field manager, so the write is forced; what was there
 * before is recorded per owner and restored by the revert.
 */
const SHARED_EDIT = { force: true } as const

/** The ConfigMap as we apply it: every live label, annotation and data key, so none is dropped. */
function configMapUpdate(
  map: KubeObject,
  data: Record<string, string>,
  annotations: Record<string, string>
): KubeObject {
  const metadata: KubeObject['metadata'] = {
    name: map.metadata.name,
    namespace: 'kube-system',
    annotations
  }
  if (map.metadata.labels && Object.keys(map.metadata.labels).length > 0)
    metadata.labels = { ...map.metadata.labels }
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data }
}

/**
 * Checks that the cluster DNS sends `*.global` to istiocoredns (its ClusterIP in
 * istioNamespace): CoreDNS (ConfigMap kube-system/coredns, a `global:53` block in the Corefile)
 * first, else kube-dns (ConfigMap kube-system/kube-dns, stubDomains). With fix, writes the stub
 * and records on the ConfigMap (annotation mesh-expansion.io/global-stub-<owner>) what was there
 * before, for revertGlobalDnsStub. Without istiocoredns this is no multi-network install: error.
 */
export async function checkGlobalDnsStub(
  client: ClusterClient,
  options: { istioNamespace: string; fix: boolean; owner: string; dryRun?: boolean }
): Promise<DnsStubStatus> {
  const annotation = annotationKey(options.owner)
  const dns = await client.get({
    apiVersion: 'v1',
    kind: 'Service',
    name: 'istiocoredns',
    namespace: options.istioNamespace
  })
  if (dns === null) {
    throw new ClusterError(
      'not-found',
      `Service ${options.istioNamespace}/istiocoredns does not exist: this is not a multi-network ` +
        '(1.3/1.4) install, which answers the .global names; install it with istiocoredns enabled ' +
        'or check the Istio namespace',
      404
    )
  }
  const ip = ((dns['spec'] ?? {}) as { clusterIP?: string }).clusterIP ?? ''
  if (!isValidIPAddress(ip) || !isIPv4(ip)) {
    throw new ClusterError(
      'invalid',
      `Service ${options.istioNamespace}/istiocoredns has no cluster IP ("${ip}"): the DNS stub needs one`,
      0
    )
  }
  const found = (await dnsConfigMaps(client))[0]
  if (found === undefined) {
    return {
      where: 'none',
      status: 'missing',
      message:
        'neither ConfigMap kube-system/coredns nor kube-system/kube-dns exists: send the ' +
        `global domain to istiocoredns ${ip} in the cluster DNS by hand`
    }
  }
  const { flavour, map } = found
  const data = dataOf(map)
  const current = data[flavour.key]
  const where = `ConfigMap kube-system/${flavour.name}`
  const reason = stubPointsAt(flavour.where, current, ip)
  if (reason === null) {
    return {
      where: flavour.where,
      status: 'ok',
      message: `${where} sends the global domain to istiocoredns ${ip}`
    }
  }
  if (!options.fix || options.dryRun) {
    return {
      where: flavour.where,
      status: 'missing',
      message:
        `${where}: ${reason}; the global domain must go to istiocoredns ${ip}` +
        (options.dryRun && options.fix ? ' (dry run: not written)' : '')
    }
  }
  if (flavour.where === 'coredns' && (current === undefined || current.trim() === '')) {
    throw new ClusterError(
      'invalid',
      `${where} has no Corefile: adding only a global:53 block would break the cluster DNS`,
      0
    )
  }
  const after =
    flavour.where === 'coredns'
      ? checked(where, () =>
          ensureCorefileGlobalStub(
            current as string,
            ip,
            // CoreDNS before 1.5 has proxy, later ones forward: follow what the file uses
            /^\s*proxy\s/m.test(current as string) && !/^\s*forward\s/m.test(current as string)
              ? 'proxy'
              : 'forward'
          )
        ).corefile
      : ((
          fromYaml(checked(where, () => renderKubeDnsStub(ip, current)))['data'] as Record<
            string,
            string
          >
        )['stubDomains'] ?? '')
  const record: StubRecord = {
    where: flavour.where,
    key: flavour.key,
    before: current ?? null,
    after
  }
  await client.apply(
    configMapUpdate(
      map,
      { ...data, [flavour.key]: after },
      { ...map.metadata.annotations, [annotation]: JSON.stringify(record) }
    ),
    SHARED_EDIT
  )
  return {
    where: flavour.where,
    status: 'fixed',
    message: `${where}: ${reason}; now sends the global domain to istiocoredns ${ip} (the previous value is kept for the revert)`
  }
}

/**
 * Restores the DNS ConfigMap as it was before checkGlobalDnsStub(fix) of this owner added the
 * stub. Only when the value is still the one written (a later change by anyone is kept, and so
 * is the record, for a person to look at). false: nothing recorded for the owner, or changed since.
 */
export async function revertGlobalDnsStub(client: ClusterClient, owner: string): Promise<boolean> {
  const annotation = annotationKey(owner)
  let reverted = false
  for (const { map } of await dnsConfigMaps(client)) {
    const text = map.metadata.annotations?.[annotation]
    if (text === undefined) continue
    let record: StubRecord
    try {
      record = JSON.parse(text) as StubRecord
    } catch {
      throw new ClusterError(
        'invalid',
        `ConfigMap kube-system/${map.metadata.name}: annotation ${annotation} is not the JSON record mesh-expansion writes`,
        0
      )
    }
    const data = dataOf(map)
    if ((data[record.key] ?? null) !== record.after) continue
    if (record.before === null) delete data[record.key]
    else data[record.key] = record.before
    const annotations = { ...map.metadata.annotations }
    delete annotations[annotation]
    await client.apply(configMapUpdate(map, data, annotations), SHARED_EDIT)
    reverted = true
  }
  return reverted
}
