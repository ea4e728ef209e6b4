// All of the Action's inputs become one typed settings object here, and nowhere else.
import * as core from '@actions/core'

export const commands = ['validate', 'plan', 'apply', 'verify', 'cleanup', 'drift'] as const
export type ActionCommand = (typeof commands)[number]

export const cleanupModes = ['always', 'on-failure', 'never'] as const
export type CleanupMode = (typeof cleanupModes)[number]

export interface ActionSettings {
  command: ActionCommand
  /** The description as text, and the name errors should point at. */
  config: { text: string; fileName: string } | { path: string }
  kubeconfig?: string
  sshPrivateKey?: string
  sshPassphrase?: string
  knownHosts?: string
  parallelism: number
  shard?: { index: number; count: number }
  tokenDurationSeconds: number
  cleanup: CleanupMode
  failFast: boolean
  maxFailures: number
  owner: string
  githubToken?: string
}

/** A wrong input: the message names the input and what would be valid. */
export class InputError extends Error {
  override name = 'InputError'
}

type ReadInput = (name: string) => string

/** The defaults of action.yml, applied here too so the bundle runs the same outside GitHub. */
export const inputDefaults: Readonly<Record<string, string>> = {
  command: 'apply',
  parallelism: '10',
  'token-duration': '3600',
  cleanup: 'never',
  'fail-fast': 'false',
  'max-failures': '0'
}

function oneOf<T extends string>(read: ReadInput, name: string, allowed: readonly T[]): T {
  const value = read(name)
  if ((allowed as readonly string[]).includes(value)) return value as T
  throw new InputError(`input "${name}": "${value}" is not one of ${allowed.join(', ')}`)
}

function integer(read: ReadInput, name: string, min: number, max: number): number {
  const text = read(name)
  const value = Number(text)
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new InputError(`input "${name}": "${text}" is not a whole number from ${min} to ${max}`)
  }
  return value
}

function boolean(read: ReadInput, name: string): boolean {
  const text = read(name).toLowerCase()
  if (text === 'true') return true
  if (text === 'false' || text === '') return false
  throw new InputError(`input "${name}": "${text}" is not true or false`)
}

function optional(read: ReadInput, name: string): string | undefined {
  const value = read(name)
  return value === '' ? undefined : value
}

export function parseShard(text: string): { index: number; count: number } {
  const match = /^(\d+)\/(\d+)$/.exec(text)
  const index = Number(match?.[1])
  const count = Number(match?.[2])
  if (!match || count < 1 || index < 1 || index > count) {
    throw new InputError(`input "shard": "${text}" is not i/n with 1 <= i <= n (for example 2/5)`)
  }
  return { index, count }
}

/**
 * Reads every input. Secrets are masked before anything else can print them.
 * `read` defaults to the runner's inputs; tests pass their own.
 */
export function readSettings(
  readRaw: ReadInput = name => core.getInput(name),
  env: NodeJS.ProcessEnv = process.env
): ActionSettings {
  const read: ReadInput = name => readRaw(name) || (inputDefaults[name] ?? '')
  const secrets = ['kubeconfig', 'ssh-private-key', 'ssh-passphrase', 'github-token']
  for (const name of secrets) maskSecret(read(name))

  const text = optional(read, 'config')
  const path = optional(read, 'config-file')
  if ((text === undefined) === (path === undefined)) {
    throw new InputError(
      'set exactly one of the inputs "config" (YAML text) and "config-file" (a path)'
    )
  }
  const shard = optional(read, 'shard')
  return {
    command: oneOf(read, 'command', commands),
    config: text !== undefined ? { text, fileName: 'config' } : { path: path as string },
    kubeconfig: optional(read, 'kubeconfig'),
    sshPrivateKey: optional(read, 'ssh-private-key'),
    sshPassphrase: optional(read, 'ssh-passphrase'),
    knownHosts: optional(read, 'known-hosts'),
    parallelism: integer(read, 'parallelism', 1, 1000),
    shard: shard === undefined ? undefined : parseShard(shard),
    tokenDurationSeconds: integer(read, 'token-duration', 600, 4294967295),
    cleanup: oneOf(read, 'cleanup', cleanupModes),
    failFast: boolean(read, 'fail-fast'),
    maxFailures: integer(read, 'max-failures', 0, 100000),
    owner: optional(read, 'owner') ?? `run-${env.GITHUB_RUN_ID ?? 'local'}`,
    githubToken: optional(read, 'github-token')
  }
}

/** Keys whose values are secrets whatever their length (kubeconfig users, auth providers). */
const SECRET_KEYS =
  /^(token|password|passphrase|secret|client-key-data|client-secret|id-token|refresh-token|access-token)$/i

/** Below this length a value is not masked on its own: the runner would hide it everywhere. */
const SHORTEST_SECRET_VALUE = 3

/**
 * Masks a secret, and the parts of its lines too: a PEM key or a kubeconfig may be printed line
 * by line (a YAML error quotes a line). Long single words are masked; so is the value of a
 * secret key (`password: abc`, `token: …`) from 3 characters on. Other short lines (`users:`,
 * `- name: admin`) are not masked: the runner would then hide those words in every later line.
 */
export function maskSecret(value: string): void {
  if (value.trim() === '') return
  // A multi-line value as a whole matches no line of the log, and a runner that masks it line
  // by line would hide `users:` or `cluster:` everywhere: its secret parts are masked instead.
  if (!/[\r\n]/.test(value.trim())) core.setSecret(value)
  for (const line of value.split(/\r?\n/)) {
    const trimmed = line.trim()
    const pair = /^-?\s*["']?([\w.-]+)["']?\s*:\s+(.+)$/.exec(trimmed)
    const [, key = '', raw = ''] = pair ?? []
    const unquoted = raw.replace(/^(["'])(.*)\1$/, '$2')
    if (pair && SECRET_KEYS.test(key) && unquoted.length >= SHORTEST_SECRET_VALUE) {
      core.setSecret(unquoted)
      if (raw !== unquoted) core.setSecret(raw)
    } else if (pair && /^\S{16,}$/.test(unquoted)) core.setSecret(unquoted)
    else if (trimmed.length >= 16 && !/\s/.test(trimmed)) core.setSecret(trimmed)
  }
}
