// Authorization as kube-apiserver does it: the RBAC authorizer over the Role, ClusterRole,
// RoleBinding and ClusterRoleBinding objects in the store, the privileged-group (system:masters)
// authorizer in front of it, the bootstrap policy, the 403 wording, and the two self reviews
// (SelfSubjectAccessReview, SelfSubjectRulesReview). Upstream (kubernetes/kubernetes, v1.33):
// - rule matching: pkg/apis/rbac/v1/evaluation_helpers.go (VerbMatches, APIGroupMatches,
//   ResourceMatches with `*/subresource`, ResourceNameMatches, NonResourceURLMatches with a
//   trailing `*`) and plugin/pkg/auth/authorizer/rbac/rbac.go (RuleAllows, Authorize, RulesFor);
// - which rules apply: pkg/registry/rbac/validation/rule.go (VisitRulesFor: ClusterRoleBindings
//   first, then the RoleBindings of the request's namespace; appliesToUser: User by name, Group
//   by membership, ServiceAccount as `system:serviceaccount:<ns>:<name>`, a RoleBinding's subject
//   without namespace defaulting to the binding's; the `allowed by` source strings);
// - system:masters: pkg/kubeapiserver/authorizer/config.go (NewPrivilegedGroups ahead of the
//   configured modes), and staging/src/k8s.io/apiserver/pkg/authorization/authorizerfactory
//   (AlwaysAllow: allows everything, RulesFor answers `*`);
// - the bootstrap roles and bindings: plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go;
// - the 403 body: staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go
//   (Forbidden, forbiddenMessage) and apimachinery's errors.NewForbidden;
// - the reviews: pkg/registry/authorization/selfsubjectaccessreview/rest.go and
//   selfsubjectrulesreview/rest.go (a namespace is required; the answer's spec is empty).
// Stand-in behaviour (not upstream): aggregated ClusterRoles are resolved when a rule is looked
// up rather than written into `rules` by the aggregation controller; RBAC's escalation checks on
// writes of roles and bindings are not made.
import { isObject, type Obj } from './fields.ts'
import { matchesLabels, parseLabelSelector } from './selectors.ts'
import { ApiError, badRequest, resourceLabel } from './status.ts'
import type { KubeObject, ObjectStore } from './store.ts'

export const rbacGroup = 'rbac.authorization.k8s.io'

export interface PolicyRule {
  verbs: string[]
  apiGroups?: string[]
  resources?: string[]
  resourceNames?: string[]
  nonResourceURLs?: string[]
}

export interface Subject {
  kind: string
  name: string
  namespace?: string
  apiGroup?: string
}

export interface RbacUser {
  username: string
  groups: string[]
}

/** What is being asked (authorizer.Attributes). */
export interface Attributes {
  user: RbacUser
  verb: string
  /** false: a non-resource URL (`path`) */
  resourceRequest: boolean
  group: string
  /** plural, without the subresource */
  resource: string
  subresource: string
  /** '' = cluster scope */
  namespace: string
  name: string
  path: string
}

export interface Decision {
  allowed: boolean
  /** `RBAC: allowed by …`, or on a denial the errors met while resolving rules */
  reason: string
}

export interface RuleSet {
  resourceRules: Array<Pick<PolicyRule, 'verbs' | 'apiGroups' | 'resources' | 'resourceNames'>>
  nonResourceRules: Array<Pick<PolicyRule, 'verbs' | 'nonResourceURLs'>>
  incomplete: boolean
  evaluationError?: string
}

/** `AlwaysAllow`: everything allowed (the sandbox's default); `RBAC`: as a cluster with RBAC. */
export type AuthorizationMode = 'AlwaysAllow' | 'RBAC'

export const privilegedGroup = 'system:masters'

// --- evaluation_helpers.go -------------------------------------------------------------------

const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []

export function verbMatches(rule: PolicyRule, verb: string): boolean {
  return strings(rule.verbs).some(v => v === '*' || v === verb)
}

export function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return strings(rule.apiGroups).some(g => g === '*' || g === group)
}

export function resourceMatches(
  rule: PolicyRule,
  combinedResource: string,
  subresource: string
): boolean {
  return strings(rule.resources).some(
    r =>
      r === '*' ||
      r === combinedResource ||
      (subresource !== '' &&
        r.length === subresource.length + 2 &&
        r.startsWith('*/') &&
        r.endsWith(subresource))
  )
}

export function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  const names = strings(rule.resourceNames)
  return names.length === 0 || names.includes(name)
}

