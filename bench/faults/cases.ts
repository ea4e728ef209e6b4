// The fault matrix (issue 17): each case injects one fault during a run and takes it away before
// the re-run. Families: the Kubernetes API (the sandbox's fault switch), istiod (its stand-in's
// faults, a restart), SSH (sessions killed mid-phase, traffic dropped inside the VM's namespace,
// sshd stopped), the VM (a crash-looping sidecar, the dpkg lock held, /var/tmp full, a reboot
// mid-install), the runner (dist/main.js killed, the post step after SIGTERM) and concurrency.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FaultRule } from '../../lab/cluster/observe.ts'
import { LAB_SIDECAR_PACKAGE } from '../../lab/environment.ts'
import { runAction, SecretLeak, type ActionRun } from '../../lab/github.ts'
import { startLabIstiod } from '../../lab/mesh/index.ts'
import { GATEWAY_ADDRESS, restartVm, startSshd, stopSshd, type LabVm } from '../../lab/vms/index.ts'
import {
  actionOutcome,
  classifyRun,
  converged,
  sleep,
  type Family,
  type FaultCase,
  type FaultContext,
  type FirstRun,
  type RunOutcome
} from './framework.ts'

// ---- Kubernetes API ---------------------------------------------------------------------------

interface ApiTarget {
  name: string
  match: FaultRule['match']
  /** the faulted run is a cleanup (deletes) rather than an apply */
  cleanup?: boolean
}

const API_TARGETS: ApiTarget[] = [
  { name: 'reads', match: { verb: 'get' } },
  { name: 'applies', match: { verb: 'patch' } },
  { name: 'TokenRequest', match: { verb: 'create', resource: 'serviceaccounts/token' } },
  { name: 'deletes', match: { verb: 'delete' }, cleanup: true }
]

interface ApiFault {
  name: string
  rule: Omit<FaultRule, 'match'>
}

const API_FAULTS: ApiFault[] = [
  { name: '500', rule: { status: 500, times: 2 } },
  { name: '503', rule: { status: 503, times: 2 } },
  { name: '429 Retry-After 2', rule: { status: 429, retryAfterSeconds: 2, times: 2 } },
  { name: '409', rule: { status: 409, times: 1 } },
  { name: 'connection reset', rule: { drop: true, times: 2 } },
  // the client gives up on one answer after 30 s and retries
  { name: 'no answer', rule: { delayMs: 35_000, drop: true, times: 1 } }
]

/** Persistent faults: the run must fail clearly (and write nothing half). */
const API_PERSISTENT: Array<ApiFault & { target: string }> = [
  { name: '503 (persistent)', target: 'applies', rule: { status: 503 } },
  { name: '500 (persistent)', target: 'reads', rule: { status: 500 } },
  { name: 'connection reset (persistent)', target: 'TokenRequest', rule: { drop: true } },
  { name: '503 (persistent)', target: 'deletes', rule: { status: 503 } }
]

function apiCase(target: ApiTarget, fault: ApiFault): FaultCase {
  const rule: FaultRule = { ...fault.rule, match: target.match }
  const describeRule = `${fault.name} on ${target.name} (${JSON.stringify({ ...fault.rule, match: target.match })})`
  return {
    family: 'kubernetes-api',
    name: `${fault.name} on ${target.name}`,
    fault: describeRule,
    limitMs: 300_000,
    async firstRun(ctx, vms) {
      const faults = ctx.env.cluster.faults
      if (target.cleanup) {
        const setup = await ctx.apply(vms)
        ctx.note(`setup apply: ${setup.lines[0] ?? ''}`)
      }
      const active = faults.add(rule)
      try {
        return target.cleanup ? await ctx.cleanup(vms) : await ctx.apply(vms)
      } finally {
        ctx.note(`the fault acted on ${active.hits} request(s)`)
        active.remove()
      }
    },
    ...(target.cleanup
      ? { rerun: (ctx: FaultContext, vms: readonly LabVm[]) => ctx.cleanup(vms) }
      : {})
  }
}

