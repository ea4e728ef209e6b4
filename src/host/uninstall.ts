// Cleanup of a host: the install script's uninstall mode over the same single exec. Stops and
// disables istio (and istio-auth-node-agent where the package has it), removes the iptables
// capture, the package (unless kept), our files (certificates, a sidecar.env we placed), the
// token, the tmpfiles.d entry and the hosts block; after a scripts-0.8 onboarding also the
// dnsmasq kubedns file (dnsmasq restarted, its package kept) and the resolv.conf and
// dhclient.conf blocks.
import { runOnHost, type HostResult, type HostTarget, type UninstallRunOptions } from './onboard.ts'

export type UninstallOptions = UninstallRunOptions

export function uninstallHost(target: HostTarget, options: UninstallOptions): Promise<HostResult> {
  return runOnHost(target, options, 'uninstall')
}
