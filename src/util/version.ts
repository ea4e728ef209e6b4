// One version order for the whole product: Semantic Versioning's precedence (semver.org, §11),
// with missing parts read as 0 ("1.13" is 1.13.0) and an optional leading "v". A pre-release sorts
// below its release (1.13.0-rc.1 < 1.13.0); its identifiers compare numerically when both are
// numbers, else as text, numbers first; build metadata (+…) is ignored.

interface Parsed {
  core: number[]
  pre: string[]
}

function parse(version: string): Parsed {
  const text = version.trim().replace(/^v/i, '').split('+')[0] ?? ''
  const dash = text.indexOf('-')
  const core = (dash < 0 ? text : text.slice(0, dash)).split('.')
  const pre = dash < 0 ? [] : text.slice(dash + 1).split('.')
  return { core: [0, 1, 2].map(i => Number.parseInt(core[i] ?? '0', 10) || 0), pre }
}

const numeric = (id: string): boolean => /^\d+$/.test(id)

function comparePre(a: string[], b: string[]): number {
  if (a.length === 0 || b.length === 0) return b.length - a.length // a release is above its pre-releases
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] ?? ''
    const y = b[i] ?? ''
    if (x === y) continue
    if (numeric(x) && numeric(y)) return Number(x) - Number(y)
    if (numeric(x) !== numeric(y)) return numeric(x) ? -1 : 1
    return x < y ? -1 : 1
  }
  return a.length - b.length
}

/** Negative when a comes before b, 0 when equal, positive after. */
export function compareVersions(a: string, b: string): number {
  const pa = parse(a)
  const pb = parse(b)
  for (let i = 0; i < 3; i++) {
    const d = (pa.core[i] ?? 0) - (pb.core[i] ?? 0)
    if (d !== 0) return d
  }
  return comparePre(pa.pre, pb.pre)
}

/**
 * Whether `version` belongs to the release line `line` ("major.minor") or a later one: the test
 * for a behaviour that came with a release line, which its pre-releases already have
 * (1.13.0-rc.1 is on the 1.13 line).
 */
export function onOrAfterLine(version: string, line: string): boolean {
  const [major = 0, minor = 0] = parse(version).core
  return compareVersions(`${major}.${minor}`, line) >= 0
}
