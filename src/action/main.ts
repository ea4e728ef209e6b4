// The Action's main step: inputs -> description -> command -> outputs, summary and state.
import * as core from '@actions/core'
import { summarize } from '../report/description.ts'
import { connect, type Connection } from '../cluster/connection.ts'
import { apply, cleanup, plan, verify, type EngineOptions } from '../engine/run.ts'
import type { PhaseEvent } from '../engine/runner.ts'
import { failedHosts, readyHosts, stoppedBeforeChange, type RunReport } from '../engine/report.ts'
import { checkLine, hostLine, reportLines } from '../report/terminal.ts'
import { checkTable, hostTable, planLines, vmTable } from '../report/summary.ts'
import { commentBody, pullRequestContext, upsertComment } from '../report/pullRequest.ts'
import { loadActionDescription, secretEnv, type ActionDescription } from './description.ts'
import { maskSecret, readSettings, type ActionSettings } from './inputs.ts'
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
      } else if (!event.ok) core.info(`${event.phase} failed after ${event.durationMs} ms`)
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

async function writeSummary(
  loaded: ActionDescription,
  report: RunReport | undefined
): Promise<void> {
  const summary = core.summary.addHeading('mesh-expansion', 2)
  summary.addRaw(`<p>${summarize(loaded.name, loaded.description)}</p>`, true)
  if (report === undefined) {
    await summary.addTable(vmTable(loaded.description)).write()
    return
  }
  summary.addRaw(`<p><b>${report.command} ${report.ok ? 'succeeded' : 'failed'}</b></p>`, true)
  summary.addList(reportLines(report))
  if (report.hosts.length > 0 || report.skippedHosts.length > 0) {
    summary.addHeading('Hosts', 3).addTable(hostTable(report))
  }
  if (report.checks.length > 0) summary.addHeading('Checks', 3).addTable(checkTable(report))
  const plan = planLines(report)
  if (plan.length > 0) summary.addDetails('Cluster plan', `<pre>${plan.join('\n')}</pre>`)
  await summary.write()
}

async function runCommand(
  settings: ActionSettings,
  loaded: ActionDescription,
  /** the run is about to make its first change: from now on the post step has work to do */
  changing: () => void
): Promise<RunReport> {
  const { description } = loaded
  const groups = phaseGroups()
  // opened by the run's preflight, so a bad kubeconfig is listed with every other problem
  const access = async (): Promise<Connection> => {
    const connection = await connect({
      kubeconfigContent: settings.kubeconfig,
      kubeconfigPath: description.cluster.kubeconfig,
      context: description.cluster.context,
      onSecret: maskSecret,
      log: core.info
    })
    return connection
  }
  const options: EngineOptions = {
    owner: settings.owner,
    env: secretEnv(settings, description),
    log: core.info,
    onPhase: event => {
      if (event.phase === 'cluster' && event.state === 'start') changing()
      groups.onPhase(event)
    },
    warn: message => core.warning(message),
    onSecret: maskSecret,
    onHostResult: result => core.info(hostLine(result)),
    onCheckResult: result => core.info(checkLine(result))
  }
  try {
    const engines = { apply, verify, cleanup, plan }
    const engine = engines[settings.command as keyof typeof engines]
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
      core.info('github-token is set but this run belongs to no pull request: no comment')
      return
    }
    const done = await upsertComment(context, token, commentBody(report, name))
    core.info(`pull request #${context.number}: comment ${done}`)
  } catch (error) {
    core.warning(`could not comment on the pull request: ${(error as Error).message}`)
  }
}

function setOutputs(report: RunReport): void {
  core.setOutput('report', JSON.stringify(report))
  core.setOutput('ready-hosts', JSON.stringify(readyHosts(report)))
  core.setOutput('failed-hosts', JSON.stringify(failedHosts(report)))
  core.setOutput(
    'checks',
    JSON.stringify(
      report.checks.map(c => ({ name: c.name, status: c.status, diagnosis: c.diagnosis ?? null }))
    )
  )
}

export async function runMain(): Promise<void> {
  let succeeded = false
  let created = false
  let settings: ActionSettings | undefined
  try {
    settings = readSettings()
    const loaded = await loadActionDescription(settings)
    if (loaded === undefined) return
    core.info(summarize(loaded.name, loaded.description))
    if (settings.command === 'validate') {
      await writeSummary(loaded, undefined)
      core.setOutput(
        'report',
        JSON.stringify({ command: 'validate', valid: true, file: loaded.name })
      )
      core.setOutput('ready-hosts', '[]')
      core.setOutput('failed-hosts', '[]')
      core.setOutput('checks', '[]')
      succeeded = true
      return
    }
    // Once apply passed its preflight, it may change the cluster and the hosts: post has work.
    const report = await runCommand(settings, loaded, () => {
      created = settings?.command === 'apply'
    })
    for (const line of reportLines(report)) core.info(line)
    setOutputs(report)
    annotate(report, loaded)
    await writeSummary(loaded, report)
    if (settings.githubToken !== undefined) await comment(settings.githubToken, report, loaded.name)
    if (report.ok) succeeded = true
    else core.setFailed(failure(report))
  } catch (error) {
    core.setFailed(error instanceof Error ? error.message : String(error))
  } finally {
    saveState({
      command: settings?.command ?? 'unknown',
      cleanup: settings?.cleanup ?? 'never',
      owner: settings?.owner ?? '',
      succeeded,
      created
    })
  }
}
