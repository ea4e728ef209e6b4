// The SSH transport: node-ssh for the handshake, then the ssh2 client it holds for exec, SFTP
// and forwardOut. Strict host-key checking by default (fails closed, with the fingerprint seen),
// ProxyJump chains, keepalive, a per-command timeout that kills the remote command, bounded
// connect retries. The node-ssh traps are handled here: exit codes are returned (never
// ignored), an error listener stays on the connection after `ready`, close is awaited.
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { Duplex } from 'node:stream'
import { NodeSSH, type Config } from 'node-ssh'
import ssh2 from 'ssh2'
import type { Client, ClientChannel } from 'ssh2'
import { errorMessage } from '../util/errors.ts'
import {
  hostKeyAlgorithms,
  knownForHost,
  knownHostsName,
  verifyHostKey,
  type HostKeyPolicy,
  type HostKeyVerdict
} from './knownHosts.ts'
import { TransportError, newStats, outputOf, sendStdin } from './transport.ts'
import type { ExecOptions, ExecResult, HostTransport, TransportStats } from './transport.ts'

export interface SshHop {
  host: string
  port: number
  user: string
}

export interface SshOptions extends SshHop {
  /** Private key content (OpenSSH or PEM); CRLF and surrounding blanks are tolerated. */
  privateKey: string
  passphrase?: string
  /**
   * Checked per hop; each hop is offered only the host-key algorithms of the keys known for it
   * (hostKeyAlgorithms). `fingerprints` pins hold for the target only, never a jump host.
   */
  hostKeys: HostKeyPolicy
  /** Jump hosts in order (ProxyJump); each is verified with the same host-key policy. */
  jump?: SshHop[]
  /** Per attempt, until the SSH handshake is done. Default 10000. */
  connectTimeoutMs?: number
  /** 0 = off. Default 15000. */
  keepaliveMs?: number
  /** Connect attempts (only connection failures are retried). Default 3. */
  attempts?: number
  /** Waits between attempts; the last value repeats. Default [500, 1000, 2000]. */
  backoffMs?: number[]
  /** Loud warnings (host-key checking off). */
  warn?: (message: string) => void
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000
export const DEFAULT_ATTEMPTS = 3
export const DEFAULT_BACKOFF_MS = [500, 1000, 2000]
/** After a command's timeout, how long its channel may take to close before we stop waiting. */
const CLOSE_GRACE_MS = 2000
/** A hard stop after ssh2's own readyTimeout, should it not fire. */
const GUARD_SLACK_MS = 500

/**
 * The longest a failing connect can take with these options, per hop (stated in docs/host.md):
 * attempts × (connect timeout + 0.5 s) + the backoff between attempts. Defaults: 33 s.
 */
export function connectBudgetMs(
  options: Pick<SshOptions, 'connectTimeoutMs' | 'attempts' | 'backoffMs'>
): number {
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS
  const backoff = options.backoffMs ?? DEFAULT_BACKOFF_MS
  let total = attempts * ((options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS) + GUARD_SLACK_MS)
  for (let i = 0; i < attempts - 1; i++) total += backoff[Math.min(i, backoff.length - 1)] ?? 0
  return total
}

/** Normalizes pasted key content and checks it can be read; never echoes the key. */
export function readPrivateKey(content: string, passphrase?: string): string {
  const key = `${content.replace(/\r\n?/g, '\n').trim()}\n`
  if (!/^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\n/.test(key)) {
    throw new TransportError(
      'key',
      'the SSH private key does not start with a "-----BEGIN ... PRIVATE KEY-----" line (was the whole key pasted into the secret?)'
    )
  }
  const parsed = ssh2.utils.parseKey(key, passphrase)
  if (parsed instanceof Error) {
    throw new TransportError(
      'key',
      `cannot read the SSH private key: ${keyProblem(parsed.message, passphrase !== undefined && passphrase !== '')}`
    )
  }
  return key
}

/**
 * ssh2's reason in one of a few fixed sentences: its messages may carry bytes decoded from the
 * key ("Unsupported OpenSSH key magic: …"), so none of its text is ever passed on.
 */
export function keyProblem(message: string, withPassphrase: boolean): string {
  if (/no passphrase given/i.test(message)) {
    return 'it is encrypted: give its passphrase (ssh.passphraseEnv)'
  }
  if (/passphrase|decrypt/i.test(message)) return 'wrong passphrase?'
  if (/key magic/i.test(message)) {
    return 'the text between its BEGIN and END lines is not an OpenSSH private key (was the whole key pasted?)'
  }
  if (/cipher|kdf/i.test(message)) {
    return 'it is encrypted with a cipher or key derivation this product does not support'
  }
  if (/key type|EC OID/i.test(message)) return 'its key type is not supported'
  if (/integrity check failed/i.test(message)) {
    return withPassphrase ? 'wrong passphrase?' : 'it is damaged (its integrity check failed)'
  }
  if (/malformed/i.test(message)) {
    return withPassphrase
      ? 'it is malformed or truncated, or the passphrase is wrong'
      : 'it is malformed or truncated (was the whole key pasted?)'
  }
  if (/unsupported key format/i.test(message)) {
    return 'its format is not one this product reads (OpenSSH, PEM or PPK)'
  }
  return 'it cannot be parsed'
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

function describeConnectError(error: Error, hop: SshHop, timeoutMs: number): TransportError {
  const where = `${hop.user}@${hop.host}:${hop.port}`
  const code = (error as NodeJS.ErrnoException).code
  const level = (error as { level?: string }).level
  if (level === 'client-authentication') {
    return new TransportError(
      'auth',
      `${where}: authentication failed (publickey): check the user and that the key is in ~/.ssh/authorized_keys`,
      { cause: error }
    )
  }
  if (code === 'ECONNREFUSED') {
    return new TransportError('connect', `${where}: connection refused (is sshd running?)`, {
      cause: error
    })
  }
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return new TransportError('connect', `${where}: host unreachable`, { cause: error })
  }
  if (/timed out|ETIMEDOUT/i.test(`${error.message} ${code ?? ''}`)) {
    return new TransportError('connect', `${where}: no SSH handshake within ${timeoutMs} ms`, {
      cause: error
    })
  }
  return new TransportError('connect', `${where}: ${error.message}`, { cause: error })
}

function forwardOut(client: Client, host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    client.forwardOut('127.0.0.1', 0, host, port, (err, stream) =>
      err
        ? reject(new TransportError('connect', `jump to ${host}:${port} refused: ${err.message}`))
        : resolve(stream)
    )
  })
}

