// The remote install script: the embedded copy equals install.sh, shellcheck finds nothing, and
// its helpers do what they say when sourced one by one in a temporary directory.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { INSTALL_SCRIPT } from '../../src/host/installScript.ts'
import { INSTALL_SH_PATH, sourced } from '../helpers/installScript.ts'

const scriptPath = INSTALL_SH_PATH

const sh = sourced

describe('install.sh', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mx-install-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('installScript.ts carries install.sh unchanged (npm run bundle regenerates it)', () => {
    assert.ok(
      INSTALL_SCRIPT === readFileSync(scriptPath, 'utf8'),
      'src/host/installScript.ts is stale: run npm run bundle (or node scripts/install-script.ts)'
    )
  })

  test('is shellcheck-clean as POSIX sh', () => {
    const r = spawnSync('shellcheck', ['-s', 'sh', scriptPath], { encoding: 'utf8' })
    assert.notEqual(
      r.error?.message.includes('ENOENT'),
      true,
      'shellcheck is not installed (apt-get install shellcheck)'
    )
    assert.equal(r.status, 0, r.stdout)
  })

  test('parses with sh -n and refuses an unknown mode', () => {
    assert.equal(spawnSync('/bin/sh', ['-n', scriptPath]).status, 0)
    const r = spawnSync('/bin/sh', [scriptPath, 'dance', dir], { encoding: 'utf8' })
    assert.equal(r.status, 2)
    assert.match(r.stdout, /^MX-FAIL args unknown mode dance$/m)
  })

  test('rollback on a host with no state kept: exit 43, nothing created, nothing changed', () => {
    const root = join(dir, 'rollback-root')
    mkdirSync(root, { recursive: true })
    const r = spawnSync('/bin/sh', [scriptPath, 'rollback', dir], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        MX_ROOT: root,
        MX_LOCK_FILE: join(root, 'lock')
      }
    })
    assert.equal(r.status, 43, r.stdout + r.stderr)
    assert.match(r.stdout, /^MX-FAIL rollback last-good: no last known good sidecar is kept/m)
    assert.match(r.stdout, /^MX-PHASE rollback fail \d+$/m)
    assert.deepEqual(readdirSync(root), [])
  })

  test('arch_of maps uname -m to package architectures', () => {
    assert.equal(
      sh('arch_of x86_64; arch_of aarch64; arch_of armv7l; echo end').out,
      'amd64\narm64\n\nend\n'
    )
  })

  test('package_url fills the official template for the host, leaves other URLs alone', () => {
    const template =
      'https://storage.googleapis.com/istio-release/releases/1.30.3/@FAMILY@/istio-sidecar@ARCHSUFFIX@.@FAMILY@'
    assert.equal(
      sh(
        `package_url '${template}' deb amd64; package_url '${template}' rpm arm64; package_url http://198.18.0.1/x.deb deb arm64`
      ).out,
      [
        'https://storage.googleapis.com/istio-release/releases/1.30.3/deb/istio-sidecar.deb',
        'https://storage.googleapis.com/istio-release/releases/1.30.3/rpm/istio-sidecar-arm64.rpm',
        'http://198.18.0.1/x.deb',
        ''
      ].join('\n')
    )
  })

  test('abs_diff', () => {
    assert.equal(sh('abs_diff 100 130; abs_diff 130 100').out, '30\n30\n')
  })

  test('now_ms is milliseconds', () => {
    const ms = Number(sh('now_ms').out.trim())
    assert.ok(Math.abs(ms - Date.now()) < 5000, `now_ms said ${ms}`)
  })

  test('the hosts block is added once, replaced on a re-run, removed when empty', () => {
    const hosts = join(dir, 'hosts')
    const block = join(dir, 'block')
    const empty = join(dir, 'empty')
    writeFileSync(hosts, '127.0.0.1 localhost\n::1 localhost\n')
    writeFileSync(block, '198.18.0.2 istiod.istio-system.svc') // no final newline, as rendered
    writeFileSync(empty, '')
    const first = sh(`replace_hosts_block "${hosts}" "${block}"; echo "placed=$PLACED"`)
    assert.equal(first.out, 'placed=1\n', first.err)
    const once = readFileSync(hosts, 'utf8')
    assert.equal(
      once,
      '127.0.0.1 localhost\n::1 localhost\n# BEGIN mesh-expansion (managed block: a re-run replaces it)\n198.18.0.2 istiod.istio-system.svc\n# END mesh-expansion\n'
    )
    assert.equal(statSync(hosts).mode & 0o777, 0o644)
    assert.equal(
      sh(`replace_hosts_block "${hosts}" "${block}"; echo "placed=$PLACED"`).out,
      'placed=0\n'
    )
    assert.equal(readFileSync(hosts, 'utf8'), once)
    writeFileSync(block, '198.18.0.3 istiod.istio-system.svc\n')
    assert.equal(
      sh(`replace_hosts_block "${hosts}" "${block}"; echo "placed=$PLACED"`).out,
      'placed=1\n'
    )
    assert.equal((readFileSync(hosts, 'utf8').match(/BEGIN mesh-expansion/g) ?? []).length, 1)
    assert.match(readFileSync(hosts, 'utf8'), /198\.18\.0\.3/)
    assert.doesNotMatch(readFileSync(hosts, 'utf8'), /198\.18\.0\.2/)
    sh(`replace_hosts_block "${hosts}" "${empty}"`)
    assert.equal(readFileSync(hosts, 'utf8'), '127.0.0.1 localhost\n::1 localhost\n')
  })

  test('the resolv.conf block comes first, once; a re-run replaces it; remove restores the file', () => {
    const root = mkdtempSync(join(dir, 'dns-'))
    const work = join(root, 'work')
    mkdirSync(work)
    const resolv = join(root, 'resolv.conf')
    const dhclient = join(root, 'dhclient.conf')
    const original = 'search lab.example\nnameserver 10.0.0.1\n'
    writeFileSync(resolv, original)
    const env = {
      MX_RESOLV_CONF: resolv,
      MX_DHCLIENT_CONF: dhclient,
      MX_STATE_DIR: join(root, 'state')
    }
    const blocks = (how: string): string =>
      sh(`WORK="${work}"; dns_blocks ${how}; echo "changed=$DNS_CHANGED"`, env).out
    const block =
      '# BEGIN mesh-expansion (managed block: a re-run replaces it)\nnameserver 127.0.0.1\n# END mesh-expansion\n'
    assert.equal(blocks('add'), 'changed=1\n')
    assert.equal(readFileSync(resolv, 'utf8'), block + original)
    assert.equal(statSync(resolv).mode & 0o777, 0o644)
    assert.equal(existsSync(dhclient), false, 'no dhclient.conf is created')
    assert.equal(blocks('add'), 'changed=0\n')
    assert.equal(readFileSync(resolv, 'utf8'), block + original)
    // a block edited by hand (or moved down by another tool) is put back, first and once
    writeFileSync(resolv, original + block.replace('127.0.0.1', '127.0.0.2'))
    assert.equal(blocks('add'), 'changed=1\n')
    assert.equal(readFileSync(resolv, 'utf8'), block + original)
    assert.equal(blocks('remove'), 'changed=1\n')
    assert.equal(readFileSync(resolv, 'utf8'), original)
    assert.equal(blocks('remove'), 'changed=0\n')

    // dhclient.conf, when it exists, gets its own block (last)
    writeFileSync(
      dhclient,
      'option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;\n'
    )
    assert.equal(blocks('add'), 'changed=1\n')
    assert.match(
      readFileSync(dhclient, 'utf8'),
      /^option [^\n]+\n# BEGIN mesh-expansion[^\n]*\nprepend domain-name-servers 127\.0\.0\.1;\n# END mesh-expansion\n$/
    )
    assert.equal(blocks('remove'), 'changed=1\n')
    assert.doesNotMatch(readFileSync(dhclient, 'utf8'), /mesh-expansion/)
  })

  test('a symlinked resolv.conf: a regular target is edited in place; a dangling link is replaced and restored', () => {
    const root = mkdtempSync(join(dir, 'link-'))
    const work = join(root, 'work')
    mkdirSync(work)
    const resolv = join(root, 'resolv.conf')
    const stub = join(root, 'stub-resolv.conf')
    const env = {
      MX_RESOLV_CONF: resolv,
      MX_DHCLIENT_CONF: join(root, 'none'),
      MX_STATE_DIR: join(root, 'state')
    }
    const blocks = (how: string): string =>
      sh(`WORK="${work}"; dns_blocks ${how}; echo "changed=$DNS_CHANGED"`, env).out
    writeFileSync(stub, 'nameserver 127.0.0.53\n')
    symlinkSync('stub-resolv.conf', resolv)
    assert.equal(blocks('add'), 'changed=1\n')
    assert.ok(lstatSync(resolv).isSymbolicLink(), 'the link stays')
    assert.match(
      readFileSync(stub, 'utf8'),
      /^# BEGIN mesh-expansion[^\n]*\nnameserver 127\.0\.0\.1\n# END/
    )
    assert.equal(blocks('remove'), 'changed=1\n')
    assert.equal(readFileSync(stub, 'utf8'), 'nameserver 127.0.0.53\n')

    rmSync(resolv)
    symlinkSync('../run/nowhere/resolv.conf', resolv)
    assert.equal(blocks('add'), 'changed=1\n')
    assert.ok(lstatSync(resolv).isFile(), 'a dangling link becomes a file')
    assert.match(
      readFileSync(resolv, 'utf8'),
      /^# BEGIN mesh-expansion[^\n]*\nnameserver 127\.0\.0\.1\n/
    )
    assert.equal(blocks('remove'), 'changed=1\n')
    assert.ok(lstatSync(resolv).isSymbolicLink(), 'the link is put back')
    assert.equal(readlinkSync(resolv), '../run/nowhere/resolv.conf')
    assert.equal(existsSync(join(root, 'state', 'resolv.conf.link')), false)
  })

  test('files: legacy certificates and sidecar.env placed; an empty token removes an earlier one', () => {
    const root = mkdtempSync(join(dir, 'root-'))
    const work = join(root, 'work')
    const state = join(root, 'var/lib/mesh-expansion')
    mkdirSync(work)
    mkdirSync(state, { recursive: true })
    const put = (name: string, content: string): void => writeFileSync(join(work, name), content)
    const env = { MX_ROOT: root, MX_OWNER: 'root' }
    const files = (): string =>
      sh(`WORK="${work}"; files >/dev/null; echo "changed=$FILES_CHANGED"`, env).out
    const mode = (path: string): number => statSync(join(root, path)).mode & 0o777
    for (const [name, content] of [
      ['cluster.env', 'ISTIO_SERVICE_CIDR=10.0.0.0/16\n'],
      ['mesh.yaml', 'defaultConfig: {}\n'],
      ['hosts', ''],
      ['root-cert.pem', 'ROOT\n'],
      ['istio-token', 'token']
    ] as const)
      put(name, content)
    // modern first: a token and its tmpfiles entry
    assert.equal(files(), 'changed=1\n')
    assert.ok(existsSync(join(root, 'var/run/secrets/tokens/istio-token')))
    assert.ok(existsSync(join(root, 'etc/tmpfiles.d/mesh-expansion.conf')))
    assert.equal(files(), 'changed=0\n')
    // then legacy: no token, certificates and sidecar.env
    put('istio-token', '')
    put('mesh.yaml', '')
    put('cert-chain.pem', 'CHAIN\n')
    put('key.pem', 'KEY\n')
    put('sidecar.env', 'ISTIO_INBOUND_PORTS=8080\n')
    assert.equal(files(), 'changed=1\n')
    for (const gone of [
      'var/run/secrets/tokens/istio-token',
      'var/lib/mesh-expansion/istio-token',
      'etc/tmpfiles.d/mesh-expansion.conf'
    ])
      assert.equal(existsSync(join(root, gone)), false, gone)
    assert.equal(mode('etc/certs/cert-chain.pem'), 0o644)
    assert.equal(mode('etc/certs/key.pem'), 0o600)
    assert.equal(mode('var/lib/istio/envoy/sidecar.env'), 0o644)
    assert.equal(readFileSync(join(root, 'etc/certs/key.pem'), 'utf8'), 'KEY\n')
    assert.equal(files(), 'changed=0\n')
    // sidecar.env no longer given: the one we placed goes
    rmSync(join(work, 'sidecar.env'))
    assert.equal(files(), 'changed=1\n')
    assert.equal(existsSync(join(root, 'var/lib/istio/envoy/sidecar.env')), false)
    assert.equal(files(), 'changed=0\n')
  })

  test('place_file is atomic, sets the mode, and reports only real changes', () => {
    const src = join(dir, 'src')
    const dest = join(dir, 'nested', 'dir', 'token')
    writeFileSync(src, 'secret-token')
    // the scratch root stands for /: the directories above it (/tmp) are not checked
    const env = { MX_ROOT: dir }
    const place = (mode: string): string =>
      sh(`place_file "${src}" "${dest}" ${mode} ''; echo $PLACED`, env).out
    assert.equal(place('600'), '1\n')
    assert.equal(readFileSync(dest, 'utf8'), 'secret-token')
    assert.equal(statSync(dest).mode & 0o777, 0o600)
    assert.equal(place('600'), '0\n')
    assert.equal(place('644'), '1\n')
    assert.equal(statSync(dest).mode & 0o777, 0o644)
    writeFileSync(src, 'new')
    assert.equal(place('644'), '1\n')
    assert.equal(readFileSync(dest, 'utf8'), 'new')
    assert.equal(existsSync(`${dest}.mx-tmp`), false)
    const leftovers = spawnSync('sh', ['-c', `ls -a "${join(dir, 'nested', 'dir')}"`], {
      encoding: 'utf8'
    })
    assert.deepEqual(leftovers.stdout.trim().split('\n'), ['.', '..', 'token'])
  })

  test('check_ports names a sidecar port another process holds, and passes free ones', async () => {
    assert.equal(spawnSync('sh', ['-c', 'command -v ss']).status, 0, 'ss (iproute2) is needed')
    const server = createServer()
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    try {
      const taken = (server.address() as AddressInfo).port
      const r = sh('PHASE=preflight; FAILED=0; check_ports; echo "failed=$FAILED"', {
        MX_SIDECAR_PORTS: `${taken}`
      })
      assert.match(
        r.out,
        new RegExp(
          `^MX-FAIL preflight port: TCP port ${taken}, which the sidecar needs, is taken by`,
          'm'
        )
      )
      assert.match(r.out, /failed=1/)
    } finally {
      await new Promise(resolve => server.close(resolve))
    }
    const free = sh('PHASE=preflight; FAILED=0; check_ports; echo "failed=$FAILED"', {
      MX_SIDECAR_PORTS: '1'
    })
    assert.match(free.out, /failed=0/)
    assert.doesNotMatch(free.out, /MX-FAIL/)
  })

  test('preflight reports one MX-FAIL line per failed check and exits 10', () => {
    // a clock far from the runner's and more free disk than any machine has
    const r = sh('WORK=. ; preflight', {
      MX_STATE_DIR: join(dir, 'state'),
      MX_RUNNER_TIME: '1000',
      MX_MIN_DISK_MB: '999999999'
    })
    assert.equal(r.code, 10, r.out + r.err)
    assert.match(r.out, /^MX-FAIL preflight clock: the host clock is \d+s away from the runner's/m)
    assert.match(
      r.out,
      /^MX-FAIL preflight disk: only \d+ MB free under \/var\/lib, need 999999999 MB$/m
    )
    assert.match(r.out, /^MX-PHASE preflight fail \d+$/m)
    assert.equal(r.out.split('\n').filter(l => l.startsWith('MX-FAIL preflight clock')).length, 1)
  })
})
