// Every object a run wants in the cluster, computed from the description and the discovery:
// pure, no I/O. Namespace, ServiceAccount, WorkloadGroup, istiod exposure (Gateway +
// VirtualService as Istio's expose-istiod sample, revision-aware), ServiceEntry or Service,
// and a WorkloadEntry per host of a manually registered group once its address is known.
import type { Description, WorkloadGroup, Vm } from '../config/defaults.ts'
import {
  buildService,
  buildServiceEntry,
  buildWorkloadEntry,
  buildWorkloadGroup,
  isRevisioned,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  OWNER_LABEL,
  PROXY_CONFIG_ANNOTATION,
  workloadEntryName,
  type IstioNetworkingVersion,
  type ReadinessProbeInput
} from '../istio/index.ts'
import type { Discovery } from './discovery.ts'
import type { KubeObject } from './types.ts'

export { MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_LABEL }
/** When the owner first created the object (RFC 3339); `sweep` reads it. */
export const CREATED_AT_ANNOTATION = 'mesh-expansion.io/created-at'

/** The label selector of everything the product manages, optionally of one owner. */
export function managedSelector(owner?: string): string {
  return owner === undefined
    ? `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`
    : `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${OWNER_LABEL}=${owner}`
}

/** The conflict reason of an existing object that carries no managed-by label of ours. */
export const NOT_MANAGED = 'exists, not managed by mesh-expansion'

/**
 * The ownership contract: an object is ours only when it carries our managed-by label and
 * `owner`'s owner label. Returns why it is not (`exists, not managed by mesh-expansion`, or
 * `owned by <other owner>`), or null when it is ours.
 */
