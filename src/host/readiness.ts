// Why a host's sidecar was not ready, from what the host sent back: install.sh ends with
// `MX-FAIL ready ...` (exit 41, or 42 after a rollback) after the last 20 lines of istio.log
// and istio.err.log as `MX-LOG istio.log: <line>`. pilot-agent logs
// `<time>\t<level>\t<scope>\t<message>`, and the newest error decides:
// - the control plane: the agent could not reach istiod or was throttled by it. Upstream's
//   words: `failed to warm certificate: failed to generate workload certificate: create
//   certificate: rpc error: code = Unavailable desc = connection error: desc = "transport:
//   Error while dialing dial tcp: i/o timeout"` (istio/istio#30784, #44557; with the address,
//   `dial tcp 10.0.0.1:15012: i/o timeout` / `connect: connection refused`), XDS refused for rate
//   with `code = ResourceExhausted desc = request rate limit exceeded` (pilot/pkg/xds/ads.go,
//   WaitForRequestLimit), `server is not ready to serve discovery information` (Unavailable),
//   Envoy's `config not received from Pilot (is Pilot running?)`, an HTTP 429/503 from istiod,
//   a read that timed out with no address (`TimeoutError('The read operation timed out')`, `read:
//   connection timed out`: the agent's only remote peer is istiod), unless it is about a probe
//   or a local port. A retry later, with fewer hosts at once, can succeed.
// - the host's own: anything else, e.g. `x509: certificate signed by unknown authority` (root
//   cert), `authentication failure` / Unauthenticated (token, audience), `CSR signing error`
//   with InvalidArgument (security/pkg/server/ca/server.go: a CSRError or TTLError), `lookup
//   ...: no such host` (the hosts block), a WorkloadEntry refusal. Retrying changes nothing.
// Pure (and no import: onboard.ts uses its types).

/** control-plane: istiod or the API did not keep up (retried, fewer at once); busy: the host did
 * not answer SSH in time while many were worked on (retried, fewer at once); host: its own fault. */
export type FailureCause = 'control-plane' | 'busy' | 'host'

export interface ReadinessDiagnosis {
  cause: FailureCause
  /** The agent's line (message part) that decided, or why there is none. */
  reason: string
}

/** Ports istiod answers proxies on: XDS+CA (15012), plaintext XDS (15010), pilot before 1.5
 * (15011), through the east-west gateway's TLS port (15443). */
const CONTROL_PLANE_PORTS = new Set([15010, 15011, 15012, 15443])
const CONTROL_PLANE_HOST =
  /(^|\.)(istiod|istio-pilot|istiod-[a-z0-9-]+|istio-eastwestgateway)(\.|$)/

/** Reasons that are the host's whatever else the line says. */
const HOST_REASONS: RegExp[] = [
  /x509:/,
  /no such host/,
  /tls: bad certificate/,
  /authentication failure/i,
  /code = (Unauthenticated|PermissionDenied|InvalidArgument|NotFound|FailedPrecondition)\b/,
  /CSR signing error/,
  /WorkloadEntry/,
  /no such file or directory|permission denied/i,
  /failed to (load|fetch|get credential)/i,
  /certificate has expired|provisioned certificate/
]

/** The control plane did not answer, or refused for load. */
const THROTTLED: RegExp[] = [
  /code = ResourceExhausted\b/,
  /rate limit/i,
  /too many requests/i,
  /server is not ready to serve discovery information/,
  /config not received from Pilot/
]
const UNREACHABLE =
  /i\/o timeout|connection refused|connection reset by peer|context deadline exceeded|timed out|broken pipe|\bEOF\b|closed the connection/i
const DIAL_TARGET = /dial tcp (\[[^\]]+\]|[^\s:]+):(\d+)/
/** A read or write that timed out with no address named: while the agent bootstraps, its only
 * remote peer is the control plane (CA and XDS). The lab's agent on a stalled XDS stream:
 * `unexpected error: TimeoutError('The read operation timed out')`; Go's `read: connection timed
 * out`, `context deadline exceeded`. */
