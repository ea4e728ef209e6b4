// The checks under STRICT mTLS: a PeerAuthentication applied in the groups' namespaces before
// them and removed after them (also when they throw), reported as one more result.
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_LABEL } from '../istio/index.ts'
import { errorMessage } from '../util/errors.ts'
import type { Runtime } from './runtime.ts'
import type { CheckResult } from './types.ts'

export const STRICT_POLICY_NAME = 'mesh-expansion-verify-strict'

/** The PeerAuthentication applied during the checks with strictMtls. */
export function strictPeerAuthentication(
  namespace: string,
  owner: string,
  apiVersion = 'security.istio.io/v1beta1'
): Record<string, unknown> {
  return {
    apiVersion,
    kind: 'PeerAuthentication',
    metadata: {
      name: STRICT_POLICY_NAME,
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [OWNER_LABEL]: owner }
    },
    spec: { mtls: { mode: 'STRICT' } }
  }
}

/**
 * Runs `checks`, under a STRICT PeerAuthentication in each namespace when the dependencies ask
 * for it; then the policy's own result follows theirs.
 */
export async function underStrictMtls(
  rt: Runtime,
  namespaces: readonly string[],
  owner: string,
  checks: () => Promise<CheckResult[]>
): Promise<CheckResult[]> {
  const { deps } = rt
  const started = rt.now()
  if (!deps.strictMtls) return checks()
  const applied: string[] = []
  const problems: string[] = []
  const results: CheckResult[] = []
  try {
    if (!deps.policy) problems.push('strictMtls needs a cluster connection')
    else {
      for (const ns of namespaces) {
        try {
          await deps.policy.applyPeerAuthentication(
            strictPeerAuthentication(ns, owner, deps.securityApiVersion)
          )
          applied.push(ns)
        } catch (error) {
          problems.push(
            `cannot apply PeerAuthentication ${ns}/${STRICT_POLICY_NAME}: ${errorMessage(error)}`
          )
          break
        }
      }
      if (applied.length > 0) await rt.sleep(deps.strictSettleMs ?? 2000)
    }
    results.push(...(await checks()))
  } finally {
    for (const ns of applied) {
      await deps.policy
        ?.deletePeerAuthentication(ns, STRICT_POLICY_NAME)
        .catch((error: unknown) =>
          problems.push(
            `cannot remove PeerAuthentication ${ns}/${STRICT_POLICY_NAME} (remove it by hand): ${errorMessage(error)}`
          )
        )
    }
    const r: CheckResult = {
      name: 'STRICT mTLS during the checks',
      kind: 'strict-mtls',
      status: problems.length > 0 ? 'fail' : 'pass',
      ok: problems.length === 0,
      evidence: {
        where: 'cluster',
        notes: [
          `PeerAuthentication ${STRICT_POLICY_NAME} (mode STRICT) applied in ${applied.join(', ') || 'no namespace'} and removed afterwards`
        ],
        durationMs: rt.now() - started,
        attempts: 1
      },
      ...(problems.length > 0 ? { diagnosis: problems.join('; ') } : {})
    }
    results.push(r)
    deps.onResult?.(r)
  }
  return results
}