export function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  return strings(rule.nonResourceURLs).some(
    u => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, '')))
  )
}

/** rbac.go RuleAllows */
export function ruleAllows(a: Attributes, rule: PolicyRule): boolean {
  if (a.resourceRequest) {
    const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource
    return (
      verbMatches(rule, a.verb) &&
      apiGroupMatches(rule, a.group) &&
      resourceMatches(rule, combined, a.subresource) &&
      resourceNameMatches(rule, a.name)
    )
  }
  return verbMatches(rule, a.verb) && nonResourceURLMatches(rule, a.path)
}

// --- rule.go -----------------------------------------------------------------------------------

function subjectsOf(binding: KubeObject): Subject[] {
  return (Array.isArray(binding.subjects) ? binding.subjects : []).filter(isObject).map(s => ({
    kind: String(s.kind ?? ''),
    name: String(s.name ?? ''),
    ...(typeof s.namespace === 'string' && s.namespace !== '' ? { namespace: s.namespace } : {})
  }))
}

export function appliesToUser(user: RbacUser, subject: Subject, namespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return user.username === subject.name
    case 'Group':
      return user.groups.includes(subject.name)
    case 'ServiceAccount': {
      const ns = subject.namespace ?? namespace
      if (ns === '') return false
      return user.username === `system:serviceaccount:${ns}:${subject.name}`
    }
    default:
      return false
  }
}

function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount')
    return `${s.kind} ${JSON.stringify(`${s.name}/${s.namespace ?? bindingNamespace}`)}`
  return `${s.kind} ${JSON.stringify(s.name)}`
}

function rulesOfObject(role: KubeObject | undefined): PolicyRule[] {
  return (Array.isArray(role?.rules) ? role.rules : [])
    .filter(isObject)
    .map(r => r as unknown as PolicyRule)
}

/**
 * A ClusterRole's rules; an aggregated one (aggregationRule) gets the rules of every ClusterRole
 * its selectors match, as the clusterrole-aggregation controller would have written them.
 */
function clusterRoleRules(
  store: ObjectStore,
  role: KubeObject,
  seen = new Set<string>()
): PolicyRule[] {
  const aggregation = isObject(role.aggregationRule) ? role.aggregationRule : undefined
  if (!aggregation) return rulesOfObject(role)
  const name = role.metadata?.name ?? ''
  seen.add(name)
  const selectors = (
    Array.isArray(aggregation.clusterRoleSelectors) ? aggregation.clusterRoleSelectors : []
  ).filter(isObject)
  const out: PolicyRule[] = []
  for (const other of store.list('clusterroles.rbac.authorization.k8s.io')) {
    const otherName = other.metadata?.name ?? ''
    if (seen.has(otherName)) continue
    const labels = other.metadata?.labels
    const matched = selectors.some(sel => {
      const matchLabels = isObject(sel.matchLabels) ? sel.matchLabels : {}
      const text = Object.entries(matchLabels)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(',')
      const expressions = Array.isArray(sel.matchExpressions) ? sel.matchExpressions : []
      if (expressions.length > 0) return false // not supported by the stand-in
      return matchesLabels(labels, parseLabelSelector(text))
    })
    if (matched) out.push(...clusterRoleRules(store, other, seen))
  }
  return out
}

function roleRefRules(
  store: ObjectStore,
  roleRef: Obj,
  bindingNamespace: string
): { rules: PolicyRule[] } | { error: string } {
  const kind = String(roleRef.kind ?? '')
  const name = String(roleRef.name ?? '')
  if (kind === 'Role') {
    const role = store.get('roles.rbac.authorization.k8s.io', bindingNamespace, name)
    if (!role) return { error: `role.rbac.authorization.k8s.io ${JSON.stringify(name)} not found` }
    return { rules: rulesOfObject(role) }
  }
  if (kind === 'ClusterRole') {
    const role = store.get('clusterroles.rbac.authorization.k8s.io', undefined, name)
    if (!role)
      return { error: `clusterrole.rbac.authorization.k8s.io ${JSON.stringify(name)} not found` }
    return { rules: clusterRoleRules(store, role) }
  }
  return { error: `unsupported role reference kind: ${JSON.stringify(kind)}` }
}

type Visitor = (source: string | undefined, rule: PolicyRule | undefined, error?: string) => boolean

