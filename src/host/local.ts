// The local transport: the runner itself is the host (a self-hosted runner joining the mesh).
// Commands run through /bin/sh; the bundle's wrapper command takes root with `sudo -n` when
// the runner is not root, exactly as on an SSH host. No SSH involved.
import { spawn } from 'node:child_process'
import { copyFile, stat } from 'node:fs/promises'
import { TransportError, newStats, outputOf, sendStdin } from './transport.ts'
import type { ExecOptions, ExecResult, HostTransport, TransportStats } from './transport.ts'

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
      const output = outputOf(options)
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
        } catch {
          child.kill('SIGKILL')
        }
      }, options.timeoutMs)
      child.stdout.on('data', output.onStdout)
      child.stderr.on('data', output.onStderr)
      child.stdin.on('error', () => {
        // the command may exit without reading all of stdin
      })
      child.on('error', e => {
        clearTimeout(timer)
        reject(new TransportError('exec', `cannot run /bin/sh: ${e.message}`))
      })
      child.on('close', (code, signal) => {
        clearTimeout(timer)
        resolve(output.result(code, signal, timedOut))
      })
      sendStdin(options.stdin, child.stdin, this.stats)
    })
  }

  async putFile(localPath: string, remotePath: string): Promise<void> {
    await copyFile(localPath, remotePath)
    this.stats.bytesSent += (await stat(localPath)).size
  }

  async close(): Promise<void> {}
}
