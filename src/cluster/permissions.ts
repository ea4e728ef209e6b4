// The Kubernetes permissions a run uses, derived from a description and the commands it runs:
// every request the cluster side, the engine and the checks make (read from the code that makes
// them, cited per rule), as RBAC sees it: verb, API group, resource, subresource, namespace and,
// where the request's URL carries the name, the names. Pure: no I/O. Used by `mesh-expansion
// rbac` (src/commands/rbac.ts) and by the preflight's access reviews (./access.ts).
//
// How RBAC sees a request (kube-apiserver's RequestInfo and the RBAC authorizer): a server-side
// apply is a `patch` of the named object, also when it creates it (no `create` is checked); a
// TokenRequest is a `create` of `serviceaccounts/token` named after the account; `kubectl exec`
// is a `create` of `pods/exec`; the service proxy is a `get` of `services/proxy` named
// `<service>:<port>`; a Namespace's own URL is in that namespace; `list` and `create` carry no
// name, so `resourceNames` cannot narrow them.
import type { Description, WorkloadGroup } from '../config/defaults.ts'
import { ingressServiceRef } from '../istio/hosts.ts'
import type { ConcreteGeneration } from './discovery.ts'
import type { AccessQuestion } from './types.ts'

export type RunCommand = 'apply' | 'verify' | 'cleanup' | 'sweep'
export const RUN_COMMANDS: readonly RunCommand[] = ['apply', 'verify', 'cleanup', 'sweep']

export interface Permission {
  readonly verb: string
  /** '' = the core group */
  readonly group: string
  /** plural, without the subresource */
  readonly resource: string
  readonly subresource?: string
  /** absent = cluster scope (a cluster-scoped kind, or every namespace) */
  readonly namespace?: string
  /** absent = any name */
  readonly resourceNames?: readonly string[]
  /** why: the phase(s) and the step that make the request */
  readonly phase: string
}

/** A non-resource URL every authenticated user may GET (bootstrap ClusterRole system:discovery). */
export interface UrlPermission {
  readonly verb: 'get'
  readonly nonResourceURL: string
  readonly phase: string
}

export interface PermissionOptions {
  readonly commands: readonly RunCommand[]
  /**
   * The generation the run will find (`cluster.generation`, else discovery decides: give the one
   * the cluster has; default modern).
   */
  readonly generation?: ConcreteGeneration
  /**
   * true: the run creates the workload groups' namespaces (and cleanup deletes them), so what it
   * does in them must be granted cluster-wide (a Role cannot exist before its namespace, and goes
   * with it); false (default): the namespaces exist before the run (made with the RBAC), and are
   * used as they are and never deleted.
   */
  readonly createNamespaces?: boolean
  /** the checks run under a STRICT PeerAuthentication (the engine's strictMtls option) */
  readonly strictMtls?: boolean
  /** false: apply and verify run no checks (apply's `verify: false`, `plan`); default true */
  readonly checks?: boolean
}

const ISTIO = 'networking.istio.io'
const SECURITY = 'security.istio.io'

/** The URLs a client reads for discovery; granted to everyone authenticated by default. */
export function discoveryUrls(commands: readonly RunCommand[]): UrlPermission[] {
  const phase = commands.join(', ')
  return [
    { verb: 'get', nonResourceURL: '/version', phase: `${phase}: connect (GET /version)` },
    { verb: 'get', nonResourceURL: '/api/*', phase: `${phase}: API discovery` },
    { verb: 'get', nonResourceURL: '/apis/*', phase: `${phase}: API discovery` }
  ]
}

const uniq = (values: Iterable<string>): string[] => [...new Set(values)].sort()

interface Draft {
  verb: string
  group: string
  resource: string
  subresource?: string
  namespace?: string
  /** null = any name */
  names: string[] | null
  phases: string[]
}

class Collector {
  private readonly drafts = new Map<string, Draft>()

