// Server-side printing: the meta.k8s.io Table kubectl asks for (`Accept:
// application/json;as=Table;v=v1;g=meta.k8s.io`) when it prints `get` output. The columns are the
// ones kube-apiserver defines, so `kubectl get [-o wide]` prints what it prints on a real cluster:
// - built-in kinds: pkg/printers/internalversion/printers.go (AddHandlers: namespaceColumnDefinitions,
//   serviceAccountColumnDefinitions, serviceColumnDefinitions, endpointColumnDefinitions,
//   configMapColumnDefinitions, secretColumnDefinitions, podColumnDefinitions,
//   deploymentColumnDefinitions, roleColumnDefinitions, roleBindingsColumnDefinitions,
//   clusterRoleBindingsColumnDefinitions, the webhook configurations, eventColumnDefinitions) and
//   their print functions (printPod, printService, formatEndpoints, …);
// - kinds without a printer: the default table convertor, Name and Created At
//   (staging/src/k8s.io/apiserver/pkg/registry/rest/table.go);
// - Istio kinds: their CRDs' additionalPrinterColumns (manifests/charts/base/files/crd-all.gen.yaml,
//   in lab/cluster/crds/istio.json), after Name, an Age column when a CRD defines none, `date`
//   columns as ages and other values as jsonpath prints them
//   (staging/src/k8s.io/apiextensions-apiserver/pkg/registry/customresource/tableconvertor).
// Ages are apimachinery's duration.HumanDuration. Stand-in: the Pod Status column knows the common
// reasons only (phase, waiting/terminated reasons, Terminating), not init containers or readiness gates.
import { isObject, type Obj } from './fields.ts'
import { istioCrd } from './openapi.ts'
import type { ResourceType } from './resources.ts'
import type { KubeObject } from './store.ts'

export interface TableColumn {
  name: string
  type: string
  format: string
  description: string
  priority: number
}

export type IncludeObject = 'None' | 'Metadata' | 'Object'

/** Is this Accept header asking for a Table (meta.k8s.io v1 or v1beta1)? Returns its version. */
export function wantsTable(accept: string | undefined): 'v1' | 'v1beta1' | undefined {
  for (const part of (accept ?? '').split(',')) {
    const params = new Map(
      part
        .split(';')
        .slice(1)
        .map(p => p.trim().split('=') as [string, string])
    )
    if (params.get('as') !== 'Table' || params.get('g') !== 'meta.k8s.io') continue
    const v = params.get('v')
    if (v === 'v1' || v === 'v1beta1') return v
  }
  return undefined
}

/** apimachinery's duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000)
  if (seconds < -1) return '<invalid>'
  if (seconds < 0) return '0s'
  if (seconds < 120) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`
  if (minutes < 180) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`
  if (hours < 48) return `${hours}h`
  if (hours < 24 * 8)
    return hours % 24 === 0 ? `${hours / 24}d` : `${Math.floor(hours / 24)}d${hours % 24}h`
  const days = Math.floor(hours / 24)
  if (hours < 24 * 365 * 2) return `${days}d`
  if (hours < 24 * 365 * 8)
    return days % 365 === 0 ? `${days / 365}y` : `${Math.floor(days / 365)}y${days % 365}d`
  return `${Math.floor(days / 365)}y`
}

const col = (
  name: string,
  description: string,
  priority = 0,
  type = 'string',
  format = ''
): TableColumn => ({
  name,
  type,
  format,
  description,
  priority
})
const nameColumn = col(
  'Name',
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
  0,
  'string',
  'name'
)
const ageColumn = col(
  'Age',
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.'
)

type Cell = string | number | boolean | null
interface Printer {
  columns: TableColumn[]
  cells(o: KubeObject, age: string): Cell[]
}

const obj = (v: unknown): Obj => (isObject(v) ? v : {})
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])
const str = (v: unknown): string => (typeof v === 'string' ? v : '')
const orNone = (s: string): string => (s === '' ? '<none>' : s)

/** labels.Set(m).String(): sorted key=value pairs joined by commas. */
function selectorString(m: unknown): string {
  return Object.entries(obj(m))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',')
}

function servicePorts(spec: Obj): string {
  const ports = arr(spec.ports).map(p => {
    const port = obj(p)
    const proto = str(port.protocol) || 'TCP'
    return port.nodePort
      ? `${String(port.port)}:${String(port.nodePort)}/${proto}`
      : `${String(port.port)}/${proto}`
  })
  return orNone(ports.join(','))
}

