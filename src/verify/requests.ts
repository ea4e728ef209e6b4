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
  if (typeof url !== 'string') return failed(check.name, kindOf(check), vm, url.error)
  const request: Request = {
    check,
    vm,
    target: requestTarget(check, url),
    timeoutMs: (check.timeout + 5) * 1000,
    started
  }
  return check.from.kind === 'vm'
    ? fromVm(rt, request, check.from.name, vms)
    : fromPod(rt, request, check.from)
}

async function fromVm(
  rt: Runtime,
  request: Request,
  from: string,
  vms: Map<string, VmState>
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
  const command = shellJoin(httpRequestArgv(tool, target.url, check.timeout))
  const resolveCommand = `getent hosts ${shellQuote(target.host)}`
  const run = await retry(rt, check.attempts, async () => {
    let resolved: string | null | undefined
    if (isHostName(target.host)) {
      const r = await shell.run(resolveCommand, { user, timeoutMs })
      if (r.code === 0) resolved = r.stdout.trim().split(/\s+/)[0] ?? undefined
      else if (r.code === 2) resolved = null // getent: key not found
    }
    const ctx: RequestContext = {
      ...target,
      from: `vm/${state.vm.name}`,
      ...(resolved !== undefined ? { resolved } : {})
    }
    const outcome: HttpOutcome =
      resolved === null
        ? { failure: { kind: 'dns', message: `getent hosts ${target.host}: not found` } }
        : parseHttpResult(tool, await shell.run(command, { user, timeoutMs }))
    return { verdict: judgeRequest(ctx, outcome), value: { outcome, resolved } }
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
  from: { namespace: string; selector: string }
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
    let outcome: HttpOutcome
    for (;;) {
      const argv = httpRequestArgv(tool, target.url, check.timeout)
      const res = await pods.exec(from.namespace, pod.name, pod.container, argv, timeoutMs)
      if (res.code === -1) {
        // the exec itself failed (API, RBAC, the pod went away): no HTTP evidence at all
        const verdict: Verdict = {
          ok: false,
          diagnosis: `cannot exec in pod ${from.namespace}/${pod.name}: ${res.stderr.trim()} (needs create on pods/exec)`
        }
        const failedExec: HttpOutcome = { failure: { kind: 'other', message: res.stderr.trim() } }
        return { verdict, value: { outcome: failedExec, tool } }
      }
      outcome = parseHttpResult(tool, res)
      // `command -v` found it but it does not run: the next client, for this and later attempts
      if (outcome.failure?.kind !== 'no-client' || tools.length < 2) break
      tools.shift()
      tool = tools[0] ?? tool
    }
    return { verdict: judgeRequest(ctx, outcome), value: { outcome, tool } }
  })
  const tool = run.value.tool
  const argv = httpRequestArgv(tool, target.url, check.timeout)
  return result(check.name, target.kind, request.vm, run.verdict, {
    where: `pod/${from.namespace}/${pod.name}`,
    command: tool === 'python3' ? `python3 (http.client) GET ${target.url}` : shellJoin(argv),
    tool,
    ...evidenceOf(run.value.outcome),
    durationMs: rt.now() - request.started,
    attempts: run.attempts
  })
}
