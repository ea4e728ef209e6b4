// The description file's schema: one source for validation, TypeScript types and the JSON
// Schema in schema/. Format checks live in formats.ts so their messages say what is valid.
// Cross-references (vm -> group, check -> vm) are checked in semantics.ts; derived defaults
// (that depend on other fields) are filled in by defaults.ts.
import * as z from 'zod'
import * as f from './formats.ts'

const LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'
const portNameCheck = f.dnsLabelAs('port name')
// JSON Schema patterns for the formats a regular expression fully describes
const PATTERNS = new Map<f.Check, string>([
  [f.dnsLabel, LABEL],
  [portNameCheck, LABEL],
  [f.dnsSubdomain, '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'],
  [f.envName, '^[A-Za-z_][A-Za-z0-9_]*$'],
  [f.envKey, '^[A-Za-z_][A-Za-z0-9_]*$'],
  [f.sha256, '^[0-9a-fA-F]{64}$'],
  [f.userName, '^[A-Za-z_][A-Za-z0-9_.-]*$'],
  [f.sidecarVersion, '^(auto|\\d+\\.\\d+\\.\\d+(-[0-9A-Za-z.-]+)?)$'],
  [f.revision, LABEL],
  [f.shard, '^\\d+/\\d+$']
])

/**
 * A string checked by one of the format functions, with a description for editors and, where
 * a regular expression says it all, a pattern so editors flag mistakes as they are typed.
 */
function text(check: f.Check, description: string, pattern = PATTERNS.get(check)) {
  return z
    .string()
    .superRefine((value, ctx) => {
      const message = check(value)
      if (message !== undefined) ctx.addIssue({ code: 'custom', message, input: value })
    })
    .meta(pattern === undefined ? { description } : { description, pattern })
}

function show(input: unknown): string {
  return typeof input === 'string' ? JSON.stringify(input) : String(input)
}

/** An integer in [min, max]; `what` completes "must be …". */
function int(min: number, max: number, what: string, description: string) {
  const error = (issue: { input?: unknown }): string | undefined =>
    typeof issue.input === 'number' ? `must be ${what}, got ${show(issue.input)}` : undefined
  return z.number().int({ error }).min(min, { error }).max(max, { error }).meta({ description })
}

/** A count of hosts or a percentage of them ("25%"), from `min`: settings.rollout. */
function countOrPercent(min: 0 | 1, description: string) {
  const error = (issue: { input?: unknown }): string =>
    `expected a number of hosts from ${min} or a percentage such as "25%", got ${show(issue.input)}`
  return z
    .union([z.number(), z.string()], { error })
    .superRefine((value, ctx) => {
      const message = f.countOrPercent(value, min)
      if (message !== undefined) ctx.addIssue({ code: 'custom', message, input: value })
    })
    .meta({ description })
}

const port = (description: string) => int(1, 65535, 'a port number from 1 to 65535', description)
const seconds = (min: number, max: number, description: string) =>
  int(min, max, `a number of seconds from ${min} to ${max}`, description)

/** An on/off setting. */
const flag = (fallback: boolean, description: string) =>
  z.boolean().default(fallback).meta({ description })

/** A list, empty (or `fallback`) when absent. */
function list<T extends z.ZodType>(item: T, description: string, fallback: z.output<T>[] = []) {
  return z.array(item).default(fallback).meta({ description })
}

/** A list that stays absent when not given: its default comes from elsewhere. */
const optionalList = <T extends z.ZodType>(item: T, description: string) =>
  z.array(item).optional().meta({ description })

/** A non-empty string (a path, a name) that may be absent. */
const optionalText = (description: string) => z.string().min(1).optional().meta({ description })

/** The ports a host keeps out of the sidecar's inbound capture, besides its SSH port. */
const reachablePorts = (description: string) =>
  list(port('A port that stays reachable.'), description)

/** proxyMetadata: env names to values, written to cluster.env (sourced by a root shell). */
const proxyMetadata = z
  .record(text(f.envKey, 'environment variable name'), z.string())
  .optional()
  .meta({
    description:
      'Environment of the proxy: variable name -> value. Each becomes a line of cluster.env.'
  })

const UINT32 = 4294967295
const INT32 = 2147483647

export const GENERATIONS = [
  'auto',
  'modern',
  'multinetwork-1.4',
  'meshexpansion-1.1',
  'scripts-0.8'
] as const

/** Port protocols Istio understands on a ServiceEntry port. */
export const PROTOCOLS = ['HTTP', 'HTTPS', 'GRPC', 'HTTP2', 'MONGO', 'TCP', 'TLS'] as const

