// The description's checks: one HTTP request, from a VM (as an unprivileged user, so its sidecar
// captures it like an application's) or from a pod (kubectl exec), retried and judged.
import type { Check } from '../config/index.ts'
import { judgeRequest, type RequestContext, type Verdict } from './diagnose.ts'
import {
  checkVm,
  isHostName,
  kindOf,
  requestTarget,
  targetUrl,
  type TargetUrl,
  unreadyEndpoint,
  type RequestTarget
} from './endpoints.ts'
import {
  httpRequestArgv,
  parseHttpResult,
  shellJoin,
  shellQuote,
  unprivilegedUser,
  type HttpOutcome
} from './http.ts'
import { evidenceOf, failed, result, skipped } from './results.ts'
import { retry, type Runtime, type VmState } from './runtime.ts'
import { inboundDelta, readInbound } from './inbound.ts'
import { hostTool, podTools } from './tools.ts'
import type { CheckResult } from './types.ts'

/** A check whose target is known, about to send its request. */
interface Request {
  readonly check: Check
  /** The VM the check is about, for the result. */
  readonly vm: string | undefined
  readonly target: RequestTarget
  /** Per attempt, with a margin over the client's own timeout. */
  readonly timeoutMs: number
  readonly started: number
}

function fail(request: Request, diagnosis: string): CheckResult {
  return failed(request.check.name, request.target.kind, request.vm, diagnosis)
}

/** Runs one of the description's checks; a VM at either end that is not ready skips it. */
export async function runCheck(
  rt: Runtime,
  check: Check,
  vms: Map<string, VmState>
): Promise<CheckResult> {
  const vm = checkVm(check)
  const notReady = unreadyEndpoint(check, vms)
  if (notReady !== undefined) return skipped(check.name, kindOf(check), vm, `not run: ${notReady}`)
  const started = rt.now()
  const url = await targetUrl(rt, check, vms)
  if ('error' in url) return failed(check.name, kindOf(check), vm, url.error)
  const request: Request = {
    check,
    vm,
    target: requestTarget(check, url),
    timeoutMs: (check.timeout + 5) * 1000,
    started
  }
  const send = (ctx: Omit<RequestContext, 'inbound'>, request: () => Promise<HttpOutcome>) =>
    throughInbound(rt, inboundTargets(check, url, vms), ctx, request)
  return check.from.kind === 'vm'
    ? fromVm(rt, request, check.from.name, vms, send)
    : fromPod(rt, request, check.from, send)
}

/**
 * The VMs whose inbound counters tell whether the request reached a VM: the target VM; through
 * its group's service (which balances over the group), every VM of the group, the target first.
 */
function inboundTargets(check: Check, url: TargetUrl, vms: Map<string, VmState>): VmState[] {
  const target = check.to?.kind === 'vm' ? vms.get(check.to.name) : undefined
  if (!target) return []
  if (url.connectTo === undefined) return [target]
  const group = [...vms.values()].filter(s => s !== target && s.group.name === target.group.name)
  return [target, ...group.filter(s => s.shell && s.ready)]
}

/** Sends a request and judges it; to a VM, with its sidecar's inbound counters around it. */
type Send = (
  ctx: Omit<RequestContext, 'inbound'>,
  request: () => Promise<HttpOutcome>
) => Promise<{ verdict: Verdict; outcome: HttpOutcome }>

async function throughInbound(
  rt: Runtime,
  targets: VmState[],
  ctx: Omit<RequestContext, 'inbound'>,
  request: () => Promise<HttpOutcome>
): Promise<{ verdict: Verdict; outcome: HttpOutcome }> {
  if (targets.length === 0) {
    const outcome = await request()
    return { verdict: judgeRequest(ctx, outcome), outcome }
  }
  const before = await Promise.all(targets.map(t => readInbound(rt, t)))
  const outcome = await request()
  let after = await Promise.all(targets.map(t => readInbound(rt, t)))
  const grew = (): boolean =>
    after.some((a, i) => {
      const b = before[i]
      return a && b && 'counts' in a && 'counts' in b && inboundDelta(b.counts, a.counts).total > 0
    })
  if (outcome.response && !grew()) {
    // Envoy counts a request when its stream ends, which may be just after the client has it
    await rt.sleep(500)
    after = await Promise.all(targets.map(t => readInbound(rt, t)))
  }
  const readings = targets.map((t, i) => {
    const [b, a] = [before[i], after[i]]
    const vm = t.vm.name
    if (!a || !b || 'error' in a) return { vm, error: a && 'error' in a ? a.error : 'no reading' }
    // no series at all: Istio's metrics may be off; that proves nothing either way
    if (a.counts.size === 0) {
      return { vm, error: 'no istio_requests_total series with reporter="destination"' }
    }
    if ('error' in b) return { vm, error: `no reading before the request (${b.error})` }
    return { vm, ...inboundDelta(b.counts, a.counts) }
  })
  // through a service, any VM of the group may have answered: the one that counted it
  const counted = readings.find(r => 'total' in r && r.total > 0)
  const readable = readings.find(r => 'total' in r)
  const inbound = counted ?? readable ?? readings[0]
  return { verdict: judgeRequest({ ...ctx, ...(inbound ? { inbound } : {}) }, outcome), outcome }
}

