// Cleanup of a host: the install script's uninstall mode over the same single exec. Stops and
// disables istio, removes the iptables capture, the package (unless kept), our files, the token,
// the tmpfiles.d entry and the hosts block.
import { runOnHost, type HostResult, type HostTarget, type UninstallRunOptions } from './onboard.ts'

export type UninstallOptions = UninstallRunOptions

export function uninstallHost(target: HostTarget, options: UninstallOptions): Promise<HostResult> {
  return runOnHost(target, options, 'uninstall')
}
