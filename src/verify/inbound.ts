// Evidence from the target VM's side that a request went through its sidecar's inbound capture:
// Envoy's `istio_requests_total` as reported by the destination (Istio's stats filter), read from
// the sidecar's admin interface on the VM (127.0.0.1:15000/stats/prometheus) over the host's own
// connection, before and after the request. The caller's sidecar writes `server: envoy` last, so
// the response says nothing about the VM's inbound side; these counters do.
import { httpRequestArgv, parseHttpResult, shellJoin } from './http.ts'
import type { Runtime, VmState } from './runtime.ts'
import { hostTool } from './tools.ts'

export const INBOUND_STATS_URL = 'http://127.0.0.1:15000/stats/prometheus'

/** Inbound requests the VM's sidecar counted, by `<source_principal> <connection_security_policy>`. */
export type InboundCounts = Map<string, number>

/** The reporter="destination" series of istio_requests_total, summed per principal and policy. */
export function parseInboundCounts(prometheus: string): InboundCounts {
  const counts: InboundCounts = new Map()
  for (const line of prometheus.split('\n')) {
    const m = /^istio_requests_total\{(.*)\}\s+([\d.eE+]+)\s*$/.exec(line.trim())
    if (!m) continue
    const labels: Record<string, string> = {}
    for (const l of (m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] ?? ''] = (l[2] ?? '').replace(/\\(.)/g, '$1')
    }
    if (labels['reporter'] !== 'destination') continue
    const key = `${labels['source_principal'] ?? 'unknown'} ${labels['connection_security_policy'] ?? 'unknown'}`
    counts.set(key, (counts.get(key) ?? 0) + Number(m[2]))
  }
  return counts
}

/** What changed between two readings: requests per `<principal> <policy>`, and in all. */
export function inboundDelta(
  before: InboundCounts,
  after: InboundCounts
): { total: number; by: Map<string, number> } {
  const by = new Map<string, number>()
  let total = 0
  for (const [key, value] of after) {
    const d = value - (before.get(key) ?? 0)
    if (d > 0) {
      by.set(key, d)
      total += d
    }
  }
  return { total, by }
}

export type InboundReading = { counts: InboundCounts } | { error: string }

/** Reads the target VM's inbound counters (as its login user: the admin port is local). */
export async function readInbound(rt: Runtime, state: VmState): Promise<InboundReading> {
  const shell = state.shell
  if (!shell) return { error: `no connection to ${state.vm.name}` }
  try {
    const tool = await hostTool(rt, state.vm, shell, state.vm.user)
    if (!tool) return { error: `no HTTP client on ${state.vm.name}` }
    const argv = httpRequestArgv(tool, INBOUND_STATS_URL, 5)
    const res = await shell.run(shellJoin(argv), { timeoutMs: 15_000 })
    const outcome = parseHttpResult(tool, res)
    if (outcome.response?.status !== 200) {
      const why = outcome.response
        ? `HTTP ${outcome.response.status}`
        : (outcome.failure?.message ?? 'no answer')
      return { error: `${INBOUND_STATS_URL} on ${state.vm.name}: ${why}` }
    }
    return { counts: parseInboundCounts(outcome.response.body) }
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) }
  }
}