  add(
    verbs: readonly string[],
    group: string,
    resource: string,
    where: { namespace?: string | undefined; names?: readonly string[] | null },
    phase: string
  ): void {
    const [plural = '', subresource] = resource.split('/')
    for (const verb of verbs) {
      const key = [verb, group, resource, where.namespace ?? ''].join('\u0000')
      const names = where.names === undefined || where.names === null ? null : [...where.names]
      const draft = this.drafts.get(key)
      if (!draft) {
        this.drafts.set(key, {
          verb,
          group,
          resource: plural,
          ...(subresource !== undefined ? { subresource } : {}),
          ...(where.namespace !== undefined ? { namespace: where.namespace } : {}),
          names,
          phases: [phase]
        })
        continue
      }
      draft.names = draft.names === null || names === null ? null : [...draft.names, ...names]
      if (!draft.phases.includes(phase)) draft.phases.push(phase)
    }
  }

  result(): Permission[] {
    return [...this.drafts.values()]
      .map(d => ({
        verb: d.verb,
        group: d.group,
        resource: d.resource,
        ...(d.subresource !== undefined ? { subresource: d.subresource } : {}),
        ...(d.namespace !== undefined ? { namespace: d.namespace } : {}),
        ...(d.names !== null ? { resourceNames: uniq(d.names) } : {}),
        phase: d.phases.join('; ')
      }))
      .sort((a, b) =>
        [a.namespace ?? '', a.group, a.resource, a.subresource ?? '', a.verb]
          .join('\u0000')
          .localeCompare(
            [b.namespace ?? '', b.group, b.resource, b.subresource ?? '', b.verb].join('\u0000')
          )
      )
  }
}

/** The generation to plan permissions for. */
function generationOf(description: Description, options: PermissionOptions): ConcreteGeneration {
  if (options.generation) return options.generation
  const g = description.cluster.generation
  return g === 'auto' ? 'modern' : g
}

/** `name.namespace`, as cluster.legacy.services lists them (src/engine/legacy.ts). */
function splitService(value: string): { name: string; namespace: string } {
  const [name = '', namespace = ''] = value.split('.')
  return { name, namespace }
}

/**
 * The permissions `commands` use for `description`, merged: one entry per verb, resource and
 * namespace, with the names and the phases that need it.
 */
