// Hand-rendered VM files (cluster.env, mesh config, hosts line) for the lab's own tests, in the
// shape `istioctl x workload entry configure` writes them. Not the product's renderers: a
// small, independent version so the lab can check the stand-ins without the product.

export interface VmFilesInput {
  workloadName: string
  namespace: string
  serviceAccount: string
  /** IP of the east-west gateway / istiod (the hosts entry). */
  istiodIp: string
  trustDomain?: string
  istioNamespace?: string
  revision?: string
  clusterId?: string
  network?: string
  /** Values of the WorkloadGroup's ports; none means `*`. */
  inboundPorts?: number[]
  dnsCapture?: boolean
  labels?: Record<string, string>
  /** Extra cluster.env keys (they win). */
  extra?: Record<string, string>
  /** The WorkloadGroup's probe, rendered as defaultConfig.readinessProbe. */
  probe?: Record<string, unknown>
  /** More proxyMetadata (e.g. ISTIO_META_WORKLOAD_ENTRY). */
  metadata?: Record<string, string>
}

/** Shell quoting as istioctl's output has it: every value single-quoted (its regex quirk). */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'"'"'`)}'`
}

function istiodHost(input: VmFilesInput): string {
  const ns = input.istioNamespace ?? 'istio-system'
  const revisioned = input.revision && input.revision !== 'default'
  return revisioned ? `istiod-${input.revision}.${ns}.svc` : `istiod.${ns}.svc`
}

export function proxyMetadata(input: VmFilesInput): Record<string, string> {
  const labels = input.labels ?? { app: input.workloadName }
  const canonicalName = labels['app'] ?? input.workloadName
  const canonicalRevision = labels['version'] ?? 'latest'
  const allLabels: Record<string, string> = {
    ...labels,
    'service.istio.io/canonical-name': canonicalName,
    'service.istio.io/canonical-revision': canonicalRevision
  }
  const sorted = Object.fromEntries(Object.entries(allLabels).sort(([a], [b]) => (a < b ? -1 : 1)))
  const metadata: Record<string, string> = {
    CANONICAL_REVISION: canonicalRevision,
    CANONICAL_SERVICE: canonicalName,
    ISTIO_METAJSON_LABELS: JSON.stringify(sorted),
    ISTIO_META_CLUSTER_ID: input.clusterId ?? 'Kubernetes',
    ISTIO_META_MESH_ID: '',
    ISTIO_META_NETWORK: input.network ?? '',
    ISTIO_META_WORKLOAD_NAME: input.workloadName,
    POD_NAMESPACE: input.namespace,
    SERVICE_ACCOUNT: input.serviceAccount,
    TRUST_DOMAIN: input.trustDomain ?? 'cluster.local'
  }
  if (input.dnsCapture ?? true) metadata['ISTIO_META_DNS_CAPTURE'] = 'true'
  return { ...metadata, ...input.metadata }
}

export function renderClusterEnv(input: VmFilesInput): string {
  const values: Record<string, string> = {
    ...proxyMetadata(input),
    ISTIO_INBOUND_PORTS: input.inboundPorts?.length ? input.inboundPorts.join(',') : '*',
    ISTIO_LOCAL_EXCLUDE_PORTS: '22,15090,15021,15020',
    ISTIO_NAMESPACE: input.namespace,
    ISTIO_SERVICE: `${input.workloadName}.${input.namespace}`,
    ISTIO_SERVICE_CIDR: '*',
    ...(input.revision && input.revision !== 'default'
      ? { CA_ADDR: `${istiodHost(input)}:15012` }
      : {}),
    ...input.extra
  }
  const lines = Object.entries(values).map(([key, value]) => `${key}=${shellQuote(value)}`)
  return lines.sort().join('\n') + '\n'
}

function yamlString(value: string): string {
  if (value === '' || /^(true|false|yes|no|on|off|null|~|[-+]?[0-9.]+)$/i.test(value))
    return JSON.stringify(value)
  if (/^[{[]/.test(value)) return `'${value.replace(/'/g, "''")}'`
  return value
}

export function renderMeshConfig(input: VmFilesInput): string {
  const metadata = proxyMetadata(input)
  const lines = [
    'defaultConfig:',
    `  discoveryAddress: ${istiodHost(input)}:15012`,
    '  proxyMetadata:'
  ]
  for (const key of Object.keys(metadata).sort()) {
    lines.push(`    ${key}: ${yamlString(metadata[key] ?? '')}`)
  }
  if (input.probe) lines.push('  readinessProbe:', ...yamlBlock(input.probe, '    '))
  return lines.join('\n') + '\n'
}

/** Block YAML for maps, lists and scalars (enough for a probe). */
function yamlBlock(value: unknown, indent: string): string[] {
  if (Array.isArray(value)) {
    return value.flatMap(item => {
      if (typeof item === 'object' && item !== null) {
        const [first = '', ...rest] = yamlBlock(item, `${indent}  `)
        return [`${indent}- ${first.trimStart()}`, ...rest]
      }
      return [`${indent}- ${yamlScalar(item)}`]
    })
  }
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([key, item]) =>
      typeof item === 'object' && item !== null
        ? [`${indent}${key}:`, ...yamlBlock(item, `${indent}  `)]
        : [`${indent}${key}: ${yamlScalar(item)}`]
    )
  }
  return [`${indent}${yamlScalar(value)}`]
}

function yamlScalar(value: unknown): string {
  return typeof value === 'string' ? yamlString(value) : String(value)
}

export function renderHosts(input: VmFilesInput): string {
  return `${input.istiodIp} ${istiodHost(input)}\n`
}
