// The Action's main step: inputs -> description -> command -> outputs, summary and state.
// Every exit path (bad inputs, an invalid description, an exception, cancellation) still sets
// the outputs and saves the state post needs. Text from outside reaches the log only through
// `say` (one line, never a workflow command) and the summary only HTML-escaped.
import * as core from '@actions/core'
import type { KubeConfig } from '@kubernetes/client-node'
import { summarize } from '../report/description.ts'
import type { Connection } from '../cluster/connection.ts'
import type { EngineOptions } from '../engine/run.ts'
import type { PhaseEvent, PhaseName } from '../engine/runner.ts'
import {
  emptyReport,
  failedHosts,
  readyHosts,
  stoppedBeforeChange,
  type RunReport
} from '../engine/report.ts'
import { escapeHtml } from '../report/escape.ts'
import { checkLine, hostLine, reportLines } from '../report/terminal.ts'
import { vmTable } from '../report/summary.ts'
import { summaryMarkdown } from '../report/jobSummary.ts'
import { commentBody, pullRequestContext, runUrl, upsertComment } from '../report/pullRequest.ts'
import { loadActionDescription, secretEnv, type ActionDescription } from './description.ts'
import { InputError, maskSecret, readSettings, type ActionSettings } from './inputs.ts'
import { startStep, type StepLifecycle } from './lifecycle.ts'
import { say } from './log.ts'
import { saveState } from './state.ts'

/** Each phase of the run is a log group of its own, opened and closed by the phase's events. */
export function phaseGroups(): { onPhase: (event: PhaseEvent) => void; end: () => void } {
  let open = false
  const end = (): void => {
    if (open) core.endGroup()
    open = false
  }
  return {
    onPhase(event) {
      end()
      if (event.state === 'start') {
        core.startGroup(`${event.phase}: ${event.title}`)
        open = true
      } else if (!event.ok) say(`${event.phase} failed after ${event.durationMs} ms`)
    },
    end
  }
}

/** The step's one failure line: the phase that stopped the run, or the first problem. */
function failure(report: RunReport): string {
  if (stoppedBeforeChange(report)) {
    return `${report.command} stopped in ${report.failedPhase} with ${report.problems.length} problem(s); nothing was changed on the cluster or any host`
  }
  return `${report.command} failed: ${report.problems[0] ?? 'see the summary'}`
}

/** Failed hosts and checks are annotated at the description's line of that VM or check; the
 * problems of a phase that stopped the run, each on its own. */
function annotate(report: RunReport, loaded: ActionDescription): void {
  const { description, locate, file } = loaded
  if (report.failedPhase !== null) {
    for (const problem of report.problems)
      core.error(problem, { title: `mesh-expansion: ${report.failedPhase}` })
  }
  for (const host of report.hosts.filter(h => h.status === 'failed')) {
    const index = description.vms.findIndex(vm => vm.name === host.host)
    const at = locate(['vms', index])
    core.error(`${host.host}: ${host.error?.phase ?? ''}: ${host.error?.message ?? 'failed'}`, {
      title: `mesh-expansion: host ${host.host} failed`,
      file,
      startLine: at.line
    })
  }
  for (const check of report.checks.filter(c => c.status === 'fail')) {
    const index = description.checks.findIndex(c => c.name === check.name)
    const at = index >= 0 ? locate(['checks', index]) : locate(['vms'])
    core.error(`${check.name}: ${check.diagnosis ?? 'failed'}`, {
      title: `mesh-expansion: check failed`,
      file,
      startLine: at.line
    })
  }
}

/**
 * The job summary. Writing it is reporting, not the run: where it cannot be written (no
 * GITHUB_STEP_SUMMARY outside a runner, a full disk) the step warns and keeps its result.
 */
async function writeSummary(
  loaded: ActionDescription,
  report: RunReport | undefined
): Promise<void> {
  try {
    await renderSummary(loaded, report)
  } catch (error) {
    core.warning(`the job summary was not written: ${(error as Error).message}`)
  }
}

async function renderSummary(
  loaded: ActionDescription,
  report: RunReport | undefined
): Promise<void> {
  if (report === undefined) {
    const summary = core.summary.addHeading('mesh-expansion', 2)
    summary.addRaw(`<p>${escapeHtml(summarize(loaded.name, loaded.description))}</p>`, true)
    await summary.addTable(vmTable(loaded.description)).write()
    return
  }
  // pure: the report in, Markdown with HTML blocks and Mermaid pictures out
  const url = runUrl(process.env)
  const markdown = summaryMarkdown(report, {
    description: loaded.name,
    covers: summarize(loaded.name, loaded.description),
    ...(url !== undefined ? { runUrl: url } : {})
  })
  await core.summary.addRaw(markdown, true).write()
}

