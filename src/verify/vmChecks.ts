// The built-in checks of every VM: its sidecar answers ready, istiod lists it as connected, and
// (when the group has a probe) its WorkloadEntry is Healthy. The last two run only once the
// sidecar is ready.
import { workloadEntryName } from '../istio/index.ts'
import { errorMessage } from '../util/errors.ts'
import {
  judgeIstiodConnection,
  judgeReadiness,
  judgeWorkloadEntry,
  type Verdict
} from './diagnose.ts'
import { httpRequestArgv, parseHttpResult, shellJoin } from './http.ts'
import { evidenceOf, failed, result, skipped } from './results.ts'
import { retry, type Runtime, type VmState } from './runtime.ts'
import { hostTool } from './tools.ts'
import type { CheckKind, CheckResult, ConnectedProxy, ControlPlane, ShellResult } from './types.ts'

export const READY_URL = 'http://127.0.0.1:15021/healthz/ready'

const BUILTIN_CHECKS = {
  'sidecar-ready': 'sidecar ready',
  'istiod-connection': 'connected to istiod',
  'workload-entry-health': 'WorkloadEntry healthy'
} as const satisfies Partial<Record<CheckKind, string>>

type BuiltinKind = keyof typeof BUILTIN_CHECKS

function checkName(s: VmState, kind: BuiltinKind): string {
  return `vm/${s.vm.name}: ${BUILTIN_CHECKS[kind]}`
}

function attempts(rt: Runtime): number {
  return rt.deps.builtin?.attempts ?? 5
}

async function checkReadiness(rt: Runtime, s: VmState): Promise<CheckResult> {
  const name = checkName(s, 'sidecar-ready')
  if (!s.shell) return failed(name, 'sidecar-ready', s.vm.name, `no connection to ${s.vm.name}`)
  const shell = s.shell
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
  const run = await retry(rt, attempts(rt), async () => {
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
  const started = rt.now()
  const run = await retry(rt, attempts(rt), async () => {
    const proxies = await cp.connectedProxies()
    if (proxies === null || !Array.isArray(proxies)) {
      const verdict: Verdict & { skipped?: boolean } = {
        ok: true,
        skipped: true,
        diagnosis:
          proxies === null
            ? 'not checked: istiod does not serve /debug/connections through the API (older control plane, or no istiod Service)'
            : `cannot tell: ${proxies.cannotTell}`
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
    // no answer from istiod says nothing about the VM: a skip, not a failure
    verdict: {
      ok: true,
      skipped: true,
      diagnosis: `cannot tell: cannot ask istiod for its connections: ${errorMessage(error)}`
    } as Verdict & { skipped?: boolean },
    value: [] as ConnectedProxy[],
    attempts: 1
  }))
  return result(checkName(s, 'istiod-connection'), 'istiod-connection', s.vm.name, run.verdict, {
    where: 'cluster',
    notes: [`istiod lists ${run.value.length} connected proxies`],
    durationMs: rt.now() - started,
    attempts: run.attempts
  })
}

async function checkWorkloadEntry(rt: Runtime, s: VmState, cp: ControlPlane): Promise<CheckResult> {
  const started = rt.now()
  const entry = workloadEntryName(s.vm, s.group, s.address ?? '')
  const run = await retry(rt, attempts(rt), async () => {
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
  const name = checkName(s, 'workload-entry-health')
  return result(name, 'workload-entry-health', s.vm.name, run.value, {
    where: 'cluster',
    durationMs: rt.now() - started,
    attempts: run.attempts
  })
}

/** A built-in check whose throw is its failure: `cannot` tells what could not be done. */
function guarded(
  s: VmState,
  kind: BuiltinKind,
  cannot: string,
  check: () => Promise<CheckResult>
): Promise<CheckResult> {
  return check().catch((error: unknown) =>
    failed(checkName(s, kind), kind, s.vm.name, `${cannot}: ${errorMessage(error)}`)
  )
}

/** The built-in checks of one VM, in order; `s` learns whether the VM is ready. */
export async function vmChecks(rt: Runtime, s: VmState): Promise<CheckResult[]> {
  const results: CheckResult[] = []
  const emit = (r: CheckResult): void => {
    results.push(r)
    rt.deps.onResult?.(r)
  }
  const ready = await guarded(s, 'sidecar-ready', `cannot run commands on ${s.vm.name}`, () =>
    checkReadiness(rt, s)
  )
  emit(ready)
  s.ready = ready.status === 'pass'
  if (!s.ready) s.why = `the sidecar of vm/${s.vm.name} is not ready`
  if (s.shell && s.ready) {
    const h = await s.shell.run('hostname -s', { timeoutMs: 10_000 }).catch(() => undefined)
    if (h?.code === 0 && h.stdout.trim() !== '') s.hostname = h.stdout.trim()
  }
  const cp = rt.deps.controlPlane
  if (!cp) return results
  const followUps: { kind: BuiltinKind; cannot: string; check: () => Promise<CheckResult> }[] = [
    {
      kind: 'istiod-connection',
      cannot: 'cannot ask istiod for its connections',
      check: () => checkIstiod(rt, s, cp)
    }
  ]
  if (s.group.probe) {
    followUps.push({
      kind: 'workload-entry-health',
      cannot: 'cannot read the WorkloadEntry',
      check: () => checkWorkloadEntry(rt, s, cp)
    })
  }
  for (const { kind, cannot, check } of followUps) {
    emit(
      s.ready
        ? await guarded(s, kind, cannot, check)
        : skipped(checkName(s, kind), kind, s.vm.name, `not run: ${s.why}`)
    )
  }
  return results
}