function serviceExternalIp(svc: KubeObject): string {
  const spec = obj(svc.spec)
  const external = arr(spec.externalIPs).map(String)
  switch (str(spec.type) || 'ClusterIP') {
    case 'ClusterIP':
    case 'NodePort':
      return orNone(external.join(','))
    case 'LoadBalancer': {
      const ingress = arr(obj(obj(svc.status).loadBalancer).ingress).map(
        i => str(obj(i).ip) || str(obj(i).hostname)
      )
      const all = [...ingress, ...external].filter(s => s !== '')
      return all.length > 0 ? all.join(',') : '<pending>'
    }
    case 'ExternalName':
      return str(spec.externalName)
    default:
      return '<unknown>'
  }
}

/** formatEndpoints: ip:port for each port, then each address; up to three, then ` + N more...`. */
function endpointsCell(ep: KubeObject): string {
  const all: string[] = []
  for (const subset of arr(ep.subsets)) {
    const s = obj(subset)
    const ips = arr(s.addresses).map(a => str(obj(a).ip))
    const ports = arr(s.ports)
    // a headless Service's subset may have no ports: its addresses alone
    if (ports.length === 0) all.push(...ips)
    for (const p of ports)
      for (const ip of ips)
        all.push(
          ip.includes(':') ? `[${ip}]:${String(obj(p).port)}` : `${ip}:${String(obj(p).port)}`
        )
  }
  if (all.length === 0) return '<none>'
  return all.length > 3 ? `${all.slice(0, 3).join(',')} + ${all.length - 3} more...` : all.join(',')
}

/** printPod's Ready, Status and Restarts, for the common cases. */
function podCells(pod: KubeObject): { ready: string; status: string; restarts: string } {
  const spec = obj(pod.spec)
  const status = obj(pod.status)
  let reason = str(status.reason) || str(status.phase)
  let ready = 0
  let restarts = 0
  for (const c of arr(status.containerStatuses)) {
    const cs = obj(c)
    restarts += Number(cs.restartCount ?? 0)
    const state = obj(cs.state)
    const waiting = str(obj(state.waiting).reason)
    const terminated = obj(state.terminated)
    if (waiting !== '') reason = waiting
    else if (Object.keys(terminated).length > 0)
      reason = str(terminated.reason) || `ExitCode:${String(terminated.exitCode ?? 0)}`
    else if (cs.ready === true && isObject(state.running)) ready++
  }
  if (pod.metadata?.deletionTimestamp !== undefined) reason = 'Terminating'
  return {
    ready: `${ready}/${arr(spec.containers).length}`,
    status: reason,
    restarts: String(restarts)
  }
}

function bindingCells(b: KubeObject): { role: string; users: string; groups: string; sas: string } {
  const subjects = arr(b.subjects).map(obj)
  const of = (kind: string): Obj[] => subjects.filter(s => s.kind === kind)
  return {
    role: `${str(obj(b.roleRef).kind)}/${str(obj(b.roleRef).name)}`,
    users: of('User')
      .map(s => str(s.name))
      .join(', '),
    groups: of('Group')
      .map(s => str(s.name))
      .join(', '),
    sas: of('ServiceAccount')
      .map(s => `${str(s.namespace)}/${str(s.name)}`)
      .join(', ')
  }
}

/** RoleBinding and ClusterRoleBinding: the same columns (printers.go printRoleBinding / printClusterRoleBinding). */
function bindingTable(kind: 'roleBinding' | 'clusterRoleBinding'): Printer {
  return {
    columns: [
      nameColumn,
      col('Role', 'Role of this binding'),
      ageColumn,
      col('Users', `Users in the ${kind}`, 1),
      col('Groups', `Groups in the ${kind}`, 1),
      col('ServiceAccounts', `ServiceAccounts in the ${kind}`, 1)
    ],
    cells: (o, age) => {
      const b = bindingCells(o)
      return [b.role, age, b.users, b.groups, b.sas]
    }
  }
}

const createdAt = (o: KubeObject): string => str(o.metadata?.creationTimestamp)