/** rule.go VisitRulesFor: ClusterRoleBindings, then the namespace's RoleBindings. */
export function visitRulesFor(
  store: ObjectStore,
  user: RbacUser,
  namespace: string,
  visitor: Visitor
): void {
  for (const binding of store.list('clusterrolebindings.rbac.authorization.k8s.io')) {
    const subjects = subjectsOf(binding)
    const subject = subjects.find(s => appliesToUser(user, s, ''))
    if (!subject) continue
    const roleRef = isObject(binding.roleRef) ? binding.roleRef : {}
    const resolved = roleRefRules(store, roleRef, '')
    if ('error' in resolved) {
      if (!visitor(undefined, undefined, resolved.error)) return
      continue
    }
    const source = `ClusterRoleBinding ${JSON.stringify(binding.metadata?.name ?? '')} of ${String(roleRef.kind)} ${JSON.stringify(String(roleRef.name))} to ${describeSubject(subject, '')}`
    for (const rule of resolved.rules) if (!visitor(source, rule)) return
  }
  if (namespace === '') return
  for (const binding of store.list('rolebindings.rbac.authorization.k8s.io', namespace)) {
    const subject = subjectsOf(binding).find(s => appliesToUser(user, s, namespace))
    if (!subject) continue
    const roleRef = isObject(binding.roleRef) ? binding.roleRef : {}
    const resolved = roleRefRules(store, roleRef, namespace)
    if ('error' in resolved) {
      if (!visitor(undefined, undefined, resolved.error)) return
      continue
    }
    const source = `RoleBinding ${JSON.stringify(`${binding.metadata?.name ?? ''}/${namespace}`)} of ${String(roleRef.kind)} ${JSON.stringify(String(roleRef.name))} to ${describeSubject(subject, namespace)}`
    for (const rule of resolved.rules) if (!visitor(source, rule)) return
  }
}

// --- the authorizer chain ------------------------------------------------------------------

