// The checks themselves: built-in per-VM checks (sidecar readiness, istiod connection,
// WorkloadEntry health when the group has a probe) and the description's checks, with bounded
// retries, evidence and a diagnosis. I/O only through the interfaces of types.ts.
import type { Check, Description, Endpoint, Vm, WorkloadGroup } from '../config/index.ts'
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_LABEL } from '../istio/index.ts'
import {
  judgeIstiodConnection,
  judgeReadiness,
  judgeRequest,
  judgeWorkloadEntry,
  type RequestContext,
  type RequestKind,
  type Verdict
} from './diagnose.ts'
import {
  directProbeArgv,
  excerpt,
  HTTP_TOOLS,
  httpRequestArgv,
  parseHttpResult,
  parseProbe,
  parseProbeAll,
  PROBE_TOOLS_SCRIPT,
  probeToolsArgv,
  shellJoin,
  shellQuote,
  unprivilegedUser,
  type HttpOutcome,
  type HttpTool
} from './http.ts'
import type {
  CheckKind,
  CheckResult,
  ConnectedProxy,
  ControlPlane,
  Evidence,
  HostShell,
  PodRef,
  PodShell,
  PolicyClient,
  ShellResult
} from './types.ts'

export const READY_URL = 'http://127.0.0.1:15021/healthz/ready'
export const STRICT_POLICY_NAME = 'mesh-expansion-verify-strict'

export interface VerifyDeps {
  /** A shell on the VM (undefined: the VM could not be reached; its checks fail). */
  host(vm: string): HostShell | undefined
  /** The address the mesh uses for the VM (its `address`, or the one discovered for auto). */
  vmAddress(vm: string): string | undefined
  pods?: PodShell
  controlPlane?: ControlPlane
  /** Needed with strictMtls. */
  policy?: PolicyClient
  /** Apply a STRICT PeerAuthentication in the groups' namespaces during the checks. */
  strictMtls?: boolean
  /** apiVersion of PeerAuthentication (default security.istio.io/v1beta1, served since 1.5). */
  securityApiVersion?: string
  /** Settle time after applying the STRICT policy (default 2000 ms). */
  strictSettleMs?: number
  /** Built-in checks: attempts and seconds per attempt (default 5 and 5). */
  builtin?: { attempts?: number; timeoutSeconds?: number }
  /** Wait between attempts (default 1000 ms, doubling, at most 5000 ms). */
  retryDelayMs?: number
  /** VMs checked at the same time (default 10). */
  parallelism?: number
  sleep?: (ms: number) => Promise<void>
  now?: () => number
  /** Called as each result is known (for progress output). */
  onResult?: (result: CheckResult) => void
}

interface Runtime {
  deps: VerifyDeps
  sleep: (ms: number) => Promise<void>
  now: () => number
  hostTools: Map<string, Promise<HttpTool | null>>
}

function endpointText(e: Endpoint): string {
  return e.kind === 'vm' ? `vm/${e.name}` : `pod/${e.namespace}/${e.selector}`
}

function hostPart(address: string): string {
  return address.includes(':') ? `[${address}]` : address
}

/** The PeerAuthentication applied during the checks with strictMtls. */
export function strictPeerAuthentication(
  namespace: string,
  owner: string,
  apiVersion = 'security.istio.io/v1beta1'
): Record<string, unknown> {
  return {
    apiVersion,
    kind: 'PeerAuthentication',
    metadata: {
      name: STRICT_POLICY_NAME,
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [OWNER_LABEL]: owner }
    },
    spec: { mtls: { mode: 'STRICT' } }
  }
}

/** The WorkloadEntry name of a VM: its own name (manual), or istiod's `<group>-<ip>[-<network>]`. */
export function workloadEntryName(vm: Vm, group: WorkloadGroup, address: string): string {
  if (group.registration === 'manual') return vm.name
  const network = vm.network !== '' ? `-${vm.network}` : ''
  return `${group.name}-${address}${network}`
}

