// The SSH transport against loopback SSH servers (ssh2's Server, a tiny sshd that runs commands
// with /bin/sh): exit codes, stdin, the per-command timeout, host keys (fail closed with the
// fingerprint; pins bound to hosts; the host-key algorithms of the known types only), key formats and passphrases, bounded retries, a ProxyJump chain, SFTP, and a
// connection dropped after `ready` that must not crash the process. Loopback only.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import {
  createServer,
  connect as netConnect,
  type AddressInfo,
  type Server as NetServer
} from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import ssh2 from 'ssh2'
import type { Connection } from 'ssh2'
import { fingerprintOf } from '../../src/host/knownHosts.ts'
import { connectBudgetMs, connectSsh, readPrivateKey, type SshOptions } from '../../src/host/ssh.ts'
import { hostKeyPolicy } from '../../src/host/targets.ts'
import { TransportError } from '../../src/host/transport.ts'

interface LoopbackSshd {
  port: number
  fingerprint: string
  hostPublic: string
  connections: number
  signals: string[]
  pids: number[]
  clients: Connection[]
  close(): Promise<void>
}

function keygen(dir: string, name: string, extra: string[] = []): { priv: string; pub: string } {
  const path = join(dir, name)
  execFileSync('ssh-keygen', ['-q', '-N', '', '-C', name, '-f', path, ...extra])
  return { priv: readFileSync(path, 'utf8'), pub: readFileSync(`${path}.pub`, 'utf8').trim() }
}