export function permissionsFor(description: Description, options: PermissionOptions): Permission[] {
  const c = new Collector()
  const commands = new Set(options.commands)
  const generation = generationOf(description, options)
  const modern = generation === 'modern'
  const cluster = description.cluster
  const istioNs = cluster.istioNamespace
  const groups = description.workloadGroups
  // in a namespace the run creates, a Role cannot be bound beforehand: cluster-wide instead
  const inGroupNs = (ns: string): string | undefined =>
    options.createNamespaces === true ? undefined : ns
  const groupNamespaces = uniq(groups.map(g => g.namespace))
  const accounts = (ns: string): string[] =>
    uniq(groups.filter(g => g.namespace === ns).map(g => g.serviceAccount))
  const ownAccounts = (ns: string): string[] => accounts(ns).filter(a => a !== 'default')
  const groupsIn = (ns: string): WorkloadGroup[] => groups.filter(g => g.namespace === ns)
  const needsDiscovery = commands.has('apply') || commands.has('verify') || commands.has('cleanup')
  // the preflight plans (reads every object apply would write) for apply and for verify
  const plans = commands.has('apply') || commands.has('verify')
  const writes = commands.has('apply')
  const rw = (what: string): { verbs: string[]; why: string } =>
    writes
      ? { verbs: ['get', 'patch'], why: `${what} (plan reads, server-side apply writes)` }
      : { verbs: ['get'], why: `${what} (the preflight's plan reads it)` }
  // names that carry the revision are known only when the description names it
  const revisionSuffix =
    cluster.revision === 'auto'
      ? undefined
      : cluster.revision === 'default'
        ? ''
        : `-${cluster.revision}`

  // --- discover (src/cluster/discovery.ts `discover`): apply, verify and cleanup -c read it ---
  if (needsDiscovery) {
    const phase = 'discover'
    const revisionKnown = cluster.revision !== 'auto'
    const suffix =
      revisionKnown && cluster.revision !== 'default' ? `-${cluster.revision}` : undefined
    if (!revisionKnown) {
      const tag =
        istioNs === 'istio-system'
          ? 'istio-revision-tag-default'
          : `istio-revision-tag-default-${istioNs}`
      c.add(
        ['get'],
        'admissionregistration.k8s.io',
        'mutatingwebhookconfigurations',
        { names: [tag] },
        `${phase}: the revision from the default tag's webhook`
      )
    }
    c.add(
      ['list'],
      'apps',
      'deployments',
      { namespace: istioNs },
      `${phase}: istiod's Deployment (Istio version, generation)`
    )
    c.add(
      ['get'],
      '',
      'namespaces',
      { namespace: istioNs, names: [istioNs] },
      `${phase}: the istio namespace (network label)`
    )
    const gw = ingressServiceRef(cluster.ingressService, istioNs)
    c.add(
      ['get'],
      '',
      'services',
      { namespace: gw.namespace, names: [gw.name] },
      `${phase}: the east-west gateway's address`
    )
    c.add(
      ['get'],
      '',
      'configmaps',
      {
        namespace: istioNs,
        // the names carry the revision: unknown until the tag webhook was read
        names:
          suffix === undefined && !revisionKnown
            ? null
            : [`istio${suffix ?? ''}`, `istio-sidecar-injector${suffix ?? ''}`]
      },
      `${phase}: mesh config and cluster ID (ConfigMaps istio[-rev], istio-sidecar-injector[-rev])`
    )
    c.add(
      ['list'],
      ISTIO,
      'gateways',
      { namespace: istioNs },
      `${phase}: whether istiod is already exposed`
    )
  }

  // --- plan (src/cluster/plan.ts, objects.ts) and apply's server-side applies ---
  if (plans) {
    const phase = writes ? 'apply' : 'verify'
    for (const ns of groupNamespaces) {
      if (options.createNamespaces === true) {
        const ns_ = rw('the workload namespace')
        c.add(ns_.verbs, '', 'namespaces', { names: [ns] }, `${phase}: ${ns_.why}`)
      } else {
        c.add(
          ['get'],
          '',
          'namespaces',
          { namespace: ns, names: [ns] },
          `${phase}: the plan reads the workload namespace (it exists: used as it is)`
        )
      }
      const own = ownAccounts(ns)
      const sa = rw('the workload ServiceAccount')
      if (own.length > 0)
        c.add(
          sa.verbs,
          '',
          'serviceaccounts',
          { namespace: inGroupNs(ns), names: own },
          `${phase}: ${sa.why}`
        )
      if (modern) {
        const wg = rw('the WorkloadGroup')
        c.add(
          wg.verbs,
          ISTIO,
          'workloadgroups',
          { namespace: inGroupNs(ns), names: groupsIn(ns).map(g => g.name) },
          `${phase}: ${wg.why}`
        )
      }
      for (const g of groupsIn(ns)) {
        if (g.service.kind === 'none' || !modern) continue
        const resource = g.service.kind === 'ServiceEntry' ? 'serviceentries' : 'services'
        const svc = rw(`the ${g.service.kind} in front of the VMs`)
        c.add(
          svc.verbs,
          g.service.kind === 'ServiceEntry' ? ISTIO : '',
          resource,
          { namespace: inGroupNs(ns), names: [g.service.name] },
          `${phase}: ${svc.why}`
        )
      }
      if (modern && groupsIn(ns).some(g => g.registration === 'manual'))
        c.add(
          ['get'],
          ISTIO,
          'workloadentries',
          { namespace: inGroupNs(ns) },
          `${phase}: the plan reads the manual WorkloadEntries (names carry the VM address)`
        )
    }
    if (modern && cluster.exposeIstiod) {
      const names = (base: string): string[] | null =>
        revisionSuffix === undefined ? null : [`${base}${revisionSuffix}`]
      const gwr = rw('cluster.exposeIstiod: Gateway istiod-gateway[-rev]')
      c.add(
        gwr.verbs,
        ISTIO,
        'gateways',
        { namespace: istioNs, names: names('istiod-gateway') },
        `${phase}: ${gwr.why}`
      )
      const vsr = rw('cluster.exposeIstiod: VirtualService istiod-vs[-rev]')
      c.add(
        vsr.verbs,
        ISTIO,
        'virtualservices',
        { namespace: istioNs, names: names('istiod-vs') },
        `${phase}: ${vsr.why}`
      )
    }
  }
  if (writes) {
    for (const ns of groupNamespaces) {
      if (modern) {
        const manual = groupsIn(ns).some(g => g.registration === 'manual')
        const auto = groupsIn(ns).some(g => g.registration === 'auto')
        if (manual)
          c.add(
            ['patch', 'delete'],
            ISTIO,
            'workloadentries',
            { namespace: inGroupNs(ns) },
            'apply/register: manual WorkloadEntries (names carry the VM address), withdrawn for hosts that failed'
          )
        if (auto)
          c.add(
            ['list'],
            ISTIO,
            'workloadentries',
            { namespace: inGroupNs(ns) },
            "apply/register: wait for istiod's auto-registered WorkloadEntry"
          )
        // identity: the token and the root certificate (src/cluster/identity.ts)
        c.add(
          ['create'],
          '',
          'serviceaccounts/token',
          { namespace: inGroupNs(ns), names: accounts(ns) },
          'apply/identity: a TokenRequest for the VM (audience istio-ca)'
        )
        c.add(
          ['get'],
          '',
          'configmaps',
          { namespace: inGroupNs(ns), names: ['istio-ca-root-cert'] },
          'apply/identity: root-cert.pem from istio-ca-root-cert'
        )
      }
    }
    if (description.settings.adopt.length > 0) {
      for (const a of description.settings.adopt) {
        const target = ADOPTABLE[a.kind]
        if (!target) continue
        c.add(
          ['update'],
          target.group,
          target.resource,
          { namespace: a.namespace === '' ? undefined : inGroupNs(a.namespace), names: [a.name] },
          `apply: settings.adopt takes over ${a.kind} ${a.namespace}/${a.name} (PUT)`
        )
      }
    }
    if (!modern) addLegacyApply(c, description, generation, inGroupNs)
  }

  // --- verify (src/verify/podExec.ts, vmChecks.ts, strictMtls.ts) ---
  if ((commands.has('apply') || commands.has('verify')) && options.checks !== false) {
    const podNamespaces = uniq(
      description.checks.flatMap(check =>
        [check.from, check.to].flatMap(e => (e && e.kind === 'pod' ? [e.namespace] : []))
      )
    )
    for (const ns of podNamespaces) {
      c.add(['list'], '', 'pods', { namespace: ns }, 'verify: find a pod of a check endpoint')
      c.add(
        ['create'],
        '',
        'pods/exec',
        { namespace: ns },
        'verify: curl from the pod (kubectl exec)'
      )
    }
    // src/verify/deps.ts: istiod[-rev], monitoring port 15014 (pilot before 1.5 has no
    // /debug/connections there: the older generations do not ask)
    if (modern)
      c.add(
        ['get'],
        '',
        'services/proxy',
        {
          namespace: istioNs,
          names: revisionSuffix === undefined ? null : [`istiod${revisionSuffix}:15014`]
        },
        "verify: istiod's /debug/connections through the API server's service proxy"
      )
    if (modern) {
      c.add(
        ['list'],
        '',
        'pods',
        { namespace: istioNs },
        "verify: istiod's pods (1.11+ answers /debug only on localhost)"
      )
      c.add(
        ['create'],
        '',
        'pods/exec',
        { namespace: istioNs },
        'verify: `pilot-discovery request GET /debug/connections` in istiod'
      )
      for (const ns of groupNamespaces) {
        c.add(
          ['get'],
          ISTIO,
          'workloadentries',
          { namespace: inGroupNs(ns) },
          'verify: WorkloadEntry health'
        )
      }
    }
    if (options.strictMtls === true) {
      // src/verify/strictMtls.ts: applied for the checks, deleted after
      for (const ns of groupNamespaces)
        c.add(
          ['patch', 'delete'],
          SECURITY,
          'peerauthentications',
          { namespace: inGroupNs(ns), names: ['mesh-expansion-verify-strict'] },
          'verify: strictMtls, a STRICT PeerAuthentication during the checks'
        )
    }
  }

  // --- cleanup and sweep (src/cluster/cleanup.ts; the older generations' part in engine/legacy.ts) ---
  if (commands.has('cleanup') || commands.has('sweep')) {
    const phase = ['cleanup', 'sweep'].filter(x => commands.has(x as RunCommand)).join(', ')
    const kinds: Array<[string, string]> = [
      [ISTIO, 'workloadentries'],
      [ISTIO, 'serviceentries'],
      ['', 'endpoints'],
      ['', 'services'],
      [ISTIO, 'workloadgroups'],
      [ISTIO, 'virtualservices'],
      [ISTIO, 'gateways'],
      ['', 'serviceaccounts'],
      ['', 'namespaces']
    ]
    // lists by the owner label across all namespaces: cluster-wide
    for (const [group, resource] of kinds)
      c.add(
        ['list'],
        group,
        resource,
        {},
        `${phase}: find the owner's objects (label selector, all namespaces)`
      )
    // what a description's objects can be in its workload namespaces
    const inGroups = kinds.filter(
      ([, r]) =>
        !['namespaces', 'gateways', 'virtualservices'].includes(r) &&
        // modern: no Endpoints of ours; older generations: no WorkloadGroups or entries
        (modern
          ? r !== 'endpoints'
          : !['workloadgroups', 'workloadentries'].includes(r) &&
            (r !== 'serviceentries' || generation !== 'scripts-0.8'))
    )
    if (commands.has('cleanup')) {
      for (const ns of groupNamespaces) {
        for (const [group, resource] of inGroups)
          c.add(
            ['delete'],
            group,
            resource,
            { namespace: inGroupNs(ns) },
            "cleanup: delete the owner's objects"
          )
      }
      if (modern && cluster.exposeIstiod) {
        for (const resource of ['gateways', 'virtualservices'])
          c.add(
            ['delete'],
            ISTIO,
            resource,
            {
              namespace: istioNs,
              names:
                revisionSuffix === undefined
                  ? null
                  : [`${resource === 'gateways' ? 'istiod-gateway' : 'istiod-vs'}${revisionSuffix}`]
            },
            'cleanup: the istiod exposure'
          )
      }
      if (options.createNamespaces === true) {
        c.add(
          ['delete'],
          '',
          'namespaces',
          { names: groupNamespaces },
          'cleanup: a namespace the owner created, once nothing in it is anyone else’s'
        )
        c.add(
          ['list'],
          '*',
          '*',
          {},
          "cleanup: before deleting a namespace, every resource type in it (is anything someone else's?)"
        )
      }
      if (!modern) addLegacyCleanup(c, description, generation, inGroupNs)
    }
    if (commands.has('sweep')) {
      // any owner's objects, wherever an earlier description put them
      // only the kinds this generation makes (Endpoints: the older ones; Istio kinds but
      // ServiceEntry: the modern one)
      for (const [group, resource] of kinds.filter(([, r]) =>
        r === 'namespaces'
          ? false
          : modern
            ? r !== 'endpoints'
            : !['workloadentries', 'workloadgroups', 'virtualservices', 'gateways'].includes(r) &&
              (r !== 'serviceentries' || generation !== 'scripts-0.8')
      ))
        c.add(['delete'], group, resource, {}, "sweep: delete expired owners' objects")
      // namespaces only where runs create them (createNamespaces): otherwise none is ever ours
      if (options.createNamespaces === true) {
        c.add(['delete'], '', 'namespaces', {}, "sweep: delete expired owners' namespaces")
        c.add(
          ['list'],
          '*',
          '*',
          {},
          "sweep: before deleting a namespace, every resource type in it (is anything someone else's?)"
        )
      }
    }
  }
  return c.result()
}

