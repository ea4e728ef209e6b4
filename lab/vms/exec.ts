// Small process helpers for the lab: run a command to completion with a time limit, and say
// clearly which command failed and why.
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export interface RunOptions {
  input?: string | Buffer
  /** Kill the command after this many milliseconds (default 120 s). */
  timeoutMs?: number
  env?: NodeJS.ProcessEnv
  cwd?: string
}

/** Runs a command and resolves with its exit code and output; never rejects on a non-zero exit. */
export function run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv
  if (file === undefined) throw new Error('run: empty command')
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    const timeoutMs = options.timeoutMs ?? 120_000
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('error', e => {
      clearTimeout(timer)
      reject(new Error(`cannot run ${file}: ${e.message}`))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const stderr = Buffer.concat(err).toString()
      resolve({
        code: code ?? (timedOut ? 124 : 128),
        stdout: Buffer.concat(out).toString(),
        stderr: timedOut
          ? `${stderr}\n(killed after ${timeoutMs} ms)`
          : signal
            ? `${stderr}\n(${signal})`
            : stderr
      })
    })
    child.stdin.on('error', () => {}) // the command may exit before reading its input
    child.stdin.end(options.input ?? '')
  })
}

/** Runs a command and throws with its stderr when it fails. Returns stdout. */
export async function must(argv: string[], options: RunOptions = {}): Promise<string> {
  const r = await run(argv, options)
  if (r.code !== 0) {
    throw new Error(
      `${argv.join(' ')} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`
    )
  }
  return r.stdout
}

export const sleep = (ms: number): Promise<void> => new Promise(r => setTimeout(r, ms))

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function tryLock(lockDir: string): boolean {
  try {
    mkdirSync(lockDir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw e
  }
  writeFileSync(join(lockDir, 'pid'), String(process.pid))
  return true
}

/** A lock directory holding the owner's pid; a lock whose owner died is taken over. */
export async function withLock<T>(
  lockDir: string,
  timeoutMs: number,
  fn: () => Promise<T>
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (tryLock(lockDir)) break
    let owner = NaN
    try {
      owner = Number(readFileSync(join(lockDir, 'pid'), 'utf8'))
    } catch {
      // the owner is between mkdir and writing its pid
    }
    if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) {
      rmSync(lockDir, { recursive: true, force: true })
      continue
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for the lock ${lockDir} (held by pid ${owner})`
      )
    }
    await sleep(500)
  }
  try {
    return await fn()
  } finally {
    rmSync(lockDir, { recursive: true, force: true })
  }
}
