// Lab tests need root and systemd-nspawn. They fail with a clear message when those are
// missing, unless the person opts out explicitly with MESH_EXPANSION_SKIP_LAB=1.
import { existsSync } from 'node:fs'

export function labUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'the lab needs root (network namespaces, systemd-nspawn)'
  if (!existsSync('/proc/self/ns/net')) return 'this kernel has no network namespaces'
  return undefined
}

/** Options for `describe`/`test`: skip only on explicit opt-out, otherwise fail loudly. */
export function labTestOptions(): { skip?: string } {
  const reason = labUnavailableReason()
  if (reason === undefined) return {}
  if (process.env.MESH_EXPANSION_SKIP_LAB === '1')
    return { skip: `MESH_EXPANSION_SKIP_LAB=1: ${reason}` }
  throw new Error(
    `Lab tests cannot run: ${reason}. Run as root, or set MESH_EXPANSION_SKIP_LAB=1 to skip them.`
  )
}
