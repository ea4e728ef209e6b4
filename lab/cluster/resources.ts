// The resource types the sandbox API serves, as a real API server's discovery describes them.
// Istio kinds are served in several versions over one storage (their schemas are identical).

export interface ResourceType {
  /** '' for the core group */
  group: string
  /** served versions, preferred first */
  versions: string[]
  plural: string
  singular: string
  kind: string
  namespaced: boolean
  verbs: string[]
  shortNames?: string[]
  /** subresources served, e.g. 'token' for serviceaccounts, 'exec' for pods */
  subresources?: Array<{
    name: string
    kind: string
    verbs: string[]
    group?: string
    version?: string
  }>
  /** Istio kinds: validated against the Istio schema */
  istio?: boolean
  /** only served through create (TokenReview) */
  virtual?: boolean
  /** a custom resource (of a CRD): list items carry apiVersion and kind, as the API sends them */
  custom?: boolean
}

const crud = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']

export interface ResourceOptions {
  /** networking.istio.io versions served, preferred first (default by Istio version) */
  istioNetworkingVersions?: string[]
  /** security.istio.io versions served, preferred first */
  istioSecurityVersions?: string[]
  /** networking.k8s.io versions serving ServiceCIDR (v1 from Kubernetes 1.33); default none */
  serviceCidrVersions?: string[]
  /** more types, e.g. custom resources of a made-up group (see customResourceType) */
  extra?: ResourceType[]
}

/** A namespaced custom resource type, as a CRD of `group` would serve it. */
export function customResourceType(group: string, kind: string, versions = ['v1']): ResourceType {
  const singular = kind.toLowerCase()
  return {
    group,
    versions,
    plural: `${singular}s`,
    singular,
    kind,
    namespaced: true,
    verbs: crud,
    custom: true,
    subresources: [{ name: 'status', kind, verbs: ['get', 'patch', 'update'] }]
  }
}

/** Compares dotted versions numerically: '1.9' < '1.22'. */
export function compareVersions(a: string, b: string): number {
  const pa = a.replace(/^v/, '').split(/[.-]/)
  const pb = b.replace(/^v/, '').split(/[.-]/)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = Number.parseInt(pa[i] ?? '0', 10)
    const y = Number.parseInt(pb[i] ?? '0', 10)
    if (Number.isNaN(x) || Number.isNaN(y)) continue
    if (x !== y) return x - y
  }
  return 0
}

/** The Istio API versions a release serves: v1 from 1.22, v1beta1 from 1.5 (security) / 1.14ish. */
export function istioVersionsFor(istioVersion: string): {
  networking: string[]
  security: string[]
} {
  const networking = ['v1alpha3']
  if (compareVersions(istioVersion, '1.5') >= 0) networking.unshift('v1beta1')
  if (compareVersions(istioVersion, '1.22') >= 0) networking.unshift('v1')
  const security = compareVersions(istioVersion, '1.5') >= 0 ? ['v1beta1'] : []
  if (compareVersions(istioVersion, '1.22') >= 0) security.unshift('v1')
  return { networking, security }
}