const ADOPTABLE: Readonly<Record<string, { group: string; resource: string }>> = {
  WorkloadGroup: { group: ISTIO, resource: 'workloadgroups' },
  WorkloadEntry: { group: ISTIO, resource: 'workloadentries' },
  ServiceEntry: { group: ISTIO, resource: 'serviceentries' },
  Service: { group: '', resource: 'services' },
  Gateway: { group: ISTIO, resource: 'gateways' },
  VirtualService: { group: ISTIO, resource: 'virtualservices' }
}

/** The older generations' cluster side (src/engine/legacy.ts, src/cluster/legacy/*). */
function addLegacyApply(
  c: Collector,
  description: Description,
  generation: ConcreteGeneration,
  inGroupNs: (ns: string) => string | undefined
): void {
  const legacy = description.cluster.legacy
  const ns = description.cluster.istioNamespace
  const groups = description.workloadGroups
  if (legacy.serviceCidrs.length === 0) {
    // serviceCidr.ts: ServiceCIDR objects, else a dry-run Service, else the apiserver's flags
    c.add(
      ['list'],
      'networking.k8s.io',
      'servicecidrs',
      {},
      'apply (legacy): the service CIDR from ServiceCIDR objects (when the cluster serves them)'
    )
    c.add(
      ['create'],
      '',
      'services',
      { namespace: 'default' },
      'apply (legacy): the service CIDR from a dry-run Service, nothing stored (when no ServiceCIDR lists it)'
    )
    c.add(
      ['list'],
      '',
      'pods',
      { namespace: 'kube-system' },
      "apply (legacy): the service CIDR from kube-apiserver's flags (when neither tells)"
    )
  }
  if (generation === 'scripts-0.8') {
    c.add(
      ['get'],
      '',
      'services',
      { namespace: ns, names: ['istio-pilot-ilb', 'mixer-ilb', 'citadel-ilb', 'istio-ca-ilb'] },
      'apply (0.8): the mesh-expansion ILB addresses'
    )
    c.add(
      ['get'],
      '',
      'services',
      { namespace: 'kube-system', names: ['dns-ilb'] },
      'apply (0.8): the DNS ILB address'
    )
  } else {
    const gateway = { namespace: ns, names: ['istio-ingressgateway'] }
    c.add(
      ['get'],
      '',
      'services',
      gateway,
      'apply (1.1/1.4): the meshExpansion gateway istio-ingressgateway'
    )
    if (legacy.enableMeshExpansionPorts)
      c.add(
        ['patch'],
        '',
        'services',
        gateway,
        'apply (1.1/1.4): the meshExpansion ports on istio-ingressgateway, a shared edit (when they are missing)'
      )
    const services = legacy.services.map(splitService)
    const byNs = new Map<string, string[]>()
    for (const s of services) byNs.set(s.namespace, [...(byNs.get(s.namespace) ?? []), s.name])
    for (const [sns, names] of byNs)
      c.add(
        ['get'],
        '',
        'services',
        { namespace: sns, names },
        'apply (1.1/1.4): the ClusterIPs of cluster.legacy.services'
      )
    if (generation === 'multinetwork-1.4') {
      c.add(
        ['list'],
        ISTIO,
        'serviceentries',
        {},
        'apply (1.4): the .global ServiceEntries and their addresses (all namespaces)'
      )
      for (const [sns] of byNs)
        c.add(
          ['patch'],
          ISTIO,
          'serviceentries',
          { namespace: sns },
          'apply (1.4): a .global ServiceEntry per cluster.legacy.services entry'
        )
      c.add(
        ['get'],
        '',
        'services',
        { namespace: ns, names: ['istiocoredns'] },
        'apply (1.4): istiocoredns, the .global DNS server'
      )
      const dns = { namespace: 'kube-system', names: ['coredns', 'kube-dns'] }
      c.add(['get'], '', 'configmaps', dns, 'apply (1.4): the .global stub in CoreDNS / kube-dns')
      if (legacy.fixGlobalDns)
        c.add(
          ['patch'],
          '',
          'configmaps',
          dns,
          'apply (1.4): cluster.legacy.fixGlobalDns writes the .global stub (when it is missing)'
        )
    }
  }
  for (const gns of uniq(groups.map(g => g.namespace))) {
    const accounts = uniq(groups.filter(g => g.namespace === gns).map(g => g.serviceAccount))
    c.add(
      ['get'],
      '',
      'secrets',
      {
        namespace: inGroupNs(gns),
        names: accounts.map(a => `${legacy.secretPrefix}${a}`)
      },
      "apply/identity (legacy): Citadel's certificates of the service account"
    )
    const services = uniq(
      groups.filter(g => g.namespace === gns && g.service.kind !== 'none').map(g => g.service.name)
    )
    if (services.length === 0) continue
    c.add(
      ['get', 'patch', 'delete'],
      '',
      'endpoints',
      { namespace: inGroupNs(gns), names: services },
      'apply/register (legacy): the VM addresses in the Service’s Endpoints (`istioctl register`)'
    )
    c.add(
      ['get', 'patch'],
      '',
      'services',
      { namespace: inGroupNs(gns), names: services },
      'apply/register (legacy): the selector-less Service in front of the VMs'
    )
    if (generation !== 'scripts-0.8')
      c.add(
        ['get', 'patch'],
        ISTIO,
        'serviceentries',
        { namespace: inGroupNs(gns), names: services },
        'apply/register (1.1/1.4): the STATIC ServiceEntry of the host service'
      )
  }
}

