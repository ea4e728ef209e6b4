// The preflight's access check: before the first write, the API is asked (one
// SelfSubjectAccessReview per permission and name, as `kubectl auth can-i` does) whether the
// run's identity holds every permission the run will use (./permissions.ts), so that a missing
// one stops the run with all of them listed instead of a 403 halfway through. A review stores
// nothing: kube-apiserver answers it from the authorizer
// (pkg/registry/authorization/selfsubjectaccessreview/rest.go).
import pLimit from 'p-limit'
import { errorMessage } from '../util/errors.ts'
import {
  accessReviewsOf,
  describePermission,
  grantingRule,
  type Permission
} from './permissions.ts'
import { groupOf, pluralOf } from './resources.ts'
import type { AccessQuestion, ClusterClient, KubeObject } from './types.ts'

export interface MissingPermission {
  readonly permission: Permission
  /** the one name of the permission's names the identity may not use */
  readonly name?: string
}

export interface AccessCheck {
  readonly missing: readonly MissingPermission[]
  /** the questions the permissions make (one per permission and name) */
  readonly questions: number
  /** reviews sent to the API (answers already known are not asked again) */
  readonly asked: number
  /** the API could not answer (reviews not served, refused, or failing): nothing was concluded */
  readonly unavailable?: string
}

const keyOf = (q: AccessQuestion): string =>
  [q.verb, q.group, q.resource, q.subresource ?? '', q.namespace ?? '', q.name ?? ''].join('\u0000')

/**
 * Asks the API about each permission. `known` keeps the answers across calls of one run (a
 * second round after discovery asks only what the first did not).
 */
export async function checkAccess(
  client: ClusterClient,
  permissions: readonly Permission[],
  known: Map<string, boolean> = new Map(),
  concurrency = 8
): Promise<AccessCheck> {
  const questions = permissions.flatMap(permission =>
    accessReviewsOf(permission).map(question => ({ permission, question }))
  )
  const limit = pLimit(concurrency)
  let asked = 0
  let unavailable: string | undefined
  await Promise.all(
    [...new Map(questions.map(q => [keyOf(q.question), q.question])).entries()]
      .filter(([key]) => !known.has(key))
      .map(([key, question]) =>
        limit(async () => {
          if (unavailable !== undefined) return
          asked++
          try {
            known.set(key, (await client.canI(question)).allowed)
          } catch (error) {
            unavailable ??= errorMessage(error)
          }
        })
      )
  )
  if (unavailable !== undefined)
    return { missing: [], questions: questions.length, asked, unavailable }
  const missing = questions
    .filter(q => known.get(keyOf(q.question)) === false)
    .map(({ permission, question }) => ({
      permission,
      ...(question.name !== undefined ? { name: question.name } : {})
    }))
  return { missing, questions: questions.length, asked }
}

const flow = (values: readonly string[]): string =>
  `[${values.map(v => (v === '' || /[^\w./*-]/.test(v) ? JSON.stringify(v) : v)).join(', ')}]`

/**
 * One problem line per missing permission: what, who needs it, and the RBAC rule that grants
 * it (in a Role of its namespace, else a ClusterRole), as `mesh-expansion rbac` prints it.
 */
export function missingPermissionProblem(m: MissingPermission): string {
  const { kind, namespace, rule } = grantingRule(m.permission)
  const names = m.name !== undefined ? [m.name] : rule.resourceNames
  const ruleText = [
    `apiGroups: ${flow(rule.apiGroups)}`,
    `resources: ${flow(rule.resources)}`,
    ...(names ? [`resourceNames: ${flow(names)}`] : []),
    `verbs: ${flow(rule.verbs)}`
  ].join(', ')
  const where = kind === 'Role' ? `a Role in namespace ${namespace ?? ''}` : 'a ClusterRole'
  return `permission missing: ${describePermission(m.permission, m.name)}, needed by ${m.permission.phase}; granted by ${where} with the rule {${ruleText}} (mesh-expansion rbac prints them all)`
}

/** The lists by label in every namespace that cleanup and sweep begin with. */
export function listPermissions(
  kinds: readonly { apiVersion: string; kind: string }[],
  phase: string
): Permission[] {
  return kinds.map(k => ({
    verb: 'list',
    group: groupOf(k.apiVersion),
    resource: pluralOf(k.kind),
    phase: `${phase}: find the owner's objects (label selector, all namespaces)`
  }))
}

/**
 * What deleting these objects (found by cleanup or sweep, src/cluster/cleanup.ts) will ask of
 * the API: each one's delete; for a namespace, also a list of every resource type in it (is
 * anything in it someone else's?); for a WorkloadGroup, the delete of the entries istiod
 * registered for it (names unknown until then).
 */
export function deletePermissions(objects: readonly KubeObject[], phase: string): Permission[] {
  return objects.flatMap((o): Permission[] => {
    const { name } = o.metadata
    if (o.kind === 'Namespace')
      return [
        {
          verb: 'delete',
          group: '',
          resource: 'namespaces',
          namespace: name,
          resourceNames: [name],
          phase
        },
        {
          verb: 'list',
          group: '*',
          resource: '*',
          namespace: name,
          phase: `${phase} (is anything in namespace ${name} someone else's?)`
        }
      ]
    const namespace = o.metadata.namespace
    const where = namespace !== undefined ? { namespace } : {}
    const own: Permission = {
      verb: 'delete',
      group: groupOf(o.apiVersion),
      resource: pluralOf(o.kind),
      ...where,
      resourceNames: [name],
      phase
    }
    return o.kind === 'WorkloadGroup'
      ? [
          own,
          {
            verb: 'delete',
            group: groupOf(o.apiVersion),
            resource: 'workloadentries',
            ...where,
            phase: `${phase} (the entries istiod registered for WorkloadGroup ${name})`
          }
        ]
      : [own]
  })
}
