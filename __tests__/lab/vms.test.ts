// The lab's VMs for real: boot, SSH with strict host-key checking, the lab network, helpers
// that break things on purpose, restart, crash recovery, latency, and a clean `down`.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { connect } from 'node:net'
import { join } from 'node:path'
import { labTestOptions } from '../helpers/lab.ts'
import {
  RUN_DIR,
  addClusterAddress,
  currentLab,
  downLab,
  labStatus,
  restartVm,
  runInVm,
  sshCommand,
  startSshd,
  stopSshd,
  upLab,
  vmAddress,
  VM_NODE_PATH,
  type LabState,
  type LabVm
} from '../../lab/vms/index.ts'
import { run, withLock } from '../../lab/vms/exec.ts'
import { fingerprint, knownHostsLines } from '../../lab/vms/vm.ts'
import { startRelay } from '../../lab/vms/relay.ts'
import { readState } from '../../lab/vms/state.ts'

const SSH_OPTS = ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10']

function ssh(vm: LabVm, remote: string, knownHosts = vm.knownHostsPath) {
  const argv = sshCommand(vm).map(a =>
    a === `UserKnownHostsFile=${vm.knownHostsPath}` ? `UserKnownHostsFile=${knownHosts}` : a
  )
  return run([...argv.slice(0, -1), ...SSH_OPTS, argv[argv.length - 1]!, remote], {
    timeoutMs: 30_000
  })
}

function liveNspawns(): number[] {
  const pids: number[] = []
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      const zombie = /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
      const ours = cmd[0]?.endsWith('systemd-nspawn') && cmd.some(a => a.startsWith('mxlab-'))
      if (ours && !zombie) pids.push(Number(pid))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}

function tcpRead(host: string, port: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, timeout: timeoutMs })
    let got = ''
    s.on('data', (b: Buffer) => (got += b.toString()))
    s.on('end', () => resolve(got))
    s.on('timeout', () => (s.destroy(), reject(new Error('timeout'))))
    s.on('error', reject)
  })
}

describe('lab helpers (pure)', () => {
  test('withLock serializes holders and takes over a lock whose owner died', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mxlab-lock-'))
    try {
      const lock = join(dir, 'lock')
      const order: string[] = []
      const hold = (name: string, ms: number) =>
        withLock(lock, 10_000, async () => {
          order.push(`${name}+`)
          await new Promise(r => setTimeout(r, ms))
          order.push(`${name}-`)
        })
      await Promise.all([hold('a', 300), hold('b', 10)])
      assert.deepEqual(order, ['a+', 'a-', 'b+', 'b-'])
      // a lock left by a process that is gone
      const dead = spawn(process.execPath, ['-e', ''])
      await new Promise(r => dead.on('exit', r))
      mkdirSync(lock)
      writeFileSync(join(lock, 'pid'), String(dead.pid))
      const started = Date.now()
      assert.equal(await withLock(lock, 5_000, async () => 'taken'), 'taken')
      assert.ok(Date.now() - started < 2_000)
      assert.equal(existsSync(lock), false, 'released')
      // a lock held by a live process times out, with a clear message
      mkdirSync(lock)
      writeFileSync(join(lock, 'pid'), String(process.ppid))
      await assert.rejects(
        withLock(lock, 600, async () => 'never'),
        /timed out .* waiting for the lock/
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('VM addresses follow the network plan', () => {
    assert.equal(vmAddress(1), '198.18.2.2')
    assert.equal(vmAddress(10), '198.18.2.11')
    assert.equal(vmAddress(254), '198.18.2.255')
    assert.equal(vmAddress(255), '198.18.3.0')
    assert.throws(() => vmAddress(0))
  })

  test('fingerprint has the OpenSSH SHA256 form and depends on the key', () => {
    const blob = Buffer.alloc(51, 7).toString('base64')
    const fp = fingerprint(`ssh-ed25519 ${blob} c`)
    assert.match(fp, /^SHA256:[A-Za-z0-9+/]{43}$/)
    assert.notEqual(fp, fingerprint(`ssh-ed25519 ${Buffer.alloc(51, 8).toString('base64')}`))
  })

  test('known_hosts names the relay only when there is one', () => {
    const key = 'ssh-ed25519 AAAA comment'
    assert.equal(
      knownHostsLines({ address: '198.18.2.2', sshHost: '198.18.2.2', sshPort: 22 }, key),
      '198.18.2.2 ssh-ed25519 AAAA\n'
    )
    assert.equal(
      knownHostsLines({ address: '198.18.2.2', sshHost: '198.18.0.1', sshPort: 2201 }, key),
      '198.18.2.2 ssh-ed25519 AAAA\n[198.18.0.1]:2201 ssh-ed25519 AAAA\n'
    )
  })

  test('the relay delays each direction and keeps the stream intact (loopback)', async () => {
    const { createServer } = await import('node:net')
    const echo = createServer(s => s.pipe(s))
    await new Promise<void>(r => echo.listen(0, '127.0.0.1', () => r()))
    const echoPort = (echo.address() as { port: number }).port
    const relayPort = echoPort === 65000 ? 65001 : 65000
    const stop = await startRelay({
      delayMs: 100,
      routes: [
        {
          listenHost: '127.0.0.1',
          listenPort: relayPort,
          targetHost: '127.0.0.1',
          targetPort: echoPort
        }
      ]
    })
    try {
      const payload = Buffer.alloc(200_000, 'x').toString() + 'END'
      const started = Date.now()
      const got = await new Promise<string>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: relayPort })
        let buf = ''
        s.on('data', (b: Buffer) => {
          buf += b.toString()
          if (buf.endsWith('END')) {
            s.end()
            resolve(buf)
          }
        })
        s.on('error', reject)
        s.write(payload)
        setTimeout(() => reject(new Error('relay timeout')), 5000).unref()
      })
      const elapsed = Date.now() - started
      assert.equal(got, payload)
      assert.ok(elapsed >= 190, `round trip took ${elapsed} ms, expected at least 200`)
    } finally {
      await stop()
      echo.close()
    }
  })
})

