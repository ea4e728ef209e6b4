// Impersonation (`kubectl --as USER [--as-group G]`: the Impersonate-User and Impersonate-Group
// headers): the requester must be allowed the `impersonate` verb on `users` (or `serviceaccounts`
// for `system:serviceaccount:<ns>:<name>`, in that namespace) and on each `groups` entry; the
// request then runs as that user, with `system:authenticated` (and, for an account,
// `system:serviceaccounts` and `system:serviceaccounts:<ns>`) added when no group is asked for.
// Upstream: staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go
// (WithImpersonation, buildImpersonationRequests) and pkg/authentication/serviceaccount/util.go
// (MakeGroupNames). Not served: Impersonate-Uid and Impersonate-Extra-* (refused with 400).
import type { IncomingHttpHeaders } from 'node:http'
import { authorize, forbiddenError, type Attributes, type AuthorizationMode } from './rbac.ts'
import { badRequest } from './status.ts'
import type { ObjectStore } from './store.ts'

export interface Identity {
  username: string
  groups: string[]
  uid?: string
}

const list = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v]

/** The identity the request acts as: `user` itself, or whom it may impersonate (else a 403). */
export function impersonate(
  store: ObjectStore,
  mode: AuthorizationMode,
  user: Identity,
  headers: IncomingHttpHeaders
): Identity {
  const asUser = list(headers['impersonate-user'])[0]
  const asGroups = list(headers['impersonate-group'])
  if (Object.keys(headers).some(h => h === 'impersonate-uid' || h.startsWith('impersonate-extra-')))
    throw badRequest('the sandbox API does not serve Impersonate-Uid or Impersonate-Extra-*')
  if (asUser === undefined) {
    if (asGroups.length > 0)
      throw badRequest('requested [Impersonate-Group] without impersonating a user')
    return user
  }
  const check = (resource: string, name: string, namespace = ''): void => {
    const a: Attributes = {
      user: { username: user.username, groups: user.groups },
      verb: 'impersonate',
      resourceRequest: true,
      group: '',
      resource,
      subresource: '',
      namespace,
      name,
      path: ''
    }
    const decision = authorize(store, mode, a)
    if (!decision.allowed) throw forbiddenError(a, decision.reason)
  }
  const account = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(asUser)
  if (account) check('serviceaccounts', account[2] ?? '', account[1] ?? '')
  else check('users', asUser)
  for (const g of asGroups) check('groups', g)
  const groups = [...asGroups]
  if (asGroups.length === 0 && account)
    groups.push('system:serviceaccounts', `system:serviceaccounts:${account[1] ?? ''}`)
  if (
    asUser !== 'system:anonymous' &&
    !groups.includes('system:authenticated') &&
    !groups.includes('system:unauthenticated')
  )
    groups.push('system:authenticated')
  return { username: asUser, groups }
}
