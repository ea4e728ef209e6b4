// istiod naming for a revision, as istioctl derives it.

/** A revision counts only when it is set and not `default`. */
export function isRevisioned(revision: string | undefined): revision is string {
  return revision !== undefined && revision !== '' && revision !== 'default'
}

/** `istiod[-<rev>].<istioNamespace>.svc` */
export function istiodHost(istioNamespace: string, revision?: string): string {
  return `${isRevisioned(revision) ? `istiod-${revision}` : 'istiod'}.${istioNamespace}.svc`
}

/** `istiod[-<rev>].<istioNamespace>.svc:15012` (istioctl hard-codes the port) */
export function istiodAddress(istioNamespace: string, revision?: string): string {
  return `${istiodHost(istioNamespace, revision)}:15012`
}
