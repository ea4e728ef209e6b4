// The Action's main step: inputs -> description -> command -> outputs, summary and state.
import * as core from '@actions/core'
import { readFile } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { formatError, parseDescription, type ConfigError } from '../config/index.ts'
import { summarize } from '../commands/validate.ts'
import { InputError, readSettings, type ActionSettings } from './inputs.ts'
import { saveState } from './state.ts'
import { vmTable } from './summary.ts'

/** Points an error annotation at the description's line, when the description is a file. */
function annotate(error: ConfigError, settings: ActionSettings): void {
  const file = 'path' in settings.config ? settings.config.path : undefined
  core.error(formatError(error), {
    title: 'Invalid mesh-expansion description',
    file,
    startLine: error.line,
    startColumn: error.column
  })
}

async function readDescriptionText(
  settings: ActionSettings
): Promise<{ text: string; name: string }> {
  if ('text' in settings.config)
    return { text: settings.config.text, name: settings.config.fileName }
  const workspace = process.env.GITHUB_WORKSPACE ?? process.cwd()
  const path = isAbsolute(settings.config.path)
    ? settings.config.path
    : join(workspace, settings.config.path)
  try {
    return { text: await readFile(path, 'utf8'), name: settings.config.path }
  } catch (error) {
    throw new InputError(
      `input "config-file": cannot read ${settings.config.path}: ${(error as NodeJS.ErrnoException).code ?? error}`
    )
  }
}

export async function runMain(): Promise<void> {
  let succeeded = false
  let settings: ActionSettings | undefined
  try {
    settings = readSettings()
    const { text, name } = await readDescriptionText(settings)
    const result = parseDescription(text, name)
    if (!result.ok) {
      for (const error of result.errors) annotate(error, settings)
      core.setFailed(
        `the description ${name} has ${result.errors.length} error(s); nothing was changed`
      )
      return
    }
    const { description } = result
    core.info(summarize(name, description))
    await core.summary
      .addHeading('mesh-expansion', 2)
      .addRaw(`<p>${summarize(name, description)}</p>`, true)
      .addTable(vmTable(description))
      .write()

    if (settings.command !== 'validate') {
      // Only validation is built so far; say so instead of pretending to onboard.
      core.setFailed(
        `command "${settings.command}" is not available in this version yet; only "validate" is. Nothing was changed.`
      )
      return
    }
    core.setOutput('report', JSON.stringify({ command: 'validate', valid: true, file: name }))
    core.setOutput('ready-hosts', '[]')
    core.setOutput('failed-hosts', '[]')
    core.setOutput('checks', '[]')
    succeeded = true
  } catch (error) {
    core.setFailed(error instanceof Error ? error.message : String(error))
  } finally {
    saveState({
      command: settings?.command ?? 'unknown',
      cleanup: settings?.cleanup ?? 'never',
      owner: settings?.owner ?? '',
      succeeded,
      created: false
    })
  }
}