export function apiCases(): FaultCase[] {
  const cases: FaultCase[] = []
  for (const target of API_TARGETS)
    for (const fault of API_FAULTS) cases.push(apiCase(target, fault))
  for (const p of API_PERSISTENT) {
    const target = API_TARGETS.find(t => t.name === p.target)
    if (target) cases.push(apiCase(target, p))
  }
  // the API down (every request dropped) for 30 s in the middle of registration
  cases.push({
    family: 'kubernetes-api',
    name: 'API down 30 s during registration',
    fault:
      'every request dropped for 30 s from the first TokenRequest on (the WorkloadEntry writes and the hosts phase inside)',
    limitMs: 300_000,
    async firstRun(ctx, vms) {
      const faults = ctx.env.cluster.faults
      let down: ReturnType<typeof faults.add> | undefined
      let timer: NodeJS.Timeout | undefined
      // the first WorkloadEntry write arms the outage: that request and every one for 30 s drop
      const trigger = ctx.env.cluster.requestLog.onEntry(entry => {
        if (down || entry.resource !== 'serviceaccounts/token') return
        down = faults.add({ drop: true })
        ctx.note(`API down at ${new Date().toISOString()}`)
        timer = setTimeout(() => {
          down?.remove()
          ctx.note(`API back after 30 s (${down?.hits ?? 0} requests dropped)`)
        }, 30_000)
      })
      try {
        const out = await ctx.apply(vms, { timeoutMs: 200_000 })
        if (!down) ctx.note('registration was not reached: the outage never began')
        return out
      } finally {
        trigger()
        if (timer) clearTimeout(timer)
        down?.remove()
      }
    }
  })
  return cases
}

// ---- istiod -----------------------------------------------------------------------------------

/** When the VM's istio.service has started (the ready phase is next), or after `ms`. */
async function whenServiceStarts(ctx: FaultContext, vm: LabVm, ms: number): Promise<boolean> {
  return ctx.until(ms, async () => {
    const r = await ctx.inVm(vm, 'systemctl is-active istio', 5_000)
    return r.out.trim() === 'active' || r.out.trim() === 'activating'
  })
}

function istiodDuringReady(
  name: string,
  inject: (ctx: FaultContext) => void,
  fault: string
): FaultCase {
  return {
    family: 'istiod',
    name,
    fault,
    async firstRun(ctx, vms) {
      const vm = vms[0] as LabVm
      const run = ctx.apply(vms)
      if (await whenServiceStarts(ctx, vm, 60_000)) {
        inject(ctx)
        ctx.note(`injected as istio.service started (${new Date().toISOString()})`)
      } else ctx.note('istio.service never started: not injected')
      try {
        return await run
      } finally {
        ctx.note(`istiod counts: ${JSON.stringify(ctx.env.istiod.faults.counts())}`)
        ctx.env.istiod.faults.clear()
      }
    }
  }
}

const ISTIOD_RESTART = 'restarted while VMs are connected'