async function endClient(client: Client, waitMs = 3000): Promise<void> {
  await new Promise<void>(resolve => {
    const timer = setTimeout(() => {
      client.destroy()
      resolve()
    }, waitMs)
    client.once('close', () => {
      clearTimeout(timer)
      resolve()
    })
    client.end()
  })
}

export class SshTransport implements HostTransport {
  readonly description: string
  readonly stats: TransportStats
  private readonly clients: Client[]
  private readonly target: Client
  private lastError: Error | undefined
  private closed = false

  /** Use connectSsh(). */
  constructor(description: string, clients: Client[], stats: TransportStats) {
    this.description = description
    this.clients = clients
    this.stats = stats
    const target = clients[clients.length - 1]
    if (target === undefined) throw new Error('internal: no SSH client')
    this.target = target
    for (const client of clients) {
      // node-ssh drops its own error listener after `ready`; without one, a reset would crash
      client.on('error', (e: Error) => {
        this.lastError = e
      })
      client.on('close', () => {
        if (client === this.target) this.closed = true
      })
    }
  }

  exec(command: string, options: ExecOptions): Promise<ExecResult> {
    if (this.closed) {
      return Promise.reject(
        new TransportError(
          'closed',
          `${this.description}: connection closed${this.lastError ? ` (${this.lastError.message})` : ''}`
        )
      )
    }
    return new Promise((resolve, reject) => {
      this.target.exec(command, (err, channel) => {
        if (err) {
          reject(
            new TransportError(
              'exec',
              `${this.description}: cannot start a command: ${err.message}`
            )
          )
          return
        }
        this.stats.channels++
        this.runChannel(channel, options, resolve)
      })
    })
  }

