// Runs the committed bundle exactly as the runner does: INPUT_* variables, and the
// GITHUB_OUTPUT, GITHUB_STATE and GITHUB_STEP_SUMMARY files; post gets STATE_* variables.
//
// It also shows the log as the runner does, and guards it: `::add-mask::` lines are consumed
// (never shown) and every masked value, from then on, is shown as `***` (a multi-line value line
// by line too); `::stop-commands::` suspends commands until its token comes back. Whatever secret
// the stand-in knows (the secret inputs, each long line of the private key, the kubeconfig's
// token, password and client key, any JWT such as a bootstrap token, and those a test adds) that
// is still readable in the shown stdout or stderr, the job summary, an output, the state or what
// the run published (a pull-request comment) fails the run with a SecretLeak.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

export const repoRoot = fileURLToPath(new URL('..', import.meta.url))

export interface ActionRun {
  code: number
  /** stdout as the runner shows it: add-mask lines consumed, masked values as *** */
  stdout: string
  /** stderr as the runner shows it */
  stderr: string
  outputs: Record<string, string>
  state: Record<string, string>
  summary: string
  /** the values the step registered with ::add-mask::, in order */
  masks: string[]
}

/** A secret the runner stand-in knows was readable where a user can read it. */
export class SecretLeak extends Error {
  override name = 'SecretLeak'
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

/** Service-account and bootstrap tokens: any JWT readable by a user is a leak. */
const JWT = /eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}/

/** Key lines shorter than this are not secrets on their own (`-----END…`, a short last line). */
const KEY_LINE = 8

/** The kubeconfig's secret values: each user's token, password, client key, provider tokens. */
export function kubeconfigSecrets(text: string): Record<string, string> {
  const found: Record<string, string> = {}
  const keys = [
    'token',
    'password',
    'client-key-data',
    'access-token',
    'id-token',
    'refresh-token',
    'client-secret'
  ]
  try {
    const doc = parse(text) as { users?: Array<{ name?: string; user?: Record<string, unknown> }> }
    for (const [i, entry] of (doc?.users ?? []).entries()) {
      const user = entry?.user ?? {}
      const provider =
        (user['auth-provider'] as { config?: Record<string, unknown> } | undefined)?.config ?? {}
      for (const key of keys) {
        for (const value of [user[key], provider[key]])
          if (typeof value === 'string' && value !== '')
            found[`kubeconfig users[${i}] ${key}`] = value
      }
    }
  } catch {
    // not YAML (a test of a broken kubeconfig): its secret-looking lines, by key
  }
  for (const [, key = '', value = ''] of text.matchAll(
    /^\s*([\w-]+):\s*["']?([^\s"']+)["']?\s*$/gm
  )) {
    if (keys.includes(key) && !Object.values(found).includes(value))
      found[`kubeconfig ${key}`] = value
  }
  return found
}

/** Every secret the stand-in knows from a step's inputs, by a name that does not reveal it. */
export function inputSecrets(inputs: Record<string, string>): Record<string, string> {
  const secrets: Record<string, string> = {}
  for (const name of ['ssh-private-key', 'ssh-passphrase', 'github-token', 'kubeconfig']) {
    const value = inputs[name]
    if (value !== undefined && value.trim() !== '') secrets[`input ${name}`] = value
  }
  ;(inputs['ssh-private-key'] ?? '').split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim()
    if (trimmed.length >= KEY_LINE && !trimmed.startsWith('-----'))
      secrets[`private key line ${i + 1}`] = trimmed
  })
  Object.assign(secrets, kubeconfigSecrets(inputs.kubeconfig ?? ''))
  return secrets
}

/** Throws SecretLeak when a known secret or a JWT is readable in any of the texts. */
export function assertNoSecrets(
  texts: Record<string, string>,
  secrets: Record<string, string>
): void {
  for (const [where, text] of Object.entries(texts)) {
    for (const [what, secret] of Object.entries(secrets)) {
      if (secret.length < 3 || !text.includes(secret)) continue
      const line = text.slice(0, text.indexOf(secret)).split('\n').length
      throw new SecretLeak(`the ${what} is readable in ${where}, line ${line}`)
    }
    const jwt = JWT.exec(text)
    if (jwt) {
      const line = text.slice(0, jwt.index).split('\n').length
      throw new SecretLeak(
        `a JWT (a service-account or bootstrap token) is readable in ${where}, line ${line}`
      )
    }
  }
}