/**
 * A kubeconfig may run a program on the runner (an `exec` credential plugin) or skip the API
 * server's certificate check: allowed, and said loudly, once, as a warning annotation.
 */
export function kubeconfigRisks(kubeConfig: KubeConfig): string[] {
  const risks: string[] = []
  const exec = kubeConfig.getCurrentUser()?.exec as { command?: unknown } | undefined
  if (exec !== undefined && exec !== null) {
    const command = typeof exec.command === 'string' ? ` "${exec.command}"` : ''
    risks.push(`runs the credential plugin${command} on the runner (an exec plugin)`)
  }
  if (kubeConfig.getCurrentCluster()?.skipTLSVerify === true) {
    risks.push(
      "does not verify the API server's certificate (insecure-skip-tls-verify): anyone on the path can read the token"
    )
  }
  return risks
}

/** Opens the cluster from the inputs; the kubeconfig's risks are warned about once. */
function clusterAccess(
  settings: ActionSettings,
  loaded: ActionDescription,
  step: StepLifecycle
): () => Promise<Connection> {
  const { description } = loaded
  let warned = false
  return async () => {
    const { connect } = await import('../cluster/connection.ts')
    const connection = step.track(
      await connect({
        kubeconfigContent: settings.kubeconfig,
        kubeconfigPath: description.cluster.kubeconfig,
        context: description.cluster.context,
        onSecret: maskSecret,
        log: say
      })
    )
    const risks = kubeconfigRisks(connection.kubeConfig)
    if (risks.length > 0 && !warned) {
      warned = true
      core.warning(`the kubeconfig ${risks.join('; and it ')}`, {
        title: 'mesh-expansion: the kubeconfig is risky'
      })
    }
    return connection
  }
}

async function runCommand(
  settings: ActionSettings,
  loaded: ActionDescription,
  step: StepLifecycle,
  /** each phase as it starts: the first change is the cluster phase of apply */
  phase: (name: PhaseName) => void
): Promise<RunReport> {
  const { description } = loaded
  // loaded here, not at start-up: `validate` needs neither the Kubernetes client nor SSH
  const engines = await import('../engine/run.ts')
  const groups = phaseGroups()
  // opened by the run's preflight, so a bad kubeconfig is listed with every other problem
  const access = clusterAccess(settings, loaded, step)
  const options: EngineOptions = {
    owner: settings.owner,
    env: secretEnv(settings, description),
    log: say,
    onPhase: event => {
      if (event.state === 'start') phase(event.phase)
      groups.onPhase(event)
    },
    warn: message => core.warning(message),
    onSecret: maskSecret,
    onHostResult: result => say(hostLine(result)),
    onCheckResult: result => say(checkLine(result))
  }
  try {
    const commands = {
      apply: engines.apply,
      verify: engines.verify,
      cleanup: engines.cleanup,
      plan: engines.plan
    }
    const engine = commands[settings.command as keyof typeof commands]
    return await engine(description, access, options)
  } finally {
    groups.end()
  }
}

/** On a pull request, the result as a comment updated in place; a failure here only warns. */
async function comment(token: string, report: RunReport, name: string): Promise<void> {
  try {
    const context = await pullRequestContext(process.env)
    if (context === undefined) {
      say('github-token is set but this run belongs to no pull request: no comment')
      return
    }
    const body = commentBody(report, name, runUrl(process.env))
    const done = await upsertComment(context, token, body, { log: say })
    say(`pull request #${context.number}: comment ${done}`)
  } catch (error) {
    core.warning(`could not comment on the pull request: ${(error as Error).message}`)
  }
}

/** The four outputs, from a report or from what an early stop knows. */
function setOutputs(
  report: object,
  ready: string[],
  failed: string[],
  checks: unknown[],
  drifted: readonly string[] = []
): void {
  core.setOutput('report', JSON.stringify(report))
  core.setOutput('ready-hosts', JSON.stringify(ready))
  core.setOutput('failed-hosts', JSON.stringify(failed))
  core.setOutput('checks', JSON.stringify(checks))
  core.setOutput('drifted-hosts', JSON.stringify(drifted))
}

