// The `hosts` file: one line mapping istiod's name to the address the VM reaches it at (the
// east-west gateway), or an empty file plus a warning when no IP is known.

import { isValidIPAddress, parsesAsIP } from './ip.ts'
import { istiodHost } from './istiod.ts'

/** The parts of the ingress gateway Service that istioctl reads. */
export interface IngressServiceView {
  readonly loadBalancerIngress?: readonly { readonly ip?: string; readonly hostname?: string }[]
  readonly externalIPs?: readonly string[]
}

export interface IngressAddress {
  /** the address to write; may be "" or a non-IP, which gives an empty hosts file */
  readonly address: string
  /** set when the gateway publishes only a DNS name */
  readonly hostnameOnly?: string
}

/**
 * The address istioctl puts in `hosts`: `--ingressIP` when it parses as an IP, else the
 * gateway Service's first load-balancer IP (a hostname-only load balancer gives ""), else its
 * first external IP. `service` is undefined when it could not be read (errors are ignored).
 */
export function resolveIngressAddress(
  ingressIP: string,
  service?: IngressServiceView
): IngressAddress {
  if (parsesAsIP(ingressIP) || service === undefined) return { address: ingressIP }
  const ingress = service.loadBalancerIngress ?? []
  if (ingress.length > 0) {
    const first = ingress[0] ?? {}
    const ip = first.ip ?? ''
    if (ip === '' && first.hostname) return { address: '', hostnameOnly: first.hostname }
    return { address: ip }
  }
  const external = service.externalIPs ?? []
  if (external.length > 0) return { address: external[0] ?? '' }
  return { address: ingressIP }
}

export interface HostsFile {
  readonly content: string
  readonly warning?: string
}

/** Renders `hosts` for an already resolved address. */
export function renderHosts(
  ingress: IngressAddress,
  istioNamespace: string,
  revision?: string
): HostsFile {
  const host = istiodHost(istioNamespace, revision)
  if (isValidIPAddress(ingress.address)) return { content: `${ingress.address} ${host}\n` }
  let warning =
    `Could not auto-detect IP for ${host}/${istioNamespace}. ` +
    'Use --ingressIP to manually specify the Gateway address to reach istiod from the VM.'
  if (ingress.hostnameOnly !== undefined) {
    warning +=
      ` The gateway publishes only the hostname ${ingress.hostnameOnly}: resolve it and pass ` +
      `its IP, or make ${host} resolve on the VM another way; hosts was written empty.`
  }
  return { content: '', warning }
}

/**
 * istioctl's --ingressService: `svc` in the istio namespace, or `svc.ns` when the value splits
 * on `.` into exactly two parts (anything else is taken whole as the name).
 */
export function ingressServiceRef(
  flag: string,
  istioNamespace: string
): { name: string; namespace: string } {
  const parts = flag.split('.')
  const [name, namespace] = parts
  return parts.length === 2 && name !== undefined && namespace !== undefined
    ? { name, namespace }
    : { name: flag, namespace: istioNamespace }
}
