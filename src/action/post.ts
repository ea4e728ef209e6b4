// The Action's post step: cleans up what main created, as the `cleanup` input says.
import * as core from '@actions/core'
import { connect } from '../cluster/connection.ts'
import { cleanup } from '../engine/run.ts'
import { hostLine, reportLines } from '../report/terminal.ts'
import { loadActionDescription, secretEnv } from './description.ts'
import { maskSecret, readSettings } from './inputs.ts'
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
  try {
    // The runner passes the step's inputs to post again: the same description and secrets.
    const settings = { ...readSettings(), owner: state.owner }
    const loaded = await loadActionDescription(settings)
    if (loaded === undefined) return
    const connection = await connect({
      kubeconfigContent: settings.kubeconfig,
      kubeconfigPath: loaded.description.cluster.kubeconfig,
      context: loaded.description.cluster.context,
      onSecret: maskSecret,
      log: core.info
    })
    try {
      const report = await cleanup(loaded.description, connection, {
        owner: state.owner,
        env: secretEnv(settings, loaded.description),
        log: core.info,
        warn: message => core.warning(message),
        onSecret: maskSecret,
        onHostResult: result => core.info(hostLine(result))
      })
      for (const line of reportLines(report)) core.info(line)
      if (!report.ok) core.setFailed(`cleanup failed: ${report.problems[0] ?? ''}`)
    } finally {
      await connection.close()
    }
  } catch (error) {
    core.setFailed(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`)
  }
}