const labels = (description: string) =>
  z
    .record(
      text(f.qualifiedName, 'label key'),
      text(f.labelValue, 'label value (quote numbers: "1")')
    )
    .meta({ description })

const portName = text(
  portNameCheck,
  'port name, by Istio convention <protocol>[-<suffix>], e.g. http-web, tcp-mysql'
)

export const legacySchema = z
  .strictObject({
    secretPrefix: text(
      f.secretPrefix,
      'Certificates come from the Secret <secretPrefix><service account> Citadel writes.'
    ).default('istio.'),
    serviceCidrs: list(
      text(f.cidr, 'CIDR.'),
      'ISTIO_SERVICE_CIDR. Default (empty): found through the API (ServiceCIDR objects, a ' +
        "dry-run Service, the kube-apiserver pod's flags)."
    ),
    controlPlaneAuth: z
      .enum(['MUTUAL_TLS', 'NONE'])
      .default('MUTUAL_TLS')
      .meta({ description: 'scripts-0.8: CONTROL_PLANE_AUTH_POLICY / ISTIO_CP_AUTH.' }),
    enableMeshExpansionPorts: flag(
      false,
      'meshexpansion-1.1 / multinetwork-1.4: add the missing meshExpansion ports (15011, 8060, ' +
        '15004, 853) to istio-ingressgateway; removed again by cleanup.'
    ),
    fixGlobalDns: flag(
      false,
      'multinetwork-1.4: add the .global stub to CoreDNS or kube-dns when it is missing; ' +
        'restored by cleanup.'
    ),
    services: list(
      text(f.serviceInNamespace, '<name>.<namespace> of a cluster Service.'),
      'Cluster Services the VMs call: /etc/hosts lines (meshexpansion-1.1) or .global ' +
        'ServiceEntries and their names (multinetwork-1.4).'
    )
  })
  .meta({ description: 'Settings of the generations before 1.8 (ignored by modern).' })

export const clusterSchema = z
  .strictObject({
    kubeconfig: optionalText(
      'Path of a kubeconfig file. Default: KUBECONFIG, then ~/.kube/config, then in-cluster. ' +
        'Never the content itself.'
    ),
    context: optionalText('kubeconfig context. Default: its current context.'),
    istioNamespace: text(f.dnsLabel, 'Namespace of the Istio control plane.').default(
      'istio-system'
    ),
    revision: text(
      f.revision,
      '"auto" (the default tag, else none), "default" or an Istio revision name.'
    ).default('auto'),
    clusterID: text(
      f.labelValue,
      '"auto" (read from the sidecar injector values) or the cluster ID; "" is honoured.'
    ).default('auto'),
    istiodAddress: text(
      f.istiodAddress,
      '"auto" (the east-west gateway address), an IP, a hostname, or host:port the VMs use to reach istiod.'
    ).default('auto'),
    ingressService: text(
      f.serviceRef,
      'The east-west gateway Service: <name> or <name>.<namespace> (default namespace: istioNamespace).'
    ).default('istio-eastwestgateway'),
    exposeIstiod: flag(false, 'Create the Gateway and VirtualService that expose istiod.'),
    generation: z
      .enum(GENERATIONS)
      .default('auto')
      .meta({ description: 'Which Istio onboarding procedure to follow; auto = detect.' }),
    network: text(f.labelValue, 'Network of the cluster ("" = a single network).').default(''),
    legacy: legacySchema.prefault({})
  })
  .meta({ description: 'The cluster; everything is optional and discovered when absent.' })

export const probeSchema = z
  .strictObject({
    initialDelaySeconds: seconds(0, INT32, 'Seconds before the first probe.').optional(),
    timeoutSeconds: seconds(1, INT32, 'Seconds before a probe times out.').optional(),
    periodSeconds: seconds(1, INT32, 'Seconds between probes.').optional(),
    successThreshold: int(1, INT32, 'a count from 1', 'Successes to be ready.').optional(),
    failureThreshold: int(1, INT32, 'a count from 1', 'Failures to be not ready.').optional(),
    httpGet: z
      .strictObject({
        path: z.string().optional(),
        port: port('Port to probe.'),
        host: z.string().optional(),
        scheme: z.enum(['HTTP', 'HTTPS']).optional(),
        httpHeaders: z
          .array(z.strictObject({ name: z.string().min(1), value: z.string() }))
          .optional()
      })
      .optional(),
    tcpSocket: z
      .strictObject({ host: z.string().optional(), port: port('Port to probe.') })
      .optional(),
    exec: z.strictObject({ command: z.array(z.string()).min(1) }).optional(),
    grpc: z
      .strictObject({ port: port('Port to probe.'), service: z.string().optional() })
      .optional()
  })
  .meta({
    description:
      'Readiness probe of the workloads (Istio ReadinessProbe): exactly one of httpGet, tcpSocket, exec, grpc.'
  })

