// What main hands to post: one small typed record in the runner's state file.
import * as core from '@actions/core'

export interface SavedState {
  /** The settings post needs, minus every secret. */
  command: string
  cleanup: string
  owner: string
  /** Whether main finished without failure. */
  succeeded: boolean
  /** Whether main changed anything that cleanup would remove. */
  created: boolean
}

const key = 'mesh-expansion'

export function saveState(state: SavedState): void {
  core.saveState(key, JSON.stringify(state))
}

export function loadState(): SavedState | undefined {
  const text = core.getState(key)
  return text === '' ? undefined : (JSON.parse(text) as SavedState)
}
