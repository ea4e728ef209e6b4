// Rollback of a host after the fact (settings.rollout): the install script's rollback mode over
// one exec, under the host's lock.
import { runOnHost, type HostResult, type HostTarget, type UninstallRunOptions } from './onboard.ts'

/**
 * A rollout batch's host whose new sidecar was ready but whose checks failed: the install
 * script's rollback mode puts back the last known good its upgrade kept (files, hosts block,
 * package when it changed) and waits for that sidecar to be ready again (docs/rollout.md).
 */
export function rollbackHost(
  target: HostTarget,
  options: UninstallRunOptions
): Promise<HostResult> {
  return runOnHost(target, options, 'rollback')
}