export function foreignReason(live: KubeObject, owner: string): string | null {
  const labels = live.metadata.labels ?? {}
  if (labels[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) return NOT_MANAGED
  const other = labels[OWNER_LABEL]
  return other === owner ? null : `owned by ${other ?? '(no owner label)'}`
}

/** A foreignReason as the end of a sentence about the object: `Service a/b <phrase>`. */
export function foreignPhrase(reason: string): string {
  return reason === NOT_MANAGED ? 'exists and was not created by mesh-expansion' : `is ${reason}`
}

export interface Ownership {
  /** value of the owner label: a run id, or a given owner such as a pull-request number */
  readonly owner: string
  /** RFC 3339 time written into the created-at annotation of new objects */
  readonly createdAt: string
}

/** A copy of the object with the owner's labels and the created-at annotation. */
export function withOwnership(object: KubeObject, own: Ownership): KubeObject {
  return {
    ...object,
    metadata: {
      ...object.metadata,
      labels: {
        ...object.metadata.labels,
        [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
        [OWNER_LABEL]: own.owner
      },
      annotations: { ...object.metadata.annotations, [CREATED_AT_ANNOTATION]: own.createdAt }
    }
  }
}

function stamp(object: Record<string, unknown>, own: Ownership): KubeObject {
  return withOwnership(object as unknown as KubeObject, own)
}

export function namespaceObject(name: string, own: Ownership): KubeObject {
  return stamp({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, own)
}

export function serviceAccountObject(name: string, namespace: string, own: Ownership): KubeObject {
  return stamp({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } }, own)
}

export interface ExposureInput {
  readonly istioNamespace: string
  /** '' or 'default' = the default revision */
  readonly revision: string
  readonly apiVersion: IstioNetworkingVersion
  /** the east-west gateway pods' labels (default istio: eastwestgateway) */
  readonly selector?: Readonly<Record<string, string>>
}

/** Gateway + VirtualService that expose istiod (15012) and its webhook (15017) on the gateway. */
export function istiodExposureObjects(input: ExposureInput, own: Ownership): KubeObject[] {
  const rev = isRevisioned(input.revision) ? input.revision : ''
  const suffix = rev ? `-${rev}` : ''
  const ns = input.istioNamespace
  const istiod = `istiod${suffix}.${ns}.svc`
  // the default sample matches any SNI; a revision's template only its own istiod
  const sni = rev ? [istiod, `${istiod}.cluster.local`] : ['*']
  const gatewayName = `istiod-gateway${suffix}`
  const gateway = {
    apiVersion: `networking.istio.io/${input.apiVersion}`,
    kind: 'Gateway',
    metadata: { name: gatewayName, namespace: ns },
    spec: {
      selector: { ...(input.selector ?? { istio: 'eastwestgateway' }) },
      servers: [
        {
          port: { name: 'tls-istiod', number: 15012, protocol: 'TLS' },
          tls: { mode: 'PASSTHROUGH' },
          hosts: [...sni]
        },
        {
          port: { name: 'tls-istiodwebhook', number: 15017, protocol: 'TLS' },
          tls: { mode: 'PASSTHROUGH' },
          hosts: [...sni]
        }
      ]
    }
  }
  const route = (port: number, target: number): Record<string, unknown> => ({
    match: [{ port, sniHosts: [...sni] }],
    route: [{ destination: { host: `${istiod}.cluster.local`, port: { number: target } } }]
  })
  const virtualService = {
    apiVersion: `networking.istio.io/${input.apiVersion}`,
    kind: 'VirtualService',
    metadata: { name: `istiod-vs${suffix}`, namespace: ns },
    spec: {
      hosts: [...sni],
      gateways: [gatewayName],
      tls: [route(15012, 15012), route(15017, 443)]
    }
  }
  return [stamp(gateway, own), stamp(virtualService, own)]
}

function groupAnnotations(group: WorkloadGroup): Record<string, string> {
  const out = { ...group.annotations }
  if (group.proxyConfig !== null) out[PROXY_CONFIG_ANNOTATION] = JSON.stringify(group.proxyConfig)
  return out
}

export function workloadGroupObject(
  group: WorkloadGroup,
  discovery: Discovery,
  own: Ownership
): KubeObject {
  return stamp(
    buildWorkloadGroup({
      name: group.name,
      namespace: group.namespace,
      apiVersion: discovery.workloadGroupVersion,
      labels: group.labels,
      annotations: groupAnnotations(group),
      ports: group.ports,
      serviceAccount: group.serviceAccount,
      network: group.network,
      locality: group.locality,
      ...(group.weight !== null ? { weight: group.weight } : {}),
      ...(group.probe !== null ? { probe: group.probe as ReadinessProbeInput } : {}),
      owner: own.owner
    }),
    own
  )
}

export function serviceObject(
  group: WorkloadGroup,
  discovery: Discovery,
  own: Ownership
): KubeObject | null {
  const service = group.service
  if (service.kind === 'none') return null
  const ports = service.ports.map(p => ({
    name: p.name,
    number: p.number,
    protocol: p.protocol,
    targetPort: p.targetPort
  }))
  if (service.kind === 'ServiceEntry') {
    return stamp(
      buildServiceEntry({
        name: service.name,
        namespace: group.namespace,
        apiVersion: discovery.networkingVersion,
        hosts: service.hosts,
        ports,
        selector: group.labels,
        owner: own.owner
      }),
      own
    )
  }
  return stamp(
    buildService({
      name: service.name,
      namespace: group.namespace,
      ports,
      selector: group.labels,
      owner: own.owner
    }),
    own
  )
}

/** A manual WorkloadEntry for one host; `address` is the IP the mesh reaches it at. */
export function workloadEntryObject(
  vm: Vm,
  group: WorkloadGroup,
  address: string,
  discovery: Discovery,
  own: Ownership
): KubeObject {
  return stamp(
    buildWorkloadEntry({
      name: workloadEntryName(vm, group, address),
      namespace: group.namespace,
      apiVersion: discovery.networkingVersion,
      address,
      labels: group.labels,
      ports: group.ports,
      serviceAccount: group.serviceAccount,
      network: vm.network,
      locality: group.locality,
      ...(group.weight !== null ? { weight: group.weight } : {}),
      healthChecks: group.probe !== null,
      owner: own.owner
    }),
    own
  )
}

export interface DesiredOptions {
  /** host name → the IP the mesh reaches it at; hosts without one get no WorkloadEntry yet */
  readonly addresses?: ReadonlyMap<string, string>
}

/** Every object of the run, in apply order. */
export function desiredObjects(
  description: Description,
  discovery: Discovery,
  own: Ownership,
  options: DesiredOptions = {}
): KubeObject[] {
  const out: KubeObject[] = []
  const seen = new Set<string>()
  const add = (object: KubeObject | null): void => {
    if (object === null) return
    const key = `${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`
    if (seen.has(key)) return
    seen.add(key)
    out.push(object)
  }
  for (const group of description.workloadGroups) add(namespaceObject(group.namespace, own))
  // every namespace has its `default` account: never ours to create, label or delete
  for (const group of description.workloadGroups)
    if (group.serviceAccount !== 'default')
      add(serviceAccountObject(group.serviceAccount, group.namespace, own))
  // Before 1.8 there is no WorkloadGroup: the account (whose istio.<sa> Secret Citadel writes) is
  // all the generic part; the rest is each generation's (src/engine/legacy.ts).
  if (discovery.generation !== 'modern') return out
  for (const group of description.workloadGroups) add(workloadGroupObject(group, discovery, own))
  if (description.cluster.exposeIstiod && !discovery.istiodExposed) {
    for (const o of istiodExposureObjects(
      {
        istioNamespace: discovery.istioNamespace,
        revision: discovery.revision,
        apiVersion: discovery.networkingVersion
      },
      own
    ))
      add(o)
  }
  for (const group of description.workloadGroups) add(serviceObject(group, discovery, own))
  const groups = new Map(description.workloadGroups.map(g => [g.name, g]))
  for (const vm of description.vms) {
    const group = groups.get(vm.group)
    if (!group || group.registration !== 'manual') continue
    const address =
      options.addresses?.get(vm.name) ?? (vm.address !== 'auto' ? vm.address : undefined)
    if (address !== undefined) add(workloadEntryObject(vm, group, address, discovery, own))
  }
  return out
}
