// The Action's post step: cleans up what main recorded, as the `cleanup` input says.
import * as core from '@actions/core'
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
  core.setFailed('cleanup of created objects is not available in this version yet')
}
