// IP address checks with Go's rules (net/netip.ParseAddr): Node's `net.isIP` agrees with Go on
// addresses (no leading zeros in IPv4, at most one `::`, a trailing IPv4 part); zones are checked
// here as Go checks them: only on IPv6, and never empty. No I/O: a parser, not a resolver.
import { isIP } from 'node:net'

/** Go's netip.ParseAddr(text) succeeds (zones allowed). */
export function isValidIPAddress(text: string): boolean {
  const zone = text.indexOf('%')
  if (zone < 0) return isIP(text) !== 0
  return zone < text.length - 1 && isIP(text.slice(0, zone)) === 6
}

/** Go's net.ParseIP(text) != nil (no zones). */
export function parsesAsIP(text: string): boolean {
  return !text.includes('%') && isIP(text) !== 0
}
