// The local transport: the runner itself is the host (a self-hosted runner joining the mesh).
// Commands run through /bin/sh; the bundle's wrapper command takes root with `sudo -n` when
// the runner is not root, exactly as on an SSH host. No SSH involved.
import { spawn } from 'node:child_process'
import { copyFile, stat } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import {
  TransportError,
  newStats,
  type ExecOptions,
  type ExecResult,
  type HostTransport,
  type TransportStats
} from './transport.ts'

export class LocalTransport implements HostTransport {
  readonly description = 'local'
  readonly stats: TransportStats = newStats()

  exec(command: string, options: ExecOptions): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      // own process group: a timeout kills the whole tree, not only the shell
      const child = spawn('/bin/sh', ['-c', command], {
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true
      })
      this.stats.channels++
      const stdout: Buffer[] = []
      const stderr: Buffer[] = []
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
        } catch {
          child.kill('SIGKILL')
        }
      }, options.timeoutMs)
      child.stdout.on('data', (chunk: Buffer) => {
        stdout.push(chunk)
        options.onStdout?.(chunk)
      })
      child.stderr.on('data', (chunk: Buffer) => {
        stderr.push(chunk)
        options.onStderr?.(chunk)
      })
      child.stdin.on('error', () => {
        // the command may exit without reading all of stdin
      })
      child.on('error', e => {
        clearTimeout(timer)
        reject(new TransportError('exec', `cannot run /bin/sh: ${e.message}`))
      })
      child.on('close', (code, signal) => {
        clearTimeout(timer)
        resolve({
          code: timedOut || code === null ? -1 : code,
          signal: timedOut ? 'timeout' : signal,
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8'),
          timedOut
        })
      })
      const input = options.stdin
      if (input === undefined) child.stdin.end()
      else if (typeof input === 'string' || Buffer.isBuffer(input)) {
        const data = Buffer.from(input)
        this.stats.bytesSent += data.length
        child.stdin.end(data)
      } else {
        const readable: Readable = input
        readable.on('data', (chunk: Buffer) => (this.stats.bytesSent += chunk.length))
        readable.pipe(child.stdin)
      }
    })
  }

  async putFile(localPath: string, remotePath: string): Promise<void> {
    await copyFile(localPath, remotePath)
    this.stats.bytesSent += (await stat(localPath)).size
  }

  async close(): Promise<void> {}
}
