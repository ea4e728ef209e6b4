// Decisions from evidence: did a check pass, and if not, the likely cause. Pure and table-tested.
import {
  callerIdentity,
  echoedHeaders,
  excerpt,
  headerMismatches,
  parseSpiffe,
  type HttpOutcome
} from './http.ts'
import type { ConnectedProxy, WorkloadEntryHealth } from './types.ts'

export interface Verdict {
  ok: boolean
  diagnosis?: string
  notes?: string[]
}

export type RequestKind = 'host-to-cluster' | 'cluster-to-host' | 'host-to-host' | 'pod-to-pod'

export interface RequestContext {
  kind: RequestKind
  /** `vm/<name>` or `pod/<namespace>/<pod>`. */
  from: string
  url: string
  /** The address connected to when the URL names a service host (the target VM's). */
  connectTo?: string
  /** The URL's host name or address, and port. */
  host: string
  port: number
  /**
   * Name resolution on the source before the request: an address, null when the name did not
   * resolve, undefined when not tried (an IP literal, or no resolver tool).
   */
  resolved?: string | null
  expect: { status: number; headers: Record<string, string>; body: string | null }
  /** The request must pass a sidecar (any check with a VM at one end). */
  requireEnvoy: boolean
  /** For requests from a pod to a VM: the identity the VM's sidecar must report for the caller. */
  caller?: { namespace: string; serviceAccount: string; injected: boolean }
  /**
   * To a VM: what its sidecar's inbound counters (istio_requests_total, reporter=destination)
   * gained during the request, per `<source_principal> <connection_security_policy>`, or why
   * they could not be read.
   */
  inbound?: { vm: string; total: number; by: Map<string, number> } | { vm: string; error: string }
}

/** `server` as a sidecar writes it: `envoy` (outbound), `istio-envoy` (inbound, since 1.8). */
function sidecarServer(server: string | undefined): boolean {
  const s = server?.toLowerCase()
  return s === 'envoy' || s === 'istio-envoy'
}

/** The caller identities the VM's sidecar counted, for a diagnosis. */
function countedCallers(by: Map<string, number>): string {
  return [...by.entries()].map(([key, n]) => `${key.replace(' ', ' over ')} (${n})`).join(', ')
}

/**
 * The VM-side proof: its sidecar counted the request on its inbound path, from the caller's
 * identity over mutual TLS when a caller is expected. undefined: proven (notes added) or not
 * readable (noted).
 */
function judgeInbound(ctx: RequestContext, notes: string[]): Verdict | undefined {
  const inbound = ctx.inbound
  if (!inbound) return undefined
  if ('error' in inbound) {
    notes.push(`the inbound counters of vm/${inbound.vm} could not be read (${inbound.error})`)
    return undefined
  }
  if (inbound.total === 0) {
    return {
      ok: false,
      diagnosis:
        `${target(ctx)} answered, but the sidecar of vm/${inbound.vm} counted no inbound request ` +
        `(istio_requests_total{reporter="destination"} did not grow): the answer did not come ` +
        `through the VM's inbound capture; check ISTIO_INBOUND_PORTS (the group's ports)`,
      notes
    }
  }
  if (ctx.caller) {
    const expected = `/ns/${ctx.caller.namespace}/sa/${ctx.caller.serviceAccount}`
    const fromCaller = [...inbound.by.entries()].find(
      ([key]) => key.split(' ')[0]?.endsWith(expected) && key.endsWith(' mutual_tls')
    )
    if (!fromCaller) {
      return {
        ok: false,
        diagnosis:
          `the sidecar of vm/${inbound.vm} counted the request from ${countedCallers(inbound.by)}, ` +
          `not from spiffe://…${expected} over mutual_tls: the caller's sidecar did not originate ` +
          `Istio mTLS to the VM`,
        notes
      }
    }
  }
  notes.push(`vm/${inbound.vm} sidecar counted inbound: ${countedCallers(inbound.by)}`)
  return undefined
}

const UPSTREAM_FAILURE = /upstream connect error|no healthy upstream|upstream request timeout/i

function where(ctx: RequestContext): string {
  return ctx.from
}

function target(ctx: RequestContext): string {
  return `${ctx.host}:${ctx.port}`
}

