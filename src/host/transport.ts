// One interface for every way of reaching a host: SSH (ssh.ts) or the runner itself (local.ts).
// The onboarding code only sees this, so it is tested the same way against both.
import type { Readable, Writable } from 'node:stream'

export interface ExecOptions {
  /** Sent on the command's stdin, then closed. */
  stdin?: Readable | Buffer | string
  /** The command is killed (signal, channel closed) after this many milliseconds. */
  timeoutMs: number
  onStdout?: (chunk: Buffer) => void
  onStderr?: (chunk: Buffer) => void
}

export interface ExecResult {
  /** Exit code; -1 when the command ended by a signal or the timeout. */
  code: number
  signal: string | null
  stdout: string
  stderr: string
  timedOut: boolean
}

export interface TransportStats {
  /** SSH handshakes made (a jump host counts as one more); 0 for the local transport. */
  connections: number
  /** Exec and SFTP channels opened on the target (processes spawned, locally). */
  channels: number
  /** Bytes written to stdin and pushed as files. */
  bytesSent: number
}

export interface HostTransport {
  /** For messages: user@host:port, or "local". */
  readonly description: string
  exec(command: string, options: ExecOptions): Promise<ExecResult>
  /** Copies a large file to the host (SFTP); only for packages. */
  putFile?(localPath: string, remotePath: string): Promise<void>
  /** Closes the connection and waits until it is closed (bounded). */
  close(): Promise<void>
  readonly stats: TransportStats
}

export type TransportErrorKind = 'connect' | 'hostkey' | 'auth' | 'key' | 'exec' | 'closed'

/** A failure to reach or talk to a host; `kind` tells whether a retry can help. */
export class TransportError extends Error {
  readonly kind: TransportErrorKind
  constructor(kind: TransportErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TransportError'
    this.kind = kind
  }
}

export function newStats(): TransportStats {
  return { connections: 0, channels: 0, bytesSent: 0 }
}

/** Sends `input` to a command's stdin and closes it, counting the bytes sent. */
export function sendStdin(
  input: ExecOptions['stdin'],
  stdin: Writable,
  stats: TransportStats
): void {
  if (input === undefined) stdin.end()
  else if (typeof input === 'string' || Buffer.isBuffer(input)) {
    const data = Buffer.from(input)
    stats.bytesSent += data.length
    stdin.end(data)
  } else {
    input.on('data', (chunk: Buffer) => (stats.bytesSent += chunk.length))
    input.pipe(stdin)
  }
}

/** A command's output as it comes (passed on to the caller's listeners), and its result. */
export function outputOf(options: ExecOptions): {
  onStdout: (chunk: Buffer) => void
  onStderr: (chunk: Buffer) => void
  /** `code` null (a signal) or a timeout give -1. */
  result: (code: number | null, signal: string | null, timedOut: boolean) => ExecResult
} {
  const stdout: Buffer[] = []
  const stderr: Buffer[] = []
  return {
    onStdout: chunk => {
      stdout.push(chunk)
      options.onStdout?.(chunk)
    },
    onStderr: chunk => {
      stderr.push(chunk)
      options.onStderr?.(chunk)
    },
    result: (code, signal, timedOut) => ({
      code: timedOut || code === null ? -1 : code,
      signal: timedOut ? 'timeout' : signal,
      stdout: Buffer.concat(stdout).toString('utf8'),
      stderr: Buffer.concat(stderr).toString('utf8'),
      timedOut
    })
  }
}
