// The description the Action works on: read, validated (errors annotated at their line), and
// merged with the inputs that override its settings.
import * as core from '@actions/core'
import { isAbsolute, join } from 'node:path'
import {
  DESCRIPTION_MAX_BYTES,
  InputFileError,
  checkInlineSize,
  formatError,
  parseDescription,
  readInputFile,
  shownName,
  type Description,
  type Locate
} from '../config/index.ts'
import { InputError, inputDefaults, type ActionSettings } from './inputs.ts'

export interface ActionDescription {
  name: string
  /** the file the annotations point at; undefined when the description came as text */
  file: string | undefined
  description: Description
  locate: Locate
}

/** The same limits as the CLI's: a size bound, and for a file, a regular file checked unopened. */
function readText(settings: ActionSettings): { text: string; name: string } {
  const limits = { what: 'the description', maxBytes: DESCRIPTION_MAX_BYTES }
  try {
    if ('text' in settings.config) {
      checkInlineSize(settings.config.text, limits)
      return { text: settings.config.text, name: settings.config.fileName }
    }
    const { path } = settings.config
    const workspace = process.env.GITHUB_WORKSPACE ?? process.cwd()
    const text = readInputFile(isAbsolute(path) ? path : join(workspace, path), {
      ...limits,
      shown: path
    })
    return { text, name: path }
  } catch (error) {
    if (!(error instanceof InputFileError)) throw error
    const input = 'text' in settings.config ? 'config' : 'config-file'
    const name = 'path' in settings.config ? ` ${shownName(settings.config.path)}` : ''
    throw new InputError(`input "${input}": cannot read the description${name}: ${error.reason}`)
  }
}

/**
 * Inputs override the description's settings when set to something other than their default
 * (the runner always passes defaults, so a default cannot be told from an explicit value).
 */
function withInputs(description: Description, settings: ActionSettings): Description {
  const changed = (name: string, value: string): boolean => value !== inputDefaults[name]
  const own = description.settings
  return {
    ...description,
    settings: {
      ...own,
      parallelism: changed('parallelism', String(settings.parallelism))
        ? settings.parallelism
        : own.parallelism,
      tokenDuration: changed('token-duration', String(settings.tokenDurationSeconds))
        ? settings.tokenDurationSeconds
        : own.tokenDuration,
      failFast: settings.failFast || own.failFast,
      maxFailures: settings.maxFailures > 0 ? settings.maxFailures : own.maxFailures,
      shard: settings.shard ?? own.shard,
      owner: settings.owner
    }
  }
}

/** Reads and validates; on errors annotates each at its line and returns undefined. */
export async function loadActionDescription(
  settings: ActionSettings
): Promise<ActionDescription | undefined> {
  const { text, name } = readText(settings)
  const result = parseDescription(text, name)
  const file = 'path' in settings.config ? settings.config.path : undefined
  if (!result.ok) {
    for (const error of result.errors) {
      core.error(formatError(error), {
        title: 'Invalid mesh-expansion description',
        file,
        startLine: error.line,
        startColumn: error.column
      })
    }
    core.setFailed(
      `the description ${shownName(name)} has ${result.errors.length} error(s); nothing was changed`
    )
    return undefined
  }
  return {
    name,
    file,
    description: withInputs(result.description, settings),
    locate: result.locate
  }
}

/** The environment the engine reads the SSH secrets from: the inputs under the names the description gives. */
export function secretEnv(
  settings: ActionSettings,
  description: Description
): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env }
  const { ssh } = description
  if (settings.sshPrivateKey !== undefined) env[ssh.privateKeyEnv] = settings.sshPrivateKey
  if (settings.knownHosts !== undefined) env[ssh.knownHostsEnv] = settings.knownHosts
  if (settings.sshPassphrase !== undefined && ssh.passphraseEnv !== null)
    env[ssh.passphraseEnv] = settings.sshPassphrase
  return env
}
