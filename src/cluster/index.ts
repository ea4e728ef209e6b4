// The cluster side: connection, discovery, preparation (plan/apply), identity, registration,
// cleanup and sweep, all through @kubernetes/client-node (see docs/cluster.md).
export {
  connect,
  noProxyMatches,
  proxyFor,
  type Connection,
  type ConnectOptions
} from './connection.ts'
export { createClusterClient, loadClientNode, type ClientOptions } from './client.ts'
export {
  ClusterError,
  retryDecision,
  translateError,
  type ClusterErrorKind,
  type ErrorContext,
  type Operation
} from './errors.ts'
export {
  backoffDelay,
  DEFAULT_RETRY,
  withRetry,
  type RetryClock,
  type RetryOptions,
  type RetryPolicy
} from './retry.ts'
export {
  chooseNetworkingVersion,
  discover,
  imageTag,
  renderDiscovery,
  type ConcreteGeneration,
  type DiscoverOptions,
  type Discovery,
  type GatewayDiscovery,
  type GatewaySource
} from './discovery.ts'
export {
  CREATED_AT_ANNOTATION,
  desiredObjects,
  istiodExposureObjects,
  managedSelector,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  namespaceObject,
  OWNER_LABEL,
  serviceAccountObject,
  serviceObject,
  workloadEntryObject,
  workloadGroupObject,
  type DesiredOptions,
  type ExposureInput,
  type Ownership
} from './objects.ts'
export {
  apply,
  covers,
  diffFields,
  plan,
  planEntry,
  planYaml,
  renderPlan,
  type ApplyResult,
  type Plan,
  type PlanAction,
  type PlanEntry
} from './plan.ts'
export {
  DEFAULT_TOKEN_SECONDS,
  ISTIO_CA_AUDIENCE,
  mintToken,
  rootCert,
  ROOT_CERT_CONFIGMAP,
  type MintOptions
} from './identity.ts'
export {
  AUTO_REGISTRATION_GROUP_ANNOTATION,
  registerWorkloadEntries,
  waitForAutoRegistration,
  type AutoRegistrationWait
} from './registration.ts'
export {
  cleanup,
  sweep,
  type CleanupOptions,
  type CleanupResult,
  type SweepOptions,
  type SweptOwner
} from './cleanup.ts'
export {
  FIELD_MANAGER,
  describeRef,
  refOf,
  type ClusterClient,
  type KubeObject,
  type ListOptions,
  type ObjectMeta,
  type ObjectRef,
  type TokenOptions
} from './types.ts'
export { prepareCluster, type PrepareOptions, type Prepared } from './prepare.ts'
export {
  defaultTagRevision,
  ingressFromService,
  injectorClusterID,
  meshConfigMap,
  openClusterSources,
  readWorkloadGroup,
  wantsCluster,
  type ClusterSources
} from './configureOnline.ts'
export type { ConfigureSources, SourceFlags } from './configureSources.ts'
export { kubeconfigAvailable } from './connection.ts'
