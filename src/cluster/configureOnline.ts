// `configure` online: what `istioctl x workload entry configure` reads from the cluster when no
// file gives it: the WorkloadGroup (--name/-n), the revision (the default tag's webhook), the
// cluster ID (injector values), the mesh config (ConfigMap istio[-<rev>]), the root certificate
// (istio-ca-root-cert in the group's namespace), a token (TokenRequest, audience istio-ca) and
// the gateway address for `hosts` (the --ingressService Service). It implements the command's
// ConfigureSources (configureSources.ts), so rendering is the offline code and the same state
// gives the same files.
import {
  ingressServiceRef,
  resolveIngressAddress,
  workloadGroupFromObject,
  WorkloadGroupError,
  type IngressAddress,
  type WorkloadGroup
} from '../istio/index.ts'
import { errorMessage } from '../util/errors.ts'
import type { ConfigureSources, SourceFlags } from './configureSources.ts'
import { connect, kubeconfigAvailable } from './connection.ts'
import { chooseNetworkingVersion } from './discovery.ts'
import { ClusterError } from './errors.ts'
import { mintToken, rootCert } from './identity.ts'
import type { ClusterClient, KubeObject } from './types.ts'

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {}
}

const suffixOf = (revision: string): string =>
  revision && revision !== 'default' ? `-${revision}` : ''

/** The revision of the default tag (istioctl 1.28+), '' when there is none. */
export async function defaultTagRevision(
  client: ClusterClient,
  istioNamespace: string
): Promise<string> {
  const name =
    istioNamespace === 'istio-system'
      ? 'istio-revision-tag-default'
      : `istio-revision-tag-default-${istioNamespace}`
  const webhook = await client
    .get({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      name
    })
    .catch((error: unknown) => {
      // an unreadable tag counts as no tag, as in istioctl
      if (error instanceof ClusterError && error.kind === 'forbidden') return null
      throw error
    })
  const rev = webhook?.metadata.labels?.['istio.io/rev'] ?? ''
  return rev === 'default' ? '' : rev
}

/** GET the WorkloadGroup as istioctl's --name/-n mode does. */
export async function readWorkloadGroup(
  client: ClusterClient,
  name: string,
  namespace: string
): Promise<WorkloadGroup> {
  const version = chooseNetworkingVersion(await client.servedVersions('networking.istio.io'))
  let live: KubeObject | null = null
  if (version !== null) {
    live = await client.get({
      apiVersion: `networking.istio.io/${version}`,
      kind: 'WorkloadGroup',
      name,
      namespace
    })
  }
  if (live === null) {
    throw new ClusterError(
      'not-found',
      `workloadgroup ${name} not found in namespace ${namespace}: workloadgroups.networking.istio.io "${name}" not found`,
      404
    )
  }
  try {
    return workloadGroupFromObject(live, `workloadgroup ${namespace}/${name}`)
  } catch (error) {
    if (error instanceof WorkloadGroupError) throw new ClusterError('invalid', error.message, 0)
    throw error
  }
}

/** global.multiCluster.clusterName of ConfigMap istio-sidecar-injector[-<rev>]; errors are fatal. */
export async function injectorClusterID(
  client: ClusterClient,
  istioNamespace: string,
  revision: string
): Promise<string> {
  const injector = `istio-sidecar-injector${suffixOf(revision)}`
  const prefix = 'failed to automatically determine the --clusterID: fetch injection template'
  const map = await client.get({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    name: injector,
    namespace: istioNamespace
  })
  if (map === null) {
    throw new ClusterError('not-found', `${prefix}: configmaps "${injector}" not found`, 404)
  }
  const values = record(map.data).values
  let parsed: unknown
  try {
    parsed = JSON.parse(typeof values === 'string' ? values : '')
  } catch (error) {
    throw new ClusterError('invalid', `${prefix}: ${errorMessage(error)}`, 0)
  }
  const name = record(record(record(parsed).global).multiCluster).clusterName
  return typeof name === 'string' ? name : ''
}

