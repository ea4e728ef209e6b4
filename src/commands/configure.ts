// `mesh-expansion configure`: a drop-in for `istioctl x workload entry configure`. It takes
// istioctl's flags verbatim and writes the same five files. Until the cluster side exists it
// runs offline: the WorkloadGroup comes from -f, the mesh config, root certificate and token
// from --mesh-config, --root-cert and --token.

import { mkdir, open, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import {
  helmDefaultMeshConfig,
  istiodAddress,
  MeshConfigError,
  meshConfigFromFile,
  parseWorkloadGroupYaml,
  renderVmFiles,
  resolveIngressAddress,
  WorkloadGroupError,
  type IngressAddress,
  type VmFileName,
  type WorkloadGroup
} from '../istio/index.ts'
import { goQuote } from '../istio/goJson.ts'
import { ExitCode, UsageError, type Command, type CommandIO } from './types.ts'

interface FlagSpec {
  readonly short?: string
  readonly kind: 'string' | 'bool' | 'int64'
  readonly default: string | boolean
  readonly help: string
}

const FLAGS = {
  file: { short: 'f', kind: 'string', default: '', help: 'filename of the WorkloadGroup artifact' },
  output: { short: 'o', kind: 'string', default: '', help: 'Output directory for generated files' },
  name: { kind: 'string', default: '', help: 'The name of the workload group (cluster mode)' },
  namespace: {
    short: 'n',
    kind: 'string',
    default: '',
    help: 'The namespace that the workload instances belong to (cluster mode)'
  },
  clusterID: { kind: 'string', default: '', help: 'The ID used to identify the cluster' },
  tokenDuration: {
    kind: 'int64',
    default: '3600',
    help: 'The token duration in seconds (cluster mode)'
  },
  ingressService: {
    kind: 'string',
    default: 'istio-eastwestgateway',
    help: 'Name of the Service used as the ingress gateway, <service> or <service>.<namespace> (cluster mode)'
  },
  ingressIP: { kind: 'string', default: '', help: 'IP address of the ingress gateway' },
  autoregister: {
    kind: 'bool',
    default: false,
    help: 'Creates a WorkloadEntry upon connection to istiod (if enabled in pilot).'
  },
  'capture-dns': {
    kind: 'bool',
    default: true,
    help: 'Enables the capture of outgoing DNS packets on port 53, redirecting to istio-agent'
  },
  internalIP: { kind: 'string', default: '', help: 'Internal IP address of the workload' },
  externalIP: { kind: 'string', default: '', help: 'External IP address of the workload' },
  revision: { short: 'r', kind: 'string', default: '', help: 'Control plane revision' },
  istioNamespace: {
    short: 'i',
    kind: 'string',
    default: 'istio-system',
    help: 'Istio system namespace'
  },
  kubeconfig: {
    short: 'c',
    kind: 'string',
    default: '',
    help: 'Kubernetes configuration file (cluster mode)'
  },
  context: { kind: 'string', default: '', help: 'Kubernetes configuration context (cluster mode)' },
  'mesh-config': {
    kind: 'string',
    default: '',
    help: 'offline: the MeshConfig YAML (the `mesh` key of the istio ConfigMap, or the ConfigMap)'
  },
  'root-cert': {
    kind: 'string',
    default: '',
    help: 'offline: root-cert.pem of the istio-ca-root-cert ConfigMap'
  },
  token: {
    kind: 'string',
    default: '',
    help: 'offline: a service account token with audience istio-ca (e.g. from `kubectl create token`)'
  },
  help: { short: 'h', kind: 'bool', default: false, help: 'help for configure' }
} as const satisfies Record<string, FlagSpec>

type FlagName = keyof typeof FLAGS

export interface ParsedFlags {
  readonly values: {
    readonly [K in FlagName]: (typeof FLAGS)[K]['default'] extends boolean ? boolean : string
  }
  /** flags given on the command line (an explicit empty value counts) */
  readonly changed: ReadonlySet<FlagName>
  readonly positional: readonly string[]
}

/** Go's strconv.ParseBool. */
function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false
  return undefined
}