export const servicePortSchema = z.strictObject({
  name: portName,
  number: port('Port of the service.'),
  protocol: z.enum(PROTOCOLS).optional().meta({
    description: 'Default: from the name prefix (http-…→HTTP, grpc-…→GRPC, …), else TCP.'
  }),
  targetPort: port('Port on the VM. Default: number.').optional()
})

export const serviceSchema = z
  .strictObject({
    kind: z
      .enum(['ServiceEntry', 'Service', 'none'])
      .default('ServiceEntry')
      .meta({ description: 'What fronts the VM workloads.' }),
    name: text(
      f.dnsLabel,
      'Name of the ServiceEntry or Service. Default: the group name.'
    ).optional(),
    hosts: z.array(text(f.serviceHost, 'A host name of the ServiceEntry.')).min(1).optional().meta({
      description: 'ServiceEntry hosts. Default: [<name>.<namespace>.svc.cluster.local].'
    }),
    ports: optionalList(
      servicePortSchema,
      "Service ports. Default: one per entry of the group's ports."
    )
  })
  .meta({ description: 'The ServiceEntry or Kubernetes Service that fronts the VMs of the group.' })

export const sidecarSchema = z
  .strictObject({
    version: text(f.sidecarVersion, '"auto" (the cluster\'s Istio version) or x.y.z.').optional(),
    package: text(
      f.packageSource,
      'Sidecar package: an http(s) URL the host downloads, or a path on the runner that is pushed ' +
        '(air-gapped hosts). Default: the official package of the version. An http:// URL needs ' +
        'sha256.'
    ).optional(),
    sha256: text(
      f.sha256,
      'SHA-256 of the package at the URL of package (the same level): checked on the host ' +
        'before it is installed. Required for an http:// URL.'
    ).optional()
  })
  .meta({ description: 'Which sidecar package to install.' })

export const jumpHostSchema = z.strictObject({
  host: text(f.host, 'Jump host: IP address or hostname.'),
  port: port('SSH port of the jump host.').default(22),
  user: text(f.userName, 'User on the jump host. Default: the user of the VM.').optional()
})

export const workloadGroupSchema = z
  .strictObject({
    name: text(f.dnsLabel, 'Name of the WorkloadGroup; also the default Service and account name.'),
    namespace: text(f.dnsLabel, 'Namespace of the group, its VMs and their identity.'),
    serviceAccount: text(
      f.dnsSubdomain,
      'Service account of the VMs. Default: the group name.'
    ).optional(),
    labels: labels('Labels of the workloads. Default: {app: <name>}.').optional(),
    annotations: z
      .record(text(f.qualifiedName, 'annotation key'), z.string())
      .default({})
      .meta({ description: 'Annotations of the workloads.' }),
    ports: z
      .record(portName, port('Port on the VM.'))
      .default({})
      .meta({ description: 'Ports of the workloads: name -> port number.' }),
    network: text(f.labelValue, 'Network of the VMs. Default: cluster.network.').optional(),
    locality: text(f.locality, 'region/zone/subzone of the VMs ("" = none).').default(''),
    weight: int(0, UINT32, 'from 0 to 4294967295', 'Load-balancing weight.').optional(),
    probe: probeSchema.optional(),
    registration: z.enum(['manual', 'auto']).default('manual').meta({
      description:
        'manual: a WorkloadEntry per VM; auto: istiod registers the VMs (auto-registration).'
    }),
    service: serviceSchema.prefault({}),
    captureDns: flag(true, 'Capture DNS on the VM so cluster names resolve.'),
    includeOutboundIPRanges: list(
      text(f.cidrOrAll, 'CIDR, or * for all.'),
      'Outbound ranges captured by the sidecar (ISTIO_SERVICE_CIDR).',
      ['*']
    ),
    excludeOutboundIPRanges: list(text(f.cidr, 'CIDR.'), 'Outbound ranges never captured.'),
    proxyConfig: z
      .looseObject({ proxyMetadata, proxy_metadata: proxyMetadata })
      .optional()
      .meta({ description: 'Content of the proxy.istio.io/config annotation (a ProxyConfig).' }),
    reachablePorts: reachablePorts(
      'Ports never captured by the sidecar, besides the SSH port (added to settings.reachablePorts).'
    ),
    sidecar: sidecarSchema.optional()
  })
  .meta({ description: 'A group of VMs that run the same workload.' })

