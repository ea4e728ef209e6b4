// The access check's own logic, with a client that answers reviews from a list: one review per
// permission and name, nothing asked twice, a failing API stops the asking, the problem line
// names the permission and the rule, and what cleanup's deletes ask.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  checkAccess,
  deletePermissions,
  missingPermissionProblem
} from '../../src/cluster/access.ts'
import type { Permission } from '../../src/cluster/permissions.ts'
import type { AccessQuestion, ClusterClient } from '../../src/cluster/types.ts'

/** A client whose only working method is canI: allowed unless `denied` matches. */
function reviewer(
  denied: (q: AccessQuestion) => boolean,
  fail?: (q: AccessQuestion) => boolean
): { client: ClusterClient; asked: AccessQuestion[] } {
  const asked: AccessQuestion[] = []
  const client = {
    canI: (q: AccessQuestion) => {
      asked.push(q)
      if (fail?.(q))
        return Promise.reject(new Error('forbidden: cannot create selfsubjectaccessreviews'))
      return Promise.resolve({ allowed: !denied(q) })
    }
  } as unknown as ClusterClient
  return { client, asked }
}

const token: Permission = {
  verb: 'create',
  group: '',
  resource: 'serviceaccounts',
  subresource: 'token',
  namespace: 'vm',
  resourceNames: ['mysql', 'web'],
  phase: 'apply/identity: a TokenRequest for the VM'
}
const lists: Permission = {
  verb: 'list',
  group: 'networking.istio.io',
  resource: 'workloadentries',
  phase: 'cleanup: find the owner objects'
}

describe('checkAccess', () => {
  test('one review per permission and name; only the denied name is missing', async () => {
    const { client, asked } = reviewer(q => q.name === 'web')
    const result = await checkAccess(client, [token, lists])
    assert.equal(result.questions, 3)
    assert.equal(result.asked, 3)
    assert.deepEqual(
      asked
        .map(
          q =>
            `${q.verb} ${q.resource}/${q.subresource ?? ''} ${q.namespace ?? '*'} ${q.name ?? '*'}`
        )
        .sort(),
      [
        'create serviceaccounts/token vm mysql',
        'create serviceaccounts/token vm web',
        'list workloadentries/ * *'
      ]
    )
    assert.deepEqual(result.missing, [{ permission: token, name: 'web' }])
  })

  test('answers are kept: a second round asks only what is new', async () => {
    const { client, asked } = reviewer(() => false)
    const known = new Map<string, boolean>()
    await checkAccess(client, [token], known)
    const second = await checkAccess(client, [token, lists], known)
    assert.equal(second.asked, 1)
    assert.equal(asked.length, 3)
    assert.deepEqual(second.missing, [])
  })

  test('an API that cannot answer: unavailable, nothing concluded, asking stops', async () => {
    const many: Permission[] = Array.from({ length: 40 }, (_, i) => ({
      ...lists,
      namespace: `ns-${i}`
    }))
    const { client, asked } = reviewer(
      () => true,
      () => true
    )
    const result = await checkAccess(client, many, new Map(), 2)
    assert.match(result.unavailable ?? '', /cannot create selfsubjectaccessreviews/)
    assert.deepEqual(result.missing, [])
    assert.ok(asked.length <= 2, `asked ${asked.length} after the first failure`)
  })
})

describe('missingPermissionProblem', () => {
  test('names the permission, who needs it and the rule that grants it', () => {
    assert.equal(
      missingPermissionProblem({ permission: token, name: 'web' }),
      'permission missing: create serviceaccounts/token "web" in namespace vm, needed by apply/identity: a TokenRequest for the VM; granted by a Role in namespace vm with the rule {apiGroups: [""], resources: [serviceaccounts/token], resourceNames: [web], verbs: [create]} (mesh-expansion rbac prints them all)'
    )
    assert.equal(
      missingPermissionProblem({ permission: lists }),
      'permission missing: list workloadentries.networking.istio.io cluster-wide, needed by cleanup: find the owner objects; granted by a ClusterRole with the rule {apiGroups: [networking.istio.io], resources: [workloadentries], verbs: [list]} (mesh-expansion rbac prints them all)'
    )
  })

  test('a hostile name is quoted, not spliced into the rule', () => {
    const line = missingPermissionProblem({
      permission: { ...token, resourceNames: ['a], verbs: [*'] },
      name: 'a], verbs: [*'
    })
    assert.match(line, /resourceNames: \["a\], verbs: \[\*"\], verbs: \[create\]\}/)
  })
})

describe('deletePermissions', () => {
  test("each object's delete by name; a namespace's content listed; a group's entries", () => {
    const perms = deletePermissions(
      [
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'WorkloadGroup',
          metadata: { name: 'mysql', namespace: 'vm' }
        },
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'mysql', namespace: 'vm' } },
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'vm' } }
      ],
      'sweep'
    )
    assert.deepEqual(
      perms.map(
        p =>
          `${p.verb} ${p.group}/${p.resource} ${p.namespace ?? '*'} ${(p.resourceNames ?? ['*']).join(',')}`
      ),
      [
        'delete networking.istio.io/workloadgroups vm mysql',
        'delete networking.istio.io/workloadentries vm *',
        'delete /serviceaccounts vm mysql',
        'delete /namespaces vm vm',
        'list */* vm *'
      ]
    )
  })
})