async function retry<T>(
  rt: Runtime,
  attempts: number,
  attempt: () => Promise<{ verdict: Verdict; value: T }>
): Promise<{ verdict: Verdict; value: T; attempts: number }> {
  let delay = rt.deps.retryDelayMs ?? 1000
  let last: { verdict: Verdict; value: T } | undefined
  const count = Math.max(1, attempts)
  for (let i = 1; i <= count; i++) {
    last = await attempt()
    if (last.verdict.ok || i === count) return { ...last, attempts: i }
    await rt.sleep(delay)
    delay = Math.min(delay * 2, 5000)
  }
  // unreachable: the loop returns on its last round
  throw new Error('internal: retry without attempts')
}

function result(
  name: string,
  kind: CheckKind,
  vm: string | undefined,
  verdict: Verdict & { skipped?: boolean },
  evidence: Evidence
): CheckResult {
  const status = verdict.skipped ? 'skip' : verdict.ok ? 'pass' : 'fail'
  const notes = [...(evidence.notes ?? []), ...(verdict.notes ?? [])]
  return {
    name,
    kind,
    ...(vm !== undefined ? { vm } : {}),
    status,
    ok: status !== 'fail',
    evidence: { ...evidence, ...(notes.length > 0 ? { notes } : {}) },
    ...(verdict.diagnosis !== undefined ? { diagnosis: verdict.diagnosis } : {})
  }
}

function skipped(name: string, kind: CheckKind, vm: string | undefined, why: string): CheckResult {
  return {
    name,
    kind,
    ...(vm !== undefined ? { vm } : {}),
    status: 'skip',
    ok: true,
    evidence: { durationMs: 0, attempts: 0 },
    diagnosis: why
  }
}

function failed(
  name: string,
  kind: CheckKind,
  vm: string | undefined,
  diagnosis: string,
  evidence: Partial<Evidence> = {}
): CheckResult {
  return {
    name,
    kind,
    ...(vm !== undefined ? { vm } : {}),
    status: 'fail',
    ok: false,
    evidence: { durationMs: 0, attempts: 1, ...evidence },
    diagnosis
  }
}

function evidenceOf(outcome: HttpOutcome): Partial<Evidence> {
  if (outcome.response) {
    return {
      status: outcome.response.status,
      headers: outcome.response.headers,
      bodyExcerpt: excerpt(outcome.response.body),
      ...(outcome.remoteIp ? { resolved: outcome.remoteIp } : {})
    }
  }
  return {
    ...(outcome.failure ? { error: `${outcome.failure.kind}: ${outcome.failure.message}` } : {}),
    ...(outcome.remoteIp ? { resolved: outcome.remoteIp } : {})
  }
}

function hostTool(rt: Runtime, vm: Vm, shell: HostShell, user: string): Promise<HttpTool | null> {
  const key = `${vm.name}\0${user}`
  let tool = rt.hostTools.get(key)
  if (!tool) {
    // a transport error propagates: the check reports it instead of "no client"
    tool = shell.run(PROBE_TOOLS_SCRIPT, { user, timeoutMs: 15_000 }).then(parseProbe)
    rt.hostTools.set(key, tool)
  }
  return tool
}

/**
 * The HTTP clients a pod has, preferred first: `command -v` through sh, else (no sh) each client
 * tried directly.
 */
export async function podTools(
  pods: PodShell,
  namespace: string,
  pod: PodRef,
  timeoutMs: number
): Promise<HttpTool[]> {
  const probed = await pods.exec(namespace, pod.name, pod.container, probeToolsArgv(), timeoutMs)
  const tools = parseProbeAll(probed)
  if (tools.length > 0) return tools
  if (probed.code === 127 && probed.stdout.trim() === '' && !/not found/.test(probed.stderr)) {
    return [] // sh ran and found none
  }
  const found: HttpTool[] = []
  for (const candidate of HTTP_TOOLS) {
    const direct = await pods.exec(
      namespace,
      pod.name,
      pod.container,
      directProbeArgv(candidate),
      timeoutMs
    )
    if (direct.code === 0) found.push(candidate)
  }
  return found
}