/** Judges one HTTP request's outcome for a check. */
export function judgeRequest(ctx: RequestContext, outcome: HttpOutcome): Verdict {
  const fromVm = ctx.from.startsWith('vm/')
  if (ctx.resolved === null || outcome.failure?.kind === 'dns') {
    if (fromVm) {
      return {
        ok: false,
        diagnosis:
          `"${ctx.host}" does not resolve on ${where(ctx)}: no hosts entry and no answer from the ` +
          `sidecar's DNS capture; enable captureDns (ISTIO_META_DNS_CAPTURE=true in cluster.env) ` +
          `and check the sidecar runs, or add the name to /etc/hosts`
      }
    }
    return {
      ok: false,
      diagnosis: `"${ctx.host}" does not resolve in ${where(ctx)}: check that a Service or ServiceEntry with that host exists`
    }
  }
  const resolvedTo = ctx.resolved ?? outcome.remoteIp
  const failure = outcome.failure
  if (failure) {
    const what = `${failure.message}`
    switch (failure.kind) {
      case 'no-client':
        return {
          ok: false,
          diagnosis: `no HTTP client in ${where(ctx)} (looked for curl, wget, python3): install one or check from elsewhere`
        }
      case 'tls':
        return { ok: false, diagnosis: `TLS failed towards ${target(ctx)}: ${what}` }
      case 'reset':
      case 'empty':
        if (ctx.kind === 'cluster-to-host' && ctx.caller && !ctx.caller.injected) {
          return {
            ok: false,
            diagnosis:
              `the connection to ${target(ctx)} was reset (${what}): the calling pod has no sidecar, ` +
              `and a VM sidecar under STRICT mTLS refuses plaintext; inject the pod's sidecar`
          }
        }
        return {
          ok: false,
          diagnosis: `the connection to ${target(ctx)} was closed without an answer (${what}): a sidecar in between refused it (mTLS mode STRICT with a caller outside the mesh?) or the app crashed`
        }
      default:
        break
    }
    if (ctx.kind === 'host-to-cluster') {
      const resolved = resolvedTo ? `"${ctx.host}" resolved to ${resolvedTo}, but ` : ''
      return {
        ok: false,
        diagnosis:
          `${resolved}the connection failed (${what}): not intercepted by the sidecar; check that ` +
          `ISTIO_SERVICE_CIDR in cluster.env covers the address (or is *) and the ISTIO_OUTPUT ` +
          `iptables chain on the VM`
      }
    }
    if (ctx.kind === 'cluster-to-host' || ctx.kind === 'host-to-host') {
      if (failure.kind === 'refused') {
        return {
          ok: false,
          diagnosis: `connection to ${target(ctx)} refused: neither the VM's sidecar (inbound capture of the group's ports, ISTIO_INBOUND_PORTS) nor an app accepted it`
        }
      }
      return {
        ok: false,
        diagnosis: `cannot reach ${target(ctx)} from ${where(ctx)} (${what}): check the route and firewalls between the cluster network and the VM (the VM's address, its ports)`
      }
    }
    return { ok: false, diagnosis: `request to ${target(ctx)} failed: ${what}` }
  }

  const response = outcome.response
  if (!response)
    return { ok: false, diagnosis: 'no answer and no error: the client printed nothing' }
  const server = response.headers['server']
  // from a VM, its outbound sidecar writes `server: envoy` last; to a VM from a pod, the header
  // is the caller's sidecar's (or the VM's `istio-envoy` for a caller without one): the VM's
  // inbound path is proven by its counters instead
  const viaEnvoy =
    ctx.kind === 'cluster-to-host' ? sidecarServer(server) : server?.toLowerCase() === 'envoy'
  const notes: string[] = []

  if (sidecarServer(server) && response.status >= 500 && UPSTREAM_FAILURE.test(response.body)) {
    if (ctx.kind === 'cluster-to-host' || ctx.kind === 'host-to-host') {
      return {
        ok: false,
        diagnosis: `the VM's sidecar answered ${response.status} but the app behind port ${ctx.port} did not (${excerpt(response.body, 120)}): check the app listens on ${ctx.port}`
      }
    }
    return {
      ok: false,
      diagnosis: `the sidecar intercepted the request but could not reach "${ctx.host}" (${response.status}: ${excerpt(response.body, 120)}): check that the service has ready endpoints and that the VM's network reaches them`
    }
  }
  if (ctx.requireEnvoy && !viaEnvoy) {
    const got = server === undefined ? 'no `server` header' : `\`server: ${server}\``
    if (ctx.kind === 'host-to-cluster') {
      const resolved = resolvedTo ? ` to ${resolvedTo}` : ''
      return {
        ok: false,
        diagnosis:
          `resolved${resolved} but not intercepted: no \`server: envoy\` (${got}, status ` +
          `${response.status}); check ISTIO_SERVICE_CIDR in cluster.env (outbound capture) and ` +
          `the ISTIO_OUTPUT iptables chain on the VM`
      }
    }
    const wanted =
      ctx.kind === 'cluster-to-host' ? '`server: envoy` or `istio-envoy`' : '`server: envoy`'
    return {
      ok: false,
      diagnosis:
        `${target(ctx)} answered without ${wanted} (${got}): the VM's sidecar did not ` +
        `intercept inbound traffic on port ${ctx.port}; check ISTIO_INBOUND_PORTS (the group's ` +
        `ports) and that the sidecar runs`
    }
  }
  if (response.status !== ctx.expect.status) {
    return {
      ok: false,
      diagnosis: `expected status ${ctx.expect.status}, got ${response.status} (${excerpt(response.body, 120)})`
    }
  }
  if (!ctx.caller) {
    // evidence only: who the destination's sidecar says called (the VM, for host → cluster)
    const seen = callerIdentity(echoedHeaders(response.body)?.['x-forwarded-client-cert'])
    if (seen) notes.push(`caller identity ${seen}`)
  }
  if (ctx.caller) {
    const echoed = echoedHeaders(response.body)
    if (echoed === null) {
      notes.push('the app does not echo request headers: caller identity not checked')
    } else {
      const expected = `/ns/${ctx.caller.namespace}/sa/${ctx.caller.serviceAccount}`
      const xfcc = echoed['x-forwarded-client-cert']
      const caller = callerIdentity(xfcc)
      const spiffe = caller ? parseSpiffe(caller) : null
      if (!spiffe) {
        const seen = caller ? `as ${caller}` : 'without an identity (no x-forwarded-client-cert)'
        const remedy = ctx.caller.injected
          ? 'the pod has an istio-proxy container but its request did not go through it: check its traffic capture (istio-init or the CNI plugin, traffic.sidecar.istio.io annotations)'
          : 'the pod has no istio-proxy container: inject its sidecar (namespace label istio-injection=enabled or istio.io/rev) and restart the pod'
        return {
          ok: false,
          diagnosis: `the calling pod is not in the mesh: the VM's sidecar saw the caller ${seen}, not spiffe://…${expected}; ${remedy}`
        }
      }
      if (!caller?.endsWith(expected)) {
        return {
          ok: false,
          diagnosis: `the VM's sidecar saw the caller as ${caller}, expected spiffe://…${expected}: the request came from another workload (a gateway or proxy in between?)`
        }
      }
      notes.push(`caller identity ${caller}`)
    }
  }
  const inboundVerdict = judgeInbound(ctx, notes)
  if (inboundVerdict) return inboundVerdict
  const mismatches = headerMismatches(response.headers, ctx.expect.headers)
  if (mismatches.length > 0) {
    return { ok: false, diagnosis: `unexpected headers: ${mismatches.join('; ')}`, notes }
  }
  if (ctx.expect.body !== null && !response.body.includes(ctx.expect.body)) {
    return {
      ok: false,
      diagnosis: `the body does not contain "${ctx.expect.body}" (${excerpt(response.body, 120)})`,
      notes
    }
  }
  return { ok: true, notes }
}