function reportOutputs(report: RunReport): void {
  setOutputs(
    report,
    readyHosts(report),
    failedHosts(report),
    report.checks.map(c => ({ name: c.name, status: c.status, diagnosis: c.diagnosis ?? null }))
  )
}

/**
 * The report of a run that stopped before its engine could give one: ok false, the problems,
 * and the phase it stopped in (`inputs` when the inputs or the description were wrong).
 */
export function earlyReport(
  command: string,
  owner: string,
  problems: string[],
  failedPhase: PhaseName | null,
  invalid: boolean
): object {
  return {
    ...emptyReport('apply', owner),
    command,
    problems,
    failedPhase,
    invalid,
    ...(command === 'validate' ? { valid: false } : {})
  }
}

/** The command as given, for a report written before the inputs could be read. */
const givenCommand = (): string => core.getInput('command') || 'apply'

export async function runMain(): Promise<void> {
  let succeeded = false
  let created = false
  let outputs = false
  let settings: ActionSettings | undefined
  let current: PhaseName | null = null
  // bad input, found before any change: the step exits 2, as the CLI does (any non-zero fails it)
  let invalidInput = false
  // drift: 3 when drift was found (core.setFailed alone exits 1)
  let exitCode: number | undefined
  const state = (): void =>
    saveState({
      command: settings?.command ?? givenCommand(),
      cleanup: settings?.cleanup ?? 'never',
      owner: settings?.owner ?? '',
      succeeded,
      created
    })
  /** what every early exit writes: the outputs a later step reads, never missing */
  const stopped = (problems: string[], phase: PhaseName | null, invalid: boolean): void => {
    if (invalid) invalidInput = true
    if (outputs) return
    outputs = true
    const report = earlyReport(
      settings?.command ?? givenCommand(),
      settings?.owner ?? '',
      problems,
      phase,
      invalid
    )
    setOutputs(report, [], [], [])
  }
  const step = startStep(signal => {
    const message = `${settings?.command ?? givenCommand()} cancelled (${signal})${current ? ` in ${current}` : ''}`
    stopped([message], current, false)
    state()
    core.setFailed(
      `${message}; ${created ? `the post step cleans up as "cleanup: ${settings?.cleanup ?? 'never'}" says` : 'nothing was changed'}`
    )
  })
  try {
    settings = readSettings()
    const loaded = await loadActionDescription(settings)
    if (loaded === undefined) {
      const name = 'text' in settings.config ? settings.config.fileName : settings.config.path
      stopped(
        [`the description ${name} is invalid: each error is annotated at its line`],
        'inputs',
        true
      )
      return
    }
    say(summarize(loaded.name, loaded.description))
    if (settings.command === 'validate') {
      await writeSummary(loaded, undefined)
      outputs = true
      setOutputs({ command: 'validate', valid: true, file: loaded.name }, [], [], [])
      succeeded = true
      return
    }
    if (settings.command === 'drift') {
      const { runDrift } = await import('./drift.ts')
      const done = await runDrift(settings, loaded, clusterAccess(settings, loaded, step))
      outputs = true
      setOutputs(done.report, [], [], [], done.report.driftedHosts)
      if (done.exitCode === 0) succeeded = true
      else {
        invalidInput = done.exitCode === 2
        core.setFailed(done.failure)
        exitCode = done.exitCode
      }
      return
    }
    const command = settings.command
    const report = await runCommand(settings, loaded, step, name => {
      current = name
      // Once apply passed its preflight, it may change the cluster and the hosts: post has work,
      // and knows it even if this step is killed.
      if (name === 'cluster' && command === 'apply' && !created) {
        created = true
        state()
      }
    })
    for (const line of reportLines(report)) say(line)
    outputs = true
    reportOutputs(report)
    annotate(report, loaded)
    await writeSummary(loaded, report)
    if (settings.githubToken !== undefined) await comment(settings.githubToken, report, loaded.name)
    if (report.ok) succeeded = true
    else {
      invalidInput = report.invalid
      core.setFailed(failure(report))
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    // a wrong input (unreadable config-file, a bad value) is the user's, found before any change
    const invalid = settings === undefined || error instanceof InputError
    stopped([message], invalid ? 'inputs' : current, invalid)
    core.setFailed(message)
  } finally {
    state()
    await step.release()
    if (invalidInput) process.exitCode = 2
    else if (exitCode !== undefined) process.exitCode = exitCode
  }
}
