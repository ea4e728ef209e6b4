// The capture rules a sidecar must have, from the cluster.env the description renders, and which
// of them a host's nat table (iptables-save) lacks. Pure. Only what istio-iptables always writes
// for these values is asked for (its other rules differ between releases): the jumps from the
// built-in chains, one redirect per inbound port (or all of them for `*`), and the outbound
// redirect of every ISTIO_SERVICE_CIDR range (or of everything for `*`).

/** A value of cluster.env (KEY='value' lines, as istioctl writes them); undefined when absent. */
export function clusterEnvValue(clusterEnv: string, key: string): string | undefined {
  for (const line of clusterEnv.split('\n')) {
    if (!line.startsWith(`${key}=`)) continue
    const raw = line.slice(key.length + 1).trim()
    return /^'.*'$/.test(raw) ? raw.slice(1, -1).replace(/'\\''/g, "'") : raw
  }
  return undefined
}

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map(item => item.trim())
    .filter(item => item !== '')

export interface CaptureRule {
  /** the rule as iptables-save prints it, without `-m tcp` */
  readonly rule: string
  /** what it does, for the diagnosis */
  readonly purpose: string
}

/** The rules the sidecar needs; [] when cluster.env leaves iptables to the host. */
export function expectedCapture(clusterEnv: string): CaptureRule[] {
  if (clusterEnvValue(clusterEnv, 'ISTIO_CUSTOM_IP_TABLES') === 'true') return []
  const rules: CaptureRule[] = [
    { rule: '-A OUTPUT -p tcp -j ISTIO_OUTPUT', purpose: 'outbound capture' }
  ]
  const inbound = clusterEnvValue(clusterEnv, 'ISTIO_INBOUND_PORTS') ?? ''
  if (inbound !== '') {
    rules.push({ rule: '-A PREROUTING -p tcp -j ISTIO_INBOUND', purpose: 'inbound capture' })
    if (inbound === '*')
      rules.push({
        rule: '-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT',
        purpose: 'inbound capture of every port'
      })
    else
      for (const port of list(inbound))
        rules.push({
          rule: `-A ISTIO_INBOUND -p tcp --dport ${port} -j ISTIO_IN_REDIRECT`,
          purpose: `inbound capture of port ${port}`
        })
  }
  const cidrs = clusterEnvValue(clusterEnv, 'ISTIO_SERVICE_CIDR') ?? ''
  if (cidrs.trim() === '*')
    rules.push({ rule: '-A ISTIO_OUTPUT -j ISTIO_REDIRECT', purpose: 'outbound redirect' })
  else
    for (const cidr of list(cidrs))
      rules.push({
        rule: `-A ISTIO_OUTPUT -d ${cidr.includes('/') ? cidr : `${cidr}/32`} -j ISTIO_REDIRECT`,
        purpose: `outbound redirect of ${cidr}`
      })
  return rules
}

/** A rule as compared: `-m tcp` (added by iptables-save) dropped, spaces collapsed. */
export function normalizeRule(rule: string): string {
  return rule
    .replace(/ -m tcp\b/g, '')
    .replace(/\s+/g, ' ')
    .trim()
}

/** The expected rules the host's nat table lacks. */
export function missingCapture(
  expected: readonly CaptureRule[],
  saved: readonly string[]
): CaptureRule[] {
  const present = new Set(saved.map(normalizeRule))
  return expected.filter(rule => !present.has(normalizeRule(rule.rule)))
}