export function istiodCases(): FaultCase[] {
  return [
    istiodDuringReady(
      'refuses new connections 15 s during ready',
      ctx => ctx.env.istiod.faults.refuseNew(15_000),
      'istiod refuses new connections (nothing listening) for 15 s from the sidecar start'
    ),
    istiodDuringReady(
      'stalls new connections 15 s during ready',
      ctx => ctx.env.istiod.faults.stallNew(15_000),
      'istiod accepts and never answers new connections for 15 s from the sidecar start'
    ),
    istiodDuringReady(
      'unreachable for longer than the ready timeout',
      ctx => ctx.env.istiod.faults.refuseNew(60_000),
      'istiod refuses new connections for 60 s (the ready timeout is 30 s)'
    ),
    istiodDuringReady(
      'refuses the certificate during ready',
      ctx => void ctx.env.istiod.faults.refuseCertificate({}, 'lab fault: CA unavailable'),
      'the CA refuses every CSR until the fault is cleared'
    ),
    {
      family: 'istiod',
      name: ISTIOD_RESTART,
      fault: 'the istiod stand-in closed and started again after a successful apply',
      async firstRun(ctx, vms) {
        const first = await ctx.apply(vms)
        ctx.note(`apply before the restart: ${first.lines[0] ?? ''}`)
        const old = ctx.env.istiod
        const before = old.connectedProxies().length
        await old.close()
        const fresh = await startLabIstiod({ cluster: ctx.env.cluster, host: GATEWAY_ADDRESS })
        ctx.env.istiod = fresh
        ctx.note(`istiod restarted; ${before} stream(s) were open`)
        const spiffe = `/ns/${ctx.namespace}/sa/`
        try {
          await fresh.waitForProxy(p => p.spiffeId.includes(spiffe), 60_000)
          ctx.note('the sidecar reconnected to the new istiod')
          return { ...first, lines: [...first.lines, 'reconnected after the restart'] }
        } catch (error) {
          return { report: undefined, lines: [`no reconnect: ${String(error)}`], timedOut: false }
        }
      },
      classify: (outcome, vms) =>
        outcome.lines.includes('reconnected after the restart')
          ? classifyRun(outcome, vms)
          : 'failed-host'
    }
  ]
}

/**
 * A case whose fault is set up by one command in the VM before the run and taken away by another
 * after it (also when the run throws); what the set-up printed goes to the evidence.
 */
function aroundRun(
  family: Family,
  name: string,
  fault: string,
  inject: string,
  undo: string,
  notePrefix = ''
): FaultCase {
  return {
    family,
    name,
    fault,
    async firstRun(ctx, vms) {
      const vm = vms[0] as LabVm
      const out = (await ctx.inVm(vm, inject)).out.trim()
      if (out !== '') ctx.note(`${notePrefix}${out}`)
      try {
        return await ctx.apply(vms)
      } finally {
        await ctx.inVm(vm, undo)
      }
    }
  }
}

// ---- SSH --------------------------------------------------------------------------------------

/** Kills the product's SSH session processes in the VM (sshd's per-session children), by pid. */
async function killSessions(ctx: FaultContext, vm: LabVm): Promise<string> {
  const r = await ctx.inVm(
    vm,
    `pids=$(ps -eo pid=,args= | awk '$2 ~ /^sshd:/ && $3 ~ /^${vm.user}/ {print $1}'); ` +
      'for p in $pids; do kill -9 "$p" 2>/dev/null; done; echo "killed: $pids"'
  )
  return r.out.trim().replace(/\s+/g, ' ')
}

/** Drops the VM's SSH traffic with the lab's addresses inside its own namespace. */
const DROP_SSH =
  'iptables -I INPUT -p tcp --dport 22 -s 198.18.0.0/15 -j DROP && iptables -I OUTPUT -p tcp --sport 22 -d 198.18.0.0/15 -j DROP'
const UNDROP_SSH =
  'iptables -D INPUT -p tcp --dport 22 -s 198.18.0.0/15 -j DROP; iptables -D OUTPUT -p tcp --sport 22 -d 198.18.0.0/15 -j DROP; true'

function sessionCut(phase: string, trigger: string, fault: string): FaultCase {
  return {
    family: 'ssh',
    name: `session killed during ${phase}`,
    fault,
    async firstRun(ctx, vms) {
      const vm = vms[0] as LabVm
      const run = ctx.apply(vms)
      const seen = await ctx.until(
        60_000,
        async () => (await ctx.inVm(vm, trigger, 5_000)).code === 0
      )
      ctx.note(
        seen ? `${phase}: ${await killSessions(ctx, vm)}` : `${phase} never seen: not injected`
      )
      return run
    }
  }
}