/** The `mesh` key of ConfigMap istio[-<rev>]. */
export async function meshConfigMap(
  client: ClusterClient,
  istioNamespace: string,
  revision: string
): Promise<string> {
  const name = `istio${suffixOf(revision)}`
  const map = await client.get({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    name,
    namespace: istioNamespace
  })
  const mesh = record(map?.data).mesh
  if (map === null || typeof mesh !== 'string') {
    throw new ClusterError(
      'not-found',
      `configmap ${name} was not found in namespace ${istioNamespace}: ` +
        (map === null ? `configmaps "${name}" not found` : 'it has no mesh key'),
      404
    )
  }
  return mesh
}

/** The `hosts` address: --ingressIP if an IP, else the gateway Service's; lookup errors ignored. */
export async function ingressFromService(
  client: ClusterClient,
  ingressIP: string,
  ingressService: string,
  istioNamespace: string
): Promise<IngressAddress> {
  const { name, namespace } = ingressServiceRef(ingressService, istioNamespace)
  const service = await client
    .get({ apiVersion: 'v1', kind: 'Service', name, namespace })
    .catch(() => null)
  if (service === null) return resolveIngressAddress(ingressIP)
  const ingress = record(record(service.status).loadBalancer).ingress
  const externalIPs = record(service.spec).externalIPs
  return resolveIngressAddress(ingressIP, {
    loadBalancerIngress: Array.isArray(ingress)
      ? (ingress as { ip?: string; hostname?: string }[])
      : [],
    externalIPs: Array.isArray(externalIPs) ? (externalIPs as string[]) : []
  })
}

/** Online only when something is missing that no flag gives, and a kubeconfig can be found. */
export function wantsCluster(flags: SourceFlags, env: NodeJS.ProcessEnv): boolean {
  const v = flags.values
  const missing = v.file === '' || v['root-cert'] === ''
  return missing && kubeconfigAvailable(v.kubeconfig, env)
}

export interface ClusterSources<Flags extends SourceFlags = SourceFlags> {
  /** the flags with --revision resolved (the default tag's) when it was not given */
  readonly flags: Flags
  readonly sources: ConfigureSources
  close(): Promise<void>
}

/**
 * Connects (--kubeconfig/--context, else KUBECONFIG, ~/.kube/config, in-cluster) and returns
 * sources that read from the cluster what the flags do not give; `offline` serves the rest.
 */
export async function openClusterSources<Flags extends SourceFlags>(
  flags: Flags,
  io: { readonly cwd: string; readonly env: NodeJS.ProcessEnv },
  offline: ConfigureSources
): Promise<ClusterSources<Flags>> {
  const v = flags.values
  let connection
  try {
    connection = await connect({
      kubeconfigPath: v.kubeconfig || null,
      context: v.context || null,
      env: io.env,
      cwd: io.cwd,
      skipCheck: true
    })
  } catch (error) {
    if (error instanceof ClusterError) {
      throw new ClusterError(
        error.kind,
        `${error.message} (to run without a cluster: -f FILE, --mesh-config, --root-cert, --token)`,
        error.status
      )
    }
    throw error
  }
  const client = connection.client
  try {
    const revision = flags.changed.has('revision')
      ? v.revision
      : await defaultTagRevision(client, v.istioNamespace)
    const resolved: Flags = { ...flags, values: { ...v, revision } }
    const sources: ConfigureSources = {
      workloadGroup: () =>
        v.file !== '' ? offline.workloadGroup() : readWorkloadGroup(client, v.name, v.namespace),
      meshConfig: rev =>
        v['mesh-config'] !== ''
          ? offline.meshConfig(rev)
          : meshConfigMap(client, v.istioNamespace, rev),
      clusterID: rev => injectorClusterID(client, v.istioNamespace, rev),
      rootCert: namespace =>
        v['root-cert'] !== '' ? offline.rootCert(namespace) : rootCert(client, namespace),
      token: (namespace, serviceAccount, seconds) =>
        v.token !== ''
          ? offline.token(namespace, serviceAccount, seconds)
          : mintToken(client, namespace, serviceAccount || 'default', { seconds }),
      ingress: ip => ingressFromService(client, ip, v.ingressService, v.istioNamespace),
      mintsTokens: v.token === ''
    }
    return { flags: resolved, sources, close: () => connection.close() }
  } catch (error) {
    await connection.close()
    throw error
  }
}
