// The Action's `command: drift`: the drift run (src/drift) with the Action's inputs, a log line
// per host, a warning annotation per drifted host, and the tables in the job summary. What a
// workflow does about drift (an issue, a page) is its own step, from the outputs.
import * as core from '@actions/core'
import type { Connection } from '../cluster/connection.ts'
import { drift } from '../drift/run.ts'
import { driftExitCode, type DriftReport } from '../drift/types.ts'
import { driftHeadline, driftLines, driftMarkdown } from '../report/drift.ts'
import { runUrl } from '../report/pullRequest.ts'
import { secretEnv, type ActionDescription } from './description.ts'
import type { ActionSettings } from './inputs.ts'
import { say } from './log.ts'

export interface DriftDone {
  readonly report: DriftReport
  /** 0 no drift, 3 drift, 1 not everything checked, 2 invalid input */
  readonly exitCode: number
  /** the step's failure message when exitCode is not 0 */
  readonly failure: string
}

export async function runDrift(
  settings: ActionSettings,
  loaded: ActionDescription,
  access: () => Promise<Connection>
): Promise<DriftDone> {
  const { description } = loaded
  core.startGroup(
    `drift: comparing ${description.vms.length} VM(s) and the cluster with ${loaded.name}`
  )
  let outcome: Awaited<ReturnType<typeof drift>>
  try {
    outcome = await drift(description, access, {
      owner: settings.owner,
      env: secretEnv(settings, description),
      log: say,
      warn: message => core.warning(message),
      onHost: host =>
        say(`${host.host}: ${host.status === 'unchecked' ? 'not checked' : host.status}`)
    })
  } finally {
    core.endGroup()
  }
  const { report, invalid } = outcome
  for (const line of driftLines(report)) say(line)
  for (const host of report.hosts.filter(h => h.status === 'drift')) {
    const index = description.vms.findIndex(vm => vm.name === host.host)
    const at = loaded.locate(['vms', index])
    const what = host.findings
      .filter(f => f.state === 'drift')
      .map(f => `${f.subject}: ${f.detail}`)
    core.warning(what.join('\n'), {
      title: `mesh-expansion: drift on ${host.host}`,
      ...(loaded.file !== undefined ? { file: loaded.file, startLine: at.line } : {})
    })
  }
  try {
    const url = runUrl(process.env)
    await core.summary
      .addRaw(
        driftMarkdown(report, {
          description: loaded.name,
          ...(url !== undefined ? { runUrl: url } : {})
        }),
        true
      )
      .write()
  } catch (error) {
    core.warning(`the job summary was not written: ${(error as Error).message}`)
  }
  const exitCode = driftExitCode(report, invalid)
  const failure =
    exitCode === 2
      ? `drift: ${report.problems.join('; ')}; nothing was read`
      : `drift: ${driftHeadline(report)}`
  return { report, exitCode, failure }
}
