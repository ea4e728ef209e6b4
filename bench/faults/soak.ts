// The soak (issue 17; `sudo npm run faults -- --soak [--cycles N]`): apply → verify → cleanup on
// 3 lab VMs, N times (default 50), with the product's engine in a runner process of its own
// (./soakRunner.ts), each command opening and closing its own cluster connection as the CLI does. Figures are taken
// before the first cycle and at two points of some cycles (after verify: installed; after
// cleanup: clean): per VM the iptables rules and chains, the files under the sidecar's paths,
// processes, systemd units, packages and the lines of the files the install script edits; on the
// runner its open descriptors, active handles, child processes, temporary files and memory; in
// the cluster every API object and istiod's connected proxies. Growth from the first sample to
// the last at the same point is a failure (./growth.ts). Bounded: every cycle has a limit, the
// soak a deadline after which no cycle starts.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { LabEnvironment } from '../../lab/environment.ts'
import { LAB_APP_PORT, LAB_SIDECAR_PACKAGE } from '../../lab/environment.ts'
import type { LabVm } from '../../lab/vms/index.ts'
import { runInVm } from '../../lab/vms/index.ts'
import { parseDescription } from '../../src/config/index.ts'
import type { RunReport } from '../../src/engine/report.ts'
import { sleep, within } from './framework.ts'
import {
  RUNNER_MARK,
  type RunnerCommand,
  type RunnerReply,
  type RunnerRequest
} from './soakRunner.ts'
import {
  compareFigures,
  count,
  growthLines,
  values,
  type Comparison,
  type Figures
} from './growth.ts'

export const SOAK_OWNER = 'soak'
const NAMESPACE = 'soak'
const GROUP = 'soak-vm'

/**
 * Where the install script and the sidecar package write (src/host/install.sh: certificates,
 * the token and its tmpfiles.d line, mesh config, the state directory, dnsmasq, logs; the
 * package's units, agent and dpkg records; the pushed copy and temporaries), read with find.
 */
export const SIDECAR_PATHS = [
  '/etc/certs',
  '/etc/istio',
  '/var/lib/istio',
  '/run/secrets',
  '/var/lib/mesh-expansion',
  '/var/log/istio',
  '/etc/tmpfiles.d',
  '/etc/dnsmasq.d',
  '/etc/systemd/system',
  '/lib/systemd/system',
  '/usr/local/bin',
  '/var/lib/dpkg/info',
  '/var/cache/apt/archives',
  '/var/tmp',
  '/tmp',
  '/run/mesh-expansion.lock'
] as const

/** The files the install script edits in place (blocks, users of the package): their lines. */
const EDITED_FILES = [
  '/etc/hosts',
  '/etc/resolv.conf',
  '/etc/dhcp/dhclient.conf',
  '/etc/passwd',
  '/etc/group'
] as const

/** One shell call per VM; sections start with `## name`. Its own processes are left out. */
const VM_FIGURES = [
  "echo '## iptables'",
  // counters are not part of a rule
  // rules, and chains of anyone's making: a built-in chain (`:INPUT ACCEPT`) is the kernel's table
  // showing once something used it, not a rule; its counters are not part of it either
  "{ iptables-save 2>/dev/null; ip6tables-save 2>/dev/null; } | grep -E '^(-A |:[^ ]+ - )' | sed -E 's/ \\[[0-9]+:[0-9]+\\]$//'",
  "echo '## files'",
  `find ${SIDECAR_PATHS.join(' ')} -xdev 2>/dev/null`,
  "echo '## lines'",
  `for f in ${EDITED_FILES.join(' ')}; do [ -f "$f" ] && sed "s|^|$f: |" "$f"; done`,
  "echo '## processes'",
  "ps -e -o pid=,ppid=,comm= | awk -v me=$$ '$1 != me && $2 != me {print $3}'",
  "echo '## units'",
  "systemctl list-units --all --no-legend --plain --full 2>/dev/null | awk '{print $1}'",
  "echo '## packages'",
  "dpkg-query -W -f '${Package} ${Status}\\n' 2>/dev/null",
  'true'
].join('; ')

const VM_SECTIONS: Record<string, string> = {
  iptables: 'iptables rules and user chains',
  files: "files under the sidecar's paths",
  lines: 'lines of /etc/hosts, resolv.conf, dhclient.conf, passwd, group',
  processes: 'processes',
  units: 'systemd units',
  packages: 'packages'
}

