// The kinds the product touches: plural names and scope, so no discovery request is needed to
// build a URL, and error messages can name the resource as RBAC does.

export interface ResourceInfo {
  readonly plural: string
  readonly namespaced: boolean
}

const KNOWN: Readonly<Record<string, ResourceInfo>> = {
  Namespace: { plural: 'namespaces', namespaced: false },
  ServiceAccount: { plural: 'serviceaccounts', namespaced: true },
  ConfigMap: { plural: 'configmaps', namespaced: true },
  Secret: { plural: 'secrets', namespaced: true },
  Service: { plural: 'services', namespaced: true },
  Endpoints: { plural: 'endpoints', namespaced: true },
  Pod: { plural: 'pods', namespaced: true },
  Deployment: { plural: 'deployments', namespaced: true },
  MutatingWebhookConfiguration: { plural: 'mutatingwebhookconfigurations', namespaced: false },
  WorkloadGroup: { plural: 'workloadgroups', namespaced: true },
  WorkloadEntry: { plural: 'workloadentries', namespaced: true },
  ServiceEntry: { plural: 'serviceentries', namespaced: true },
  Gateway: { plural: 'gateways', namespaced: true },
  VirtualService: { plural: 'virtualservices', namespaced: true },
  DestinationRule: { plural: 'destinationrules', namespaced: true }
}

export function resourceInfo(kind: string): ResourceInfo | undefined {
  return KNOWN[kind]
}

/** The RBAC resource name of a kind (lower-case plural). */
export function pluralOf(kind: string): string {
  return KNOWN[kind]?.plural ?? `${kind.toLowerCase()}s`
}

/** `networking.istio.io/v1` → `networking.istio.io`; `v1` → '' */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.lastIndexOf('/')
  return slash < 0 ? '' : apiVersion.slice(0, slash)
}
