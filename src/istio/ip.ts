// IP address checks with Go's rules (net/netip.ParseAddr): dotted-decimal IPv4 without
// leading zeros, IPv6 with at most one `::`, an optional trailing IPv4 part and an optional
// zone (`fe80::1%eth0`). No I/O: this is a parser, not a resolver.

function isIPv4(text: string): boolean {
  const parts = text.split('.')
  if (parts.length !== 4) return false
  return parts.every(p => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)
}

function isIPv6(text: string): boolean {
  let s = text
  const zone = s.indexOf('%')
  if (zone >= 0) {
    if (zone === s.length - 1) return false
    s = s.slice(0, zone)
  }
  let groupsNeeded = 8
  const lastColon = s.lastIndexOf(':')
  if (lastColon >= 0 && s.slice(lastColon + 1).includes('.')) {
    if (!isIPv4(s.slice(lastColon + 1))) return false
    s = s.slice(0, lastColon + 1) + '0:0'
    groupsNeeded = 8
  }
  const halves = s.split('::')
  if (halves.length > 2) return false
  const group = /^[0-9a-fA-F]{1,4}$/
  const parse = (part: string): string[] | undefined => {
    if (part === '') return []
    const groups = part.split(':')
    return groups.every(g => group.test(g)) ? groups : undefined
  }
  if (halves.length === 1) {
    const groups = parse(halves[0] ?? '')
    return groups !== undefined && groups.length === groupsNeeded
  }
  const left = parse(halves[0] ?? '')
  const right = parse(halves[1] ?? '')
  if (left === undefined || right === undefined) return false
  return left.length + right.length < groupsNeeded
}

/** Go's netip.ParseAddr(text) succeeds (zones allowed). */
export function isValidIPAddress(text: string): boolean {
  if (text.includes(':')) return isIPv6(text)
  return isIPv4(text)
}

/** Go's net.ParseIP(text) != nil (no zones). */
export function parsesAsIP(text: string): boolean {
  return !text.includes('%') && isValidIPAddress(text)
}
