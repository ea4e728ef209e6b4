// `configure`'s command line, as istioctl's (pflag) reads it: the flag table, the parser,
// the help text and istioctl's argument checks.
import { goQuote } from '../istio/goJson.ts'
import { UsageError } from './types.ts'

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
    const arg = args[i] ?? ''
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
      else if (i + 1 < args.length) set(name, args[++i] ?? '', shown)
      else throw new UsageError(`flag needs an argument: --${name}`)
      continue
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // a run of shorthands: bools may be combined, the first non-bool takes the rest
      let rest = arg.slice(1)
      while (rest.length > 0) {
        const c = rest.charAt(0)
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
          set(name, args[++i] ?? '', shown)
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

/** istioctl's argument checks, in its order. */
export function validateConfigureFlags(flags: ParsedFlags): void {
  const v = flags.values
  if (flags.positional.length > 0) {
    throw new UsageError(
      `unexpected argument ${goQuote(flags.positional[0] ?? '')} (boolean flags take --flag=false)`
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