/** Parses arguments with pflag's rules: `--flag value`, `--flag=value`, `-f value`, `-fvalue`. */
export function parseConfigureFlags(args: readonly string[]): ParsedFlags {
  const values: Record<string, string | boolean> = {}
  for (const [name, spec] of Object.entries(FLAGS)) values[name] = spec.default
  const changed = new Set<FlagName>()
  const positional: string[] = []
  const byShort = new Map<string, FlagName>()
  for (const [name, spec] of Object.entries(FLAGS) as [FlagName, FlagSpec][]) {
    if (spec.short !== undefined) byShort.set(spec.short, name)
  }

  const set = (name: FlagName, raw: string, shown: string): void => {
    const spec: FlagSpec = FLAGS[name]
    if (spec.kind === 'bool') {
      const b = parseGoBool(raw)
      if (b === undefined) {
        throw new UsageError(
          `invalid argument ${goQuote(raw)} for ${goQuote(shown)} flag: strconv.ParseBool: parsing ${goQuote(raw)}: invalid syntax`
        )
      }
      values[name] = b
    } else {
      if (spec.kind === 'int64' && !/^[+-]?[0-9]+$/.test(raw)) {
        throw new UsageError(
          `invalid argument ${goQuote(raw)} for ${goQuote(shown)} flag: strconv.ParseInt: parsing ${goQuote(raw)}: invalid syntax`
        )
      }
      values[name] = raw
    }
    changed.add(name)
  }

  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    if (arg === '--') {
      positional.push(...args.slice(i + 1))
      break
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      const name = (eq >= 0 ? arg.slice(2, eq) : arg.slice(2)) as FlagName
      if (!Object.hasOwn(FLAGS, name)) throw new UsageError(`unknown flag: --${name}`)
      const spec: FlagSpec = FLAGS[name]
      const shown = spec.short !== undefined ? `-${spec.short}, --${name}` : `--${name}`
      if (eq >= 0) set(name, arg.slice(eq + 1), shown)
      else if (spec.kind === 'bool') set(name, 'true', shown)
      else if (i + 1 < args.length) set(name, args[++i] as string, shown)
      else throw new UsageError(`flag needs an argument: --${name}`)
      continue
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // a run of shorthands: bools may be combined, the first non-bool takes the rest
      let rest = arg.slice(1)
      while (rest.length > 0) {
        const c = rest[0] as string
        const name = byShort.get(c)
        if (name === undefined) throw new UsageError(`unknown shorthand flag: '${c}' in -${rest}`)
        const spec: FlagSpec = FLAGS[name]
        const shown = `-${c}, --${name}`
        rest = rest.slice(1)
        if (rest.startsWith('=')) {
          set(name, rest.slice(1), shown)
          rest = ''
        } else if (spec.kind === 'bool') {
          set(name, 'true', shown)
        } else if (rest.length > 0) {
          set(name, rest, shown)
          rest = ''
        } else if (i + 1 < args.length) {
          set(name, args[++i] as string, shown)
        } else {
          throw new UsageError(`flag needs an argument: '${c}' in -${c}`)
        }
      }
      continue
    }
    positional.push(arg)
  }
  return { values: values as ParsedFlags['values'], changed, positional }
}

export function configureUsage(): string {
  const lines = Object.entries(FLAGS).map(([name, spec]) => {
    const s: FlagSpec = spec
    const flag = `${s.short !== undefined ? `-${s.short}, ` : '    '}--${name}`
    const def =
      s.default === true || (s.kind !== 'bool' && s.default !== '')
        ? ` (default ${String(s.default)})`
        : ''
    return `  ${flag.padEnd(22)} ${s.help}${def}`
  })
  return [
    'Usage: mesh-expansion configure -f WORKLOADGROUP.yaml -o DIR [flags]',
    '',
    'Writes cluster.env, mesh.yaml, hosts, root-cert.pem and istio-token for a VM, byte for byte',
    'as `istioctl x workload entry configure` does. Without a cluster (offline), pass the mesh',
    'config, the root certificate and a token as files.',
    '',
    'Flags:',
    ...lines,
    ''
  ].join('\n')
}