/** Why a sidecar is not ready, from its readiness answer, service state and log. */
export function judgeReadiness(input: {
  vm: string
  outcome: HttpOutcome
  /** `systemctl is-active istio` output (active, inactive, failed, activating...). */
  serviceState: string
  logTail: string
}): Verdict {
  const { outcome } = input
  if (outcome.response?.status === 200) return { ok: true }
  const state = input.serviceState.trim() || 'unknown'
  const hint = logHint(input.logTail)
  const last = lastLogLine(input.logTail)
  const logPart = hint ? `; ${hint}` : last ? `; last log line: ${last}` : ''
  if (state !== 'active' && state !== 'activating' && state !== 'reloading') {
    return {
      ok: false,
      diagnosis: `sidecar not ready: the istio service is ${state} on ${input.vm}; start it with \`systemctl start istio\`${logPart}`
    }
  }
  if (outcome.response) {
    return {
      ok: false,
      diagnosis: `sidecar not ready: ${outcome.response.status} ${excerpt(outcome.response.body, 160)}${logPart}`
    }
  }
  return {
    ok: false,
    diagnosis: `sidecar not ready: nothing answers on :15021 (${outcome.failure?.message ?? 'no answer'}) although the istio service is ${state}: it is starting or crashing${logPart}`
  }
}

