// `mesh-expansion rbac -c FILE`: the least-privilege RBAC for the runs of a description, as YAML
// for `kubectl apply -f -`: a ClusterRole for what only a cluster-wide grant covers, a Role per
// namespace for the rest, and their bindings to a ServiceAccount or a user. Each rule is preceded
// by a comment naming the phase(s) that need it. Reads no cluster (src/cluster/permissions.ts).
import { parseArgs } from 'node:util'
import { Document, isMap, isSeq, type YAMLMap, type YAMLSeq } from 'yaml'
import type { ConcreteGeneration } from '../cluster/discovery.ts'
import {
  discoveryUrls,
  permissionsFor,
  RUN_COMMANDS,
  type Permission,
  type RunCommand
} from '../cluster/permissions.ts'
import { errorMessage } from '../util/errors.ts'
import { loadDescription } from './validate.ts'
import { ExitCode, UsageError, type Command } from './types.ts'

const GENERATIONS: readonly ConcreteGeneration[] = [
  'modern',
  'multinetwork-1.4',
  'meshexpansion-1.1',
  'scripts-0.8'
]

const HELP = `Usage: mesh-expansion rbac -c FILE (--service-account NAMESPACE/NAME | --user NAME)
                          [--command apply,verify,cleanup,sweep] [--generation GEN]
                          [--name NAME] [--create-namespaces] [--strict-mtls]

Prints the least-privilege RBAC for running the given commands with the description, as YAML
for \`kubectl apply -f -\`: a ClusterRole with what only a cluster-wide grant covers, a Role in
each namespace for the rest, and a binding of each to the ServiceAccount or user. Each rule is
preceded by a comment naming the phase(s) that need it. Reads no cluster.

  --command LIST        commands the identity runs (default: apply,verify,cleanup,sweep)
  --generation GEN      the Istio generation the cluster has, when cluster.generation is auto
                        (modern, multinetwork-1.4, meshexpansion-1.1, scripts-0.8; default modern)
  --name NAME           name of the roles and bindings (default mesh-expansion)
  --create-namespaces   the run creates (and cleanup deletes) the workload namespaces: what it
                        does in them is then granted cluster-wide. Default: the namespaces are
                        printed first, made with the RBAC, and the run uses them as they are
  --strict-mtls         the checks run under a STRICT PeerAuthentication (strictMtls)
`

interface Flags {
  config: string
  subject:
    { kind: 'ServiceAccount'; namespace: string; name: string } | { kind: 'User'; name: string }
  commands: RunCommand[]
  generation?: ConcreteGeneration
  name: string
  createNamespaces: boolean
  strictMtls: boolean
}