function addLegacyCleanup(
  c: Collector,
  description: Description,
  generation: ConcreteGeneration,
  inGroupNs: (ns: string) => string | undefined
): void {
  const ns = description.cluster.istioNamespace
  const groups = description.workloadGroups
  if (generation === 'multinetwork-1.4') {
    for (const sns of uniq(description.cluster.legacy.services.map(s => splitService(s).namespace)))
      c.add(
        ['delete'],
        ISTIO,
        'serviceentries',
        { namespace: sns },
        "cleanup (1.4): the owner's .global ServiceEntries"
      )
  }
  for (const gns of uniq(groups.map(g => g.namespace))) {
    const services = uniq(
      groups.filter(g => g.namespace === gns && g.service.kind !== 'none').map(g => g.service.name)
    )
    if (services.length > 0)
      c.add(
        ['get', 'patch', 'delete'],
        '',
        'endpoints',
        { namespace: inGroupNs(gns), names: services },
        'cleanup (legacy): take the VM addresses out of the Endpoints'
      )
  }
  if (generation === 'meshexpansion-1.1' || generation === 'multinetwork-1.4')
    for (const verb of ['get', 'patch'])
      c.add(
        [verb],
        '',
        'services',
        { namespace: ns, names: ['istio-ingressgateway'] },
        `cleanup (1.1/1.4): give back the meshExpansion ports this owner added${verb === 'patch' ? ' (when it added some)' : ''}`
      )
  if (generation === 'multinetwork-1.4')
    for (const verb of ['get', 'patch'])
      c.add(
        [verb],
        '',
        'configmaps',
        { namespace: 'kube-system', names: ['coredns', 'kube-dns'] },
        `cleanup (1.4): revert the .global DNS stub this owner wrote${verb === 'patch' ? ' (when it wrote one)' : ''}`
      )
}

