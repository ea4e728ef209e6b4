// The remote install script: the embedded copy equals install.sh, shellcheck finds nothing, and
// its helpers do what they say when sourced one by one in a temporary directory.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'
import { INSTALL_SCRIPT } from '../../src/host/installScript.ts'

const scriptPath = fileURLToPath(new URL('../../src/host/install.sh', import.meta.url))

/** Sources install.sh (helpers only) and runs `body` in /bin/sh. */
function sh(
  body: string,
  env: Record<string, string> = {}
): { code: number; out: string; err: string } {
  const r = spawnSync('/bin/sh', ['-c', `. "$1"\n${body}`, 'sh', scriptPath], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MX_SOURCE_ONLY: '1', ...env }
  })
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr }
}

describe('install.sh', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mx-install-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('installScript.ts carries install.sh unchanged (run gen-install-script.ts after edits)', () => {
    assert.ok(
      INSTALL_SCRIPT === readFileSync(scriptPath, 'utf8'),
      'src/host/installScript.ts is stale: run node src/host/gen-install-script.ts'
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

  test('place_file is atomic, sets the mode, and reports only real changes', () => {
    const src = join(dir, 'src')
    const dest = join(dir, 'nested', 'dir', 'token')
    writeFileSync(src, 'secret-token')
    assert.equal(sh(`place_file "${src}" "${dest}" 600 ''; echo $PLACED`).out, '1\n')
    assert.equal(readFileSync(dest, 'utf8'), 'secret-token')
    assert.equal(statSync(dest).mode & 0o777, 0o600)
    assert.equal(sh(`place_file "${src}" "${dest}" 600 ''; echo $PLACED`).out, '0\n')
    assert.equal(sh(`place_file "${src}" "${dest}" 644 ''; echo $PLACED`).out, '1\n')
    assert.equal(statSync(dest).mode & 0o777, 0o644)
    writeFileSync(src, 'new')
    assert.equal(sh(`place_file "${src}" "${dest}" 644 ''; echo $PLACED`).out, '1\n')
    assert.equal(readFileSync(dest, 'utf8'), 'new')
    assert.equal(existsSync(`${dest}.mx-tmp`), false)
    const leftovers = spawnSync('sh', ['-c', `ls -a "${join(dir, 'nested', 'dir')}"`], {
      encoding: 'utf8'
    })
    assert.deepEqual(leftovers.stdout.trim().split('\n'), ['.', '..', 'token'])
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
