// mesh.yaml: the VM's /etc/istio/config/mesh, a MeshConfig whose only key is defaultConfig.
// The merge order is istioctl's: the cluster's mesh config, then the revision's discovery
// address, then `proxy.istio.io/config` on the WorkloadGroup object, then on spec.metadata,
// then the probe and the proxyMetadata keys istioctl always sets.

import { checkEnvKey, EnvKeyError } from './clusterEnv.ts'
import { compareGoStrings, goFormatStringMap, goJsonString, goJsonStringMap } from './goJson.ts'
import { goYamlMarshal } from './goYaml.ts'
import { isRevisioned, istiodAddress } from './istiod.ts'
import {
  applyMessage,
  meshConfigSchema,
  messageToJson,
  parseGoYamlDocument,
  parseMessage,
  proxyConfigSchema,
  rethrowProtoJson,
  type ProtoMessage
} from './proxyConfig.ts'
import type { WorkloadGroup } from './workloadGroup.ts'

export const PROXY_CONFIG_ANNOTATION = 'proxy.istio.io/config'

export class MeshConfigError extends Error {
  override name = 'MeshConfigError'
}

const asMeshConfigError = (message: string): MeshConfigError => new MeshConfigError(message)

export interface ProxyConfigInputs {
  readonly workloadGroup: WorkloadGroup
  /** the `mesh` key of the istio[-<rev>] ConfigMap: a MeshConfig in YAML */
  readonly meshConfig: string
  readonly istioNamespace: string
  readonly revision?: string
  readonly clusterID: string
  readonly autoRegister: boolean
  readonly captureDns: boolean
  /**
   * Not an istioctl input: proxyMetadata keys added after the annotations (e.g.
   * ISTIO_META_WORKLOAD_ENTRY for a manual entry with health checks). Keys istioctl sets
   * itself still win.
   */
  readonly extraProxyMetadata?: Readonly<Record<string, string>>
}

export interface ComputedProxyConfig {
  /** the final defaultConfig (JSON names, zero values kept) */
  readonly defaultConfig: ProtoMessage
  readonly proxyMetadata: Readonly<Record<string, string>>
  /** defaultConfig.statusPort, 0 when unset */
  readonly statusPort: number
  /** lines istioctl prints on stdout while computing it */
  readonly stdout: readonly string[]
}

/** The mesh config a default Helm install writes, for when no cluster can be read. */
export function helmDefaultMeshConfig(istioNamespace: string, revision?: string): string {
  return (
    'defaultConfig:\n' +
    `  discoveryAddress: ${istiodAddress(istioNamespace, revision)}\n` +
    'trustDomain: cluster.local\n'
  )
}

/**
 * Accepts either the MeshConfig YAML itself or a whole istio ConfigMap (kind: ConfigMap with
 * data.mesh), and returns the MeshConfig YAML.
 */
export function meshConfigFromFile(text: string, source = 'mesh config'): string {
  const doc = rethrowProtoJson(() => parseGoYamlDocument(text, source), asMeshConfigError)
  if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) {
    const o = doc as Record<string, unknown>
    if (o.kind === 'ConfigMap') {
      const data = o.data as Record<string, unknown> | undefined
      const mesh = data?.mesh
      if (typeof mesh !== 'string') {
        throw new MeshConfigError(`${source}: a ConfigMap without a data.mesh string`)
      }
      return mesh
    }
  }
  return text
}

/** istio's labels.CanonicalService: the first label present, else the workload name / latest. */
export function canonicalService(
  labels: Readonly<Record<string, string>>,
  workloadName: string
): { service: string; revision: string } {
  const first = (keys: readonly string[]): string | undefined => {
    for (const key of keys) if (Object.hasOwn(labels, key)) return labels[key]
    return undefined
  }
  return {
    service:
      first(['service.istio.io/canonical-name', 'app.kubernetes.io/name', 'app']) ?? workloadName,
    revision:
      first(['service.istio.io/canonical-revision', 'app.kubernetes.io/version', 'version']) ??
      'latest'
  }
}

/** ISTIO_META_POD_PORTS: the template ports as Kubernetes PodPorts, sorted by name. */
export function podPortsJson(ports: Readonly<Record<string, number>>): string {
  const names = Object.keys(ports).sort(compareGoStrings)
  if (names.length === 0) return ''
  return (
    '[' +
    names
      .map(n => `{"name":${goJsonString(n)},"containerPort":${ports[n]},"protocol":""}`)
      .join(',') +
    ']'
  )
}

function parseProxyConfigYaml(text: string, what: string): ProtoMessage | undefined {
  return rethrowProtoJson(() => {
    const doc = parseGoYamlDocument(text, what)
    return doc === null ? undefined : parseMessage(proxyConfigSchema, doc, what)
  }, asMeshConfigError)
}

/**
 * Each proxyMetadata key becomes a line of cluster.env, which a root shell sources: a key that
 * is not a shell variable name is refused, naming where it came from (istioctl writes it).
 */
function checkMetadataKeys(metadata: Readonly<Record<string, unknown>>, source: string): void {
  for (const key of Object.keys(metadata)) {
    try {
      checkEnvKey(key, source)
    } catch (error) {
      if (error instanceof EnvKeyError) throw new MeshConfigError(error.message)
      throw error
    }
  }
}

/**
 * Refuses a mesh config whose defaultConfig.proxyMetadata has a key that is not a shell
 * variable name (MeshConfigError), before anything is rendered from it.
 */
