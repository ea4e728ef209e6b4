// The cluster side of registering host services for the older generations: `istioctl register`
// / `deregister` (scripts-0.8) through the pure planner of src/istio/legacy/register.ts, and the
// host service of the meshexpansion-1.1 / multinetwork-1.4 docs (a STATIC ServiceEntry and a
// selector-less Service) through plan/apply, so that an unchanged run writes nothing.
import { parse } from 'yaml'
import { LegacyInputError } from '../../istio/legacy/common.ts'
import {
  renderHostServiceEntry,
  renderSelectorlessService
} from '../../istio/legacy/meshExpansion.ts'
import {
  planDeregister,
  planRegister,
  SERVICE_ACCOUNTS_ANNOTATION,
  type EndpointsView,
  type RegistryPlan,
  type ServiceView
} from '../../istio/legacy/register.ts'
import { ClusterError } from '../errors.ts'
import { foreignPhrase, foreignReason, withOwnership, type Ownership } from '../objects.ts'
import { apply, planEntry } from '../plan.ts'
import {
  describeRef,
  refOf,
  type ClusterClient,
  type KubeObject,
  type ObjectRef
} from '../types.ts'

/** Runs a pure legacy renderer/planner; its input errors become ClusterError('invalid'). */
export function checked<T>(what: string, run: () => T): T {
  try {
    return run()
  } catch (error) {
    if (error instanceof LegacyInputError)
      throw new ClusterError('invalid', `${what}: ${error.message}`, 0)
    throw error
  }
}

/** A renderer's YAML text as an object for the client. */
export function fromYaml(text: string): KubeObject {
  return parse(text) as KubeObject
}

function ref(kind: 'Service' | 'Endpoints', namespace: string, name: string): ObjectRef {
  return { apiVersion: 'v1', kind, namespace, name }
}

async function readRegistry(
  client: ClusterClient,
  namespace: string,
  name: string
): Promise<{ service?: ServiceView; endpoints?: EndpointsView }> {
  const [service, endpoints] = await Promise.all([
    client.get(ref('Service', namespace, name)),
    client.get(ref('Endpoints', namespace, name))
  ])
  // the views need the namespace, which the API always returns for a namespaced object
  const view = <T>(o: KubeObject | null): T | undefined =>
    o === null ? undefined : ({ ...o, metadata: { ...o.metadata, namespace } } as unknown as T)
  const out: { service?: ServiceView; endpoints?: EndpointsView } = {}
  const s = view<ServiceView>(service)
  const e = view<EndpointsView>(endpoints)
  if (s) out.service = s
  if (e) out.endpoints = e
  return out
}

/** Carries out a registry plan: creates stamped for the owner, updates as planned, deletes. */
async function execute(
  client: ClusterClient,
  thePlan: RegistryPlan,
  own: Ownership | undefined,
  log: (line: string) => void
): Promise<number> {
  let written = 0
  for (const op of thePlan.operations) {
    if (op.op === 'delete') {
      const r = ref(op.kind, op.namespace, op.name)
      if (await client.delete(r)) {
        written++
        log(`deleted ${describeRef(r)}`)
      }
      continue
    }
    const base = op.object as unknown as KubeObject
    const object = op.op === 'create' && own ? withOwnership(base, own) : base
    // an update adds or removes our address in an Endpoints someone else may have made, on
    // purpose (docs/cluster.md, "Ownership"): forced; a create takes nothing from anyone
    await client.apply(object, { force: op.op !== 'create' })
    written++
    log(`${op.op === 'create' ? 'created' : 'updated'} ${describeRef(refOf(object))}`)
  }
  return written
}

export interface RegisterInput {
  namespace: string
  service: string
  address: string
  ports: { name?: string; port: number }[]
  serviceAccount: string
  labels?: Record<string, string>
  ownership: Ownership
}

/**
 * `istioctl register <service> <address> [name:]port…`: a selector-less Service (created only
 * when missing, never rewritten) and its Endpoints with the address. Unlike istioctl: an
 * address is listed once (a second run writes nothing), a Service with a selector is refused,
 * and what we create carries the owner's labels. `outcome` is the planner's: registered or
 * already-registered.
 */
export async function registerVm(
  client: ClusterClient,
  input: RegisterInput,
  log: (line: string) => void = () => undefined
): Promise<{ written: number; outcome: string }> {
  const existing = await readRegistry(client, input.namespace, input.service)
  const thePlan = checked(`register ${input.namespace}/${input.service} ${input.address}`, () =>
    planRegister(existing, {
      service: input.service,
      namespace: input.namespace,
      address: input.address,
      ports: input.ports,
      serviceAccount: input.serviceAccount,
      ...(input.labels ? { labels: input.labels } : {})
    })
  )
  for (const m of thePlan.messages) log(m)
  const written = await execute(client, thePlan, input.ownership, log)
  return { written, outcome: thePlan.outcome }
}