const BARE_TIMEOUT =
  /(read|write|handshake) operation timed out|TimeoutError|socket\.timeout|read: connection timed out|i\/o timeout|context deadline exceeded/i
/** ...unless the line is about the workload's own health check or a local port. */
const LOCAL_CONTEXT = /probe|health ?check|127\.0\.0\.1|localhost|\[::1\]|:150(00|01|20|21)\b/i
const CONTROL_PLANE_CONTEXT =
  /istiod|pilot|create certificate|warm certificate|rotate certificate|citadelclient|\bca\b|\bADS\b|XDS|StreamAggregatedResources|code = Unavailable/

const LOG_LINE = /^(?:istio(?:\.err)?\.log: )?\S+\t(\w+)\t\S+\t(.*)$/

function controlPlaneTarget(line: string, extraHosts: readonly string[]): boolean | undefined {
  const dial = DIAL_TARGET.exec(line)
  if (!dial) return undefined
  const host = (dial[1] ?? '').replace(/^\[|\]$/g, '')
  const port = Number(dial[2])
  return CONTROL_PLANE_PORTS.has(port) || CONTROL_PLANE_HOST.test(host) || extraHosts.includes(host)
}

/** What one line says (undefined: nothing decisive). */
export function diagnoseLine(
  message: string,
  extraHosts: readonly string[] = []
): FailureCause | undefined {
  if (HOST_REASONS.some(re => re.test(message))) return 'host'
  if (THROTTLED.some(re => re.test(message))) return 'control-plane'
  if (/\b(429|503)\b/.test(message) && /istiod|ADS|XDS|pilot/i.test(message)) return 'control-plane'
  if (UNREACHABLE.test(message) || BARE_TIMEOUT.test(message)) {
    const target = controlPlaneTarget(message, extraHosts)
    if (target !== undefined) return target ? 'control-plane' : 'host'
    // upstream's wording often has no address ("Error while dialing dial tcp: i/o timeout"):
    // the line must be about the CA or XDS connection, or a timeout of no local peer
    if (CONTROL_PLANE_CONTEXT.test(message)) return 'control-plane'
    return BARE_TIMEOUT.test(message) && !LOCAL_CONTEXT.test(message) ? 'control-plane' : undefined
  }
  return undefined
}

/**
 * Why the sidecar of a failed host was not ready, or undefined when the host did not fail on
 * readiness (another phase: not this classifier's business). `extraHosts`: the control plane's
 * addresses as the VMs dial them (the east-west gateway's IP or name), besides istiod's names
 * and ports.
 */
export function diagnoseReadiness(
  result: {
    status: string
    error?: { phase: string; message: string } | undefined
    logs: readonly string[]
  },
  extraHosts: readonly string[] = []
): ReadinessDiagnosis | undefined {
  if (result.status !== 'failed' || result.error?.phase !== 'ready') return undefined
  for (const raw of [...result.logs].reverse()) {
    const line = LOG_LINE.exec(raw)
    const level = line?.[1]?.toLowerCase()
    const message = line ? (line[2] ?? '') : raw.replace(/^istio(?:\.err)?\.log: /, '')
    if (line && level !== 'error' && level !== 'warn' && level !== 'warning') continue
    const cause = diagnoseLine(message, extraHosts)
    if (cause) return { cause, reason: message.trim() }
    // the newest error the agent logged, not understood: the host's, not retried
    if (level === 'error') return { cause: 'host', reason: message.trim() }
  }
  return { cause: 'host', reason: 'the agent logged no error that names a cause' }
}

/** ` (the control plane, after 3 attempts: <line>)` for a diagnosed host, else ''. */
export function diagnosisTail(host: {
  diagnosis?: ReadinessDiagnosis | undefined
  attempts?: number | undefined
}): string {
  const d = host.diagnosis
  if (!d) return ''
  const attempts = (host.attempts ?? 1) > 1 ? `, after ${host.attempts} attempts` : ''
  const whose = d.cause === 'control-plane' ? 'the control plane' : 'this host'
  return ` (${whose}${attempts}: ${d.reason})`
}