/** system:masters, then the mode (AlwaysAllow or RBAC). */
export function authorize(store: ObjectStore, mode: AuthorizationMode, a: Attributes): Decision {
  if (a.user.groups.includes(privilegedGroup)) return { allowed: true, reason: '' }
  if (mode === 'AlwaysAllow') return { allowed: true, reason: '' }
  let allowed: Decision | undefined
  const errors: string[] = []
  visitRulesFor(store, a.user, a.namespace, (source, rule, error) => {
    if (rule && ruleAllows(a, rule)) {
      allowed = { allowed: true, reason: `RBAC: allowed by ${source ?? ''}` }
      return false
    }
    if (error !== undefined) errors.push(error)
    return true
  })
  if (allowed) return allowed
  return {
    allowed: false,
    reason:
      errors.length === 0
        ? ''
        : `RBAC: ${errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`}`
  }
}

/** The rules that apply to `user` in `namespace` (RBACAuthorizer.RulesFor / AlwaysAllow's). */
export function rulesFor(
  store: ObjectStore,
  mode: AuthorizationMode,
  user: RbacUser,
  namespace: string
): RuleSet {
  if (mode === 'AlwaysAllow') {
    return {
      resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
      nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
      incomplete: false
    }
  }
  const out: RuleSet = { resourceRules: [], nonResourceRules: [], incomplete: false }
  const errors: string[] = []
  visitRulesFor(store, user, namespace, (_source, rule, error) => {
    if (rule) {
      if (strings(rule.resources).length > 0) {
        out.resourceRules.push({
          verbs: strings(rule.verbs),
          apiGroups: strings(rule.apiGroups),
          resources: strings(rule.resources),
          ...(strings(rule.resourceNames).length > 0
            ? { resourceNames: strings(rule.resourceNames) }
            : {})
        })
      }
      if (strings(rule.nonResourceURLs).length > 0) {
        out.nonResourceRules.push({
          verbs: strings(rule.verbs),
          nonResourceURLs: strings(rule.nonResourceURLs)
        })
      }
    }
    if (error !== undefined) errors.push(error)
    return true
  })
  if (errors.length > 0)
    out.evaluationError = errors.length === 1 ? (errors[0] ?? '') : `[${errors.join(', ')}]`
  return out
}

// --- 403 ---------------------------------------------------------------------------------------

/** The 403 kube-apiserver sends for a denied request (responsewriters.Forbidden). */
export function forbiddenError(a: Attributes, reason: string): ApiError {
  const sanitize = (s: string): string =>
    s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  const who = JSON.stringify(a.user.username)
  let message: string
  if (!a.resourceRequest) {
    message = `User ${who} cannot ${a.verb} path ${JSON.stringify(a.path)}`
  } else {
    const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource
    const scope = a.namespace
      ? `in the namespace ${JSON.stringify(a.namespace)}`
      : 'at the cluster scope'
    message = `User ${who} cannot ${a.verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(a.group)} ${scope}`
  }
  message = sanitize(message)
  if (reason !== '') message = `${message}: ${reason}`
  // apimachinery errors.NewForbidden(GroupResource{group, resource}, name, err)
  if (!a.resourceRequest || a.resource === '') {
    return new ApiError(403, 'Forbidden', `forbidden: ${message}`, {})
  }
  const label = resourceLabel(a.group, a.resource)
  return new ApiError(
    403,
    'Forbidden',
    a.name
      ? `${label} ${JSON.stringify(a.name)} is forbidden: ${message}`
      : `${label} is forbidden: ${message}`,
    {
      ...(a.name ? { name: a.name } : {}),
      ...(a.group ? { group: a.group } : {}),
      kind: a.resource
    }
  )
}

// --- bootstrap policy --------------------------------------------------------------------------

const bootstrapMeta = (name: string): Obj => ({
  name,
  labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' },
  annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' }
})

/** The bootstrap ClusterRoles the sandbox seeds (bootstrappolicy/policy.go, the subset used). */
export function bootstrapClusterRoles(): KubeObject[] {
  const role = (name: string, rules: PolicyRule[]): KubeObject => ({
    apiVersion: `${rbacGroup}/v1`,
    kind: 'ClusterRole',
    metadata: bootstrapMeta(name),
    rules
  })
  return [
    role('cluster-admin', [
      { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
      { nonResourceURLs: ['*'], verbs: ['*'] }
    ]),
    role('system:discovery', [
      {
        nonResourceURLs: [
          '/api',
          '/api/*',
          '/apis',
          '/apis/*',
          '/healthz',
          '/livez',
          '/openapi',
          '/openapi/*',
          '/readyz',
          '/version',
          '/version/'
        ],
        verbs: ['get']
      }
    ]),
    role('system:basic-user', [
      {
        apiGroups: ['authentication.k8s.io'],
        resources: ['selfsubjectreviews'],
        verbs: ['create']
      },
      {
        apiGroups: ['authorization.k8s.io'],
        resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
        verbs: ['create']
      }
    ]),
    role('system:public-info-viewer', [
      {
        nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'],
        verbs: ['get']
      }
    ]),
    role('system:service-account-issuer-discovery', [
      {
        nonResourceURLs: [
          '/.well-known/openid-configuration',
          '/.well-known/openid-configuration/',
          '/openid/v1/jwks',
          '/openid/v1/jwks/'
        ],
        verbs: ['get']
      }
    ])
  ]
}

export function bootstrapClusterRoleBindings(): KubeObject[] {
  const binding = (name: string, groups: string[]): KubeObject => ({
    apiVersion: `${rbacGroup}/v1`,
    kind: 'ClusterRoleBinding',
    metadata: bootstrapMeta(name),
    roleRef: { apiGroup: rbacGroup, kind: 'ClusterRole', name },
    subjects: groups.map(g => ({ apiGroup: rbacGroup, kind: 'Group', name: g }))
  })
  return [
    binding('cluster-admin', [privilegedGroup]),
    binding('system:discovery', ['system:authenticated']),
    binding('system:basic-user', ['system:authenticated']),
    binding('system:public-info-viewer', ['system:authenticated', 'system:unauthenticated']),
    binding('system:service-account-issuer-discovery', ['system:serviceaccounts'])
  ]
}

/** Seeds the bootstrap policy (what kube-apiserver's rbac/bootstrap-roles post-start hook writes). */
export function seedBootstrapPolicy(store: ObjectStore): void {
  for (const o of [...bootstrapClusterRoles(), ...bootstrapClusterRoleBindings()]) {
    const plural = o.kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings'
    if (!store.get(`${plural}.${rbacGroup}`, undefined, String(o.metadata?.name)))
      store.put(o, { manager: 'kube-apiserver' })
  }
}

// --- the self reviews --------------------------------------------------------------------------

/** POST selfsubjectaccessreviews (selfsubjectaccessreview/rest.go). */
export function selfSubjectAccessReview(
  store: ObjectStore,
  mode: AuthorizationMode,
  user: RbacUser,
  body: Obj,
  /** the lab's deny list, an authorizer ahead of the others that can only deny */
  deniedByLab: (a: Attributes) => boolean = () => false
): { code: number; body: Obj } {
  const spec = isObject(body.spec) ? body.spec : {}
  const ra = isObject(spec.resourceAttributes) ? spec.resourceAttributes : undefined
  const nra = isObject(spec.nonResourceAttributes) ? spec.nonResourceAttributes : undefined
  if ((ra === undefined) === (nra === undefined)) {
    throw new ApiError(
      422,
      'Invalid',
      `SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified`,
      {
        group: 'authorization.k8s.io',
        kind: 'SelfSubjectAccessReview',
        causes: [
          {
            reason: 'FieldValueInvalid',
            message:
              'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified',
            field: 'spec.resourceAttributes'
          }
        ]
      }
    )
  }
  const text = (o: Obj | undefined, key: string): string =>
    o && typeof o[key] === 'string' ? o[key] : ''
  const a: Attributes = ra
    ? {
        user,
        verb: text(ra, 'verb'),
        resourceRequest: true,
        group: text(ra, 'group'),
        resource: text(ra, 'resource'),
        subresource: text(ra, 'subresource'),
        namespace: text(ra, 'namespace'),
        name: text(ra, 'name'),
        path: ''
      }
    : {
        user,
        verb: text(nra, 'verb'),
        resourceRequest: false,
        group: '',
        resource: '',
        subresource: '',
        namespace: '',
        name: '',
        path: text(nra, 'path')
      }
  const denied = deniedByLab(a)
  const decision = denied
    ? { allowed: false, reason: 'denied by the sandbox deny list' }
    : authorize(store, mode, a)
  return {
    code: 201,
    body: {
      kind: 'SelfSubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec,
      status: {
        allowed: decision.allowed,
        ...(denied ? { denied: true } : {}),
        ...(decision.reason !== '' ? { reason: decision.reason } : {})
      }
    }
  }
}

/** POST selfsubjectrulesreviews (selfsubjectrulesreview/rest.go). */
export function selfSubjectRulesReview(
  store: ObjectStore,
  mode: AuthorizationMode,
  user: RbacUser,
  body: Obj
): { code: number; body: Obj } {
  const spec = isObject(body.spec) ? body.spec : {}
  const namespace = typeof spec.namespace === 'string' ? spec.namespace : ''
  if (namespace === '') throw badRequest('no namespace on request')
  // the privileged group has no rule resolver upstream: an admin sees RBAC's rules for it
  const rules = rulesFor(store, mode, user, namespace)
  return {
    code: 201,
    body: {
      kind: 'SelfSubjectRulesReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: {},
      status: {
        resourceRules: rules.resourceRules,
        nonResourceRules: rules.nonResourceRules,
        incomplete: rules.incomplete,
        ...(rules.evaluationError !== undefined ? { evaluationError: rules.evaluationError } : {})
      }
    }
  }
}

/** Checks a Role/ClusterRole/binding body as RBAC's validation does (the parts that matter). */
export function validateRbac(kind: string, object: Obj): string[] {
  const problems: string[] = []
  if (kind === 'RoleBinding' || kind === 'ClusterRoleBinding') {
    const ref = isObject(object.roleRef) ? object.roleRef : undefined
    if (!ref || typeof ref.name !== 'string' || ref.name === '')
      problems.push('roleRef.name: Required value')
    const refKind = ref ? String(ref.kind ?? '') : ''
    const allowed = kind === 'RoleBinding' ? ['Role', 'ClusterRole'] : ['ClusterRole']
    if (!allowed.includes(refKind))
      problems.push(
        `roleRef.kind: Unsupported value: ${JSON.stringify(refKind)}: supported values: ${allowed.map(k => JSON.stringify(k)).join(', ')}`
      )
  } else {
    const rules = Array.isArray(object.rules) ? object.rules : []
    rules.forEach((r, i) => {
      const rule = isObject(r) ? r : {}
      if (strings(rule.verbs).length === 0)
        problems.push(`rules[${i}].verbs: Required value: verbs must contain at least one value`)
      const urls = strings(rule.nonResourceURLs)
      if (urls.length > 0 && kind === 'Role')
        problems.push(
          `rules[${i}].nonResourceURLs: Invalid value: ${JSON.stringify(urls)}: namespaced rules cannot apply to non-resource URLs`
        )
      if (urls.length === 0 && strings(rule.apiGroups).length === 0)
        problems.push(
          `rules[${i}].apiGroups: Required value: resource rules must supply at least one api group`
        )
    })
  }
  return problems
}
