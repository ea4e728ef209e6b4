// Cleanup of a host: the install script's uninstall mode over the same single exec, under the
// host's lock. Stops and disables istio (and istio-auth-node-agent where the package has it),
// removes the iptables capture, then exactly what the manifest written at install time lists
// (/var/lib/mesh-expansion/manifest: our files, the hosts block, the directories we created when
// empty) and the package only when we installed it (unless kept); after a scripts-0.8
// onboarding also the dnsmasq kubedns file (dnsmasq restarted, its package kept) and the
// resolv.conf and dhclient.conf blocks. A host onboarded by an older build (no manifest) gets
// that build's list. Nothing is removed through a link.
import { runOnHost, type HostResult, type HostTarget, type UninstallRunOptions } from './onboard.ts'

export type UninstallOptions = UninstallRunOptions

export function uninstallHost(target: HostTarget, options: UninstallOptions): Promise<HostResult> {
  return runOnHost(target, options, 'uninstall')
}
