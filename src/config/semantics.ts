// Checks across fields: names unique, vm -> group and check -> vm references, one SSH target per
// VM, rules that depend on another field. Runs on the raw data even when the schema found errors
// elsewhere, so one pass reports everything; values of the wrong type are skipped here (the
// schema reports them).
import { parseDocument } from 'yaml'
import * as f from './formats.ts'

export type PathSegment = string | number

export interface SemanticIssue {
  path: PathSegment[]
  message: string
}

type Position = { line: number; column: number }
type Locate = (path: readonly PathSegment[]) => Position

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [])
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)
const int = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isInteger(value) ? value : undefined

const at = (position: Position): string => `${position.line}:${position.column}`

function known(names: readonly string[]): string {
  const shown = names.slice(0, 10).join(', ')
  return names.length > 10 ? `${shown}, … (${names.length} in all)` : shown
}

/** Reports the second and later uses of the same name. */
function unique(
  items: unknown[],
  base: PathSegment[],
  key: string,
  what: string,
  locate: Locate,
  issues: SemanticIssue[],
  nameOf: (item: Record<string, unknown>) => string | undefined = item => str(item[key])
): void {
  const first = new Map<string, number>()
  items.forEach((item, index) => {
    if (!isObject(item)) return
    const name = nameOf(item)
    if (name === undefined) return
    const previous = first.get(name)
    if (previous === undefined) {
      first.set(name, index)
      return
    }
    issues.push({
      path: [...base, index, key],
      message: `duplicate ${what} ${f.q(name)} (first at ${at(locate([...base, previous, key]))})`
    })
  })
}

const HANDLERS = ['httpGet', 'tcpSocket', 'exec', 'grpc'] as const

const PROXY_CONFIG_ANNOTATION = 'proxy.istio.io/config'

/** A proxyMetadata map of the description, with the path it is written at. */
interface MetadataSource {
  path: PathSegment[]
  /** the keys are inside this text value (an annotation): issues point at the value */
  inText: boolean
  metadata: Record<string, unknown>
}