interface VmState {
  vm: Vm
  group: WorkloadGroup
  address: string | undefined
  shell: HostShell | undefined
  hostname?: string
  ready: boolean
  why?: string
}

async function checkReadiness(rt: Runtime, s: VmState): Promise<CheckResult> {
  const name = `vm/${s.vm.name}: sidecar ready`
  if (!s.shell) return failed(name, 'sidecar-ready', s.vm.name, `no connection to ${s.vm.name}`)
  const shell = s.shell
  const attempts = rt.deps.builtin?.attempts ?? 5
  const timeout = rt.deps.builtin?.timeoutSeconds ?? 5
  const started = rt.now()
  const tool = await hostTool(rt, s.vm, shell, s.vm.user)
  if (!tool) {
    return failed(
      name,
      'sidecar-ready',
      s.vm.name,
      `no HTTP client on ${s.vm.name} (looked for curl, wget, python3)`
    )
  }
  const command = shellJoin(httpRequestArgv(tool, READY_URL, timeout))
  const run = await retry(rt, attempts, async () => {
    const res = await shell.run(command, { timeoutMs: (timeout + 5) * 1000 })
    const outcome = parseHttpResult(tool, res)
    const verdict: Verdict = outcome.response?.status === 200 ? { ok: true } : { ok: false }
    return { verdict, value: outcome }
  })
  let verdict = run.verdict
  const notes: string[] = []
  if (!verdict.ok) {
    const state = await shell
      .run('systemctl is-active istio', { timeoutMs: 10_000 })
      .catch((): ShellResult => ({ code: 1, stdout: 'unknown', stderr: '' }))
    const log = await shell
      .run('tail -n 40 /var/log/istio/istio.log', { user: 'root', timeoutMs: 10_000 })
      .catch((): ShellResult => ({ code: 1, stdout: '', stderr: '' }))
    verdict = judgeReadiness({
      vm: s.vm.name,
      outcome: run.value,
      serviceState: state.stdout,
      logTail: log.stdout
    })
    const tail = log.stdout.trim().split('\n').slice(-5).join('\n')
    if (tail !== '') notes.push(`istio.log (last lines):\n${tail}`)
  }
  return result(name, 'sidecar-ready', s.vm.name, verdict, {
    where: `vm/${s.vm.name}`,
    command,
    tool,
    ...evidenceOf(run.value),
    notes,
    durationMs: rt.now() - started,
    attempts: run.attempts
  })
}

async function checkIstiod(rt: Runtime, s: VmState, cp: ControlPlane): Promise<CheckResult> {
  const name = `vm/${s.vm.name}: connected to istiod`
  const started = rt.now()
  const run = await retry(rt, rt.deps.builtin?.attempts ?? 5, async () => {
    const proxies = await cp.connectedProxies()
    if (proxies === null) {
      const verdict: Verdict & { skipped?: boolean } = {
        ok: true,
        skipped: true,
        diagnosis:
          'not checked: istiod does not serve /debug/connections through the API (older control plane, or no istiod Service)'
      }
      return { verdict, value: [] as ConnectedProxy[] }
    }
    const verdict = judgeIstiodConnection({
      vm: s.vm.name,
      address: s.address ?? '',
      ...(s.hostname ? { hostname: s.hostname } : {}),
      namespace: s.group.namespace,
      proxies
    })
    return { verdict, value: proxies }
  }).catch((error: unknown) => ({
    verdict: {
      ok: false,
      diagnosis: `cannot ask istiod for its connections: ${error instanceof Error ? error.message : String(error)}`
    },
    value: [] as ConnectedProxy[],
    attempts: 1
  }))
  return result(name, 'istiod-connection', s.vm.name, run.verdict, {
    where: 'cluster',
    notes: [`istiod lists ${run.value.length} connected proxies`],
    durationMs: rt.now() - started,
    attempts: run.attempts
  })
}