export const vmSchema = z
  .strictObject({
    name: text(f.dnsSubdomain, 'Name of the VM; names its WorkloadEntry.'),
    group: text(
      f.dnsLabel,
      'Name of its workload group. Optional when there is exactly one group.'
    ).optional(),
    host: text(
      f.hostOrLocal,
      'Where to reach it over SSH: IP address or hostname; "local" = the runner itself, no SSH.'
    ),
    port: port('SSH port. Default: ssh.port.').optional(),
    user: text(f.userName, 'SSH user. Default: ssh.user.').optional(),
    address: text(
      f.meshAddress,
      'The address the mesh uses to reach the VM: "auto" (the SSH host when it is an IP, else the ' +
        'SSH host name resolved on the runner; required for host "local") or an IP; set it when ' +
        'the VM is reached through NAT.'
    ).default('auto'),
    network: text(f.labelValue, "Network of the VM. Default: its group's network.").optional(),
    jump: optionalList(jumpHostSchema, 'Jump hosts, in order. Default: ssh.jump.'),
    sidecar: sidecarSchema.optional()
  })
  .meta({ description: 'A host to add to the mesh.' })

export const sshSchema = z
  .strictObject({
    user: text(f.userName, 'Default SSH user.').default('root'),
    port: port('Default SSH port.').default(22),
    privateKeyEnv: text(
      f.envName,
      'Name of the environment variable that holds the private key (never the key itself).'
    ).default('SSH_PRIVATE_KEY'),
    privateKeyPath: optionalText(
      'Path of a private key file on the runner, instead of privateKeyEnv.'
    ),
    passphraseEnv: text(
      f.envName,
      'Name of the environment variable with the key passphrase.'
    ).optional(),
    knownHostsEnv: text(
      f.envName,
      'Name of the environment variable with known_hosts lines.'
    ).default('SSH_KNOWN_HOSTS'),
    strictHostKeyChecking: flag(true, 'Refuse hosts whose key is not in known_hosts.'),
    connectTimeout: seconds(1, 3600, 'Seconds to wait for a connection.').default(10),
    commandTimeout: seconds(1, 86400, 'Seconds a remote command may take.').default(600),
    keepalive: seconds(0, 3600, 'Seconds between keepalives (0 = none).').default(15),
    jump: list(jumpHostSchema, 'Default jump hosts of every VM.')
  })
  .meta({
    description: 'SSH defaults for every VM. Secrets come from environment variables named here.'
  })

/** The kinds a description may take over from someone else (never a Namespace or ServiceAccount). */
export const ADOPTABLE_KINDS = [
  'WorkloadGroup',
  'ServiceEntry',
  'Service',
  'WorkloadEntry',
  'Gateway',
  'VirtualService'
] as const

export const adoptSchema = z
  .strictObject({
    kind: z.enum(ADOPTABLE_KINDS).meta({
      description:
        'Kind of the object. A Namespace or ServiceAccount is never taken over: one that exists is used as it is.'
    }),
    namespace: text(f.dnsLabel, 'Namespace of the object.'),
    name: text(f.dnsSubdomain, 'Name of the object.')
  })
  .meta({
    description:
      'An existing object, not managed by mesh-expansion or owned by another owner, that this ' +
      "description takes over: relabelled with this run's owner, its fields set as the " +
      "description says, and deleted by this owner's cleanup."
  })

/** A canary upgrade of the hosts whose sidecar differs from the description (docs/rollout.md). */
export const rolloutSchema = z
  .strictObject({
    firstBatch: countOrPercent(
      1,
      'Hosts in the first batch (the canary): a count, or a percentage of the hosts to upgrade ' +
        '(rounded up, at least 1).'
    ).default(1),
    batchSize: countOrPercent(
      1,
      'Hosts in each later batch: a count, or a percentage of the hosts to upgrade (rounded up, ' +
        'at least 1).'
    ).default('25%'),
    maxUnavailable: countOrPercent(
      0,
      'Hosts of one batch that may fail (their install, readiness or checks) with the rollout ' +
        "going on: a count, or a percentage of that batch's hosts (rounded up). One more and " +
        'the rollout stops: later batches are not touched.'
    ).default(0)
  })
  .meta({
    description:
      'Upgrade the hosts whose installed sidecar version or revision differs from the ' +
      'description in batches, each checked before the next. Absent: every host at once.'
  })