export function sshCases(): FaultCase[] {
  return [
    {
      family: 'ssh',
      name: 'traffic dropped during connect (8 s)',
      fault: 'the VM drops SSH packets for 8 s from the run start',
      async firstRun(ctx, vms) {
        const vm = vms[0] as LabVm
        await ctx.inVm(vm, DROP_SSH)
        const timer = setTimeout(() => void ctx.inVm(vm, UNDROP_SSH), 8_000)
        try {
          return await ctx.apply(vms)
        } finally {
          clearTimeout(timer)
          await ctx.inVm(vm, UNDROP_SSH)
        }
      }
    },
    sessionCut(
      'preflight',
      'ls -d /tmp/mesh-expansion.* >/dev/null 2>&1',
      'sshd session processes killed as soon as the bundle is unpacked on the host'
    ),
    sessionCut(
      'package',
      'pgrep -x dpkg >/dev/null || pgrep -f dpkg-deb >/dev/null',
      'sshd session processes killed while dpkg runs'
    ),
    sessionCut(
      'service',
      'systemctl is-active --quiet istio || systemctl is-enabled --quiet istio',
      'sshd session processes killed as istio.service starts'
    ),
    {
      family: 'ssh',
      name: 'traffic dropped during ready',
      fault: 'the VM drops SSH packets from the sidecar start until the run ends',
      async firstRun(ctx, vms) {
        const vm = vms[0] as LabVm
        const run = ctx.apply(vms)
        const seen = await whenServiceStarts(ctx, vm, 60_000)
        if (seen) await ctx.inVm(vm, DROP_SSH)
        ctx.note(seen ? 'dropping from the sidecar start' : 'istio never started: not injected')
        try {
          return await run
        } finally {
          await ctx.inVm(vm, UNDROP_SSH)
        }
      }
    },
    aroundRun(
      'ssh',
      'host never answers',
      'the VM drops every SSH packet for the whole run',
      DROP_SSH,
      UNDROP_SSH
    ),
    {
      family: 'ssh',
      name: 'sshd dies between two runs',
      fault: 'a successful apply, then sshd stopped, then apply again',
      async firstRun(ctx, vms) {
        const vm = vms[0] as LabVm
        const setup = await ctx.apply(vms)
        ctx.note(`the first apply: ${setup.lines[0] ?? ''}`)
        await stopSshd(vm)
        try {
          return await ctx.apply(vms)
        } finally {
          await startSshd(vm)
        }
      }
    }
  ]
}

// ---- VM ---------------------------------------------------------------------------------------

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 60_000 }, error => (error ? reject(error) : resolve()))
  })
}

