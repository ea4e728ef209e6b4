// `istioctl register` / `deregister` (0.3–1.8) as a pure planner: given the Service and
// Endpoints that exist now and one address to add or remove, the objects to create, update
// or delete. Follows the reference legacy-generations.md, "Gen 2", and seed 000 ("Manually
// configure a selector-less service and endpoints"), without istioctl's defects:
// - registering an address twice does not list it twice;
// - deregistering the last address deletes the Service and Endpoints that register created
//   (recognised by the managed-by label; objects someone else made are only emptied, #6839);
// - an address that is not registered is reported as `unknown-address`, not ignored.
// An existing Service is never rewritten (as istioctl), but one with a selector is refused:
// the endpoints controller would overwrite the hand-made Endpoints.

import type { ObjectMetaOut } from '../manifests.ts'
import {
  LegacyInputError,
  MANAGED_LABELS,
  isManaged,
  requireDnsLabel,
  requireIP,
  requirePort
} from './common.ts'

export interface PortSpec {
  /** Port name; when absent istioctl's defaults apply (80/8080 http, 443 https, 3306 mysql). */
  readonly name?: string
  readonly port: number
}

/** A port of a Service or of an Endpoints subset, as read from the cluster. */
export interface PortView {
  readonly name?: string
  readonly port: number
  readonly protocol?: string
}

/** The metadata read from the cluster. */
export interface ObjectMetaView {
  readonly name: string
  readonly namespace: string
  readonly labels?: Readonly<Record<string, string>>
  readonly annotations?: Readonly<Record<string, string>>
}

export interface ServiceView {
  readonly metadata: ObjectMetaView
  readonly spec?: {
    readonly selector?: Readonly<Record<string, string>>
    readonly ports?: readonly PortView[]
  }
}

export interface EndpointSubsetView {
  readonly addresses?: readonly { readonly ip: string }[]
  readonly ports?: readonly PortView[]
}

export interface EndpointsView {
  readonly metadata: ObjectMetaView
  readonly subsets?: readonly EndpointSubsetView[]
}

export interface ServiceObject {
  apiVersion: 'v1'
  kind: 'Service'
  metadata: ObjectMetaOut
  spec: { ports: { name: string; port: number; protocol: 'TCP'; targetPort: number }[] }
}

export interface EndpointsObject {
  apiVersion: 'v1'
  kind: 'Endpoints'
  metadata: ObjectMetaOut
  subsets: {
    addresses: { ip: string }[]
    ports: { name: string; port: number; protocol: 'TCP' }[]
  }[]
}

export type RegistryOperation =
  | { readonly op: 'create' | 'update'; readonly object: ServiceObject | EndpointsObject }
  | {
      readonly op: 'delete'
      readonly kind: 'Service' | 'Endpoints'
      readonly namespace: string
      readonly name: string
    }

export interface RegistryPlan {
  /**
   * registered: the address was added; already-registered: nothing to do; deregistered: the
   * address was removed; unknown-address / unknown-service: nothing registered to remove.
   */
  readonly outcome:
    'registered' | 'already-registered' | 'deregistered' | 'unknown-address' | 'unknown-service'
  readonly operations: readonly RegistryOperation[]
  readonly messages: readonly string[]
}

/** `<service> <address>` of both commands (the service in `namespace`). */
export interface RegistryTarget {
  readonly service: string
  readonly namespace: string
  readonly address: string
}

export interface RegisterRequest extends RegistryTarget {
  readonly ports: readonly PortSpec[]
  readonly labels?: Readonly<Record<string, string>>
  readonly annotations?: Readonly<Record<string, string>>
  /** Added as alpha.istio.io/kubernetes-serviceaccounts; `''` for none. Default `default`. */
  readonly serviceAccount?: string
}

export const SERVICE_ACCOUNTS_ANNOTATION = 'alpha.istio.io/kubernetes-serviceaccounts'

/** istioctl register's port names: given name, else 80/8080 http, 443 https, 3306 mysql, else the number. */
export function defaultPortName(spec: PortSpec): string {
  if (spec.name !== undefined && spec.name !== '') return spec.name
  if (spec.port === 80 || spec.port === 8080) return 'http'
  if (spec.port === 443) return 'https'
  if (spec.port === 3306) return 'mysql'
  return String(spec.port)
}

function namedPorts(ports: readonly PortSpec[]): { name: string; port: number }[] {
  if (ports.length === 0) throw new LegacyInputError('register needs at least one port')
  const out: { name: string; port: number }[] = []
  for (const p of ports) {
    requirePort('port', p.port)
    const name = defaultPortName(p)
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63) {
      throw new LegacyInputError(`port name "${name}" is not a valid Kubernetes port name`)
    }
    if (out.some(o => o.port === p.port || o.name === name)) {
      throw new LegacyInputError(`port ${name}:${p.port} is given twice (by number or by name)`)
    }
    out.push({ name, port: p.port })
  }
  return out
}

function sameNumbers(a: readonly { port: number }[], b: readonly { port: number }[]): boolean {
  const x = [...new Set(a.map(p => p.port))].sort((m, n) => m - n)
  const y = [...new Set(b.map(p => p.port))].sort((m, n) => m - n)
  return x.length === y.length && x.every((v, i) => v === y[i])
}

function copySubsets(
  subsets: readonly EndpointSubsetView[] | undefined
): EndpointsObject['subsets'] {
  return (subsets ?? []).map(s => ({
    addresses: (s.addresses ?? []).map(a => ({ ip: a.ip })),
    ports: (s.ports ?? []).map(p => ({
      name: p.name ?? '',
      port: p.port,
      protocol: 'TCP' as const
    }))
  }))
}