async function fromVm(
  rt: Runtime,
  request: Request,
  from: string,
  vms: Map<string, VmState>,
  send: Send
): Promise<CheckResult> {
  const { check, target, timeoutMs } = request
  const state = vms.get(from)
  const shell = state?.shell
  if (!state || !shell) return fail(request, `no connection to ${from}`)
  const user = unprivilegedUser(state.vm.user)
  const tool = await hostTool(rt, state.vm, shell, user)
  if (!tool) {
    return fail(
      request,
      `no HTTP client on ${state.vm.name} usable by ${user} (looked for curl, wget, python3)`
    )
  }
  const command = shellJoin(httpRequestArgv(tool, target.url, check.timeout, target.connectTo))
  const resolveCommand = `getent hosts ${shellQuote(target.host)}`
  const run = await retry(rt, check.attempts, async () => {
    let resolved: string | null | undefined
    if (target.connectTo !== undefined) resolved = target.connectTo
    else if (isHostName(target.host)) {
      const r = await shell.run(resolveCommand, { user, timeoutMs })
      if (r.code === 0) resolved = r.stdout.trim().split(/\s+/)[0] ?? undefined
      else if (r.code === 2) resolved = null // getent: key not found
    }
    const ctx: RequestContext = {
      ...target,
      from: `vm/${state.vm.name}`,
      ...(resolved !== undefined ? { resolved } : {})
    }
    const { verdict, outcome } = await send(ctx, async () =>
      resolved === null
        ? { failure: { kind: 'dns', message: `getent hosts ${target.host}: not found` } }
        : parseHttpResult(tool, await shell.run(command, { user, timeoutMs }))
    )
    return { verdict, value: { outcome, resolved } }
  })
  return result(check.name, target.kind, request.vm, run.verdict, {
    where: `vm/${state.vm.name} as ${user}`,
    command,
    tool,
    ...evidenceOf(run.value.outcome),
    ...(run.value.resolved ? { resolved: run.value.resolved } : {}),
    durationMs: rt.now() - request.started,
    attempts: run.attempts
  })
}

async function fromPod(
  rt: Runtime,
  request: Request,
  from: { namespace: string; selector: string },
  send: Send
): Promise<CheckResult> {
  const { check, target, timeoutMs } = request
  const pods = rt.deps.pods
  if (!pods) return fail(request, 'no cluster connection to exec in pods')
  const pod = await pods.findPod(from.namespace, from.selector)
  if (!pod) {
    return fail(request, `no running pod matches ${from.selector} in namespace ${from.namespace}`)
  }
  const tools = await podTools(pods, from.namespace, pod, timeoutMs)
  if (tools.length === 0) {
    return fail(
      request,
      `pod ${from.namespace}/${pod.name} has no HTTP client (curl, wget, python3)`
    )
  }
  const ctx: RequestContext = {
    ...target,
    from: `pod/${from.namespace}/${pod.name}`,
    ...(target.kind === 'cluster-to-host'
      ? {
          caller: {
            namespace: from.namespace,
            serviceAccount: pod.serviceAccount,
            injected: pod.injected
          }
        }
      : {})
  }
  const run = await retry(rt, check.attempts, async () => {
    let tool = tools[0] ?? 'curl'
    let execFailure: Verdict | undefined
    const { verdict, outcome } = await send(ctx, async () => {
      for (;;) {
        const argv = httpRequestArgv(tool, target.url, check.timeout, target.connectTo)
        const res = await pods.exec(from.namespace, pod.name, pod.container, argv, timeoutMs)
        if (res.code === -1) {
          // the exec itself failed (API, RBAC, the pod went away): no HTTP evidence at all
          execFailure = {
            ok: false,
            diagnosis: `cannot exec in pod ${from.namespace}/${pod.name}: ${res.stderr.trim()} (needs create on pods/exec)`
          }
          return { failure: { kind: 'other', message: res.stderr.trim() } }
        }
        const outcome = parseHttpResult(tool, res)
        // `command -v` found it but it does not run: the next client, for this and later attempts
        if (outcome.failure?.kind !== 'no-client' || tools.length < 2) return outcome
        tools.shift()
        tool = tools[0] ?? tool
      }
    })
    return { verdict: execFailure ?? verdict, value: { outcome, tool } }
  })
  const tool = run.value.tool
  const argv = httpRequestArgv(tool, target.url, check.timeout, target.connectTo)
  return result(check.name, target.kind, request.vm, run.verdict, {
    where: `pod/${from.namespace}/${pod.name}`,
    command: tool === 'python3' ? `python3 (http.client) GET ${target.url}` : shellJoin(argv),
    tool,
    ...evidenceOf(run.value.outcome),
    ...(target.connectTo !== undefined ? { resolved: target.connectTo } : {}),
    durationMs: rt.now() - request.started,
    attempts: run.attempts
  })
}