  private runChannel(
    channel: ClientChannel,
    options: ExecOptions,
    resolve: (r: ExecResult) => void
  ): void {
    const output = outputOf(options)
    let code: number | null = null
    let signal: string | null = null
    let timedOut = false
    let settled = false
    let grace: NodeJS.Timeout | undefined
    const finish = (): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      clearTimeout(grace)
      resolve(output.result(code, signal, timedOut))
    }
    const timer = setTimeout(() => {
      timedOut = true
      // Best effort: OpenSSH signals the session with the SSH user's rights, so processes under
      // sudo are out of reach (the bundle's timeout(1) on the host ends those). sshd answers the
      // close only when the command's output is closed, so we stop waiting after a short grace.
      try {
        channel.signal('TERM')
      } catch {
        // channel already gone
      }
      channel.close()
      grace = setTimeout(finish, CLOSE_GRACE_MS)
    }, options.timeoutMs)
    channel.on('data', output.onStdout)
    channel.stderr.on('data', output.onStderr)
    channel.on('exit', (exitCode: number | null, exitSignal?: string) => {
      if (typeof exitCode === 'number') code = exitCode
      else signal = exitSignal ?? 'unknown'
    })
    channel.on('close', finish)
    sendStdin(options.stdin, channel, this.stats)
  }

  async putFile(localPath: string, remotePath: string): Promise<void> {
    const size = (await stat(localPath)).size
    await new Promise<void>((resolve, reject) => {
      this.target.sftp((err, sftp) => {
        if (err) {
          reject(new TransportError('exec', `${this.description}: SFTP refused: ${err.message}`))
          return
        }
        this.stats.channels++
        const out = sftp.createWriteStream(remotePath, { mode: 0o600 })
        const done = (e?: Error): void => {
          sftp.end()
          if (e)
            reject(
              new TransportError(
                'exec',
                `${this.description}: upload to ${remotePath} failed: ${e.message}`
              )
            )
          else resolve()
        }
        out.on('close', () => done())
        out.on('error', (e: Error) => done(e))
        createReadStream(localPath).on('error', done).pipe(out)
      })
    })
    this.stats.bytesSent += size
  }

  async close(): Promise<void> {
    for (const client of [...this.clients].reverse()) await endClient(client)
    this.closed = true
  }
}

/** The host offered none of the key types known for it: said as a host-key failure. */
function noKnownKeyType(policy: HostKeyPolicy, hop: SshHop): string {
  const known = knownForHost(policy, hop.host, hop.port)
  const types = [...new Set(known.keys.map(e => e.keyType))].join(', ')
  return `host key for ${knownHostsName(hop.host, hop.port)}: the host offers none of the key types known_hosts lists for it (${types}; ${known.keys.map(e => e.fingerprint).join(', ')}): its keys were replaced, or this is not the host you think`
}