describe('lab VMs', labTestOptions(), () => {
  let lab: LabState

  before(async () => {
    lab = await upLab({ vms: 3 })
  })

  after(async () => {
    await downLab()
  })

  test('every VM answers over SSH with strict host-key checking and systemd is running', async () => {
    assert.equal(lab.vms.length, 3)
    for (const vm of lab.vms) {
      const r = await ssh(vm, 'hostname; systemctl is-system-running; sudo -n id -u')
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(r.stdout.trim().split('\n'), [vm.name, 'running', '0'])
    }
    // how long booting took is the bench's to measure, not a test's to assert
    assert.ok(lab.readyMs !== undefined, 'the lab records when its VMs became reachable')
  })

  test('a wrong or empty known_hosts is refused', async () => {
    const [vm1, vm2] = lab.vms as [LabVm, LabVm]
    const wrong = await ssh(vm1, 'true', vm2.knownHostsPath)
    assert.equal(wrong.code, 255)
    assert.match(wrong.stderr, /host key|REMOTE HOST IDENTIFICATION/i)
    const empty = join(RUN_DIR, 'empty_known_hosts')
    writeFileSync(empty, '')
    const none = await ssh(vm1, 'true', empty)
    assert.equal(none.code, 255)
    assert.match(none.stderr, /host key verification failed/i)
  })

  test('the recorded fingerprint is the host key the VM presents', async () => {
    for (const vm of lab.vms) {
      const r = await run(['ssh-keygen', '-lf', vm.knownHostsPath])
      assert.equal(r.code, 0, r.stderr)
      assert.ok(r.stdout.includes(vm.hostKeyFingerprint), r.stdout)
      const scanned = await run(['ssh-keyscan', '-T', '5', '-t', 'ed25519', vm.address], {
        timeoutMs: 15_000
      })
      const line = scanned.stdout.split('\n').find(l => l.startsWith(vm.address))
      assert.ok(line, scanned.stderr)
      assert.equal(fingerprint(line.split(' ').slice(1).join(' ')), vm.hostKeyFingerprint)
    }
    assert.equal(new Set(lab.vms.map(v => v.hostKeyFingerprint)).size, 3, 'host keys are unique')
    assert.match(lab.vms[0]!.privateKey, /BEGIN OPENSSH PRIVATE KEY/)
  })

  test('runInVm reaches the VM without SSH, with input', async () => {
    const vm = lab.vms[1]!
    const r = await runInVm(vm, ['sh', '-c', 'hostname; cat'], { input: 'hello' })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `${vm.name}\nhello`)
    const ipt = await runInVm(vm, 'iptables -t nat -S OUTPUT')
    assert.equal(ipt.code, 0, `iptables works inside (CAP_NET_ADMIN): ${ipt.stderr}`)
    const asUser = await runInVm(vm, 'id -un; echo $HOME', { user: 'mesh' })
    assert.equal(asUser.stdout, 'mesh\n/home/mesh\n', asUser.stderr)
    const fail = await runInVm(vm, 'exit 3')
    assert.equal(fail.code, 3)
    assert.equal(currentLab()?.vms.length, 3)
  })

  test('service and pod addresses in the cluster namespace are reachable from VMs and the runner', async () => {
    await addClusterAddress('198.19.0.7')
    await addClusterAddress('198.19.0.7') // twice is fine
    await addClusterAddress('198.18.1.5')
    const server = spawn(
      'ip',
      [
        'netns',
        'exec',
        lab.clusterNetns,
        process.execPath,
        '-e',
        "const n=require('node:net');for(const h of ['198.19.0.7','198.18.1.5'])n.createServer(s=>s.end('pong '+h)).listen(8080,h);setTimeout(()=>process.exit(0),20000)"
      ],
      { stdio: 'ignore' }
    )
    try {
      let fromRoot = ''
      for (let i = 0; i < 50 && fromRoot === ''; i++) {
        fromRoot = await tcpRead('198.19.0.7', 8080).catch(() => '')
        if (fromRoot === '') await new Promise(r => setTimeout(r, 100))
      }
      assert.equal(fromRoot, 'pong 198.19.0.7')
      assert.equal(await tcpRead('198.18.1.5', 8080), 'pong 198.18.1.5')
      const py =
        "import socket,sys\nfor h in ('198.19.0.7','198.18.1.5'):\n s=socket.create_connection((h,8080),3); print(s.recv(64).decode())"
      const r = await runInVm(lab.vms[2]!, ['python3', '-c', py])
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stdout, 'pong 198.19.0.7\npong 198.18.1.5\n')
    } finally {
      server.kill('SIGKILL')
    }
  })

  test('stopSshd makes SSH fail; startSshd brings it back', async () => {
    const vm = lab.vms[0]!
    await stopSshd(vm)
    const down = await ssh(vm, 'true')
    assert.equal(down.code, 255)
    assert.match(down.stderr, /refused/i)
    await startSshd(vm)
    const up = await ssh(vm, 'true')
    assert.equal(up.code, 0, up.stderr)
  })

  test('restartVm reboots on the same overlay: disk files stay, /run is new', async () => {
    const vm = lab.vms[0]!
    const before = await ssh(
      vm,
      'echo kept | sudo tee /etc/mxlab-marker >/dev/null; echo gone | sudo tee /run/mxlab-volatile >/dev/null'
    )
    assert.equal(before.code, 0, before.stderr)
    const nspawnBefore = readState()?.vms[0]?.nspawn?.pid
    await restartVm(vm)
    assert.notEqual(readState()?.vms[0]?.nspawn?.pid, nspawnBefore)
    const after = await ssh(
      vm,
      'cat /etc/mxlab-marker; test -e /run/mxlab-volatile && echo still-there; systemctl is-system-running'
    )
    assert.equal(after.code, 0, after.stderr)
    assert.equal(after.stdout, 'kept\nrunning\n')
  })

  test('a crashed lab (nspawn killed, state left) is cleaned up by the next up', async () => {
    const state = readState()
    assert.ok(state)
    for (const vm of state.vms) if (vm.nspawn) process.kill(vm.nspawn.pid, 'SIGKILL')
    const status = await labStatus()
    assert.equal(status.up, false)
    lab = await upLab({ vms: 2, latencyMs: 200, nodeBinary: process.execPath })
    const netns = (await run(['ip', 'netns', 'list'])).stdout
    assert.doesNotMatch(netns, /mxlab-vm3\b/)
    assert.match(netns, /mxlab-vm2\b/)
    assert.equal((await labStatus()).up, true)
    for (const vm of lab.vms) {
      const r = await ssh(vm, 'systemctl is-system-running')
      assert.equal(r.stdout.trim(), 'running', r.stderr)
    }
    const node = await runInVm(lab.vms[0]!, [VM_NODE_PATH, '-p', 'process.versions.node'])
    assert.equal(node.code, 0, node.stderr)
    assert.equal(node.stdout.trim(), process.versions.node)
  })

  test('a lab owned by another live process is waited for, then taken over when it exits', async () => {
    await downLab() // this process owns the lab from the tests before
    const index = new URL('../../lab/vms/index.ts', import.meta.url).pathname
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { upLab } from ${JSON.stringify(index)}; await upLab({ vms: 0 }); console.log('up'); setTimeout(() => {}, 60000)`
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] }
    )
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => b.toString().includes('up') && resolve())
        child.on('exit', code => reject(new Error(`child exited ${code}`)))
        setTimeout(() => reject(new Error('child did not bring its lab up')), 60_000).unref()
      })
      assert.equal(readState()?.owner?.pid, child.pid)
      await downLab() // not ours: left alone
      assert.equal(readState()?.owner?.pid, child.pid)
      assert.equal((await labStatus()).up, true)
      await assert.rejects(upLab({ vms: 1, waitForLabMs: 1500 }), /in use by process/)
      const waiting = upLab({ vms: 2, latencyMs: 200, nodeBinary: process.execPath })
      await new Promise(r => setTimeout(r, 500))
      child.kill('SIGKILL')
      lab = await waiting
      assert.equal(readState()?.owner?.pid, process.pid)
    } finally {
      child.kill('SIGKILL')
    }
  })

  test('--latency puts a delaying relay in front of sshd', async () => {
    const vm = lab.vms[0]!
    assert.equal(vm.sshHost, lab.bridgeAddress)
    assert.equal(vm.sshPort, 2201)
    let started = Date.now()
    const relayed = await ssh(vm, 'true')
    const relayedMs = Date.now() - started
    assert.equal(relayed.code, 0, relayed.stderr)
    started = Date.now()
    const direct = await run(
      [
        'ssh',
        '-i',
        vm.privateKeyPath,
        '-o',
        `UserKnownHostsFile=${vm.knownHostsPath}`,
        '-o',
        'StrictHostKeyChecking=yes',
        ...SSH_OPTS,
        `${vm.user}@${vm.address}`,
        'true'
      ],
      { timeoutMs: 30_000 }
    )
    const directMs = Date.now() - started
    assert.equal(direct.code, 0, direct.stderr)
    // An SSH session takes several round trips: at least three of 200 ms each.
    assert.ok(relayedMs >= 600, `relayed ssh took ${relayedMs} ms`)
    assert.ok(relayedMs > directMs + 400, `relayed ${relayedMs} ms, direct ${directMs} ms`)
  })

  test('down leaves no namespace, mount, process, link, cgroup or file behind', async () => {
    const relay = readState()?.relay
    assert.ok(relay)
    await downLab()
    assert.doesNotMatch((await run(['ip', 'netns', 'list'])).stdout, /mxlab-/)
    assert.doesNotMatch(readFileSync('/proc/mounts', 'utf8'), /mesh-expansion-lab/)
    assert.deepEqual(liveNspawns(), [])
    assert.equal(
      existsSync(`/proc/${relay.pid}/cmdline`) &&
        readFileSync(`/proc/${relay.pid}/cmdline`, 'utf8').includes('relay.ts'),
      false
    )
    assert.doesNotMatch((await run(['ip', '-br', 'link'])).stdout, /mxlab0|mxv\d|mxlc0/)
    assert.doesNotMatch((await run(['ip', 'route'])).stdout, /198\.1[89]\./)
    assert.equal(existsSync(RUN_DIR), false)
    for (const root of ['/sys/fs/cgroup', '/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified']) {
      assert.equal(existsSync(join(root, 'mesh-expansion-lab')), false, root)
    }
    assert.equal((await labStatus()).state, undefined)
  })
})