// `what` prefixes the error for our own flags; -f errors read exactly as istioctl's.
async function readInput(io: CommandIO, path: string, what?: string): Promise<string> {
  try {
    return await readFile(resolve(io.cwd, path), 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const reason =
      code === 'ENOENT'
        ? 'no such file or directory'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory'
            : (error as Error).message
    throw new UsageError(`${what !== undefined ? `${what}: ` : ''}open ${path}: ${reason}`)
  }
}

// istioctl writes every file (and creates the directory) with mode 0744. The token is a
// credential: it is written 0600 instead, also when a file with looser mode was there.
const FILE_MODE = 0o744
const TOKEN_MODE = 0o600

async function writeToken(path: string, token: string): Promise<void> {
  const handle = await open(path, 'w', TOKEN_MODE)
  try {
    await handle.chmod(TOKEN_MODE)
    await handle.writeFile(token)
  } finally {
    await handle.close()
  }
}

/**
 * Where `configure` gets what istioctl reads from the cluster. The offline implementation
 * reads files; a cluster implementation (ConfigMaps, TokenRequest, the gateway Service) plugs
 * in here. Methods throw UsageError for bad input, other errors for failures.
 */
export interface ConfigureSources {
  /** -f FILE, or the WorkloadGroup --name in --namespace */
  workloadGroup(): Promise<WorkloadGroup>
  /** the `mesh` key of ConfigMap istio[-<rev>] in the istio namespace */
  meshConfig(revision: string): Promise<string>
  /** only asked when --clusterID was not given: global.multiCluster.clusterName */
  clusterID(revision: string): Promise<string>
  /** root-cert.pem of ConfigMap istio-ca-root-cert in the group's namespace */
  rootCert(namespace: string): Promise<string>
  /** a token for the service account, audience istio-ca; "" when none can be had */
  token(namespace: string, serviceAccount: string, seconds: number): Promise<string>
  /** the gateway address for `hosts`, from --ingressIP or the --ingressService Service */
  ingress(ingressIP: string, revision: string): Promise<IngressAddress>
  /** true when token() mints tokens (TokenRequest): istioctl's "has been generated" message */
  readonly mintsTokens?: boolean
}

/** Reads every input from files given on the command line (no cluster). */
export function offlineSources(
  flags: ParsedFlags,
  io: CommandIO,
  warn: (message: string) => void
): ConfigureSources {
  const v = flags.values
  return {
    async workloadGroup() {
      if (v.file === '') {
        throw new UsageError(
          'reading the WorkloadGroup from a cluster (--name/--namespace) is not available yet: ' +
            'pass it with -f FILE and run offline (--mesh-config, --root-cert, --token)'
        )
      }
      try {
        return parseWorkloadGroupYaml(await readInput(io, v.file), v.file)
      } catch (error) {
        if (error instanceof WorkloadGroupError) throw new UsageError(error.message)
        throw error
      }
    },
    async meshConfig(revision) {
      if (v['mesh-config'] === '') {
        warn(
          'no --mesh-config given: using the mesh config of a default install (trustDomain ' +
            `cluster.local, discoveryAddress ${istiodAddress(v.istioNamespace, revision)})`
        )
        return helmDefaultMeshConfig(v.istioNamespace, revision)
      }
      const text = await readInput(io, v['mesh-config'], '--mesh-config')
      try {
        return meshConfigFromFile(text, v['mesh-config'])
      } catch (error) {
        if (error instanceof MeshConfigError) throw new UsageError(error.message)
        throw error
      }
    },
    async clusterID() {
      warn(
        'no --clusterID given and no cluster to read global.multiCluster.clusterName from: ' +
          "ISTIO_META_CLUSTER_ID is '' (a default install's value; pass --clusterID, e.g. Kubernetes)"
      )
      return ''
    },
    async rootCert(namespace) {
      if (v['root-cert'] === '') {
        throw new UsageError(
          'no cluster connection: pass --root-cert FILE with the root-cert.pem of the ' +
            `istio-ca-root-cert ConfigMap in namespace ${namespace} ` +
            `(kubectl get configmap istio-ca-root-cert -n ${namespace} -o jsonpath='{.data.root-cert\\.pem}')`
        )
      }
      const rootCert = await readInput(io, v['root-cert'], '--root-cert')
      if (rootCert.trim() === '') throw new UsageError(`--root-cert ${v['root-cert']} is empty`)
      return rootCert
    },
    async token() {
      if (v.token === '') return ''
      // a JWT has no whitespace; a trailing newline from `kubectl create token > file` is dropped
      const token = (await readInput(io, v.token, '--token')).replace(/\s+$/u, '')
      if (token === '') throw new UsageError(`--token ${v.token} is empty`)
      return token
    },
    async ingress(ingressIP) {
      // no Service to look up offline: the flag is all there is
      return resolveIngressAddress(ingressIP)
    }
  }
}

export const configure: Command = async (args, io) => {
  const flags = parseConfigureFlags(args)
  if (flags.values.help) {
    io.stdout(configureUsage())
    return ExitCode.ok
  }
  validateConfigureFlags(flags)
  const warnings: string[] = []
  const sources = offlineSources(flags, io, message => warnings.push(message))
  // online when a file is missing and a kubeconfig is found: the cluster gives the rest, as it
  // does to istioctl (loaded only here: the client library costs start-up time)
  const online = await import('../cluster/configureOnline.ts')
  if (!online.wantsCluster(flags, io.env)) return runConfigure(flags, io, sources, warnings)
  const cluster = await online.openClusterSources(flags, io, sources)
  try {
    return await runConfigure(cluster.flags, io, cluster.sources, warnings)
  } finally {
    await cluster.close()
  }
}

/** istioctl's argument checks, in its order. */
export function validateConfigureFlags(flags: ParsedFlags): void {
  const v = flags.values
  if (flags.positional.length > 0) {
    throw new UsageError(
      `unexpected argument ${goQuote(flags.positional[0] as string)} (boolean flags take --flag=false)`
    )
  }
  if (v.file === '' && (v.name === '' || v.namespace === '')) {
    throw new UsageError(
      'expecting a WorkloadGroup artifact file or the name and namespace of an existing WorkloadGroup'
    )
  }
  if (v.output === '') throw new UsageError('expecting an output directory')
  if (v.internalIP !== '' && v.externalIP !== '') {
    throw new UsageError('the flags --internalIP and --externalIP are mutually exclusive')
  }
}

/**
 * Gathers the inputs from `sources`, renders the files and writes them. `warnings` collects
 * what the sources report; they are printed before the files are written.
 */
export async function runConfigure(
  flags: ParsedFlags,
  io: CommandIO,
  sources: ConfigureSources,
  warnings: string[] = []
): Promise<number> {
  const v = flags.values
  const revision = v.revision
  const workloadGroup = await sources.workloadGroup()
  const namespace = workloadGroup.namespace
  const serviceAccount = workloadGroup.spec.template.serviceAccount
  const clusterID = flags.changed.has('clusterID') ? v.clusterID : await sources.clusterID(revision)
  const meshConfig = await sources.meshConfig(revision)
  const rootCert = await sources.rootCert(namespace)
  const token = await sources.token(namespace, serviceAccount, Number(v.tokenDuration))
  const ingress = await sources.ingress(v.ingressIP, revision)

  let rendered
  try {
    rendered = renderVmFiles({
      workloadGroup,
      meshConfig,
      istioNamespace: v.istioNamespace,
      revision,
      clusterID,
      internalIP: v.internalIP,
      externalIP: v.externalIP,
      ingress,
      autoRegister: v.autoregister,
      captureDns: v['capture-dns'],
      rootCert,
      token
    })
  } catch (error) {
    if (error instanceof MeshConfigError) throw new UsageError(error.message)
    throw error
  }

  for (const warning of warnings) io.stderr(`Warning: ${warning}\n`)
  for (const line of rendered.stdout) io.stdout(`${line}\n`)

  const dir = resolve(io.cwd, v.output)
  await mkdir(dir, { recursive: true, mode: FILE_MODE })
  const order: VmFileName[] = ['mesh.yaml', 'cluster.env', 'root-cert.pem', 'istio-token', 'hosts']
  for (const name of order) {
    const path = join(dir, name)
    if (name === 'istio-token') await writeToken(path, rendered.files[name])
    else await writeFile(path, rendered.files[name], { mode: FILE_MODE })
  }
  const tokenPath = join(v.output, 'istio-token')
  if (token !== '') {
    io.stderr(
      `Warning: a security token for namespace ${goQuote(namespace)} and service account ` +
        `${goQuote(serviceAccount)} has been ${sources.mintsTokens ? 'generated and ' : ''}` +
        `stored at ${goQuote(tokenPath)}\n`
    )
  } else {
    io.stderr(
      `Warning: no --token given: ${goQuote(tokenPath)} is empty. The VM cannot authenticate to ` +
        `istiod until it holds a token for namespace ${goQuote(namespace)} and service account ` +
        `${goQuote(serviceAccount)} with audience istio-ca (kubectl create token ${serviceAccount} ` +
        `-n ${namespace} --audience istio-ca --duration ${v.tokenDuration}s)\n`
    )
  }
  for (const warning of rendered.warnings) io.stderr(`Warning: ${warning}\n`)
  io.stdout(`Configuration generation into directory ${v.output} was successful\n`)
  return ExitCode.ok
}