/** The sections of the VM script's output, each as its lines. */
export function parseSections(out: string): Map<string, string[]> {
  const sections = new Map<string, string[]>()
  let current: string[] | undefined
  for (const line of out.split('\n')) {
    const m = /^## (\w+)$/.exec(line)
    if (m) {
      current = []
      sections.set(m[1] ?? '', current)
    } else if (current && line.trim() !== '') current.push(line)
  }
  return sections
}

async function vmFigures(vm: LabVm): Promise<Figures> {
  const r = await runInVm(vm, VM_FIGURES, { timeoutMs: 60_000 })
  const sections = parseSections(r.stdout)
  const figures: Figures = {}
  for (const [section, label] of Object.entries(VM_SECTIONS)) {
    const lines = sections.get(section)
    if (lines === undefined) throw new Error(`${vm.name}: no ${section} in ${r.stderr}`)
    figures[`${vm.name}: ${label}`] = count(lines)
  }
  return figures
}

function clusterFigures(env: LabEnvironment): Figures {
  const store = env.cluster.store
  const objects = store.types.flatMap(type =>
    store
      .list(type)
      .map(
        o =>
          `${type.plural}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name ?? ''}`
      )
  )
  // the sandbox keeps its last 5,000 change events for watches: lab memory, bounded
  const history = (store as unknown as { history?: unknown[] }).history?.length ?? 0
  return {
    'cluster: API objects': count(objects),
    'lab: sandbox API events kept': { value: history, kind: 'context' },
    'istiod: connected proxies': count(env.istiod.connectedProxies().map(p => p.spiffeId))
  }
}

async function soakFigures(
  env: LabEnvironment,
  vms: readonly LabVm[],
  runner: Runner
): Promise<Figures> {
  const perVm = await Promise.all(vms.map(vmFigures))
  return Object.assign({}, ...perVm, clusterFigures(env), await runner.figures()) as Figures
}

/** The soak's description, as text (its runner parses it as the CLI parses a file). */
export function soakDescription(vms: readonly LabVm[]): string {
  const text = `workloadGroups:
  - name: ${GROUP}
    namespace: ${NAMESPACE}
    labels: {app: ${GROUP}}
    ports: {http: ${LAB_APP_PORT}}
    registration: manual
    service:
      kind: ServiceEntry
      hosts: [${GROUP}.${NAMESPACE}.svc.cluster.local]
    sidecar: {package: ${LAB_SIDECAR_PACKAGE}}
vms:
${vms.map((v, i) => `  - {name: ${GROUP}-${i + 1}, host: ${v.address}}`).join('\n')}
ssh: {user: ${vms[0]?.user ?? 'mesh'}}
checks:
${vms
  .map(
    (_, i) => `  - name: ${GROUP}-${i + 1} to the cluster
    from: vm/${GROUP}-${i + 1}
    url: http://echo.sample.svc.cluster.local/
    expect:
      headers: {server: envoy}`
  )
  .join('\n')}
`
  const parsed = parseDescription(text, 'soak.yaml')
  if (!parsed.ok) throw new Error(parsed.errors.map(e => e.message).join('; '))
  return text
}

interface Runner {
  run(command: RunnerCommand, description: string, verify: boolean): Promise<RunReport>
  figures(): Promise<Figures>
  close(): void
}