/**
 * `istioctl deregister <service> <address>`: removes the address from the Endpoints. The last
 * address deletes the Endpoints and Service that register created (managed-by label); objects
 * someone else made are emptied, never deleted. outcome: removed (address gone, objects kept),
 * deleted (the objects went with the last address), unknown-address (not registered: nothing
 * written, said in the log), missing (no Endpoints of that name).
 */
export async function deregisterVm(
  client: ClusterClient,
  input: { namespace: string; service: string; address: string },
  log: (line: string) => void = () => undefined
): Promise<{ outcome: 'removed' | 'deleted' | 'unknown-address' | 'missing'; written: number }> {
  const existing = await readRegistry(client, input.namespace, input.service)
  const thePlan = checked(`deregister ${input.namespace}/${input.service} ${input.address}`, () =>
    planDeregister(existing, input)
  )
  for (const m of thePlan.messages) log(m)
  const written = await execute(client, thePlan, undefined, log)
  switch (thePlan.outcome) {
    case 'unknown-service':
      return { outcome: 'missing', written }
    case 'unknown-address':
      return { outcome: 'unknown-address', written }
    default:
      return {
        outcome: thePlan.operations.some(o => o.op === 'delete') ? 'deleted' : 'removed',
        written
      }
  }
}

export interface HostServiceInput {
  namespace: string
  name: string
  /** default: `<name>.<namespace>.svc.cluster.local` */
  hosts?: string[]
  ports: { name: string; number: number; protocol?: string; targetPort?: number }[]
  endpoints: { address: string; labels?: Record<string, string> }[]
  labels?: Record<string, string>
  serviceAccount: string
  /** networking.istio.io version of the ServiceEntry, e.g. v1alpha3 */
  networkingVersion: string
  ownership: Ownership
}

/** The ServiceEntry and Service of a host service, stamped for the owner (pure). */
export function hostServiceObjects(input: HostServiceInput): KubeObject[] {
  const what = `host service ${input.namespace}/${input.name}`
  const seen = new Set<string>()
  for (const p of input.ports) {
    if (seen.has(p.name))
      throw new ClusterError('invalid', `${what}: port name ${p.name} is given twice`, 0)
    seen.add(p.name)
  }
  const ports = Object.fromEntries(input.ports.map(p => [p.name, p.number]))
  const protocols = Object.fromEntries(
    input.ports.flatMap(p => (p.protocol !== undefined ? [[p.name, p.protocol]] : []))
  )
  const renderInput = { name: input.name, namespace: input.namespace, ports, protocols }
  const entry = fromYaml(
    checked(what, () => renderHostServiceEntry({ ...renderInput, endpoints: input.endpoints }))
  )
  const service = fromYaml(checked(what, () => renderSelectorlessService(renderInput)))
  entry.apiVersion = `networking.istio.io/${input.networkingVersion}`
  const spec = entry['spec'] as { hosts: string[] }
  if (input.hosts !== undefined && input.hosts.length > 0) spec.hosts = [...input.hosts]
  const servicePorts = (service['spec'] as { ports: { name: string; targetPort: number }[] }).ports
  for (const p of servicePorts) {
    const target = input.ports.find(q => q.name === p.name)?.targetPort
    if (target !== undefined) p.targetPort = target
  }
  // what istioctl register (-s) and add-to-mesh put on the Service: Pilot reads the first
  // for the endpoints' identities
  service.metadata.annotations = {
    [SERVICE_ACCOUNTS_ANNOTATION]: input.serviceAccount,
    'kubernetes.io/service-account.name': input.serviceAccount
  }
  return [entry, service].map(o =>
    withOwnership(
      { ...o, metadata: { ...o.metadata, labels: { ...input.labels, ...o.metadata.labels } } },
      input.ownership
    )
  )
}

/**
 * The host service as the 1.1 / 1.4 docs made it: a STATIC ServiceEntry with one endpoint per
 * host and a selector-less Service, both labelled for the owner. Compared with what is there
 * (plan/apply): 0 writes when unchanged. A ServiceEntry or Service of that name that
 * mesh-expansion did not create is refused, as add-to-mesh refused it.
 */
export async function applyHostService(
  client: ClusterClient,
  input: HostServiceInput
): Promise<{ written: number }> {
  const desired = hostServiceObjects(input)
  const lives = await Promise.all(desired.map(o => client.get(refOf(o))))
  desired.forEach((o, i) => {
    const live = lives[i] ?? null
    const foreign = live === null ? null : foreignReason(live, input.ownership.owner)
    if (foreign !== null) {
      throw new ClusterError(
        'conflict',
        `${describeRef(refOf(o))} ${foreignPhrase(foreign)}: ` +
          'it is left alone; remove it or register the host service under another name',
        0
      )
    }
  })
  const thePlan = { entries: desired.map((o, i) => planEntry(o, lives[i] ?? null)) }
  const result = await apply(client, thePlan)
  return { written: result.written.length }
}