/**
 * The SelfSubjectAccessReview attributes that check a permission: one per name (a rule with
 * names grants only those), else one without a name. For the preflight (./access.ts).
 */
export function accessReviewsOf(p: Permission): AccessQuestion[] {
  const base = {
    verb: p.verb,
    group: p.group,
    resource: p.resource,
    ...(p.subresource !== undefined ? { subresource: p.subresource } : {}),
    ...(p.namespace !== undefined ? { namespace: p.namespace } : {})
  }
  return p.resourceNames && p.resourceNames.length > 0
    ? p.resourceNames.map(name => ({ ...base, name }))
    : [base]
}

/** `create serviceaccounts/token "mysql" in namespace vm`, for messages. */
export function describePermission(p: Permission, name?: string): string {
  const resource = `${p.resource}${p.group ? `.${p.group}` : ''}${p.subresource ? `/${p.subresource}` : ''}`
  const names = name !== undefined ? [name] : (p.resourceNames ?? [])
  const named = names.length > 0 ? ` ${names.map(n => JSON.stringify(n)).join(', ')}` : ''
  const where = p.namespace !== undefined ? `in namespace ${p.namespace}` : 'cluster-wide'
  return `${p.verb} ${resource}${named} ${where}`
}

/** The RBAC rule that grants a permission (in a Role of its namespace, else a ClusterRole). */
export function grantingRule(p: Permission): {
  readonly kind: 'Role' | 'ClusterRole'
  readonly namespace?: string
  readonly rule: {
    readonly apiGroups: string[]
    readonly resources: string[]
    readonly resourceNames?: string[]
    readonly verbs: string[]
  }
} {
  return {
    kind: p.namespace !== undefined ? 'Role' : 'ClusterRole',
    ...(p.namespace !== undefined ? { namespace: p.namespace } : {}),
    rule: {
      apiGroups: [p.group],
      resources: [p.subresource ? `${p.resource}/${p.subresource}` : p.resource],
      ...(p.resourceNames ? { resourceNames: [...p.resourceNames] } : {}),
      verbs: [p.verb]
    }
  }
}
