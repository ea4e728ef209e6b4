// istiod naming for a revision, as istioctl derives it.

/** A revision counts only when it is set and not `default`. */
export function isRevisioned(revision: string | undefined): revision is string {
  return revision !== undefined && revision !== '' && revision !== 'default'
}

/** `istiod[-<rev>].<istioNamespace>.svc` */
export function istiodHost(istioNamespace: string, revision?: string): string {
  return `${isRevisioned(revision) ? `istiod-${revision}` : 'istiod'}.${istioNamespace}.svc`
}

/** istiod's XDS and CA port, which istioctl hard-codes */
export const ISTIOD_PORT = 15012

/** `istiod[-<rev>].<istioNamespace>.svc:<port>` (15012 unless the VMs reach istiod elsewhere) */
export function istiodAddress(
  istioNamespace: string,
  revision?: string,
  port: number = ISTIOD_PORT
): string {
  return `${istiodHost(istioNamespace, revision)}:${port}`
}