export function checkMeshConfigKeys(meshConfig: string): void {
  const mesh = rethrowProtoJson(() => {
    const doc = parseGoYamlDocument(meshConfig, 'mesh config')
    return doc === null ? {} : parseMessage(meshConfigSchema, doc, 'mesh config')
  }, asMeshConfigError)
  const metadata = (mesh.defaultConfig as ProtoMessage | undefined)?.proxyMetadata ?? {}
  checkMetadataKeys(metadata as Record<string, string>, 'mesh config defaultConfig.proxyMetadata')
}

/**
 * Computes the VM's ProxyConfig exactly as istioctl's createMeshConfig does, except that a
 * proxyMetadata key that is not a shell variable name is refused (MeshConfigError).
 */
export function computeProxyConfig(inputs: ProxyConfigInputs): ComputedProxyConfig {
  const wg = inputs.workloadGroup
  const stdout: string[] = []

  const mesh = rethrowProtoJson(() => {
    const base: ProtoMessage = { defaultConfig: { proxyMetadata: {} } }
    const doc = parseGoYamlDocument(inputs.meshConfig, 'mesh config')
    return doc === null
      ? base
      : applyMessage(base, parseMessage(meshConfigSchema, doc, 'mesh config'))
  }, asMeshConfigError)
  let dc = { ...((mesh.defaultConfig ?? {}) as ProtoMessage) }
  if (isRevisioned(inputs.revision) && !dc.discoveryAddress) {
    dc.discoveryAddress = istiodAddress(inputs.istioNamespace, inputs.revision)
  }

  // The mesh's proxyMetadata is kept and the annotations' keys are added to it (istioctl
  // merges this one map by hand; every other field is replaced wholesale).
  const metadata: Record<string, string> = {
    ...((dc.proxyMetadata ?? {}) as Record<string, string>)
  }
  checkMetadataKeys(metadata, 'mesh config defaultConfig.proxyMetadata')
  const levels: [string, Readonly<Record<string, string>>][] = [
    ['metadata.annotations', wg.annotations],
    ['spec.metadata.annotations', wg.spec.metadata.annotations]
  ]
  for (const [where, annotations] of levels) {
    const annotation = annotations[PROXY_CONFIG_ANNOTATION]
    if (!Object.hasOwn(annotations, PROXY_CONFIG_ANNOTATION) || annotation === undefined) continue
    const update = parseProxyConfigYaml(
      annotation,
      `WorkloadGroup ${where}["${PROXY_CONFIG_ANNOTATION}"]`
    )
    if (update !== undefined) {
      checkMetadataKeys(
        (update.proxyMetadata ?? {}) as Record<string, string>,
        `WorkloadGroup ${where}["${PROXY_CONFIG_ANNOTATION}"] proxyMetadata`
      )
      dc = applyMessage(dc, update)
    }
    Object.assign(metadata, (dc.proxyMetadata ?? {}) as Record<string, string>)
  }
  if (inputs.extraProxyMetadata !== undefined) {
    checkMetadataKeys(inputs.extraProxyMetadata, 'extra proxyMetadata')
    Object.assign(metadata, inputs.extraProxyMetadata)
  }

  const labels: Record<string, string> = { ...wg.spec.metadata.labels }
  const template = wg.spec.template
  if (Object.keys(template.labels).length > 0) {
    stdout.push(
      'Labels should be set in the metadata. The following WorkloadEntry labels will override ' +
        `metadata labels: ${goFormatStringMap(template.labels)}`
    )
    Object.assign(labels, template.labels)
  }

  if (wg.spec.probe !== undefined) dc.readinessProbe = wg.spec.probe
  else delete dc.readinessProbe

  const canonical = canonicalService(labels, wg.name)
  metadata.CANONICAL_SERVICE = canonical.service
  metadata.CANONICAL_REVISION = canonical.revision
  metadata.POD_NAMESPACE = wg.namespace
  metadata.SERVICE_ACCOUNT = template.serviceAccount
  metadata.TRUST_DOMAIN = (mesh.trustDomain as string | undefined) ?? ''
  metadata.ISTIO_META_CLUSTER_ID = inputs.clusterID
  metadata.ISTIO_META_MESH_ID = (dc.meshId as string | undefined) ?? ''
  metadata.ISTIO_META_NETWORK = template.network
  const podPorts = podPortsJson(template.ports)
  if (podPorts !== '') metadata.ISTIO_META_POD_PORTS = podPorts
  metadata.ISTIO_META_WORKLOAD_NAME = wg.name
  labels['service.istio.io/canonical-name'] = canonical.service
  labels['service.istio.io/canonical-revision'] = canonical.revision
  metadata.ISTIO_METAJSON_LABELS = goJsonStringMap(labels)
  // with --capture-dns=false the key keeps whatever the mesh or annotations gave it
  if (inputs.captureDns) metadata.ISTIO_META_DNS_CAPTURE = 'true'
  if (inputs.autoRegister) metadata.ISTIO_META_AUTO_REGISTER_GROUP = wg.name

  dc.proxyMetadata = metadata
  return {
    defaultConfig: dc,
    proxyMetadata: metadata,
    statusPort: (dc.statusPort as number | undefined) ?? 0,
    stdout
  }
}

/** mesh.yaml: `{defaultConfig: <ProxyConfig as protobuf JSON>}` in istioctl's YAML. */
export function renderMeshYaml(defaultConfig: ProtoMessage): string {
  return goYamlMarshal({ defaultConfig: messageToJson(proxyConfigSchema, defaultConfig) })
}