async function checkWorkloadEntry(rt: Runtime, s: VmState, cp: ControlPlane): Promise<CheckResult> {
  const name = `vm/${s.vm.name}: WorkloadEntry healthy`
  const started = rt.now()
  const entry = workloadEntryName(s.vm, s.group, s.address ?? '')
  const run = await retry(rt, rt.deps.builtin?.attempts ?? 5, async () => {
    const health = await cp.workloadEntryHealth(s.group.namespace, entry)
    const verdict = judgeWorkloadEntry({
      vm: s.vm.name,
      namespace: s.group.namespace,
      name: entry,
      health
    })
    // "no condition yet" settles with time: retry it like a failure, report it as a skip
    return { verdict: verdict.skipped ? { ...verdict, ok: false } : verdict, value: verdict }
  })
  return result(name, 'workload-entry-health', s.vm.name, run.value, {
    where: 'cluster',
    durationMs: rt.now() - started,
    attempts: run.attempts
  })
}

function kindOf(check: Check): RequestKind {
  if (check.from.kind === 'vm') return check.to?.kind === 'vm' ? 'host-to-host' : 'host-to-cluster'
  return check.to?.kind === 'vm' ? 'cluster-to-host' : 'pod-to-pod'
}

async function targetUrl(
  rt: Runtime,
  check: Check,
  vms: Map<string, VmState>
): Promise<string | { error: string }> {
  if (check.url !== null) return check.url
  const to = check.to
  if (!to) return { error: 'the check has neither url nor to' }
  if (to.kind === 'vm') {
    const address = vms.get(to.name)?.address
    if (!address) return { error: `the address of vm/${to.name} is not known` }
    return `http://${hostPart(address)}:${check.port ?? 80}${check.path}`
  }
  const pods = rt.deps.pods
  if (!pods) return { error: 'no cluster connection to find the target pod' }
  const pod = await pods.findPod(to.namespace, to.selector)
  if (!pod?.ip) return { error: `no running pod with an IP matches ${endpointText(to)}` }
  return `http://${hostPart(pod.ip)}:${check.port ?? 80}${check.path}`
}

