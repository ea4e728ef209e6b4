// The mesh stand-ins of the lab: the istiod stand-in wired to a Kubernetes API (TokenReview,
// the name table from Services and ServiceEntries, WorkloadEntry auto-registration), and the
// istio-sidecar package. See lab/README.md, "Mesh stand-ins".
import type { LabCa } from '../pki.ts'
import { startIstiod, type Istiod } from './istiod.ts'
import { meshFromApi } from './meshPush.ts'
import { serviceNamesFromApi } from './names.ts'
import { createAutoRegistration, type AutoRegistration } from './registration.ts'
import { tokenReviewerForApi } from './tokens.ts'
import { workloadEntriesFromApi } from './workloadEntries.ts'

export { startIstiod } from './istiod.ts'
export type {
  Istiod,
  IstiodOptions,
  ConnectedProxy,
  IstiodEvent,
  ProxyNode,
  WorkloadEntryView
} from './istiod.ts'
export { workloadEntriesFromApi } from './workloadEntries.ts'
export { buildSidecarDeb, sidecarSourceDir, SIDECAR_LAYOUT, type SidecarDebOptions } from './deb.ts'
export { serviceNamesFromApi, type ServiceNamesOptions } from './names.ts'
export { createAutoRegistration, entryName } from './registration.ts'
export type { AutoRegistration, AutoRegistrationOptions } from './registration.ts'
export { tokenReviewerForApi, createLocalTokenAuthority } from './tokens.ts'
export type { TokenReviewer, TokenReviewStatus, LocalTokenAuthority } from './tokens.ts'
export { createAgentSandbox, SANDBOX_PROXY_UID } from './sandbox.ts'
export type { AgentSandbox, SandboxOptions } from './sandbox.ts'
export * from './files.ts'

/** The east-west gateway's load-balancer IP in the lab, where istiod listens. */
export const LAB_ISTIOD_HOST = '198.18.0.2'

export interface LabIstiodOptions {
  /** The sandbox cluster (or any Kubernetes API): URL, its CA (also the mesh root), a token. */
  cluster: { url: string; ca: LabCa; adminToken: string }
  /** Default 198.18.0.2 (the gateway IP on the lab bridge). */
  host?: string
  port?: number
  trustDomain?: string
  istioNamespace?: string
  revision?: string
  /** PILOT_ENABLE_WORKLOAD_ENTRY_AUTOREGISTRATION (default true, as since Istio 1.10). */
  autoRegistration?: boolean
  /** PILOT_WORKLOAD_ENTRY_GRACE_PERIOD in seconds (default 10). */
  graceSeconds?: number
  heartbeatSeconds?: number
  /** Also serve on 15011 as istio-pilot / istio-citadel, for VMs of the generations before 1.8. */
  legacyPilot?: boolean
  /**
   * The Istio release played (default: the newest): from 1.18 an XDS connection naming a
   * missing manual WorkloadEntry is refused.
   */
  istioVersion?: string
}

/** The names VMs of the pre-istiod generations reach pilot and citadel by (their hosts line). */
export function legacyPilotNames(istioNamespace = 'istio-system'): string[] {
  return ['istio-pilot', 'istio-citadel'].flatMap(name => [
    name,
    `${name}.${istioNamespace}`,
    `${name}.${istioNamespace}.svc`,
    `${name}.${istioNamespace}.svc.cluster.local`
  ])
}

export interface LabIstiod extends Istiod {
  registration: AutoRegistration | undefined
}

/** istiod for the lab: certificates by TokenReview, names from the API, auto-registration. */
/** istiod 1.18+ refuses a proxy naming a missing WorkloadEntry (OnConnect in pilot/pkg/autoregistration). */
function gatesWorkloadEntries(version: string | undefined): boolean {
  if (version === undefined) return true
  const [major = 0, minor = 0] = version.split('.').map(Number)
  return major > 1 || (major === 1 && minor >= 18)
}

export async function startLabIstiod(options: LabIstiodOptions): Promise<LabIstiod> {
  const api = { server: options.cluster.url, caPem: options.cluster.ca.certPem }
  const registration =
    options.autoRegistration === false
      ? undefined
      : createAutoRegistration({
          ...api,
          token: options.cluster.adminToken,
          ...(options.graceSeconds !== undefined ? { graceSeconds: options.graceSeconds } : {})
        })
  const istiod = await startIstiod({
    host: options.host ?? LAB_ISTIOD_HOST,
    port: options.port ?? 15012,
    ca: options.cluster.ca,
    reviewer: tokenReviewerForApi({ ...api, bearerToken: options.cluster.adminToken }),
    names: serviceNamesFromApi({ ...api, token: options.cluster.adminToken }),
    // the pre-istiod generations keep the sidecar's simple traffic rules
    ...(options.legacyPilot
      ? {}
      : {
          mesh: meshFromApi({
            ...api,
            token: options.cluster.adminToken,
            rootNamespace: options.istioNamespace ?? 'istio-system'
          })
        }),
    ...(options.trustDomain ? { trustDomain: options.trustDomain } : {}),
    ...(options.istioNamespace ? { istioNamespace: options.istioNamespace } : {}),
    ...(options.revision ? { revision: options.revision } : {}),
    ...(options.heartbeatSeconds ? { heartbeatSeconds: options.heartbeatSeconds } : {}),
    ...(options.legacyPilot
      ? { extraPorts: [15011], extraServerNames: legacyPilotNames(options.istioNamespace) }
      : {}),
    ...(gatesWorkloadEntries(options.istioVersion)
      ? {
          findWorkloadEntry: workloadEntriesFromApi({
            ...api,
            token: options.cluster.adminToken
          })
        }
      : {}),
    ...(registration
      ? {
          onProxyConnected: (proxy: Parameters<AutoRegistration['onConnected']>[0]) =>
            registration.onConnected(proxy),
          onProxyDisconnected: (proxy: Parameters<AutoRegistration['onDisconnected']>[0]) =>
            registration.onDisconnected(proxy),
          onProxyHealth: (proxy: Parameters<AutoRegistration['onHealth']>[0]) =>
            registration.onHealth(proxy)
        }
      : {})
  })
  return {
    ...istiod,
    registration,
    async close() {
      registration?.close()
      await istiod.close()
    }
  }
}