/** The lab package with an agent whose proxy exits at once: the service restarts for ever. */
async function crashLoopingPackage(workdir: string): Promise<string> {
  const dir = await mkdtemp(join(workdir, 'crashloop-'))
  const root = join(dir, 'root')
  await run('dpkg-deb', ['-R', LAB_SIDECAR_PACKAGE, root])
  const agent = join(root, 'usr/local/bin/pilot-agent')
  await rename(agent, `${agent}.real`)
  await writeFile(
    agent,
    '#!/bin/sh\n# lab fault: the proxy crashes at once; iptables set-up works\n' +
      'if [ "${1:-}" = proxy ]; then echo "lab fault: the agent exits" >&2; exit 1; fi\n' +
      'exec /usr/local/bin/pilot-agent.real "$@"\n'
  )
  await chmod(agent, 0o755)
  // a version of its own, so the re-run's good package is a different one for dpkg too
  const control = join(root, 'DEBIAN/control')
  await writeFile(
    control,
    (await readFile(control, 'utf8')).replace(/^Version: .*$/m, m => `${m}+crashloop`)
  )
  const deb = join(dir, 'istio-sidecar-crashloop.deb')
  await run('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, deb])
  await rm(root, { recursive: true, force: true })
  return deb
}

const HOLD_DPKG_LOCK = (seconds: number): string =>
  `systemd-run --unit=mx-fault-dpkg-lock --collect python3 -c "
import fcntl, time
fs = [open(p, 'a') for p in ('/var/lib/dpkg/lock-frontend', '/var/lib/dpkg/lock')]
for f in fs: fcntl.lockf(f, fcntl.LOCK_EX)
time.sleep(${seconds})
"`
const RELEASE_DPKG_LOCK = 'systemctl stop mx-fault-dpkg-lock 2>/dev/null; true'

export function vmCases(): FaultCase[] {
  return [
    {
      family: 'vm',
      name: 'sidecar crash-looping',
      fault: 'a package whose agent exits at once (systemd restarts it every 10 s)',
      async firstRun(ctx, vms) {
        const deb = await crashLoopingPackage(ctx.workdir)
        ctx.note(`package ${deb}`)
        return ctx.apply(vms, { sidecarPackage: deb })
      }
    },
    aroundRun(
      'vm',
      'dpkg lock held 20 s',
      'another process holds the dpkg locks for 20 s from the run start',
      HOLD_DPKG_LOCK(20),
      RELEASE_DPKG_LOCK
    ),
    aroundRun(
      'vm',
      'dpkg lock held for the whole run',
      'another process holds the dpkg locks until the run ends',
      HOLD_DPKG_LOCK(600),
      RELEASE_DPKG_LOCK
    ),
    diskFull('/var/tmp', '/var/tmp (where the package is pushed)'),
    diskFull('/var/lib/istio', '/var/lib/istio (where the sidecar files go)', '/var/lib'),
    {
      family: 'vm',
      name: 'reboot during the package install',
      fault: 'the VM powered off and booted again while dpkg runs',
      async firstRun(ctx, vms) {
        const vm = vms[0] as LabVm
        const runP = ctx.apply(vms)
        const seen = await ctx.until(
          60_000,
          async () => (await ctx.inVm(vm, 'pgrep -x dpkg >/dev/null', 5_000)).code === 0
        )
        if (seen) {
          await restartVm(vm)
          ctx.note('rebooted while dpkg ran')
        } else ctx.note('dpkg never seen: not injected')
        return runP
      }
    }
  ]
}

/** A 64 KiB tmpfs, filled, mounted over `dir` for the run. */
function diskFull(dir: string, what: string, named = dir): FaultCase {
  return aroundRun(
    'vm',
    `disk full under ${named}`,
    `a 64 KiB tmpfs mounted over ${what} for the run`,
    `mkdir -p ${dir} && mount -t tmpfs -o size=64k mx-fault-full ${dir} && dd if=/dev/zero of=${dir}/fill bs=4k 2>/dev/null; df -h ${dir} | tail -1`,
    `umount ${dir} 2>/dev/null || umount -l ${dir}; true`,
    'mounted: '
  )
}

// ---- runner -----------------------------------------------------------------------------------

function actionInputs(ctx: FaultContext, vms: readonly LabVm[], more: Record<string, string> = {}) {
  return {
    config: ctx.descriptionText(vms),
    command: 'apply',
    owner: ctx.owner,
    kubeconfig: readFileSync(ctx.env.kubeconfigPath, 'utf8'),
    'ssh-private-key': ctx.env.secrets.SSH_PRIVATE_KEY,
    'known-hosts': ctx.env.secrets.SSH_KNOWN_HOSTS,
    ...more
  }
}

async function action(
  ctx: FaultContext,
  entry: 'main' | 'post',
  options: Parameters<typeof runAction>[1]
): Promise<{ run?: ActionRun; outcome: RunOutcome }> {
  try {
    // the Action's processes use the suite's temporary directory too (what they leave is counted)
    const env = { TMPDIR: tmpdir(), ...options?.env }
    const run = await runAction(entry, { timeoutMs: 150_000, ...options, env })
    return { run, outcome: actionOutcome(run.outputs.report, run.code, run.stdout) }
  } catch (error) {
    if (error instanceof SecretLeak) {
      ctx.note(`secret printed: ${error.message}`)
      return {
        outcome: { report: undefined, lines: [error.message], timedOut: false, secretsPrinted: 1 }
      }
    }
    throw error
  }
}

/** Signals the Action once its hosts phase has begun (the hosts group opened). */
const signalInHosts =
  (signal: NodeJS.Signals, ctx: FaultContext) =>
  (child: import('node:child_process').ChildProcess, stdout: () => string): void => {
    const timer = setInterval(() => {
      if (/::group::hosts/.test(stdout())) {
        clearInterval(timer)
        // a moment into the phase: the host has its bundle
        setTimeout(() => {
          ctx.note(`${signal} sent to dist/main.js in the hosts phase`)
          child.kill(signal)
        }, 1_500)
      }
    }, 50)
    child.once('exit', () => clearInterval(timer))
  }

export function runnerCases(): FaultCase[] {
  return [
    {
      family: 'runner',
      name: 'dist/main.js SIGKILL mid-run, then re-run',
      fault: 'SIGKILL 1.5 s into the hosts phase',
      async firstRun(ctx, vms) {
        const { outcome } = await action(ctx, 'main', {
          inputs: actionInputs(ctx, vms),
          control: signalInHosts('SIGKILL', ctx)
        })
        return outcome
      },
      classify: outcome => (outcome.lines[0] === 'exit 0' ? 'recovered' : 'failed-run'),
      async rerun(ctx, vms) {
        const { outcome } = await action(ctx, 'main', { inputs: actionInputs(ctx, vms) })
        return outcome
      }
    },
    {
      family: 'runner',
      name: 'SIGTERM mid-run, then post with cleanup: always',
      fault: 'SIGTERM 1.5 s into the hosts phase; the post step runs with cleanup: always',
      async firstRun(ctx, vms) {
        const inputs = actionInputs(ctx, vms, { cleanup: 'always' })
        const main = await action(ctx, 'main', { inputs, control: signalInHosts('SIGTERM', ctx) })
        ctx.note(`main: ${main.outcome.lines.slice(0, 3).join(' | ')}`)
        const post = await action(ctx, 'post', { inputs, state: main.run?.state ?? {} })
        ctx.note(`post: ${post.outcome.lines.slice(0, 3).join(' | ')}`)
        const left = [...ctx.env.cluster.store.list('workloadentries', ctx.namespace)].length
        const hostLeft = (
          await ctx.inVm(
            vms[0] as LabVm,
            "dpkg-query -W -f '${Status}' istio-sidecar 2>/dev/null | grep -c 'install ok installed'"
          )
        ).out.trim()
        ctx.note(
          `after post: ${left} WorkloadEntry(s) left, package installed: ${hostLeft === '1'}`
        )
        return {
          ...main.outcome,
          secretsPrinted: (main.outcome.secretsPrinted ?? 0) + (post.outcome.secretsPrinted ?? 0),
          lines: [
            ...main.outcome.lines,
            `post ${post.outcome.lines[0] ?? ''}`,
            `left after post: entries ${left}, package ${hostLeft === '1'}`
          ]
        }
      },
      classify: outcome => (outcome.lines[0] === 'exit 0' ? 'recovered' : 'failed-run'),
      async rerun(ctx, vms) {
        const { outcome } = await action(ctx, 'main', { inputs: actionInputs(ctx, vms) })
        return outcome
      }
    }
  ]
}

// ---- concurrency ------------------------------------------------------------------------------

export function concurrencyCases(): FaultCase[] {
  return [
    {
      family: 'concurrency',
      name: '2 runs with the same owner at once',
      fault: 'two applies of one description (one owner, one VM) started together',
      async firstRun(ctx, vms) {
        const [a, b] = await Promise.all([ctx.apply(vms), ctx.apply(vms)])
        ctx.note(`run A: ${a.lines.join(' | ')}`)
        ctx.note(`run B: ${b.lines.join(' | ')}`)
        const ok = [a, b].filter(o => converged(o, vms)).length
        const clear = [a, b].filter(
          o => !converged(o, vms) && classifyRun(o, vms) !== 'unclear'
        ).length
        return {
          report: (converged(a, vms) ? a : b).report,
          lines: [`${ok} of 2 converged, ${clear} failed clearly`, ...a.lines, ...b.lines],
          timedOut: a.timedOut || b.timedOut,
          secretsPrinted: 0
        }
      },
      classify: outcome => {
        const m = /^(\d) of 2 converged, (\d) failed clearly/.exec(outcome.lines[0] ?? '')
        if (!m) return 'unclear'
        if (m[1] === '2') return 'recovered'
        return Number(m[1]) + Number(m[2]) === 2 ? 'failed-run' : 'unclear'
      }
    },
    {
      family: 'concurrency',
      name: '4 runs with different owners at once',
      fault: 'four applies, four owners, four VMs, one cluster, started together',
      vms: 4,
      limitMs: 360_000,
      async firstRun(ctx, vms) {
        const subs = vms.map((_, i) => ctx.sub(`-${'abcd'[i]}`))
        const outcomes = await Promise.all(subs.map((s, i) => s.apply([vms[i] as LabVm])))
        outcomes.forEach((o, i) => ctx.note(`owner ${subs[i]?.owner}: ${o.lines.join(' | ')}`))
        const ok = outcomes.filter((o, i) => converged(o, [vms[i] as LabVm])).length
        // each owner's cleanup, then nothing of theirs may remain
        for (const [i, s] of subs.entries()) {
          const c = await s.cleanup([vms[i] as LabVm])
          ctx.note(`cleanup ${s.owner}: ${c.lines[0] ?? ''}`)
        }
        const left = subs.flatMap(s =>
          ['namespaces', 'workloadgroups', 'workloadentries', 'serviceaccounts'].flatMap(r =>
            ctx.env.cluster.store
              .list(r)
              .filter(o => o.metadata?.labels?.['mesh-expansion.io/owner'] === s.owner)
              .map(o => `${o.kind}/${o.metadata?.name}`)
          )
        )
        ctx.note(
          `left by the four owners after their cleanups: ${left.length === 0 ? 'nothing' : left.join(', ')}`
        )
        await sleep(0)
        return {
          report: outcomes.every((o, i) => converged(o, [vms[i] as LabVm]))
            ? outcomes[0]?.report
            : undefined,
          lines: [`${ok} of 4 converged`, ...outcomes.flatMap(o => o.lines.slice(0, 2))],
          timedOut: outcomes.some(o => o.timedOut),
          secretsPrinted: 0
        }
      },
      classify: (outcome): FirstRun =>
        outcome.lines[0] === '4 of 4 converged'
          ? 'recovered'
          : outcome.timedOut
            ? 'unclear'
            : 'failed-host'
    }
  ]
}

export function allCases(): FaultCase[] {
  const istiod = istiodCases()
  const restart = istiod.filter(c => c.name === ISTIOD_RESTART)
  return [
    ...apiCases(),
    ...istiod.filter(c => c.name !== ISTIOD_RESTART),
    ...sshCases(),
    ...vmCases(),
    ...runnerCases(),
    ...concurrencyCases(),
    // last: the restarted istiod replaces the environment's, and the sandbox's
    // /debug/connections (what the Action's checks read) still asks the closed one
    ...restart
  ]
}

/** The smoke subset (npm test): quick and telling. */
export function smokeCases(): FaultCase[] {
  const api = apiCases().find(c => c.name === '503 on applies')
  const stall = istiodCases().find(c => c.name.startsWith('stalls new connections'))
  return [api, stall].filter((c): c is FaultCase => c !== undefined)
}
