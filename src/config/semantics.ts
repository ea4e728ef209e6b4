// Checks across fields: names unique, vm -> group and check -> vm references, one SSH target per
// VM, rules that depend on another field. Runs on the raw data even when the schema found errors
// elsewhere, so one pass reports everything; values of the wrong type are skipped here (the
// schema reports them).
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
  groups.forEach((group, index) => {
    if (isObject(group)) checkGroup(group, ['workloadGroups', index], issues)
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

    const address = str(vm['address'])
    if (address !== undefined && address !== 'auto' && f.isIPAddress(address)) {
      const previous = addresses.get(address)
      if (previous === undefined) {
        addresses.set(address, index)
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
      const key = host === 'local' ? 'local' : `${host.toLowerCase()}:${port}`
      const previous = targets.get(key)
      if (previous === undefined) {
        targets.set(key, index)
      } else {
        const other = vms[previous]
        const otherName = isObject(other) ? str(other['name']) : undefined
        issues.push({
          path: ['vms', index, 'host'],
          message:
            (host === 'local'
              ? `host "local" (the runner) is already used by vms[${previous}]`
              : `host ${host} port ${port} is already used by vms[${previous}]`) +
            (otherName !== undefined ? ` ${f.q(otherName)}` : '') +
            ` (at ${at(locate(['vms', previous, 'host']))})`
        })
      }
    }
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