export const settingsSchema = z
  .strictObject({
    parallelism: int(
      1,
      1000,
      'from 1 to 1000',
      'The most hosts worked on at the same time. apply starts with min(parallelism, 4) and adds ' +
        'one for each host ready in good time; when sidecars are not ready because istiod does ' +
        'not answer or throttles, it halves and tries those hosts again (up to 3 attempts); a ' +
        "host's own failure (certificate, token) is not retried."
    ).default(10),
    tokenDuration: seconds(600, UINT32, 'Lifetime of each bootstrap token.').default(3600),
    tokenRefreshWithin: seconds(
      0,
      UINT32,
      "apply keeps a host's bootstrap token, without a restart, unless it expires within this " +
        'many seconds (or names another identity): then it places a new one. drift reports a ' +
        'token that expires within it (a sidecar that restarts after its token expired cannot ' +
        'get its certificate). The interval of the scheduled runs (default one day); keep ' +
        'settings.tokenDuration above it.'
    ).default(86400),
    owner: text(f.labelValue, 'Value of the owner label on everything created.').default(
      'mesh-expansion'
    ),
    failFast: flag(false, 'Stop at the first failed host.'),
    maxFailures: int(1, 1000000, 'from 1', 'Stop after this many failed hosts.').optional(),
    shard: text(f.shard, 'i/n: work on the i-th of n slices of the VM list.').default('1/1'),
    publicAddressLookup: text(
      f.httpUrl,
      'URL a VM fetches to learn its public IP when neither address, an IP SSH host nor its ' +
        'primary address gives one (as smm-agent does). Default: never looked up.'
    ).optional(),
    reachablePorts: reachablePorts(
      'Ports never captured by the sidecar, besides the SSH port, on every host.'
    ),
    adopt: list(
      adoptSchema,
      'Objects to take over from someone else. Without it, an existing object that is not ' +
        "this owner's is a conflict and apply changes nothing."
    ),
    rollout: rolloutSchema.optional()
  })
  .meta({ description: 'How the run behaves.' })

export const checkSchema = z
  .strictObject({
    name: optionalText('Default: "<from> -> <to or url>".'),
    from: text(f.endpoint, 'vm/<name> or pod/<namespace>/<label-selector>.'),
    to: text(
      f.endpoint,
      'vm/<name> or pod/<namespace>/<label-selector>. Either to or url.'
    ).optional(),
    url: text(f.httpUrl, 'URL to request. Either to or url.').optional(),
    port: port("Port of the target. Default: the first port of the target VM's group.").optional(),
    path: text(f.urlPath, 'Path requested on to.', '^/').default('/'),
    expect: z
      .strictObject({
        status: int(100, 599, 'an HTTP status from 100 to 599', 'Expected status.').default(200),
        headers: z
          .record(z.string(), z.string())
          .default({})
          .meta({ description: 'Headers that must be present and contain the given text.' }),
        body: z.string().optional().meta({ description: 'Text the body must contain.' })
      })
      .prefault({}),
    timeout: seconds(1, 3600, 'Seconds per attempt.').default(10),
    attempts: int(1, 100, 'from 1 to 100', 'Attempts before the check fails.').default(5)
  })
  .meta({ description: 'A request that proves traffic goes through the mesh.' })

export const descriptionSchema = z
  .strictObject({
    cluster: clusterSchema.prefault({}),
    workloadGroups: z
      .array(workloadGroupSchema)
      .min(1, { error: 'at least one workload group is required' })
      .meta({ description: 'A list of groups of VMs that run the same workload, at least one.' }),
    vms: list(vmSchema, 'The hosts to add to the mesh.'),
    ssh: sshSchema.prefault({}),
    settings: settingsSchema.prefault({}),
    checks: list(checkSchema, 'Requests that prove traffic goes through the mesh.')
  })
  .meta({
    title: 'mesh-expansion description',
    description: 'What to add to an Istio mesh: the cluster, workload groups, hosts and checks.'
  })

/** The description after schema defaults, before derived defaults. */
export type ParsedDescription = z.output<typeof descriptionSchema>
export type Generation = (typeof GENERATIONS)[number]
export type Protocol = (typeof PROTOCOLS)[number]
export type Probe = z.output<typeof probeSchema>
export type JumpHost = z.output<typeof jumpHostSchema>
export type Adopt = z.output<typeof adoptSchema>
