// A ServiceAccount bound to exactly what `mesh-expansion rbac` prints, on a running sandbox
// cluster with RBAC enforced: the lab tests run the product as that identity, and can take one
// rule away at a time (then give it back) to prove the preflight names what is missing.
//
// Stand-in behaviour relied on, with its upstream (kubernetes/kubernetes, v1.33):
// - a TokenRequest without audiences gets the API server's own (the token then authenticates to
//   the API): pkg/registry/core/serviceaccount/storage/token.go;
// - a ServiceAccount's user is `system:serviceaccount:<ns>:<name>` with the groups
//   system:serviceaccounts, system:serviceaccounts:<ns>, system:authenticated:
//   staging/src/k8s.io/apiserver/pkg/authentication/serviceaccount/util.go;
// - a Role's `rules` is an atomic list, so an apply without a rule removes it:
//   staging/src/k8s.io/api/rbac/v1/types.go (`+listType=atomic`);
// - the RBAC authorizer: plugin/pkg/auth/authorizer/rbac/rbac.go (lab/cluster/rbac.ts).
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { connect, type Connection } from '../../src/cluster/connection.ts'
import type { KubeObject } from '../../src/cluster/index.ts'
import {
  accessReviewsOf,
  describePermission,
  permissionsFor,
  type PermissionOptions
} from '../../src/cluster/permissions.ts'
import type { Description } from '../../src/config/index.ts'
import type { SandboxCluster } from '../../lab/cluster/index.ts'
import { authorize, type AuthorizationMode, type PolicyRule } from '../../lab/cluster/rbac.ts'

/** One rule of a Role or ClusterRole of the printed RBAC. */
export interface RuleRef {
  readonly kind: 'Role' | 'ClusterRole'
  readonly namespace: string | undefined
  readonly role: string
  readonly index: number
  readonly rule: PolicyRule
  /** `Role vm/mesh-expansion #3 get,patch serviceaccounts [echo-vm]`, for messages */
  readonly label: string
}

/** A permission the identity lacks, as the preflight is to name it. */
export interface Missing {
  readonly text: string
}

export interface BoundServiceAccount {
  /** `system:serviceaccount:<ns>:<name>`, as the request log records it */
  readonly user: string
  /** kubeconfig (0600) with the ServiceAccount's token and nothing of the admin's */
  readonly kubeconfigPath: string
  readonly rules: readonly RuleRef[]
  /** Re-applies the RBAC without this one rule. */
  withoutRule(rule: RuleRef): Promise<void>
  /** Re-applies the RBAC as printed. */
  restore(): Promise<void>
  /** What `permissionsFor(description, options)` needs that the identity is now denied. */
  missing(description: Description, options: PermissionOptions): Missing[]
  /** Authorization back to what it was; the kubeconfig removed. */
  close(): Promise<void>
}

function objectsOf(yaml: string): KubeObject[] {
  return parseAllDocuments(yaml)
    .map(doc => doc.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null)
}

function describeRule(ref: Omit<RuleRef, 'label'>): string {
  const r = ref.rule
  const names = r.resourceNames ? ` [${r.resourceNames.join(',')}]` : ''
  const where = ref.namespace ? `${ref.namespace}/` : ''
  return `${ref.kind} ${where}${ref.role} #${ref.index} ${r.verbs.join(',')} ${(r.resources ?? []).join(',')}${names}`
}

/**
 * Applies `rbacYaml` (the output of `mesh-expansion rbac --service-account NS/NAME`) as the
 * admin with the product's own server-side apply, switches the sandbox to RBAC, and writes a
 * kubeconfig for a token of that ServiceAccount.
 */
export async function bindServiceAccount(
  cluster: SandboxCluster,
  adminKubeconfigPath: string,
  rbacYaml: string
): Promise<BoundServiceAccount> {
  const objects = objectsOf(rbacYaml)
  const sa = objects.find(o => o.kind === 'ServiceAccount')
  const ns = sa?.metadata.namespace
  if (!sa || !ns) throw new Error('the RBAC names no ServiceAccount (use --service-account)')
  const user = `system:serviceaccount:${ns}:${sa.metadata.name}`
  const rules: RuleRef[] = objects.flatMap(o =>
    o.kind === 'Role' || o.kind === 'ClusterRole'
      ? ((o.rules as PolicyRule[] | undefined) ?? []).map((rule, index) => {
          const ref = {
            kind: o.kind as 'Role' | 'ClusterRole',
            namespace: o.metadata.namespace,
            role: o.metadata.name,
            index,
            rule
          }
          return { ...ref, label: describeRule(ref) }
        })
      : []
  )
  const previous: AuthorizationMode = cluster.authorization
  let admin: Connection | undefined = await connect({ kubeconfigPath: adminKubeconfigPath })
  const dir = await mkdtemp(join(tmpdir(), 'mx-service-account-'))
  try {
    // the ServiceAccount's namespace must exist before the printed objects (docs/rbac.md)
    await admin.client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    for (const o of objects) await admin.client.apply(o)
    cluster.authorization = 'RBAC'
    const token = await admin.client.createToken(ns, sa.metadata.name, {
      audiences: [],
      expirationSeconds: 3600
    })
    const kubeconfigPath = join(dir, 'kubeconfig')
    await writeFile(kubeconfigPath, cluster.kubeconfigFor(token, sa.metadata.name), {
      mode: 0o600
    })
    const applyRole = async (ref: RuleRef, without: boolean): Promise<void> => {
      const role = objects.find(
        o =>
          o.kind === ref.kind &&
          o.metadata.name === ref.role &&
          o.metadata.namespace === ref.namespace
      )
      if (!role || !admin) throw new Error(`no ${ref.label} in the RBAC`)
      const all = (role.rules as PolicyRule[] | undefined) ?? []
      await admin.client.apply({
        ...role,
        rules: without ? all.filter((_, i) => i !== ref.index) : all
      })
    }
    let removed: RuleRef | undefined
    const bound: BoundServiceAccount = {
      user,
      kubeconfigPath,
      rules,
      async withoutRule(ref) {
        if (removed) await bound.restore()
        await applyRole(ref, true)
        removed = ref
      },
      async restore() {
        if (removed) await applyRole(removed, false)
        removed = undefined
      },
      missing(description, options) {
        const groups = [
          'system:serviceaccounts',
          `system:serviceaccounts:${ns}`,
          'system:authenticated'
        ]
        const out: Missing[] = []
        for (const p of permissionsFor(description, options))
          for (const review of accessReviewsOf(p)) {
            const decision = authorize(cluster.store, 'RBAC', {
              user: { username: user, groups },
              verb: review.verb,
              resourceRequest: true,
              group: review.group,
              resource: review.resource,
              subresource: review.subresource ?? '',
              namespace: review.namespace ?? '',
              name: review.name ?? '',
              path: ''
            })
            if (!decision.allowed) out.push({ text: describePermission(p, review.name) })
          }
        return out
      },
      async close() {
        cluster.authorization = previous
        await admin?.close()
        admin = undefined
        await rm(dir, { recursive: true, force: true })
      }
    }
    return bound
  } catch (error) {
    cluster.authorization = previous
    await admin.close()
    await rm(dir, { recursive: true, force: true })
    throw error
  }
}
