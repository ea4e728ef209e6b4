// The Action's post step: cleans up what main created, as the `cleanup` input says.
import * as core from '@actions/core'
import { hostLine, reportLines } from '../report/terminal.ts'
import { loadActionDescription, secretEnv } from './description.ts'
import { maskSecret, readSettings } from './inputs.ts'
import { startStep } from './lifecycle.ts'
import { say } from './log.ts'
import { loadState } from './state.ts'

export async function runPost(): Promise<void> {
  const state = loadState()
  if (state === undefined) {
    core.info('mesh-expansion: main recorded no state; nothing to clean up.')
    return
  }
  const wanted = state.cleanup === 'always' || (state.cleanup === 'on-failure' && !state.succeeded)
  if (!wanted) {
    core.info(`mesh-expansion: cleanup is "${state.cleanup}"; leaving everything in place.`)
    return
  }
  if (!state.created) {
    core.info('mesh-expansion: this run created nothing; nothing to clean up.')
    return
  }
  // cancelled too, the temporary kubeconfig goes; whatever is left, a later cleanup by owner finds
  const step = startStep(signal => core.setFailed(`cleanup cancelled (${signal})`))
  try {
    // The runner passes the step's inputs to post again: the same description and secrets.
    const settings = { ...readSettings(), owner: state.owner }
    const loaded = await loadActionDescription(settings)
    if (loaded === undefined) return
    // loaded only when there is something to clean up
    const [{ connect }, { cleanup }] = await Promise.all([
      import('../cluster/connection.ts'),
      import('../engine/run.ts')
    ])
    const connection = step.track(
      await connect({
        kubeconfigContent: settings.kubeconfig,
        kubeconfigPath: loaded.description.cluster.kubeconfig,
        context: loaded.description.cluster.context,
        onSecret: maskSecret,
        log: say
      })
    )
    const report = await cleanup(loaded.description, connection, {
      owner: state.owner,
      env: secretEnv(settings, loaded.description),
      log: say,
      warn: message => core.warning(message),
      onSecret: maskSecret,
      onHostResult: result => say(hostLine(result))
    })
    for (const line of reportLines(report)) say(line)
    if (!report.ok) core.setFailed(`cleanup failed: ${report.problems[0] ?? ''}`)
  } catch (error) {
    core.setFailed(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`)
  } finally {
    await step.release()
  }
}
