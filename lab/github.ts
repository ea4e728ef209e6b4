// Runs the committed bundle exactly as the runner does: INPUT_* variables, and the
// GITHUB_OUTPUT, GITHUB_STATE and GITHUB_STEP_SUMMARY files; post gets STATE_* variables.
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('..', import.meta.url))

export interface ActionRun {
  code: number
  stdout: string
  stderr: string
  outputs: Record<string, string>
  state: Record<string, string>
  summary: string
}

/** Parses the runner's file-command format: `name<<DELIM\nvalue\nDELIM` or `name=value`. */
export function parseFileCommands(text: string): Record<string, string> {
  const result: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? ''
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line)
    if (heredoc) {
      const [, name = '', delimiter] = heredoc
      const value: string[] = []
      for (i++; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i] ?? '')
      result[name] = value.join('\n')
    } else if (line.includes('=')) {
      result[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1)
    }
  }
  return result
}

export async function runAction(
  entry: 'main' | 'post',
  options: {
    inputs?: Record<string, string>
    state?: Record<string, string>
    env?: Record<string, string>
    cwd?: string
    timeoutMs?: number
  } = {}
): Promise<ActionRun> {
  const dir = await mkdtemp(join(tmpdir(), 'mesh-expansion-action-'))
  try {
    const files = {
      GITHUB_OUTPUT: join(dir, 'output'),
      GITHUB_STATE: join(dir, 'state'),
      GITHUB_STEP_SUMMARY: join(dir, 'summary'),
      GITHUB_ENV: join(dir, 'env'),
      GITHUB_PATH: join(dir, 'path')
    }
    for (const file of Object.values(files)) await writeFile(file, '')
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? dir,
      RUNNER_TEMP: dir,
      GITHUB_ACTIONS: 'true',
      GITHUB_RUN_ID: '4242',
      GITHUB_WORKSPACE: options.cwd ?? repoRoot,
      ...files,
      ...options.env
    }
    // The runner upper-cases input names and keeps hyphens; spaces become underscores.
    for (const [name, value] of Object.entries(options.inputs ?? {})) {
      env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value
    }
    for (const [name, value] of Object.entries(options.state ?? {})) env[`STATE_${name}`] = value

    const child = spawn(process.execPath, [join(repoRoot, 'dist', `${entry}.js`)], {
      cwd: options.cwd ?? repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', chunk => (stdout += chunk))
    child.stderr.on('data', chunk => (stderr += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000)
    const code = await new Promise<number>(resolve => child.on('close', c => resolve(c ?? -1)))
    clearTimeout(timer)
    return {
      code,
      stdout,
      stderr,
      outputs: parseFileCommands(await readFile(files.GITHUB_OUTPUT, 'utf8')),
      state: parseFileCommands(await readFile(files.GITHUB_STATE, 'utf8')),
      summary: await readFile(files.GITHUB_STEP_SUMMARY, 'utf8')
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