/** The runner process (./soakRunner.ts), asked over IPC; a reply with an error rejects. */
function startRunner(env: LabEnvironment): Runner {
  const child: ChildProcess = fork(fileURLToPath(new URL('./soakRunner.ts', import.meta.url)), [], {
    env: { ...process.env, [RUNNER_MARK]: '1' },
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  let next = 0
  const waiting = new Map<
    number,
    { resolve: (r: RunnerReply) => void; reject: (e: Error) => void }
  >()
  child.on('message', (reply: RunnerReply) => {
    waiting.get(reply.id)?.resolve(reply)
    waiting.delete(reply.id)
  })
  child.on('exit', code => {
    for (const w of waiting.values()) w.reject(new Error(`the soak's runner exited (${code})`))
    waiting.clear()
  })
  const ask = (
    request: RunnerRequest extends infer R
      ? R extends { id: number }
        ? Omit<R, 'id'>
        : never
      : never
  ): Promise<RunnerReply> =>
    new Promise((resolve, reject) => {
      const id = ++next
      waiting.set(id, { resolve, reject })
      child.send({ ...request, id } as RunnerRequest)
    })
  const failed = (reply: RunnerReply): never => {
    throw new Error('error' in reply ? reply.error : 'the runner answered something else')
  }
  return {
    async run(command, description, verify) {
      const reply = await ask({
        command,
        description,
        kubeconfigPath: env.kubeconfigPath,
        owner: SOAK_OWNER,
        env: env.secrets,
        verify,
        readyTimeoutSec: 60
      })
      return 'report' in reply ? reply.report : failed(reply)
    },
    async figures() {
      const reply = await ask({ command: 'figures' })
      return 'figures' in reply ? reply.figures : failed(reply)
    },
    close: () => {
      child.disconnect()
      child.kill()
    }
  }
}

export interface SoakOptions {
  cycles: number
  /** no cycle starts after this many ms from the soak's start */
  deadlineMs: number
  /** one cycle's limit (its three commands together) */
  cycleLimitMs: number
  /** figures are taken after cycle 1, every `sampleEvery` cycles and after the last */
  sampleEvery: number
  log: (line: string) => void
}

export interface SoakCycle {
  cycle: number
  ok: boolean
  applyMs: number
  verifyMs: number
  cleanupMs: number
  /** why the cycle failed, one line each */
  problems: string[]
}

export interface SoakSample {
  cycle: number
  point: 'before' | 'installed' | 'clean'
  at: string
  figures: Record<string, number>
}

export interface SoakResult {
  vms: number
  cyclesWanted: number
  cyclesRun: number
  cyclesFailed: number
  cycleLimitSec: number
  deadlineMin: number
  /** cycle durations: mean, min, max (s) */
  cycleSec: { mean: number; min: number; max: number }
  /** why the soak stopped before cyclesWanted, if it did */
  stopped?: string
  cycles: SoakCycle[]
  samples: SoakSample[]
  /** the clean point: before the first cycle against after the last cleanup */
  clean: Comparison[]
  /** the installed point: after the first verify against after the last */
  installed: Comparison[]
  /**
   * memory: after the cleanup of the first sampled cycle in the second half against the last.
   * The allocator's and V8's pools grow for hundreds of connections before they level off (off
   * the lab, the Kubernetes client's connect → list → close: RSS +167 MiB over the first 500,
   * +26 over the next 1,500, 0 between 5,000 and 5,500, with the heap flat): a leak grows on
   * through the second half, warm-up does not. The first half is shown, not judged.
   */
  memory: Comparison[]
  /** the cycle whose figures memory is judged from */
  memoryFromCycle: number
  /** every figure that grew, one line each: must be empty */
  growth: string[]
  ok: boolean
}

function commandProblems(name: string, report: RunReport | undefined, ms: number): string[] {
  if (!report) return [`${name} did not end within its limit (${Math.round(ms / 1000)} s)`]
  const problems = report.problems.map(p => `${name}: ${p}`)
  for (const h of report.hosts)
    if (h.status !== 'ok' || (name === 'apply' && !h.ready))
      problems.push(`${name}: host ${h.host} ${h.status}${h.error ? ` ${h.error.message}` : ''}`)
  for (const c of report.checks ?? [])
    if (c.status !== 'pass') problems.push(`${name}: check ${c.name} ${c.status}`)
  if (!report.ok && problems.length === 0) problems.push(`${name}: not ok`)
  return problems
}

const isMemory = (name: string): boolean => name.includes('(bytes)') || name.startsWith('lab: ')
const pick = (f: Figures, memory: boolean): Figures =>
  Object.fromEntries(Object.entries(f).filter(([k]) => isMemory(k) === memory))

export async function runSoak(env: LabEnvironment, options: SoakOptions): Promise<SoakResult> {
  const started = Date.now()
  const vms = env.vms.slice(0, 3)
  const description = soakDescription(vms)
  const runner = startRunner(env)
  try {
    return await soakCycles(env, vms, description, runner, options, started)
  } finally {
    runner.close()
  }
}

async function soakCycles(
  env: LabEnvironment,
  vms: readonly LabVm[],
  description: string,
  runner: Runner,
  options: SoakOptions,
  started: number
): Promise<SoakResult> {
  const samples: SoakSample[] = []
  const cycles: SoakCycle[] = []
  // idle keep-alive connections close after 4 s (undici's client) and 5 s (node's server, the
  // sandbox API here in this process): a figure is taken once those have gone
  const settle = () => sleep(6_000)
  const sample = async (cycle: number, point: SoakSample['point']): Promise<Figures> => {
    // the sandbox API's request log (the lab's instrument, up to 100,000 entries) lives in this
    // process too: emptied, so the runner's memory is the product's and the lab's serving state
    env.cluster.requestLog.clear()
    await settle()
    const figures = await soakFigures(env, vms, runner)
    samples.push({ cycle, point, at: new Date().toISOString(), figures: values(figures) })
    return figures
  }
  const before = await sample(0, 'before')
  let firstInstalled: Figures | undefined
  let lastInstalled: Figures | undefined
  let warm: Figures | undefined
  const cleanAt = new Map<number, Figures>()
  let lastClean: Figures = before
  let stopped: string | undefined
  for (let cycle = 1; cycle <= options.cycles; cycle++) {
    if (Date.now() - started > options.deadlineMs) {
      stopped = `the deadline (${options.deadlineMs / 60_000} min) passed before cycle ${cycle}`
      break
    }
    const last = cycle === options.cycles
    const sampled = cycle === 1 || cycle % options.sampleEvery === 0 || last
    const cycleStart = Date.now()
    const remaining = () => Math.max(1_000, options.cycleLimitMs - (Date.now() - cycleStart))
    const problems: string[] = []
    const timed = async (
      name: string,
      run: () => Promise<RunReport>
    ): Promise<{ report: RunReport | undefined; ms: number }> => {
      const t = Date.now()
      const limit = remaining()
      const report = await within(run(), limit)
      problems.push(...commandProblems(name, report, limit))
      return { report, ms: Date.now() - t }
    }
    const a = await timed('apply', () => runner.run('apply', description, false))
    const v = await timed('verify', () => runner.run('verify', description, true))
    if (sampled && a.report && v.report) {
      const figures = await sample(cycle, 'installed')
      firstInstalled ??= figures
      lastInstalled = figures
    }
    const c = await timed('cleanup', () => runner.run('cleanup', description, true))
    const record: SoakCycle = {
      cycle,
      ok: problems.length === 0,
      applyMs: a.ms,
      verifyMs: v.ms,
      cleanupMs: c.ms,
      problems: problems.map(p => (p.length > 300 ? `${p.slice(0, 300)}…` : p))
    }
    cycles.push(record)
    options.log(
      `soak cycle ${cycle}: ${record.ok ? 'ok' : `FAILED ${record.problems.join('; ')}`} (apply ${(a.ms / 1000).toFixed(1)} s, verify ${(v.ms / 1000).toFixed(1)} s, cleanup ${(c.ms / 1000).toFixed(1)} s)`
    )
    // a command still running past its limit would overlap the next cycle: stop here
    if (!a.report || !v.report || !c.report) {
      stopped = `cycle ${cycle}: a command did not end within the cycle's limit`
      lastClean = await sample(cycle, 'clean')
      break
    }
    if (sampled) {
      lastClean = await sample(cycle, 'clean')
      cleanAt.set(cycle, lastClean)
      warm ??= lastClean
    }
  }
  if (samples.at(-1)?.point !== 'clean' || samples.at(-1)?.cycle !== cycles.length)
    lastClean = await sample(cycles.length, 'clean')
  const clean = compareFigures(pick(before, false), pick(lastClean, false))
  const installed =
    firstInstalled && lastInstalled
      ? compareFigures(pick(firstInstalled, false), pick(lastInstalled, false))
      : []
  const half = Math.ceil(cycles.length / 2)
  const steady = samples.find(
    s => s.point === 'clean' && s.cycle >= half && s.cycle < cycles.length
  )
  const memoryFrom = steady ? cleanAt.get(steady.cycle) : undefined
  const memory = compareFigures(pick(memoryFrom ?? warm ?? before, true), pick(lastClean, true))
  const durations = cycles.map(c => (c.applyMs + c.verifyMs + c.cleanupMs) / 1000)
  const failed = cycles.filter(c => !c.ok).length
  const growth = [
    ...growthLines(clean, 'after cleanup'),
    ...growthLines(installed, 'after verify'),
    ...growthLines(memory, 'after cleanup')
  ]
  return {
    vms: vms.length,
    cyclesWanted: options.cycles,
    cyclesRun: cycles.length,
    cyclesFailed: failed,
    cycleLimitSec: options.cycleLimitMs / 1000,
    deadlineMin: options.deadlineMs / 60_000,
    cycleSec: {
      mean: durations.length ? durations.reduce((s, d) => s + d, 0) / durations.length : 0,
      min: durations.length ? Math.min(...durations) : 0,
      max: durations.length ? Math.max(...durations) : 0
    },
    ...(stopped ? { stopped } : {}),
    cycles,
    samples,
    clean,
    installed,
    memory,
    memoryFromCycle: memoryFrom && steady ? steady.cycle : warm ? 1 : 0,
    growth,
    ok: growth.length === 0 && failed === 0 && cycles.length === options.cycles
  }
}