async function runCheck(
  rt: Runtime,
  check: Check,
  vms: Map<string, VmState>
): Promise<CheckResult> {
  const kind = kindOf(check)
  const fromVm = check.from.kind === 'vm' ? check.from.name : undefined
  const vmName = fromVm ?? (check.to?.kind === 'vm' ? check.to.name : undefined)
  for (const e of [check.from, check.to]) {
    if (e?.kind !== 'vm') continue
    const state = vms.get(e.name)
    if (state && !state.ready) {
      return skipped(
        check.name,
        kind,
        vmName,
        `not run: ${state.why ?? `vm/${e.name} is not ready`}`
      )
    }
  }
  const started = rt.now()
  const url = await targetUrl(rt, check, vms)
  if (typeof url !== 'string') return failed(check.name, kind, vmName, url.error)
  const parsed = new URL(url)
  const host = parsed.hostname.replace(/^\[|\]$/g, '')
  const port = Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80))
  const isName = !/^[\d.]+$/.test(host) && !host.includes(':')
  const base: Omit<RequestContext, 'from'> = {
    kind,
    url,
    host,
    port,
    expect: check.expect,
    requireEnvoy: check.from.kind === 'vm' || check.to?.kind === 'vm'
  }
  const timeoutMs = (check.timeout + 5) * 1000

  if (check.from.kind === 'vm') {
    const state = vms.get(check.from.name)
    const shell = state?.shell
    if (!state || !shell)
      return failed(check.name, kind, vmName, `no connection to ${check.from.name}`)
    const user = unprivilegedUser(state.vm.user)
    const tool = await hostTool(rt, state.vm, shell, user)
    if (!tool) {
      return failed(
        check.name,
        kind,
        vmName,
        `no HTTP client on ${state.vm.name} usable by ${user} (looked for curl, wget, python3)`
      )
    }
    const command = shellJoin(httpRequestArgv(tool, url, check.timeout))
    const resolveCommand = `getent hosts ${shellQuote(host)}`
    const run = await retry(rt, check.attempts, async () => {
      let resolved: string | null | undefined
      if (isName) {
        const r = await shell.run(resolveCommand, { user, timeoutMs })
        if (r.code === 0) resolved = r.stdout.trim().split(/\s+/)[0] ?? undefined
        else if (r.code === 2) resolved = null // getent: key not found
      }
      const ctx: RequestContext = {
        ...base,
        from: `vm/${state.vm.name}`,
        ...(resolved !== undefined ? { resolved } : {})
      }
      const outcome: HttpOutcome =
        resolved === null
          ? { failure: { kind: 'dns', message: `getent hosts ${host}: not found` } }
          : parseHttpResult(tool, await shell.run(command, { user, timeoutMs }))
      return { verdict: judgeRequest(ctx, outcome), value: { outcome, resolved } }
    })
    return result(check.name, kind, vmName, run.verdict, {
      where: `vm/${state.vm.name} as ${user}`,
      command,
      tool,
      ...evidenceOf(run.value.outcome),
      ...(run.value.resolved ? { resolved: run.value.resolved } : {}),
      durationMs: rt.now() - started,
      attempts: run.attempts
    })
  }

  const pods = rt.deps.pods
  if (!pods) return failed(check.name, kind, vmName, 'no cluster connection to exec in pods')
  const from = check.from
  const pod = await pods.findPod(from.namespace, from.selector)
  if (!pod) {
    return failed(
      check.name,
      kind,
      vmName,
      `no running pod matches ${from.selector} in namespace ${from.namespace}`
    )
  }
  const tools = await podTools(pods, from.namespace, pod, timeoutMs)
  if (tools.length === 0) {
    return failed(
      check.name,
      kind,
      vmName,
      `pod ${from.namespace}/${pod.name} has no HTTP client (curl, wget, python3)`
    )
  }
  const ctx: RequestContext = {
    ...base,
    from: `pod/${from.namespace}/${pod.name}`,
    ...(kind === 'cluster-to-host'
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
      const argv = httpRequestArgv(tool, url, check.timeout)
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
  const argv = httpRequestArgv(tool, url, check.timeout)
  return result(check.name, kind, vmName, run.verdict, {
    where: `pod/${from.namespace}/${pod.name}`,
    command: tool === 'python3' ? `python3 (http.client) GET ${url}` : shellJoin(argv),
    tool,
    ...evidenceOf(run.value.outcome),
    durationMs: rt.now() - started,
    attempts: run.attempts
  })
}

async function vmChecks(rt: Runtime, s: VmState): Promise<CheckResult[]> {
  const results: CheckResult[] = []
  const emit = (r: CheckResult): void => {
    results.push(r)
    rt.deps.onResult?.(r)
  }
  const ready = await checkReadiness(rt, s).catch((error: unknown) =>
    failed(
      `vm/${s.vm.name}: sidecar ready`,
      'sidecar-ready',
      s.vm.name,
      `cannot run commands on ${s.vm.name}: ${error instanceof Error ? error.message : String(error)}`
    )
  )
  emit(ready)
  s.ready = ready.status === 'pass'
  if (!s.ready) s.why = `the sidecar of vm/${s.vm.name} is not ready`
  if (s.shell && s.ready) {
    const h = await s.shell.run('hostname -s', { timeoutMs: 10_000 }).catch(() => undefined)
    if (h?.code === 0 && h.stdout.trim() !== '') s.hostname = h.stdout.trim()
  }
  const cp = rt.deps.controlPlane
  if (cp) {
    if (!s.ready)
      emit(
        skipped(
          `vm/${s.vm.name}: connected to istiod`,
          'istiod-connection',
          s.vm.name,
          `not run: ${s.why}`
        )
      )
    else emit(await checkIstiod(rt, s, cp))
    if (s.group.probe) {
      if (!s.ready)
        emit(
          skipped(
            `vm/${s.vm.name}: WorkloadEntry healthy`,
            'workload-entry-health',
            s.vm.name,
            `not run: ${s.why}`
          )
        )
      else
        emit(
          await checkWorkloadEntry(rt, s, cp).catch((error: unknown) =>
            failed(
              `vm/${s.vm.name}: WorkloadEntry healthy`,
              'workload-entry-health',
              s.vm.name,
              `cannot read the WorkloadEntry: ${error instanceof Error ? error.message : String(error)}`
            )
          )
        )
    }
  }
  return results
}

async function limited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  return out
}