/** The ProxyConfig of the proxy.istio.io/config annotation, read as istioctl reads it. */
function annotationProxyConfig(text: string): Record<string, unknown> | string {
  const doc = parseDocument(text, { version: '1.1', uniqueKeys: false })
  if (doc.errors.length > 0) return doc.errors[0]?.message.split('\n')[0] ?? 'invalid YAML'
  let value: unknown
  try {
    value = doc.toJS({ maxAliasCount: 100 })
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
  if (value === null || value === undefined) return {}
  return isObject(value) ? value : 'expected a mapping (a ProxyConfig)'
}

/** Every proxyMetadata map a group writes: proxyConfig and the proxy.istio.io/config annotation. */
function metadataSources(
  group: Record<string, unknown>,
  base: PathSegment[],
  issues: SemanticIssue[]
): MetadataSource[] {
  const sources: MetadataSource[] = []
  const proxyConfig = group['proxyConfig']
  if (isObject(proxyConfig)) {
    for (const key of ['proxyMetadata', 'proxy_metadata']) {
      const metadata = proxyConfig[key]
      if (isObject(metadata))
        sources.push({ path: [...base, 'proxyConfig', key], inText: false, metadata })
    }
  }
  const annotations = group['annotations']
  const annotation = isObject(annotations) ? str(annotations[PROXY_CONFIG_ANNOTATION]) : undefined
  if (annotation !== undefined) {
    const path = [...base, 'annotations', PROXY_CONFIG_ANNOTATION]
    const config = annotationProxyConfig(annotation)
    if (typeof config === 'string') {
      issues.push({ path, message: `cannot be read as a ProxyConfig (YAML or JSON): ${config}` })
      return sources
    }
    for (const key of ['proxyMetadata', 'proxy_metadata']) {
      const metadata = config[key]
      if (metadata === undefined || metadata === null) continue
      if (!isObject(metadata)) {
        issues.push({ path, message: `${key} must be a mapping of variable names to values` })
        continue
      }
      sources.push({ path, inText: true, metadata })
      for (const name of Object.keys(metadata)) {
        const error = f.envKey(name)
        if (error !== undefined) issues.push({ path, message: `${key}: ${error}` })
      }
    }
  }
  return sources
}

const isUrl = (value: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(value)

/** sidecar.sha256 goes with sidecar.package at the same level; http:// needs it. */
function checkSidecar(sidecar: unknown, base: PathSegment[], issues: SemanticIssue[]): void {
  if (!isObject(sidecar)) return
  const pkg = str(sidecar['package'])
  const sha256 = sidecar['sha256']
  if (pkg !== undefined && f.isPlainHttpUrl(pkg) && sha256 === undefined) {
    issues.push({
      path: [...base, 'sidecar', 'package'],
      message:
        'an http:// package needs sidecar.sha256 (or use https://): anyone on the path could ' +
        'replace it'
    })
  }
  if (sha256 !== undefined && pkg === undefined) {
    issues.push({
      path: [...base, 'sidecar', 'sha256'],
      message: 'sha256 checks the package given beside it: give sidecar.package at this level'
    })
  } else if (sha256 !== undefined && pkg !== undefined && !isUrl(pkg)) {
    issues.push({
      path: [...base, 'sidecar', 'sha256'],
      message:
        'sha256 applies to a package URL; a package pushed from the runner is hashed on the ' +
        'runner and checked on the host'
    })
  }
}

/** `22,2223` or `*` as iptables reads it; undefined when not a list of ports. */
function portsOf(value: string): number[] | '*' | undefined {
  if (value.trim() === '*') return '*'
  if (value.trim() === '') return []
  const parts = value.split(',').map(part => part.trim())
  if (!parts.every(part => /^\d{1,5}$/.test(part))) return undefined
  return parts.map(Number)
}

/** A VM whose SSH port (and reachable ports) the sidecar must never capture. */
interface Guarded {
  name: string
  ssh: number | undefined
  reachable: number[]
}

function describePort(port: number, vm: Guarded): string {
  return port === vm.ssh
    ? `the SSH port of vm ${f.q(vm.name)}`
    : `a reachable port of vm ${f.q(vm.name)}`
}

const FIX_PORTS =
  'serve the workload on another port, or move sshd (vms[].port) / drop the port from ' +
  'reachablePorts'
const FIX_METADATA =
  'remove it: cluster.env takes ISTIO_INBOUND_PORTS from ports and ISTIO_LOCAL_EXCLUDE_PORTS ' +
  'from the SSH port and reachablePorts'

/** The group's ports and proxyMetadata must leave every VM reachable. */
function checkCapture(
  group: Record<string, unknown>,
  base: PathSegment[],
  sources: readonly MetadataSource[],
  vms: readonly Guarded[],
  issues: SemanticIssue[]
): void {
  if (vms.length === 0) return
  const ports = isObject(group['ports']) ? group['ports'] : {}
  const listed = Object.entries(ports).flatMap(([name, port]) =>
    int(port) !== undefined ? [[name, port as number] as const] : []
  )
  // an explicit ISTIO_INBOUND_PORTS list is captured whatever ISTIO_LOCAL_EXCLUDE_PORTS says
  for (const [name, port] of listed) {
    const hit = vms.filter(vm => vm.ssh === port || vm.reachable.includes(port))
    if (hit.length === 0) continue
    issues.push({
      path: [...base, 'ports', name],
      message:
        `port ${port} would be captured by the sidecar (ISTIO_INBOUND_PORTS lists the group's ` +
        `ports) and it is ${hit
          .slice(0, 3)
          .map(vm => describePort(port, vm))
          .join(', ')}${hit.length > 3 ? ` and ${hit.length - 3} more` : ''}: the host ` +
        `would be unreachable; ${FIX_PORTS}`
    })
  }
  const groupInbound: number[] | '*' = listed.length > 0 ? listed.map(([, port]) => port) : '*'
  for (const source of sources) {
    const rawInbound = str(source.metadata['ISTIO_INBOUND_PORTS'])
    const rawExclude = str(source.metadata['ISTIO_LOCAL_EXCLUDE_PORTS'])
    if (rawInbound === undefined && rawExclude === undefined) continue
    const inbound = rawInbound !== undefined ? portsOf(rawInbound) : groupInbound
    const exclude = rawExclude !== undefined ? portsOf(rawExclude) : undefined
    // as istio-iptables reads them (an unreadable value counts as capturing everything)
    const capturedPort = (port: number): boolean => {
      if (inbound === undefined) return true
      if (inbound !== '*') return inbound.includes(port)
      if (rawExclude === undefined) return false // ours: it lists every guarded port
      return exclude === undefined || (exclude !== '*' && !exclude.includes(port))
    }
    for (const vm of vms) {
      const guarded = [...(vm.ssh !== undefined ? [vm.ssh] : []), ...vm.reachable]
      const captured = guarded.find(capturedPort)
      if (captured === undefined) continue
      // with `*` the exclusions decide; with a list, the list does
      const byExclude = inbound === '*' && rawExclude !== undefined
      const key = byExclude ? 'ISTIO_LOCAL_EXCLUDE_PORTS' : 'ISTIO_INBOUND_PORTS'
      const value = (byExclude ? rawExclude : rawInbound) ?? ''
      issues.push({
        path: source.inText ? source.path : [...source.path, key],
        message:
          `proxyMetadata ${key}=${f.q(value)} would let the sidecar capture port ${captured}, ` +
          `${describePort(captured, vm)}: the host would be unreachable; ${FIX_METADATA}`
      })
      break
    }
  }
}

function checkGroup(group: Record<string, unknown>, base: PathSegment[], issues: SemanticIssue[]) {
  const probe = group['probe']
  if (isObject(probe)) {
    const handlers = HANDLERS.filter(handler => probe[handler] !== undefined)
    if (handlers.length !== 1) {
      issues.push({
        path: [...base, 'probe'],
        message:
          handlers.length === 0
            ? 'a probe needs one of httpGet, tcpSocket, exec or grpc'
            : `a probe takes exactly one of httpGet, tcpSocket, exec or grpc, not ${handlers.join(' and ')}`
      })
    }
  }
  const service = isObject(group['service']) ? group['service'] : {}
  const kind = str(service['kind']) ?? 'ServiceEntry'
  const groupName = str(group['name'])
  if (kind === 'Service') {
    const explicit = str(service['name'])
    const name = explicit ?? groupName
    const error =
      name !== undefined && f.dnsLabel(name) === undefined ? f.dns1035Label(name) : undefined
    if (error !== undefined && name !== undefined) {
      issues.push({
        path: explicit !== undefined ? [...base, 'service', 'name'] : [...base, 'name'],
        message:
          `${f.q(name)} cannot name a Kubernetes Service: it must be a DNS-1035 label ` +
          '(start with a letter)' +
          (explicit === undefined ? '; set service.name' : '')
      })
    }
  }
  if (kind === 'Service' && service['hosts'] !== undefined) {
    issues.push({
      path: [...base, 'service', 'hosts'],
      message: 'hosts apply to kind ServiceEntry only; a Service is reached by its cluster name'
    })
  }
  const ports = group['ports']
  const groupPorts = isObject(ports) ? Object.keys(ports).length : 0
  const servicePorts = Array.isArray(service['ports']) ? service['ports'].length : undefined
  if (
    kind !== 'none' &&
    (servicePorts ?? groupPorts) === 0 &&
    (ports === undefined || isObject(ports))
  ) {
    issues.push({
      path: servicePorts !== undefined ? [...base, 'service', 'ports'] : base,
      message:
        `a ${kind} needs at least one port: give ports (e.g. ports: {http: 8080}), ` +
        'service.ports, or set service.kind: none'
    })
  }
}

function endpointVm(value: unknown): string | undefined {
  const text = str(value)
  if (text === undefined) return undefined
  const endpoint = f.parseEndpoint(text)
  return typeof endpoint !== 'string' && endpoint.kind === 'vm' ? endpoint.name : undefined
}

/** Every cross-field rule of the description. `data` is the raw YAML data. */
export function semanticIssues(data: unknown, locate: Locate): SemanticIssue[] {
  const issues: SemanticIssue[] = []
  if (!isObject(data)) return issues

  const cluster = data['cluster']
  if (isObject(cluster)) {
    const kubeconfig = str(cluster['kubeconfig'])
    if (
      kubeconfig !== undefined &&
      (kubeconfig.includes('\n') || /^\s*apiVersion\s*:/.test(kubeconfig))
    ) {
      issues.push({
        path: ['cluster', 'kubeconfig'],
        message:
          'looks like kubeconfig content, not a path: give a file path, or pass the content ' +
          'through the Action input or the KUBECONFIG file, never in the description'
      })
    }
  }

  const groups = list(data['workloadGroups'])
  unique(groups, ['workloadGroups'], 'name', 'group name', locate, issues)
  const metadata = new Map<number, MetadataSource[]>()
  groups.forEach((group, index) => {
    if (!isObject(group)) return
    const base = ['workloadGroups', index]
    checkGroup(group, base, issues)
    checkSidecar(group['sidecar'], base, issues)
    metadata.set(index, metadataSources(group, base, issues))
  })
  // two groups must not write the same ServiceEntry/Service
  const services = new Map<string, number>()
  const explicitNames = new Set<number>()
  groups.forEach((group, index) => {
    if (!isObject(group)) return
    const service = isObject(group['service']) ? group['service'] : {}
    const explicit = str(service['name'])
    const name = explicit ?? str(group['name'])
    const namespace = str(group['namespace'])
    if (service['kind'] === 'none' || name === undefined || namespace === undefined) return
    const key = `${namespace}/${name}`
    if (explicit !== undefined) explicitNames.add(index)
    const previous = services.get(key)
    if (previous === undefined) {
      services.set(key, index)
    } else if (explicit !== undefined || explicitNames.has(previous)) {
      // both implicit = the same group name, reported as a duplicate group name
      issues.push({
        path: [
          'workloadGroups',
          index,
          ...(explicit !== undefined ? ['service', 'name'] : ['name'])
        ],
        message: `service ${key} is already used by workloadGroups[${previous}] (at ${at(locate(['workloadGroups', previous]))})`
      })
    }
  })
  const groupNames = groups.flatMap(group => (isObject(group) ? (str(group['name']) ?? []) : []))
  const groupByName = new Map<string, Record<string, unknown>>()
  for (const group of groups) {
    const name = isObject(group) ? str(group['name']) : undefined
    if (name !== undefined && isObject(group) && !groupByName.has(name))
      groupByName.set(name, group)
  }

  const ssh = isObject(data['ssh']) ? data['ssh'] : {}
  const defaultPort = int(ssh['port']) ?? 22
  const settings = isObject(data['settings']) ? data['settings'] : {}
  const portList = (value: unknown): number[] => list(value).flatMap(port => int(port) ?? [])
  const everywhere = portList(settings['reachablePorts'])
  const guarded = new Map<string, Guarded[]>()
  const vms = list(data['vms'])
  unique(vms, ['vms'], 'name', 'vm name', locate, issues)
  const targets = new Map<string, number>()
  const addresses = new Map<string, number>()
  const vmNames: string[] = []
  const vmGroup = new Map<string, string>()
  vms.forEach((vm, index) => {
    if (!isObject(vm)) return
    const name = str(vm['name'])
    if (name !== undefined) vmNames.push(name)
    const group = vm['group']
    let groupName: string | undefined
    if (group === undefined) {
      if (groups.length > 1) {
        issues.push({
          path: ['vms', index],
          message: `missing required key "group": there are ${groups.length} workload groups (${known(groupNames)})`
        })
      } else {
        groupName = groupNames[0]
      }
    } else if (typeof group === 'string' && f.dnsLabel(group) === undefined) {
      if (groupByName.has(group)) {
        groupName = group
      } else {
        const hint = f.closest(group, groupNames)
        issues.push({
          path: ['vms', index, 'group'],
          message:
            `unknown group ${f.q(group)}` +
            (hint !== undefined ? `; did you mean ${f.q(hint)}?` : '') +
            (groupNames.length > 0
              ? ` (known: ${known(groupNames)})`
              : ' (no workloadGroups are defined)')
        })
      }
    }
    if (name !== undefined && groupName !== undefined) vmGroup.set(name, groupName)
    checkSidecar(vm['sidecar'], ['vms', index], issues)
    const ofGroup = groupByName.get(groupName ?? '')
    if (name !== undefined && groupName !== undefined && ofGroup !== undefined) {
      const local = vm['host'] === 'local'
      const entry: Guarded = {
        name,
        ssh: local ? undefined : (int(vm['port']) ?? defaultPort),
        reachable: [...everywhere, ...portList(ofGroup['reachablePorts'])]
      }
      guarded.set(groupName, [...(guarded.get(groupName) ?? []), entry])
    }

    const address = str(vm['address'])
    if (address !== undefined && address !== 'auto' && f.isIPAddress(address)) {
      const previous = addresses.get(f.normalizeHost(address))
      if (previous === undefined) {
        addresses.set(f.normalizeHost(address), index)
      } else {
        issues.push({
          path: ['vms', index, 'address'],
          message: `address ${address} is already used by vms[${previous}] (at ${at(locate(['vms', previous, 'address']))}); the mesh could not tell the two apart`
        })
      }
    }

    const host = str(vm['host'])
    if (host !== undefined && (vm['port'] === undefined || int(vm['port']) !== undefined)) {
      const port = int(vm['port']) ?? defaultPort
      // one machine however its address is written: ::ffff:10.0.0.5 is 10.0.0.5
      const key = host === 'local' ? 'local' : `${f.normalizeHost(host)} ${port}`
      const previous = targets.get(key)
      if (previous === undefined) {
        targets.set(key, index)
      } else {
        const other = vms[previous]
        const otherName = isObject(other) ? str(other['name']) : undefined
        const otherHost = isObject(other) ? str(other['host']) : undefined
        const same =
          otherHost !== undefined && otherHost !== host ? ` (the same host as ${otherHost})` : ''
        issues.push({
          path: ['vms', index, 'host'],
          message:
            (host === 'local'
              ? `host "local" (the runner) is already used by vms[${previous}]`
              : `host ${host} port ${port}${same} is already used by vms[${previous}]`) +
            (otherName !== undefined ? ` ${f.q(otherName)}` : '') +
            ` (at ${at(locate(['vms', previous, 'host']))})`
        })
      }
    }
  })

  groups.forEach((group, index) => {
    const name = isObject(group) ? str(group['name']) : undefined
    // the first group of a name is the one its VMs get (a duplicate name is reported above)
    if (!isObject(group) || name === undefined || groupByName.get(name) !== group) return
    checkCapture(
      group,
      ['workloadGroups', index],
      metadata.get(index) ?? [],
      guarded.get(name) ?? [],
      issues
    )
  })

  const checks = list(data['checks'])
  unique(checks, ['checks'], 'name', 'check name', locate, issues)
  checks.forEach((check, index) => {
    if (!isObject(check)) return
    const base = ['checks', index]
    for (const key of ['from', 'to'] as const) {
      const vm = endpointVm(check[key])
      if (vm !== undefined && !vmNames.includes(vm)) {
        const hint = f.closest(vm, vmNames)
        issues.push({
          path: [...base, key],
          message:
            `unknown vm ${f.q(vm)}` +
            (hint !== undefined ? `; did you mean ${f.q(hint)}?` : '') +
            (vmNames.length > 0 ? ` (known: ${known(vmNames)})` : ' (no vms are defined)')
        })
      }
    }
    const hasTo = check['to'] !== undefined
    const hasUrl = check['url'] !== undefined
    if (hasTo && hasUrl) {
      issues.push({ path: [...base, 'url'], message: 'give either "to" or "url", not both' })
    } else if (!hasTo && !hasUrl) {
      issues.push({
        path: base,
        message: 'missing the target: give "to" (vm/<name> or pod/<namespace>/<selector>) or "url"'
      })
    }
    if (hasUrl && check['port'] !== undefined) {
      issues.push({
        path: [...base, 'port'],
        message: 'port applies to "to" only; put it in the url'
      })
    }
    if (hasTo && check['port'] === undefined) {
      const text = str(check['to'])
      const endpoint = text !== undefined ? f.parseEndpoint(text) : undefined
      if (typeof endpoint === 'object' && endpoint.kind === 'pod') {
        issues.push({ path: [...base, 'to'], message: 'a check to a pod needs "port"' })
      } else if (typeof endpoint === 'object' && endpoint.kind === 'vm') {
        const group = groupByName.get(vmGroup.get(endpoint.name) ?? '')
        const ports = group?.['ports']
        if (
          group !== undefined &&
          (ports === undefined || (isObject(ports) && Object.keys(ports).length === 0))
        ) {
          issues.push({
            path: [...base, 'to'],
            message: `vm ${f.q(endpoint.name)} has no ports in its group: give "port"`
          })
        }
      }
    }
  })
  return issues
}