/** `::add-mask::` data as core escapes it (escapeData). */
const unescapeData = (data: string): string =>
  data.replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%25/g, '%')

/** The runner's log processing: commands read, add-mask consumed, masks applied to what follows. */
class RunnerLog {
  readonly masks: string[] = []
  private readonly values: string[] = []
  private stopToken: string | undefined

  addMask(value: string): void {
    this.masks.push(value)
    // a multi-line value is masked as a whole and line by line
    for (const part of [value, ...value.split(/\r?\n/).map(line => line.trim())]) {
      if (part !== '' && !this.values.includes(part)) this.values.push(part)
    }
    this.values.sort((a, b) => b.length - a.length)
  }

  /** The line as shown, or undefined when the runner consumes it. */
  line(line: string): string | undefined {
    const command = /^\s*::([\w-]+)(?:\s[^:]*)?::(.*)$/.exec(line)
    if (this.stopToken !== undefined) {
      if (line.trim() === `::${this.stopToken}::`) this.stopToken = undefined
    } else if (command?.[1] === 'add-mask') {
      this.addMask(unescapeData(command[2] ?? ''))
      return undefined
    } else if (command?.[1] === 'stop-commands') {
      this.stopToken = command[2]
    }
    let shown = line
    for (const value of this.values) shown = shown.split(value).join('***')
    return shown
  }
}

/** A stream's shown text, line by line as the data arrives. */
function showing(log: RunnerLog): { push(chunk: string): void; end(): string } {
  let shown = ''
  let partial = ''
  const emit = (line: string): void => {
    const text = log.line(line)
    if (text !== undefined) shown += `${text}\n`
  }
  return {
    push(chunk) {
      const lines = (partial + chunk).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) emit(line)
    },
    end() {
      if (partial !== '') emit(partial)
      partial = ''
      return shown
    }
  }
}

export async function runAction(
  entry: 'main' | 'post',
  options: {
    inputs?: Record<string, string>
    state?: Record<string, string>
    env?: Record<string, string>
    cwd?: string
    timeoutMs?: number
    /** more secrets the stand-in must never see, by name */
    secrets?: Record<string, string>
    /** what the run published elsewhere, read after it ends (pull-request comment bodies) */
    published?: () => Record<string, string>
    /** a script run instead of dist/<entry>.js (the stand-in's own tests) */
    script?: string
    /** given the process once it started, and its shown stdout so far (to signal it mid-run) */
    control?: (child: ChildProcess, stdout: () => string) => void
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

    const script = options.script ?? join(repoRoot, 'dist', `${entry}.js`)
    const child = spawn(process.execPath, [script], {
      cwd: options.cwd ?? repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const log = new RunnerLog()
    const out = showing(log)
    const err = showing(log)
    let stdoutSoFar = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out.push(chunk)
      stdoutSoFar += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => err.push(chunk))
    options.control?.(child, () => stdoutSoFar)
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000)
    const code = await new Promise<number>(resolve => child.on('close', c => resolve(c ?? -1)))
    clearTimeout(timer)
    const run: ActionRun = {
      code,
      stdout: out.end(),
      stderr: err.end(),
      outputs: parseFileCommands(await readFile(files.GITHUB_OUTPUT, 'utf8')),
      state: parseFileCommands(await readFile(files.GITHUB_STATE, 'utf8')),
      summary: await readFile(files.GITHUB_STEP_SUMMARY, 'utf8'),
      masks: log.masks
    }
    const secrets = { ...inputSecrets(options.inputs ?? {}), ...options.secrets }
    assertNoSecrets(
      {
        stdout: run.stdout,
        stderr: run.stderr,
        'the job summary': run.summary,
        ...Object.fromEntries(Object.entries(run.outputs).map(([k, v]) => [`output ${k}`, v])),
        ...Object.fromEntries(Object.entries(run.state).map(([k, v]) => [`state ${k}`, v])),
        ...options.published?.()
      },
      secrets
    )
    return run
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