const builtIn: Record<string, Printer> = {
  '/namespaces': {
    columns: [nameColumn, col('Status', 'The status of the namespace'), ageColumn],
    cells: (o, age) => [str(obj(o.status).phase), age]
  },
  '/serviceaccounts': {
    columns: [
      nameColumn,
      col(
        'Secrets',
        'Secrets is the list of secrets allowed to be used by pods running using this ServiceAccount.'
      ),
      ageColumn
    ],
    cells: (o, age) => [arr(o.secrets).length, age]
  },
  '/services': {
    columns: [
      nameColumn,
      col('Type', 'The type of the service.'),
      col('Cluster-IP', 'The cluster IP of the service.'),
      col('External-IP', 'The external IP of the service.'),
      col('Port(s)', 'The ports of the service.'),
      ageColumn,
      col(
        'Selector',
        'Route service traffic to pods with label keys and values matching this selector.',
        1
      )
    ],
    cells: (o, age) => {
      const spec = obj(o.spec)
      return [
        str(spec.type) || 'ClusterIP',
        orNone(str(spec.clusterIP)),
        serviceExternalIp(o),
        servicePorts(spec),
        age,
        orNone(selectorString(spec.selector))
      ]
    }
  },
  '/endpoints': {
    columns: [nameColumn, col('Endpoints', 'Endpoints of the resource'), ageColumn],
    cells: (o, age) => [endpointsCell(o), age]
  },
  '/configmaps': {
    columns: [nameColumn, col('Data', 'Data contains the configuration data.'), ageColumn],
    cells: (o, age) => [
      Object.keys(obj(o.data)).length + Object.keys(obj(o.binaryData)).length,
      age
    ]
  },
  '/secrets': {
    columns: [
      nameColumn,
      col('Type', 'Used to facilitate programmatic handling of secret data.'),
      col('Data', 'Data contains the secret data.'),
      ageColumn
    ],
    cells: (o, age) => [str(o.type) || 'Opaque', Object.keys(obj(o.data)).length, age]
  },
  '/pods': {
    columns: [
      nameColumn,
      col('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
      col('Status', 'The aggregate status of the containers in this pod.'),
      col(
        'Restarts',
        'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'
      ),
      ageColumn,
      col(
        'IP',
        'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.',
        1
      ),
      col('Node', 'NodeName is a request to schedule this pod onto a specific node.', 1),
      col(
        'Nominated Node',
        'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.',
        1
      ),
      col(
        'Readiness Gates',
        'If specified, all readiness gates will be evaluated for pod readiness.',
        1
      )
    ],
    cells: (o, age) => {
      const p = podCells(o)
      const status = obj(o.status)
      const gates = arr(obj(o.spec).readinessGates)
      return [
        p.ready,
        p.status,
        p.restarts,
        age,
        orNone(str(status.podIP)),
        orNone(str(obj(o.spec).nodeName)),
        orNone(str(status.nominatedNodeName)),
        gates.length === 0 ? '<none>' : `0/${gates.length}`
      ]
    }
  },
  'apps/deployments': {
    columns: [
      nameColumn,
      col('Ready', 'Number of the pod with ready state'),
      col(
        'Up-to-date',
        'Total number of non-terminated pods targeted by this deployment that have the desired template spec.',
        0,
        'integer'
      ),
      col(
        'Available',
        'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.',
        0,
        'integer'
      ),
      ageColumn,
      col('Containers', 'Names of each container in the template.', 1),
      col('Images', 'Images referenced by each container in the template.', 1),
      col(
        'Selector',
        'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.',
        1
      )
    ],
    cells: (o, age) => {
      const spec = obj(o.spec)
      const status = obj(o.status)
      const containers = arr(obj(obj(spec.template).spec).containers).map(obj)
      const selector = obj(spec.selector)
      const expressions = arr(selector.matchExpressions).map(e => {
        const x = obj(e)
        const op = str(x.operator).toLowerCase()
        const values = arr(x.values).map(String).join(',')
        return op === 'exists'
          ? str(x.key)
          : op === 'doesnotexist'
            ? `!${str(x.key)}`
            : `${str(x.key)} ${op} (${values})`
      })
      return [
        `${Number(status.readyReplicas ?? 0)}/${Number(spec.replicas ?? 1)}`,
        Number(status.updatedReplicas ?? 0),
        Number(status.availableReplicas ?? 0),
        age,
        containers.map(c => str(c.name)).join(','),
        containers.map(c => str(c.image)).join(','),
        orNone(
          [selectorString(selector.matchLabels), ...expressions].filter(s => s !== '').join(',')
        )
      ]
    }
  },
  'rbac.authorization.k8s.io/roles': {
    columns: [nameColumn, col('Created At', 'Time at which the object was created', 0, 'date')],
    cells: o => [createdAt(o)]
  },
  'rbac.authorization.k8s.io/clusterroles': {
    columns: [nameColumn, col('Created At', 'Time at which the object was created', 0, 'date')],
    cells: o => [createdAt(o)]
  },
  'rbac.authorization.k8s.io/rolebindings': bindingTable('roleBinding'),
  'rbac.authorization.k8s.io/clusterrolebindings': bindingTable('clusterRoleBinding'),
  'admissionregistration.k8s.io/mutatingwebhookconfigurations': {
    columns: [
      nameColumn,
      col(
        'Webhooks',
        'Webhooks indicates the number of webhooks in the configuration',
        0,
        'integer'
      ),
      ageColumn
    ],
    cells: (o, age) => [arr(o.webhooks).length, age]
  },
  'admissionregistration.k8s.io/validatingwebhookconfigurations': {
    columns: [
      nameColumn,
      col(
        'Webhooks',
        'Webhooks indicates the number of webhooks in the configuration',
        0,
        'integer'
      ),
      ageColumn
    ],
    cells: (o, age) => [arr(o.webhooks).length, age]
  }
}

/** The value at a simple jsonPath (`.spec.mtls.mode`), as jsonpath prints it: scalars bare, the rest as JSON. */
function jsonPathCell(o: KubeObject, path: string, type: string, now: number): Cell {
  let v: unknown = o
  for (const key of path.split('.').filter(k => k !== '')) v = isObject(v) ? v[key] : undefined
  if (v === undefined || v === null) return null
  if (type === 'date') {
    const t = Date.parse(String(v))
    return Number.isNaN(t) ? null : humanDuration(now - t)
  }
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean') return type === 'string' ? String(v) : v
  return JSON.stringify(v)
}

function printerFor(type: ResourceType, now: number): Printer {
  const known = builtIn[`${type.group}/${type.plural}`]
  if (known) return known
  const crd = type.istio ? istioCrd(type.kind) : undefined
  if (crd) {
    const defined = crd.additionalPrinterColumns
    const columns =
      defined.length > 0
        ? defined
        : [
            {
              name: 'Age',
              type: 'date',
              jsonPath: '.metadata.creationTimestamp',
              description: ageColumn.description
            }
          ]
    return {
      columns: [
        nameColumn,
        ...columns.map(c =>
          col(c.name, c.description ?? '', c.priority ?? 0, c.type, c.format ?? '')
        )
      ],
      cells: o => columns.map(c => jsonPathCell(o, c.jsonPath, c.type, now))
    }
  }
  return {
    columns: [
      nameColumn,
      col('Created At', 'Object creation timestamp in RFC3339 format', 0, 'date')
    ],
    cells: o => [createdAt(o)]
  }
}

/** A meta.k8s.io Table of `objects` (one for a get, all for a list). */
export function toTable(
  type: ResourceType,
  objects: KubeObject[],
  options: {
    version: 'v1' | 'v1beta1'
    includeObject: IncludeObject
    resourceVersion?: string
    now?: number
    present: (o: KubeObject) => KubeObject
  }
): Obj {
  const now = options.now ?? Date.now()
  const printer = printerFor(type, now)
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${options.version}`,
    metadata:
      options.resourceVersion !== undefined ? { resourceVersion: options.resourceVersion } : {},
    columnDefinitions: printer.columns,
    rows: objects.map(o => {
      const created = Date.parse(createdAt(o))
      const age = Number.isNaN(created) ? '<unknown>' : humanDuration(now - created)
      const full = options.present(o)
      const row: Obj = { cells: [o.metadata?.name ?? '', ...printer.cells(o, age)] }
      if (options.includeObject === 'Object') row.object = full
      else if (options.includeObject === 'Metadata')
        row.object = {
          kind: 'PartialObjectMetadata',
          apiVersion: `meta.k8s.io/${options.version}`,
          metadata: full.metadata
        }
      return row
    })
  }
}