function parseFlags(args: readonly string[]): Flags | 'help' {
  let values: Record<string, unknown>
  try {
    const parsed = parseArgs({
      args: [...args],
      options: {
        config: { type: 'string', short: 'c' },
        'service-account': { type: 'string' },
        user: { type: 'string' },
        command: { type: 'string' },
        generation: { type: 'string' },
        name: { type: 'string' },
        'create-namespaces': { type: 'boolean', default: false },
        'strict-mtls': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      },
      allowPositionals: true,
      strict: true
    })
    if (parsed.positionals.length > 0)
      throw new Error(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`)
    values = parsed.values as Record<string, unknown>
  } catch (error) {
    throw new UsageError(`${errorMessage(error)}\n\n${HELP}`)
  }
  if (values.help === true) return 'help'
  const str = (k: string): string | undefined =>
    typeof values[k] === 'string' ? values[k] : undefined
  const config = str('config')
  if (!config) throw new UsageError(`missing -c FILE (the description)\n\n${HELP}`)
  const sa = str('service-account')
  const user = str('user')
  if ((sa === undefined) === (user === undefined))
    throw new UsageError(
      `give exactly one of --service-account NAMESPACE/NAME and --user NAME\n\n${HELP}`
    )
  let subject: Flags['subject']
  if (sa !== undefined) {
    const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(sa)
    if (!m) throw new UsageError(`--service-account ${JSON.stringify(sa)}: expected NAMESPACE/NAME`)
    subject = { kind: 'ServiceAccount', namespace: m[1] ?? '', name: m[3] ?? '' }
  } else {
    if (user === '') throw new UsageError('--user: the name is empty')
    subject = { kind: 'User', name: user ?? '' }
  }
  const commandText = str('command') ?? RUN_COMMANDS.join(',')
  const commands = commandText.split(',').map(s => s.trim())
  for (const c of commands)
    if (!(RUN_COMMANDS as readonly string[]).includes(c))
      throw new UsageError(
        `--command: unknown command ${JSON.stringify(c)} (one or more of ${RUN_COMMANDS.join(', ')})`
      )
  const generation = str('generation')
  if (generation !== undefined && !(GENERATIONS as readonly string[]).includes(generation))
    throw new UsageError(
      `--generation: unknown generation ${JSON.stringify(generation)} (${GENERATIONS.join(', ')})`
    )
  const name = str('name') ?? 'mesh-expansion'
  if (!/^[a-z0-9]([-a-z0-9.:]*[a-z0-9])?$/.test(name))
    throw new UsageError(`--name ${JSON.stringify(name)}: not a valid role name`)
  return {
    config,
    subject,
    commands: [...new Set(commands)] as RunCommand[],
    ...(generation !== undefined ? { generation: generation as ConcreteGeneration } : {}),
    name,
    createNamespaces: values['create-namespaces'] === true,
    strictMtls: values['strict-mtls'] === true
  }
}

/** One RBAC rule and the reasons for it. */
interface Rule {
  apiGroups: string[]
  resources: string[]
  resourceNames?: string[]
  verbs: string[]
  why: string[]
}

/** Permissions of one scope as rules: one per resource and set of names, verbs merged. */
export function rulesOf(permissions: readonly Permission[]): Rule[] {
  const rules = new Map<string, Rule>()
  for (const p of permissions) {
    const resource = p.subresource ? `${p.resource}/${p.subresource}` : p.resource
    const names = p.resourceNames ? [...p.resourceNames] : undefined
    const key = [p.group, resource, names?.join(',') ?? '*'].join('\u0000')
    const rule = rules.get(key) ?? {
      apiGroups: [p.group],
      resources: [resource],
      ...(names ? { resourceNames: names } : {}),
      verbs: [],
      why: []
    }
    if (!rule.verbs.includes(p.verb)) rule.verbs.push(p.verb)
    for (const why of p.phase.split('; ')) {
      const line = `${p.verb}: ${why}`
      if (!rule.why.includes(line)) rule.why.push(line)
    }
    rules.set(key, rule)
  }
  const verbOrder = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']
  return [...rules.values()].map(r => ({
    ...r,
    verbs: r.verbs.sort((a, b) => verbOrder.indexOf(a) - verbOrder.indexOf(b))
  }))
}

/**
 * Drops a namespaced permission a cluster-wide one already grants (cleanup's deletes in a
 * namespace, when sweep deletes everywhere), its reasons moved to the cluster-wide one: no rule
 * is printed that removing would not take anything away.
 */
export function withoutCovered(permissions: readonly Permission[]): Permission[] {
  const key = (p: Permission): string =>
    [p.verb, p.group, p.resource, p.subresource ?? ''].join('\u0000')
  const wide = new Map<string, Permission>()
  for (const p of permissions) if (p.namespace === undefined) wide.set(key(p), p)
  const extra = new Map<string, string[]>()
  const kept = permissions.filter(p => {
    if (p.namespace === undefined) return true
    const cover = wide.get(key(p))
    if (!cover) return true
    const names = cover.resourceNames
    if (
      names !== undefined &&
      !(p.resourceNames ?? [undefined]).every(n => n !== undefined && names.includes(n))
    )
      return true
    const reasons = extra.get(key(p)) ?? []
    for (const why of p.phase.split('; ')) if (!reasons.includes(why)) reasons.push(why)
    extra.set(key(p), reasons)
    return false
  })
  return kept.map(p => {
    const more = p.namespace === undefined ? extra.get(key(p)) : undefined
    if (!more) return p
    const phases = p.phase.split('; ')
    return { ...p, phase: [...phases, ...more.filter(m => !phases.includes(m))].join('; ') }
  })
}

/** A YAML document of `object` whose rules each carry their reasons as a comment. */
function documentOf(object: Record<string, unknown>, rules?: readonly Rule[]): Document {
  const plain = rules
    ? {
        ...object,
        rules: rules.map(r => ({
          apiGroups: r.apiGroups,
          resources: r.resources,
          ...(r.resourceNames ? { resourceNames: r.resourceNames } : {}),
          verbs: r.verbs
        }))
      }
    : object
  const doc = new Document(plain)
  if (rules) {
    const seq = doc.get('rules', true)
    if (isSeq(seq)) {
      ;(seq as YAMLSeq).items.forEach((item, i) => {
        if (!isMap(item)) return
        const map = item as YAMLMap
        map.commentBefore = (rules[i]?.why ?? []).map(w => ` ${w}`).join('\n')
        for (const pair of map.items) if (isSeq(pair.value)) pair.value.flow = true
      })
    }
  }
  return doc
}

export interface RbacOptions {
  readonly subject: Flags['subject']
  readonly commands: readonly RunCommand[]
  readonly name: string
  readonly createNamespaces?: boolean
  readonly generation?: ConcreteGeneration
  readonly strictMtls?: boolean
  /** for the header comment */
  readonly file?: string
}

/** The RBAC objects as one YAML stream. */
export function renderRbac(
  description: Parameters<typeof permissionsFor>[0],
  options: RbacOptions
): string {
  const permissions = withoutCovered(
    permissionsFor(description, {
      commands: options.commands,
      ...(options.generation ? { generation: options.generation } : {}),
      createNamespaces: options.createNamespaces === true,
      strictMtls: options.strictMtls === true
    })
  )
  const subject =
    options.subject.kind === 'ServiceAccount'
      ? { kind: 'ServiceAccount', name: options.subject.name, namespace: options.subject.namespace }
      : { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: options.subject.name }
  const labels = { 'app.kubernetes.io/managed-by': 'mesh-expansion-rbac' }
  const docs: Document[] = []
  const clusterWide = permissions.filter(p => p.namespace === undefined)
  const namespaces = [
    ...new Set(permissions.flatMap(p => (p.namespace ? [p.namespace] : [])))
  ].sort()
  const groupNamespaces = new Set(description.workloadGroups.map(g => g.namespace))
  if (options.createNamespaces !== true) {
    for (const ns of [...groupNamespaces].sort()) {
      const doc = documentOf({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
      doc.commentBefore = ` the workload namespace: made here, used by the runs as it is, never deleted by them`
      docs.push(doc)
    }
  }
  if (options.subject.kind === 'ServiceAccount') {
    const doc = documentOf({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: options.subject.name, namespace: options.subject.namespace, labels }
    })
    doc.commentBefore = ' the identity the runs use (its namespace must exist)'
    docs.push(doc)
  }
  if (clusterWide.length > 0) {
    const role = documentOf(
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: options.name, labels }
      },
      rulesOf(clusterWide)
    )
    role.commentBefore =
      ' what only a cluster-wide grant covers (cluster-scoped kinds, lists across namespaces)'
    docs.push(role)
    docs.push(
      documentOf({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: options.name, labels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: options.name },
        subjects: [subject]
      })
    )
  }
  for (const ns of namespaces) {
    const role = documentOf(
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: options.name, namespace: ns, labels }
      },
      rulesOf(permissions.filter(p => p.namespace === ns))
    )
    docs.push(role)
    docs.push(
      documentOf({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: options.name, namespace: ns, labels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: options.name },
        subjects: [subject]
      })
    )
  }
  const header = [
    `# mesh-expansion rbac${options.file ? ` -c ${options.file}` : ''}: ${options.commands.join(', ')}` +
      ` (${options.generation ?? (description.cluster.generation === 'auto' ? 'modern' : description.cluster.generation)})`,
    '# Not granted here, as every authenticated user has them (ClusterRoles system:discovery and',
    '# system:basic-user): ' +
      discoveryUrls(options.commands)
        .map(u => `GET ${u.nonResourceURL}`)
        .join(', ') +
      ', and the self access reviews the preflight asks.'
  ]
  return `${header.join('\n')}\n${docs.map(d => `---\n${d.toString({ lineWidth: 0 })}`).join('')}`
}

export const rbacCommand: Command = async (args, io) => {
  const flags = parseFlags(args)
  if (flags === 'help') {
    io.stdout(HELP)
    return ExitCode.ok
  }
  const { description, file } = await loadDescription(flags.config, io)
  io.stdout(
    renderRbac(description, {
      subject: flags.subject,
      commands: flags.commands,
      name: flags.name,
      createNamespaces: flags.createNamespaces,
      strictMtls: flags.strictMtls,
      ...(flags.generation ? { generation: flags.generation } : {}),
      file
    })
  )
  return ExitCode.ok
}