async function connectHop(
  hop: SshHop,
  options: SshOptions,
  key: string,
  sock: Duplex | undefined,
  stats: TransportStats
): Promise<Client> {
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
  let verdict: HostKeyVerdict | undefined
  const serverHostKey = hostKeyAlgorithms(options.hostKeys, hop.host, hop.port)
  const config: Config = {
    username: hop.user,
    privateKey: key,
    readyTimeout: timeoutMs,
    keepaliveInterval: options.keepaliveMs ?? 15_000,
    keepaliveCountMax: 3,
    hostVerifier: (hostKey: Buffer) => {
      verdict = verifyHostKey(options.hostKeys, hop.host, hop.port, hostKey)
      return verdict.ok
    }
  }
  if (serverHostKey) config.algorithms = { serverHostKey }
  if (options.passphrase !== undefined) config.passphrase = options.passphrase
  if (sock) config.sock = sock
  else {
    config.host = hop.host
    config.port = hop.port
  }
  const ssh = new NodeSSH()
  // The TCP connect of ssh2 has no timeout of its own before the handshake starts.
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      ssh.connect(config),
      new Promise((_, reject) => {
        timer = setTimeout(() => {
          ssh.connection?.destroy()
          reject(new Error('timed out'))
        }, timeoutMs + GUARD_SLACK_MS)
      })
    ])
  } catch (e) {
    ssh.connection?.destroy()
    if (verdict && !verdict.ok) throw new TransportError('hostkey', verdict.reason)
    if (serverHostKey && /no matching host key format/i.test((e as Error).message)) {
      throw new TransportError('hostkey', noKnownKeyType(options.hostKeys, hop), { cause: e })
    }
    throw describeConnectError(e as Error, hop, timeoutMs)
  } finally {
    clearTimeout(timer)
  }
  const client = ssh.connection
  if (!client) throw new TransportError('connect', `${hop.host}: no connection after ready`)
  if (verdict?.ok && verdict.warning) options.warn?.(`WARNING: ${verdict.warning}`)
  stats.connections++
  return client
}

async function connectChain(
  options: SshOptions,
  key: string,
  stats: TransportStats
): Promise<Client[]> {
  const hops: SshHop[] = [
    ...(options.jump ?? []),
    { host: options.host, port: options.port, user: options.user }
  ]
  const clients: Client[] = []
  try {
    for (const hop of hops) {
      const previous = clients[clients.length - 1]
      const sock = previous ? await forwardOut(previous, hop.host, hop.port) : undefined
      clients.push(await connectHop(hop, options, key, sock, stats))
    }
    return clients
  } catch (e) {
    for (const client of clients.reverse()) client.destroy()
    throw e
  }
}

/** `fingerprints` pins as pins of the target alone: a jump host is never accepted by them. */
function boundToTarget(options: SshOptions): HostKeyPolicy {
  const policy = options.hostKeys
  if (policy.kind !== 'fingerprints') return policy
  const patterns = [knownHostsName(options.host, options.port)]
  return {
    kind: 'known_hosts',
    content: '',
    pins: policy.fingerprints.map(fingerprint => ({ patterns, fingerprint }))
  }
}

/** Connects (through the jump hosts, if any) with bounded retries of connection failures. */
export async function connectSsh(given: SshOptions): Promise<SshTransport> {
  const options = { ...given, hostKeys: boundToTarget(given) }
  const key = readPrivateKey(options.privateKey, options.passphrase)
  if (options.hostKeys.kind === 'insecure') {
    options.warn?.(
      `WARNING: host key checking is disabled for ${options.host}: anyone on the path can impersonate it and receive the bootstrap token`
    )
  }
  const attempts = Math.max(1, options.attempts ?? DEFAULT_ATTEMPTS)
  const backoff = options.backoffMs ?? DEFAULT_BACKOFF_MS
  const stats = newStats()
  const started = Date.now()
  let last: TransportError | undefined
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const clients = await connectChain(options, key, stats)
      return new SshTransport(`${options.user}@${options.host}:${options.port}`, clients, stats)
    } catch (e) {
      last = e instanceof TransportError ? e : new TransportError('connect', errorMessage(e))
      if (last.kind !== 'connect') throw last // a wrong key or host key does not get better
      if (attempt < attempts) await sleep(backoff[Math.min(attempt - 1, backoff.length - 1)] ?? 0)
    }
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  throw new TransportError(
    'connect',
    `${last?.message ?? 'cannot connect'} (${attempts} attempts in ${seconds} s)`,
    {
      cause: last
    }
  )
}