export function resourceTypes(options: ResourceOptions = {}): ResourceType[] {
  const net = options.istioNetworkingVersions ?? ['v1', 'v1beta1', 'v1alpha3']
  const sec = options.istioSecurityVersions ?? ['v1', 'v1beta1']
  const istio = (plural: string, kind: string, shortNames: string[] = []): ResourceType => ({
    group: 'networking.istio.io',
    versions: net,
    plural,
    singular: kind.toLowerCase(),
    kind,
    namespaced: true,
    verbs: crud,
    shortNames,
    istio: true
  })
  const types: ResourceType[] = [
    {
      group: '',
      versions: ['v1'],
      plural: 'namespaces',
      singular: 'namespace',
      kind: 'Namespace',
      namespaced: false,
      verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
      shortNames: ['ns']
    },
    {
      group: '',
      versions: ['v1'],
      plural: 'serviceaccounts',
      singular: 'serviceaccount',
      kind: 'ServiceAccount',
      namespaced: true,
      verbs: crud,
      shortNames: ['sa'],
      subresources: [
        {
          name: 'token',
          kind: 'TokenRequest',
          verbs: ['create'],
          group: 'authentication.k8s.io',
          version: 'v1'
        }
      ]
    },
    {
      group: '',
      versions: ['v1'],
      plural: 'configmaps',
      singular: 'configmap',
      kind: 'ConfigMap',
      namespaced: true,
      verbs: crud,
      shortNames: ['cm']
    },
    {
      group: '',
      versions: ['v1'],
      plural: 'secrets',
      singular: 'secret',
      kind: 'Secret',
      namespaced: true,
      verbs: crud
    },
    {
      group: '',
      versions: ['v1'],
      plural: 'services',
      singular: 'service',
      kind: 'Service',
      namespaced: true,
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      shortNames: ['svc'],
      subresources: [{ name: 'status', kind: 'Service', verbs: ['get', 'patch', 'update'] }]
    },
    {
      group: '',
      versions: ['v1'],
      plural: 'events',
      singular: 'event',
      kind: 'Event',
      namespaced: true,
      verbs: crud,
      shortNames: ['ev']
    },
    {
      group: '',
      versions: ['v1'],
      plural: 'endpoints',
      singular: 'endpoints',
      kind: 'Endpoints',
      namespaced: true,
      verbs: crud,
      shortNames: ['ep']
    },
    {
      group: '',
      versions: ['v1'],
      plural: 'pods',
      singular: 'pod',
      kind: 'Pod',
      namespaced: true,
      verbs: crud,
      shortNames: ['po'],
      subresources: [
        { name: 'exec', kind: 'PodExecOptions', verbs: ['create', 'get'] },
        { name: 'status', kind: 'Pod', verbs: ['get', 'patch', 'update'] }
      ]
    },
    {
      group: 'apps',
      versions: ['v1'],
      plural: 'deployments',
      singular: 'deployment',
      kind: 'Deployment',
      namespaced: true,
      verbs: crud,
      shortNames: ['deploy'],
      subresources: [{ name: 'status', kind: 'Deployment', verbs: ['get', 'patch', 'update'] }]
    },
    {
      group: 'admissionregistration.k8s.io',
      versions: ['v1'],
      plural: 'mutatingwebhookconfigurations',
      singular: 'mutatingwebhookconfiguration',
      kind: 'MutatingWebhookConfiguration',
      namespaced: false,
      verbs: crud
    },
    {
      group: 'admissionregistration.k8s.io',
      versions: ['v1'],
      plural: 'validatingwebhookconfigurations',
      singular: 'validatingwebhookconfiguration',
      kind: 'ValidatingWebhookConfiguration',
      namespaced: false,
      verbs: crud
    },
    {
      group: 'authentication.k8s.io',
      versions: ['v1'],
      plural: 'tokenreviews',
      singular: 'tokenreview',
      kind: 'TokenReview',
      namespaced: false,
      verbs: ['create'],
      virtual: true
    },
    // authorization.k8s.io/v1 self reviews and rbac.authorization.k8s.io/v1 (lab/cluster/rbac.ts)
    ...(['SelfSubjectAccessReview', 'SelfSubjectRulesReview'] as const).map(
      (kind): ResourceType => ({
        group: 'authorization.k8s.io',
        versions: ['v1'],
        plural: `${kind.toLowerCase()}s`,
        singular: kind.toLowerCase(),
        kind,
        namespaced: false,
        verbs: ['create'],
        virtual: true
      })
    ),
    ...(
      [
        ['clusterroles', 'ClusterRole', false],
        ['clusterrolebindings', 'ClusterRoleBinding', false],
        ['roles', 'Role', true],
        ['rolebindings', 'RoleBinding', true]
      ] as const
    ).map(([plural, kind, namespaced]): ResourceType => ({
      group: 'rbac.authorization.k8s.io',
      versions: ['v1'],
      plural,
      singular: kind.toLowerCase(),
      kind,
      namespaced,
      verbs: crud
    })),
    istio('workloadgroups', 'WorkloadGroup', ['wg']),
    istio('workloadentries', 'WorkloadEntry', ['we']),
    istio('serviceentries', 'ServiceEntry', ['se']),
    istio('gateways', 'Gateway', ['gw']),
    istio('virtualservices', 'VirtualService', ['vs']),
    istio('destinationrules', 'DestinationRule', ['dr']),
    istio('sidecars', 'Sidecar')
  ]
  if ((options.serviceCidrVersions ?? []).length > 0) {
    types.push({
      group: 'networking.k8s.io',
      versions: options.serviceCidrVersions ?? [],
      plural: 'servicecidrs',
      singular: 'servicecidr',
      kind: 'ServiceCIDR',
      namespaced: false,
      verbs: crud,
      subresources: [{ name: 'status', kind: 'ServiceCIDR', verbs: ['get', 'patch', 'update'] }]
    })
  }
  if (sec.length > 0) {
    for (const [plural, kind] of [
      ['peerauthentications', 'PeerAuthentication'],
      ['authorizationpolicies', 'AuthorizationPolicy']
    ] as const) {
      types.push({
        group: 'security.istio.io',
        versions: sec,
        plural,
        singular: kind.toLowerCase(),
        kind,
        namespaced: true,
        verbs: crud,
        shortNames: kind === 'PeerAuthentication' ? ['pa'] : ['ap'],
        istio: true
      })
    }
  }
  types.push(...(options.extra ?? []))
  return types.filter(t => t.versions.length > 0)
}

/** Finds a type by group and plural, e.g. ('networking.istio.io', 'workloadentries'). */
export function findType(
  types: ResourceType[],
  group: string,
  plural: string
): ResourceType | undefined {
  return types.find(t => t.group === group && t.plural === plural)
}

/** Finds a type from an object's apiVersion and kind. */
export function typeOfObject(
  types: ResourceType[],
  apiVersion: string,
  kind: string
): ResourceType | undefined {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion]
  return types.find(t => t.group === group && t.kind === kind && t.versions.includes(version ?? ''))
}

/** 'configmaps' or 'workloadentries.networking.istio.io', as kubectl names resources. */
export function qualifiedName(type: ResourceType): string {
  return type.group === '' ? type.plural : `${type.plural}.${type.group}`
}

/** Resolves 'configmaps', 'cm', 'ConfigMap', 'workloadentries.networking.istio.io', 'we'. */
export function resolveType(types: ResourceType[], name: string): ResourceType {
  const lower = name.toLowerCase()
  const found = types.find(
    t =>
      qualifiedName(t) === lower ||
      t.plural === lower ||
      t.singular === lower ||
      t.kind.toLowerCase() === lower ||
      (t.shortNames ?? []).includes(lower)
  )
  if (!found) throw new Error(`the sandbox API serves no resource type named "${name}"`)
  return found
}

export function apiVersionOf(type: ResourceType, version = type.versions[0] ?? 'v1'): string {
  return type.group === '' ? version : `${type.group}/${version}`
}