/**
 * Runs the built-in checks of every VM, then the description's checks. With strictMtls, a
 * STRICT PeerAuthentication is applied in the groups' namespaces first and removed at the end,
 * also when a check throws.
 */
export async function runChecks(
  description: Description,
  deps: VerifyDeps
): Promise<CheckResult[]> {
  const rt: Runtime = {
    deps,
    sleep: deps.sleep ?? (ms => new Promise(resolve => setTimeout(resolve, ms))),
    now: deps.now ?? Date.now,
    hostTools: new Map()
  }
  const groups = new Map(description.workloadGroups.map(g => [g.name, g]))
  const vms = new Map<string, VmState>()
  for (const vm of description.vms) {
    const group = groups.get(vm.group)
    if (!group) continue
    vms.set(vm.name, {
      vm,
      group,
      address: deps.vmAddress(vm.name),
      shell: deps.host(vm.name),
      ready: false
    })
  }
  const results: CheckResult[] = []
  const namespaces = [...new Set(description.workloadGroups.map(g => g.namespace))]
  const applied: string[] = []
  const strictStarted = rt.now()
  let strictError: string | undefined
  try {
    if (deps.strictMtls) {
      if (!deps.policy) strictError = 'strictMtls needs a cluster connection'
      else {
        for (const ns of namespaces) {
          try {
            await deps.policy.applyPeerAuthentication(
              strictPeerAuthentication(ns, description.settings.owner, deps.securityApiVersion)
            )
            applied.push(ns)
          } catch (error) {
            strictError = `cannot apply PeerAuthentication ${ns}/${STRICT_POLICY_NAME}: ${error instanceof Error ? error.message : String(error)}`
            break
          }
        }
        if (applied.length > 0) await rt.sleep(deps.strictSettleMs ?? 2000)
      }
    }
    const perVm = await limited([...vms.values()], deps.parallelism ?? 10, s => vmChecks(rt, s))
    results.push(...perVm.flat())
    for (const check of description.checks) {
      const r = await runCheck(rt, check, vms).catch((error: unknown) =>
        failed(
          check.name,
          kindOf(check),
          undefined,
          `the check could not run: ${error instanceof Error ? error.message : String(error)}`
        )
      )
      results.push(r)
      deps.onResult?.(r)
    }
  } finally {
    if (deps.strictMtls) {
      const removeErrors: string[] = []
      for (const ns of applied) {
        await deps.policy
          ?.deletePeerAuthentication(ns, STRICT_POLICY_NAME)
          .catch((error: unknown) =>
            removeErrors.push(
              `cannot remove PeerAuthentication ${ns}/${STRICT_POLICY_NAME} (remove it by hand): ${error instanceof Error ? error.message : String(error)}`
            )
          )
      }
      const problems = [strictError, ...removeErrors].filter((p): p is string => p !== undefined)
      const r: CheckResult = {
        name: 'STRICT mTLS during the checks',
        kind: 'strict-mtls',
        status: problems.length > 0 ? 'fail' : 'pass',
        ok: problems.length === 0,
        evidence: {
          where: 'cluster',
          notes: [
            `PeerAuthentication ${STRICT_POLICY_NAME} (mode STRICT) applied in ${applied.join(', ') || 'no namespace'} and removed afterwards`
          ],
          durationMs: rt.now() - strictStarted,
          attempts: 1
        },
        ...(problems.length > 0 ? { diagnosis: problems.join('; ') } : {})
      }
      results.push(r)
      deps.onResult?.(r)
    }
  }
  return results
}