function endpointsFrom(view: EndpointsView, subsets: EndpointsObject['subsets']): EndpointsObject {
  const metadata: ObjectMetaOut = {
    name: view.metadata.name,
    namespace: view.metadata.namespace,
    labels: { ...(view.metadata.labels ?? {}) }
  }
  if (view.metadata.annotations) metadata.annotations = { ...view.metadata.annotations }
  return { apiVersion: 'v1', kind: 'Endpoints', metadata, subsets }
}

/** Existing objects of the service a plan is made against. */
export interface RegistryObjects {
  readonly service?: ServiceView
  readonly endpoints?: EndpointsView
}

/** The target, checked: the Service's name and namespace, and the host's IP. */
function checkedTarget(request: RegistryTarget): { name: string; namespace: string; ip: string } {
  return {
    name: requireDnsLabel('service', request.service),
    namespace: requireDnsLabel('namespace', request.namespace),
    ip: requireIP('address', request.address)
  }
}

/** Plan `register <service> <address> [name:]port…` against the objects that exist. */
export function planRegister(existing: RegistryObjects, request: RegisterRequest): RegistryPlan {
  const { name, namespace, ip } = checkedTarget(request)
  const ports = namedPorts(request.ports)
  const sa = request.serviceAccount ?? 'default'
  const labels = { ...(request.labels ?? {}), ...MANAGED_LABELS }
  const annotations: Record<string, string> = { ...(request.annotations ?? {}) }
  if (sa !== '') annotations[SERVICE_ACCOUNTS_ANNOTATION] = sa
  const meta = (): ObjectMetaOut => {
    const m: ObjectMetaOut = { name, namespace, labels: { ...labels } }
    if (Object.keys(annotations).length > 0) m.annotations = { ...annotations }
    return m
  }

  const operations: RegistryOperation[] = []
  const messages: string[] = []
  const svc = existing.service
  if (svc) {
    if (svc.spec?.selector && Object.keys(svc.spec.selector).length > 0) {
      throw new LegacyInputError(
        `Service ${namespace}/${name} has a selector: its Endpoints belong to the endpoints ` +
          'controller; register the host under another name'
      )
    }
    const have = new Set((svc.spec?.ports ?? []).map(p => p.port))
    const missing = ports.filter(p => !have.has(p.port))
    if (missing.length > 0) {
      messages.push(
        `Service ${namespace}/${name} exists without port(s) ${missing.map(p => p.port).join(', ')}; ` +
          'it is left as it is (as istioctl register did), so those ports get no Service entry'
      )
    }
  } else {
    operations.push({
      op: 'create',
      object: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta(),
        spec: { ports: ports.map(p => ({ ...p, protocol: 'TCP' as const, targetPort: p.port })) }
      }
    })
  }

  const ep = existing.endpoints
  const subsets = ep ? copySubsets(ep.subsets) : []
  const target = subsets.find(s => sameNumbers(s.ports, ports))
  if (target?.addresses.some(a => a.ip === ip)) {
    return {
      outcome: 'already-registered',
      operations,
      messages: [...messages, `${ip} is already registered for ${namespace}/${name}`]
    }
  }
  if (target) target.addresses.push({ ip })
  else
    subsets.push({
      addresses: [{ ip }],
      ports: ports.map(p => ({ ...p, protocol: 'TCP' as const }))
    })
  const object: EndpointsObject = ep
    ? endpointsFrom(ep, subsets)
    : { apiVersion: 'v1', kind: 'Endpoints', metadata: meta(), subsets }
  operations.push({ op: ep ? 'update' : 'create', object })
  messages.push(`registered ${ip} for ${namespace}/${name}`)
  return { outcome: 'registered', operations, messages }
}

/** Plan `deregister <service> <address>`. */
export function planDeregister(existing: RegistryObjects, request: RegistryTarget): RegistryPlan {
  const { name, namespace, ip } = checkedTarget(request)
  const ep = existing.endpoints
  if (!ep) {
    return {
      outcome: 'unknown-service',
      operations: [],
      messages: [`no Endpoints ${namespace}/${name}: nothing is registered under that name`]
    }
  }
  const before = copySubsets(ep.subsets)
  const after = before
    .map(s => ({ ...s, addresses: s.addresses.filter(a => a.ip !== ip) }))
    .filter(s => s.addresses.length > 0)
  const removed =
    before.reduce((n, s) => n + s.addresses.length, 0) -
    after.reduce((n, s) => n + s.addresses.length, 0)
  if (removed === 0) {
    return {
      outcome: 'unknown-address',
      operations: [],
      messages: [`${ip} is not registered for ${namespace}/${name}`]
    }
  }
  const ours = isManaged(ep.metadata.labels)
  const svcOurs = existing.service !== undefined && isManaged(existing.service.metadata.labels)
  if (after.length === 0 && ours) {
    const operations: RegistryOperation[] = [{ op: 'delete', kind: 'Endpoints', namespace, name }]
    if (svcOurs) operations.push({ op: 'delete', kind: 'Service', namespace, name })
    return {
      outcome: 'deregistered',
      operations,
      messages: [`deregistered ${ip}, the last address: removing what register created`]
    }
  }
  return {
    outcome: 'deregistered',
    operations: [{ op: 'update', object: endpointsFrom(ep, after) }],
    messages: [`deregistered ${ip} from ${namespace}/${name}`]
  }
}
