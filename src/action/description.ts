// The description the Action works on: read, validated (errors annotated at their line), and
// merged with the inputs that override its settings.
import * as core from '@actions/core'
import { readFile } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { formatError, parseDescription, type Description, type Locate } from '../config/index.ts'
import { InputError, inputDefaults, type ActionSettings } from './inputs.ts'

export interface ActionDescription {
  name: string
  /** the file the annotations point at; undefined when the description came as text */
  file: string | undefined
  description: Description
  locate: Locate
}

async function readText(settings: ActionSettings): Promise<{ text: string; name: string }> {
  if ('text' in settings.config)
    return { text: settings.config.text, name: settings.config.fileName }
  const workspace = process.env.GITHUB_WORKSPACE ?? process.cwd()
  const path = isAbsolute(settings.config.path)
    ? settings.config.path
    : join(workspace, settings.config.path)
  try {
    return { text: await readFile(path, 'utf8'), name: settings.config.path }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error)
    throw new InputError(`input "config-file": cannot read ${settings.config.path}: ${code}`)
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
  const { text, name } = await readText(settings)
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
      `the description ${name} has ${result.errors.length} error(s); nothing was changed`
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
