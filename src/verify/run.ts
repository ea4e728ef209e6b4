// The runner: the built-in checks of every VM (vmChecks.ts), a bounded number of VMs at a time,
// then the description's checks (requests.ts) one after the other, all under STRICT mTLS when
// asked (strictMtls.ts). I/O only through the interfaces of types.ts.
import type { Description } from '../config/index.ts'
import { errorMessage } from '../util/errors.ts'
import { kindOf } from './endpoints.ts'
import { runCheck } from './requests.ts'
import { failed } from './results.ts'
import { runtimeOf, vmStates, type VerifyDeps } from './runtime.ts'
import { underStrictMtls } from './strictMtls.ts'
import type { CheckResult } from './types.ts'
import { vmChecks } from './vmChecks.ts'

async function limited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  return out
}

/**
 * Runs the built-in checks of every VM, then the description's checks. With strictMtls, a
 * STRICT PeerAuthentication is applied in the groups' namespaces first and removed at the end,
 * also when a check throws.
 */
export async function runChecks(
  description: Description,
  deps: VerifyDeps
): Promise<CheckResult[]> {
  const rt = runtimeOf(deps)
  const vms = vmStates(description, deps)
  const namespaces = [...new Set(description.workloadGroups.map(g => g.namespace))]
  return underStrictMtls(rt, namespaces, description.settings.owner, async () => {
    const perVm = await limited([...vms.values()], deps.parallelism ?? 10, s => vmChecks(rt, s))
    const results = perVm.flat()
    for (const check of description.checks) {
      const r = await runCheck(rt, check, vms).catch((error: unknown) =>
        failed(
          check.name,
          kindOf(check),
          undefined,
          `the check could not run: ${errorMessage(error)}`
        )
      )
      results.push(r)
      deps.onResult?.(r)
    }
    return results
  })
}