async function startSshd(
  hostKey: { priv: string; pub: string },
  allowed: string[],
  moreHostKeys: string[] = []
): Promise<LoopbackSshd> {
  const allowedBlobs = allowed.map(pub => Buffer.from(pub.split(' ')[1] ?? '', 'base64'))
  const state = {
    connections: 0,
    signals: [] as string[],
    pids: [] as number[],
    clients: [] as Connection[]
  }
  const server = new ssh2.Server({ hostKeys: [hostKey.priv, ...moreHostKeys] }, client => {
    state.connections++
    state.clients.push(client)
    client.on('error', () => {})
    client.on('authentication', ctx => {
      if (ctx.method === 'publickey' && allowedBlobs.some(b => b.equals(ctx.key.data))) {
        if (!ctx.signature) return ctx.accept()
        const key = ssh2.utils.parseKey(
          ctx.key.algo === 'ssh-ed25519'
            ? (allowed.find(p => p.startsWith('ssh-ed25519')) ?? '')
            : (allowed.find(p => p.startsWith('ssh-rsa')) ?? '')
        )
        if (
          !(key instanceof Error) &&
          !Array.isArray(key) &&
          ctx.blob &&
          key.verify(ctx.blob, ctx.signature, ctx.hashAlgo)
        )
          return ctx.accept()
      }
      ctx.reject(['publickey'])
    })
    client.on('ready', () => {
      client.on('tcpip', (accept, _reject, info) => {
        const channel = accept()
        const socket = netConnect(info.destPort, info.destIP)
        socket.on('error', () => channel.destroy())
        channel.pipe(socket).pipe(channel)
      })
      client.on('session', acceptSession => {
        const session = acceptSession()
        let child: ReturnType<typeof spawn> | undefined
        session.on('signal', (_accept, _reject, info) => {
          state.signals.push(info.name)
          child?.kill(`SIG${info.name}` as NodeJS.Signals)
        })
        session.on('exec', (accept, _reject, info) => {
          const stream = accept()
          child = spawn('/bin/sh', ['-c', info.command], { stdio: 'pipe' })
          if (child.pid !== undefined) state.pids.push(child.pid)
          stream.pipe(child.stdin!)
          child.stdin!.on('error', () => {})
          child.stdout!.pipe(stream, { end: false })
          child.stderr!.pipe(stream.stderr)
          child.on('close', (code, signal) => {
            if (code !== null) stream.exit(code)
            else stream.exit(signal ?? 'KILL', false, '')
            stream.end()
          })
          stream.on('close', () => child?.kill('SIGKILL'))
        })
        session.on('sftp', accept => {
          const sftp = accept()
          const handles = new Map<number, number>()
          let next = 0
          sftp.on('OPEN', (id, filename) => {
            const fd = openSync(filename, 'w', 0o600)
            const handle = Buffer.alloc(4)
            handle.writeUInt32BE(next)
            handles.set(next++, fd)
            sftp.handle(id, handle)
          })
          sftp.on('WRITE', (id, handle, offset, data) => {
            writeSync(handles.get(handle.readUInt32BE(0)) ?? -1, data, 0, data.length, offset)
            sftp.status(id, ssh2.utils.sftp.STATUS_CODE.OK)
          })
          sftp.on('CLOSE', (id, handle) => {
            closeSync(handles.get(handle.readUInt32BE(0)) ?? -1)
            sftp.status(id, ssh2.utils.sftp.STATUS_CODE.OK)
          })
        })
      })
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    fingerprint: fingerprintOf(Buffer.from(hostKey.pub.split(' ')[1] ?? '', 'base64')),
    hostPublic: hostKey.pub,
    get connections() {
      return state.connections
    },
    signals: state.signals,
    pids: state.pids,
    clients: state.clients,
    close: () =>
      new Promise<void>(resolve => {
        for (const c of state.clients) c.end()
        server.close(() => resolve())
      })
  }
}

describe('SSH transport (loopback sshd)', () => {
  let dir: string
  let sshd: LoopbackSshd
  let jump: LoopbackSshd
  let user: { priv: string; pub: string }
  let pem: { priv: string; pub: string }
  let knownHosts: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mx-ssh-'))
    user = keygen(dir, 'user', ['-t', 'ed25519'])
    pem = keygen(dir, 'pem', ['-t', 'rsa', '-b', '2048', '-m', 'PEM'])
    execFileSync('ssh-keygen', [
      '-q',
      '-p',
      '-P',
      '',
      '-N',
      'sesame',
      '-m',
      'PEM',
      '-f',
      join(dir, 'pem')
    ])
    pem.priv = readFileSync(join(dir, 'pem'), 'utf8')
    sshd = await startSshd(keygen(dir, 'host', ['-t', 'ed25519']), [user.pub, pem.pub])
    jump = await startSshd(keygen(dir, 'jumphost', ['-t', 'ed25519']), [user.pub])
    knownHosts = `[127.0.0.1]:${sshd.port} ${sshd.hostPublic}\n[127.0.0.1]:${jump.port} ${jump.hostPublic}\n`
  })
  after(async () => {
    await sshd.close()
    await jump.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const options = (over: Partial<SshOptions> = {}): SshOptions => ({
    host: '127.0.0.1',
    port: sshd.port,
    user: 'tester',
    privateKey: user.priv,
    hostKeys: { kind: 'known_hosts', content: knownHosts },
    connectTimeoutMs: 3000,
    ...over
  })

  test('exec returns exit codes, stdout, stderr and reads stdin; stats count it', async () => {
    const t = await connectSsh(options())
    try {
      const r = await t.exec('cat; echo err >&2; exit 7', {
        stdin: Buffer.from('hello\n'),
        timeoutMs: 5000
      })
      assert.deepEqual([r.code, r.stdout, r.stderr, r.timedOut], [7, 'hello\n', 'err\n', false])
      const ok = await t.exec('true', { timeoutMs: 5000 })
      assert.equal(ok.code, 0)
      assert.deepEqual(t.stats, { connections: 1, channels: 2, bytesSent: 6 })
    } finally {
      await t.close()
    }
  })

  test('the per-command timeout signals and closes the channel', async () => {
    const t = await connectSsh(options())
    try {
      const marker = join(dir, 'survived')
      const started = Date.now()
      const r = await t.exec(`sleep 5; touch ${marker}`, { timeoutMs: 300 })
      assert.equal(r.timedOut, true)
      assert.equal(r.code, -1)
      assert.ok(Date.now() - started < 3000)
      // ssh2's Server drops signal requests after exec (OpenSSH delivers them); what must hold
      // everywhere: the channel is closed, so the far side ends the command.
      const pid = sshd.pids[sshd.pids.length - 1] ?? 0
      await new Promise(resolve => setTimeout(resolve, 200))
      assert.throws(() => process.kill(pid, 0), 'the remote command is gone')
    } finally {
      await t.close()
    }
  })

  test('a wrong host key fails closed at once, naming the fingerprint seen', async () => {
    const before = sshd.connections
    const wrong = `[127.0.0.1]:${sshd.port} ${jump.hostPublic}\n`
    const started = Date.now()
    await assert.rejects(
      connectSsh(options({ hostKeys: { kind: 'known_hosts', content: wrong } })),
      (e: TransportError) =>
        e.kind === 'hostkey' &&
        e.message.includes(`is ${sshd.fingerprint} which is not in known_hosts`) &&
        e.message.includes(jump.fingerprint)
    )
    assert.equal(sshd.connections - before, 1, 'no retry of a host-key failure')
    assert.ok(Date.now() - started < 3000)
  })

  test('a host with ed25519 and RSA keys: known_hosts with either line connects', async () => {
    const ed = keygen(dir, 'dual-ed', ['-t', 'ed25519'])
    const rsa = keygen(dir, 'dual-rsa', ['-t', 'rsa', '-b', '2048'])
    const dual = await startSshd(ed, [user.pub], [rsa.priv])
    const name = `[127.0.0.1]:${dual.port}`
    try {
      for (const line of [rsa.pub, ed.pub]) {
        const t = await connectSsh(
          options({
            port: dual.port,
            hostKeys: { kind: 'known_hosts', content: `${name} ${line}\n` }
          })
        )
        assert.equal((await t.exec('echo ok', { timeoutMs: 5000 })).stdout, 'ok\n')
        await t.close()
      }
      // an RSA-only line and a host with only an ed25519 key: refused before any key is shown
      await assert.rejects(
        connectSsh(
          options({
            hostKeys: { kind: 'known_hosts', content: `[127.0.0.1]:${sshd.port} ${rsa.pub}\n` }
          })
        ),
        (e: TransportError) =>
          e.kind === 'hostkey' &&
          /offers none of the key types known_hosts lists for it \(ssh-rsa/.test(e.message)
      )
    } finally {
      await dual.close()
    }
  })

  test('a pin holds for the host it names only; a changed key is refused despite a pin', async () => {
    const pinned = (text: string): SshOptions['hostKeys'] => hostKeyPolicy(text, true)
    const t = await connectSsh(
      options({ hostKeys: pinned(`[127.0.0.1]:${sshd.port} ${sshd.fingerprint}\n`) })
    )
    await t.close()
    // the jump host's pin given to the target's name, and the target's to the jump host's
    await assert.rejects(
      connectSsh(
        options({
          hostKeys: pinned(
            `[127.0.0.1]:${sshd.port} ${jump.fingerprint}\n[127.0.0.1]:${jump.port} ${sshd.fingerprint}\n`
          )
        })
      ),
      (e: TransportError) =>
        e.kind === 'hostkey' &&
        e.message.includes(`is ${sshd.fingerprint} which is not in known_hosts`) &&
        e.message.includes(`pinned for [127.0.0.1]:${jump.port} only`)
    )
    // known_hosts has another ed25519 key for the target: refused although a pin matches
    await assert.rejects(
      connectSsh(
        options({
          hostKeys: pinned(
            `[127.0.0.1]:${sshd.port} ${jump.hostPublic}\n[127.0.0.1]:${sshd.port} ${sshd.fingerprint}\n`
          )
        })
      ),
      (e: TransportError) => e.kind === 'hostkey' && /the key changed/.test(e.message)
    )
    // a connection's own fingerprints hold for its target, never for a jump host
    await assert.rejects(
      connectSsh(
        options({
          hostKeys: { kind: 'fingerprints', fingerprints: [sshd.fingerprint, jump.fingerprint] },
          jump: [{ host: '127.0.0.1', port: jump.port, user: 'hop' }]
        })
      ),
      (e: TransportError) =>
        e.kind === 'hostkey' &&
        e.message.includes(`[127.0.0.1]:${jump.port} is ${jump.fingerprint}`)
    )
  })

  test('pinned fingerprints work; the opt-out warns loudly', async () => {
    const t = await connectSsh(
      options({ hostKeys: { kind: 'fingerprints', fingerprints: [sshd.fingerprint] } })
    )
    await t.close()
    const warnings: string[] = []
    const u = await connectSsh(
      options({ hostKeys: { kind: 'insecure' }, warn: m => warnings.push(m) })
    )
    await u.close()
    assert.ok(warnings.some(w => /WARNING: host key checking is disabled/.test(w)))
    assert.ok(warnings.some(w => w.includes(sshd.fingerprint)))
  })

  test('an encrypted PEM key needs its passphrase; errors never show the key', async () => {
    const t = await connectSsh(
      options({ privateKey: pem.priv.replace(/\n/g, '\r\n'), passphrase: 'sesame' })
    )
    assert.equal((await t.exec('echo ok', { timeoutMs: 5000 })).stdout, 'ok\n')
    await t.close()
    assert.throws(
      () => readPrivateKey(pem.priv),
      (e: TransportError) => e.kind === 'key' && /encrypted|passphrase/.test(e.message)
    )
    assert.throws(
      () => readPrivateKey(pem.priv, 'wrong'),
      (e: TransportError) => e.kind === 'key' && !e.message.includes('BEGIN')
    )
    assert.throws(
      () => readPrivateKey('c2VjcmV0'),
      (e: TransportError) => e.kind === 'key' && !e.message.includes('c2VjcmV0')
    )
  })

  test('an unknown user key is an auth error, not retried', async () => {
    const stranger = keygen(dir, 'stranger', ['-t', 'ed25519'])
    const before = sshd.connections
    await assert.rejects(
      connectSsh(options({ privateKey: stranger.priv })),
      (e: TransportError) => e.kind === 'auth'
    )
    assert.equal(sshd.connections - before, 1)
  })

  test('a closed port fails after the bounded retries, within the stated budget', async () => {
    const closed = createServer()
    await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>(resolve => closed.close(() => resolve()))
    const started = Date.now()
    const opts = options({ port, attempts: 3, backoffMs: [200, 400] })
    await assert.rejects(
      connectSsh(opts),
      (e: TransportError) =>
        e.kind === 'connect' && /connection refused/.test(e.message) && /3 attempts/.test(e.message)
    )
    const took = Date.now() - started
    assert.ok(took >= 600 && took < connectBudgetMs(opts), `took ${took} ms`)
    assert.equal(connectBudgetMs({ connectTimeoutMs: 10_000 }), 33_000)
  })

  test('a silent port times out per attempt', async () => {
    const silent: NetServer = createServer(() => {})
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
    try {
      const started = Date.now()
      await assert.rejects(
        connectSsh(
          options({
            port: (silent.address() as AddressInfo).port,
            attempts: 2,
            backoffMs: [100],
            connectTimeoutMs: 500
          })
        ),
        (e: TransportError) => e.kind === 'connect' && /2 attempts/.test(e.message)
      )
      assert.ok(Date.now() - started < 4000)
    } finally {
      silent.close()
    }
  })

  test('through a jump host (ProxyJump), both host keys checked', async () => {
    const t = await connectSsh(
      options({ jump: [{ host: '127.0.0.1', port: jump.port, user: 'hop' }] })
    )
    try {
      assert.equal((await t.exec('echo via-jump', { timeoutMs: 5000 })).stdout, 'via-jump\n')
      assert.equal(t.stats.connections, 2)
    } finally {
      await t.close()
    }
    const onlyTarget = `[127.0.0.1]:${sshd.port} ${sshd.hostPublic}\n`
    await assert.rejects(
      connectSsh(
        options({
          hostKeys: { kind: 'known_hosts', content: onlyTarget },
          jump: [{ host: '127.0.0.1', port: jump.port, user: 'hop' }]
        })
      ),
      (e: TransportError) => e.kind === 'hostkey' && e.message.includes(jump.fingerprint)
    )
  })

  test('putFile sends a file over SFTP on the same connection', async () => {
    const source = join(dir, 'payload.bin')
    const target = join(dir, 'received.bin')
    const data = Buffer.alloc(300_000, 7)
    execFileSync('sh', ['-c', `head -c 300000 /dev/zero | tr '\\0' '\\7' > ${source}`])
    const t = await connectSsh(options())
    try {
      await t.putFile(source, target)
      assert.ok(readFileSync(target).equals(data))
      assert.deepEqual(t.stats, { connections: 1, channels: 1, bytesSent: 300_000 })
    } finally {
      await t.close()
    }
  })

  test('a connection dropped after ready fails the exec without crashing the process', async () => {
    const t = await connectSsh(options())
    const pending = t.exec('sleep 3', { timeoutMs: 10_000 })
    await new Promise(resolve => setTimeout(resolve, 200))
    for (const c of sshd.clients) (c as unknown as { _sock: { destroy(): void } })._sock.destroy()
    const r = await pending
    assert.notEqual(r.code, 0)
    await assert.rejects(
      t.exec('true', { timeoutMs: 1000 }),
      (e: TransportError) => e.kind === 'closed'
    )
    await t.close()
  })
})