/** A cause named from pilot-agent's log, when one is recognised. */
export function logHint(log: string): string | undefined {
  const rules: Array<[RegExp, string]> = [
    [
      /lookup (\S+?):? no such host/,
      'istiod\'s name "$1" does not resolve on the VM: its hosts entry is missing'
    ],
    [
      /certificate signed by unknown authority/,
      "the VM's root-cert.pem is not the mesh's root certificate"
    ],
    [
      /authentication failure/,
      'istiod refused the bootstrap token (expired, wrong audience, or the account is gone)'
    ],
    [/connection refused/i, 'istiod (or the gateway in front of it) refused the connection'],
    [/permission denied/i, 'a file the sidecar reads is not readable by istio-proxy']
  ]
  const lines = log.split('\n')
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? ''
    for (const [re, text] of rules) {
      const m = re.exec(line)
      if (m) return text.replace('$1', m[1] ?? '')
    }
  }
  return undefined
}

function lastLogLine(log: string): string | undefined {
  const lines = log
    .split('\n')
    .map(l => l.trim())
    .filter(l => l !== '')
  // only a warning or an error says something; an old "ready" line would mislead
  const important = lines.filter(l => /\t(error|warn)\t/.test(l) || /error|fail/i.test(l))
  const line = important.at(-1)
  return line ? excerpt(line, 200) : undefined
}

/** The proxy istiod lists for a VM: by proxy ID (`<hostname>.<namespace>`) or peer address. */
export function findProxy(
  proxies: ConnectedProxy[],
  vm: { address: string; hostname?: string; namespace: string }
): ConnectedProxy | undefined {
  const id = vm.hostname ? `${vm.hostname}.${vm.namespace}` : undefined
  return (
    proxies.find(p => id !== undefined && (p.id === id || p.id.startsWith(`${id}-`))) ??
    proxies.find(p => p.ip === vm.address)
  )
}

export function judgeIstiodConnection(input: {
  vm: string
  address: string
  hostname?: string
  namespace: string
  proxies: ConnectedProxy[]
}): Verdict {
  const found = findProxy(input.proxies, input)
  if (found) return { ok: true, notes: [`istiod lists ${found.id} from ${found.ip}`] }
  const who = [input.address, input.hostname ? `${input.hostname}.${input.namespace}` : '']
    .filter(Boolean)
    .join(', ')
  return {
    ok: false,
    diagnosis:
      `proxy not connected to istiod: istiod lists ${input.proxies.length} connected ` +
      `${input.proxies.length === 1 ? 'proxy' : 'proxies'}, none for ${input.vm} (${who}); check ` +
      `the discovery address (the istiod hosts entry, port 15012 through the east-west gateway) ` +
      `and the sidecar log for XDS errors`
  }
}

export function judgeWorkloadEntry(input: {
  vm: string
  namespace: string
  name: string
  health: WorkloadEntryHealth
}): Verdict & { skipped?: boolean } {
  const ref = `WorkloadEntry ${input.namespace}/${input.name}`
  switch (input.health.state) {
    case 'healthy':
      return { ok: true, notes: [`${ref} is Healthy`] }
    case 'missing':
      return {
        ok: false,
        diagnosis: `${ref} does not exist: registration did not happen (manual: the entry was not applied; auto: istiod did not register the proxy)`
      }
    case 'unknown':
      return {
        ok: true,
        skipped: true,
        diagnosis: `${ref} has no Healthy condition: istiod reports probe results only for auto-registered entries, and for manual ones annotated proxy.istio.io/health-checks-enabled: "true" whose proxy names them in ISTIO_META_WORKLOAD_ENTRY`
      }
    case 'unhealthy':
      return {
        ok: false,
        diagnosis: `${ref} is unhealthy (${[input.health.reason, input.health.message].filter(Boolean).join(': ') || 'no message'}): the group's probe fails on ${input.vm}; check the app listens where the probe points`
      }
  }
}
