// install.sh as a root program on hostile ground (issue #15), run against a scratch root
// (MX_ROOT) with its functions sourced one by one: links planted by the proxy user are never
// followed, temporary names are not predictable, a swapped token directory is repaired or refused
// without touching what it points to, uninstall removes exactly what the manifest lists, a
// package is checked before anything is installed, one run at a time holds the host's lock, and a
// sidecar update that is not ready goes back to the last good one. The tests run as root (as CI
// does); the hostile user is a bare uid (12345) without an account.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { INSTALL_SH_PATH, sourced, type ShellRun as Run } from '../helpers/installScript.ts'

const scriptPath = INSTALL_SH_PATH
const HOSTILE = 12345
const OTHER = 23456

const sh = sourced

const sha256 = (data: string): string => createHash('sha256').update(data).digest('hex')
const mode = (path: string): number => lstatSync(path).mode & 0o7777
const owner = (path: string): number => lstatSync(path).uid

describe('install.sh on hostile ground', () => {
  let base: string
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'mx-safety-'))
    // the hostile uid must be able to walk into the scratch roots
    chmodSync(base, 0o755)
  })
  after(() => rmSync(base, { recursive: true, force: true }))

  /** A scratch root with the rendered files of a modern host in root/work. */
  function scratch(name: string): { root: string; work: string; env: Record<string, string> } {
    const root = join(base, name)
    const work = join(root, 'work')
    mkdirSync(work, { recursive: true })
    chmodSync(root, 0o755)
    for (const [file, content] of [
      ['cluster.env', "ISTIO_SERVICE_CIDR='10.0.0.0/16'\n"],
      ['mesh.yaml', 'defaultConfig: {}\n'],
      ['hosts', '198.18.0.2 istiod.istio-system.svc\n'],
      ['root-cert.pem', 'ROOT\n'],
      ['istio-token', 'token-1']
    ] as const)
      writeFileSync(join(work, file), content)
    return { root, work, env: { MX_ROOT: root, MX_OWNER: String(HOSTILE) } }
  }

  /** A root-owned file and directory the proxy user must never reach. */
  function victims(root: string): { file: string; dir: string } {
    const dir = join(root, 'victim')
    mkdirSync(dir, { mode: 0o755 })
    chmodSync(dir, 0o755)
    writeFileSync(join(dir, 'keep'), 'root only\n', { mode: 0o644 })
    const file = join(root, 'victim-file')
    writeFileSync(file, 'root only\n', { mode: 0o644 })
    return { file, dir }
  }

  test("thousands of planted temporary names go in one pass with one line; the proxy user's own directory is left alone", () => {
    const { root, env } = scratch('planted-names')
    const { file: victim } = victims(root)
    const envoy = join(root, 'var/lib/istio/envoy')
    const certs = join(root, 'etc/certs')
    mkdirSync(envoy, { recursive: true })
    mkdirSync(certs, { recursive: true })
    for (let pid = 1; pid <= 3000; pid++)
      symlinkSync(victim, join(envoy, `cluster.env.mx-tmp.${pid}`))
    symlinkSync(victim, join(certs, 'root-cert.pem.mx-tmp.1'))
    const r = sh('clean_old_temporaries', env)
    assert.equal(r.code, 0, r.out + r.err)
    assert.deepEqual(r.out.trim().split('\n'), [
      'MX-LOG removed 3000 temporary name(s) of an older build from /var/lib/istio/envoy'
    ])
    assert.deepEqual(readdirSync(envoy), [])
    assert.equal(readFileSync(victim, 'utf8'), 'root only\n', "the links' target is unchanged")
    assert.deepEqual(readdirSync(certs), ['root-cert.pem.mx-tmp.1'])
  })

  test('place_file replaces a link planted at its destination, never writes through it', () => {
    const { root, work, env } = scratch('link-dest')
    const { file: victim } = victims(root)
    const dest = join(root, 'var/lib/istio/envoy/cluster.env')
    mkdirSync(join(root, 'var/lib/istio/envoy'), { recursive: true })
    symlinkSync(victim, dest)
    const r = sh(`place_file "${work}/cluster.env" "${dest}" 644 ''; echo "placed=$PLACED"`, env)
    assert.equal(r.code, 0, r.out + r.err)
    assert.match(r.out, /placed=1/)
    assert.ok(lstatSync(dest).isFile(), 'the link is replaced by a file')
    assert.equal(readFileSync(dest, 'utf8'), "ISTIO_SERVICE_CIDR='10.0.0.0/16'\n")
    assert.equal(readFileSync(victim, 'utf8'), 'root only\n', "the link's target is unchanged")
    assert.equal(mode(victim), 0o644)
  })

  test('temporary names are not predictable: a link at the old name ($2.mx-tmp.$$) is not followed', () => {
    const { root, work, env } = scratch('tmp-names')
    const { file: victim } = victims(root)
    const dir = join(root, 'etc/istio/config')
    mkdirSync(dir, { recursive: true })
    const dest = join(dir, 'mesh')
    const log = join(root, 'mv.log')
    // the old build wrote "$dest.mx-tmp.$$" with cp: a link there sent the bytes to its target
    const body = `ln -s "${victim}" "${dest}.mx-tmp.$$"
mv() { echo "$2" >>"${log}"; command mv "$@"; }
place_file "${work}/mesh.yaml" "${dest}" 644 ''
printf 'x' >>"${work}/mesh.yaml"
place_file "${work}/mesh.yaml" "${dest}" 644 ''
echo "placed=$PLACED"`
    const r = sh(body, env)
    assert.equal(r.code, 0, r.out + r.err)
    assert.equal(
      readFileSync(victim, 'utf8'),
      'root only\n',
      'the planted link was written through'
    )
    const temporaries = readFileSync(log, 'utf8').trim().split('\n')
    assert.equal(temporaries.length, 2)
    for (const t of temporaries) assert.match(t, /^\.\/\.mx-tmp\.[A-Za-z0-9]{10}$/)
    assert.notEqual(temporaries[0], temporaries[1], 'the same temporary name twice')
    assert.deepEqual(
      readdirSync(dir).filter(n => n.includes('mx-tmp') && !n.startsWith('mesh.mx-tmp.')),
      [],
      'temporary files left'
    )
  })

  test('a system directory writable by others is refused, never changed', () => {
    const { root, work, env } = scratch('sticky-etc')
    mkdirSync(join(root, 'etc'))
    chmodSync(join(root, 'etc'), 0o1777)
    const r = sh(
      `PHASE=files; place_file "${work}/mesh.yaml" "${root}/etc/tmpfiles.d/x.conf" 644 '' || echo "rc=$?"`,
      env
    )
    assert.match(r.out, /^MX-FAIL files unsafe-path: .*\/etc is writable by others \(mode 1777/m)
    assert.match(r.out, /rc=1/)
    assert.equal(mode(join(root, 'etc')), 0o1777, 'the mode of /etc was changed')
    assert.equal(existsSync(join(root, 'etc/tmpfiles.d')), false)
  })

  test("a tokens directory swapped for the proxy user's link is repaired; its target keeps its owner and files", () => {
    const { root, work, env } = scratch('tokens-link')
    const { dir: victimDir } = victims(root)
    // what an older build left: /var/run/secrets given to the proxy user, who swapped tokens
    const secrets = join(root, 'var/run/secrets')
    mkdirSync(secrets, { recursive: true })
    chmodSync(secrets, 0o755)
    lchownSync(secrets, HOSTILE, HOSTILE)
    symlinkSync(victimDir, join(secrets, 'tokens'))
    lchownSync(join(secrets, 'tokens'), HOSTILE, HOSTILE)
    mkdirSync(join(root, 'var/lib/mesh-expansion'), { recursive: true })
    const r = sh(`WORK="${work}"; files; echo "changed=$FILES_CHANGED"`, env)
    assert.equal(r.code, 0, r.out + r.err)
    assert.match(
      r.out,
      /MX-LOG .*\/var\/run\/secrets\/tokens was a symlink owned by .*removed, not followed/
    )
    const tokens = join(secrets, 'tokens')
    assert.ok(lstatSync(tokens).isDirectory(), 'tokens is a real directory again')
    assert.equal(owner(tokens), 0)
    assert.equal(mode(tokens), 0o755)
    assert.equal(owner(secrets), 0, '/var/run/secrets is root again')
    assert.equal(mode(secrets), 0o755)
    const token = join(tokens, 'istio-token')
    assert.equal(owner(token), HOSTILE)
    assert.equal(mode(token), 0o600)
    // the link's target: same owner, mode and files
    assert.equal(owner(victimDir), 0)
    assert.equal(mode(victimDir), 0o755)
    assert.deepEqual(readdirSync(victimDir), ['keep'])
    assert.equal(owner(join(victimDir, 'keep')), 0)
    // the files root sources are root's, in root's directory; the agent's directory is its own
    for (const f of ['var/lib/istio/envoy/cluster.env', 'etc/istio/config/mesh']) {
      assert.equal(owner(join(root, f)), 0, f)
      assert.equal(mode(join(root, f)), 0o644, f)
    }
    assert.equal(owner(join(root, 'var/lib/istio/envoy')), 0)
    assert.equal(owner(join(root, 'etc/certs')), HOSTILE)
    assert.equal(owner(join(root, 'etc/certs/root-cert.pem')), HOSTILE)
    assert.match(
      readFileSync(join(root, 'etc/tmpfiles.d/mesh-expansion.conf'), 'utf8'),
      /^d \/run\/secrets 0755 root root -\nd \/run\/secrets\/tokens 0755 root root -\n/m
    )
  })

  test("a root-owned link, or another user's directory, where ours is expected is refused; nothing changes", () => {
    const { root, work, env } = scratch('refuse')
    const { dir: victimDir } = victims(root)
    mkdirSync(join(root, 'var/run/secrets'), { recursive: true })
    symlinkSync(victimDir, join(root, 'var/run/secrets/tokens')) // root's link: not ours to remove
    mkdirSync(join(root, 'var/lib/mesh-expansion'), { recursive: true })
    const r = sh(`WORK="${work}"; paths_check; echo checked`, env)
    assert.equal(r.code, 31, r.out + r.err)
    assert.match(
      r.out,
      /^MX-FAIL files unsafe-path: .*\/var\/run\/secrets\/tokens is a symlink owned by root \(uid 0\) \(to .*victim\) where a directory is expected: refused/m
    )
    assert.doesNotMatch(r.out, /checked/)
    assert.ok(lstatSync(join(root, 'var/run/secrets/tokens')).isSymbolicLink())
    assert.deepEqual(readdirSync(victimDir), ['keep'])

    // another user's directory where root's is expected
    rmSync(join(root, 'var/run/secrets/tokens'))
    mkdirSync(join(root, 'var/lib/istio/envoy'), { recursive: true })
    lchownSync(join(root, 'var/lib/istio/envoy'), OTHER, OTHER)
    const f = sh(`WORK="${work}"; files; echo files-done`, env)
    assert.equal(f.code, 31, f.out + f.err)
    assert.match(
      f.out,
      /^MX-FAIL files unsafe-path: .*\/var\/lib\/istio\/envoy is owned by .*\(uid 23456\), expected root/m
    )
    assert.equal(owner(join(root, 'var/lib/istio/envoy')), OTHER, 'the owner was changed')
    assert.equal(existsSync(join(root, 'var/lib/istio/envoy/cluster.env')), false)
  })

  test("the package's istio-proxy envoy directory goes back to root; a link in the agent's directory is replaced as that user", () => {
    const { root, work, env } = scratch('repair-envoy')
    const { file: victim } = victims(root)
    const envoy = join(root, 'var/lib/istio/envoy')
    const certs = join(root, 'etc/certs')
    mkdirSync(envoy, { recursive: true })
    mkdirSync(certs, { recursive: true })
    lchownSync(envoy, HOSTILE, HOSTILE) // as the package's postinst leaves it
    lchownSync(certs, HOSTILE, HOSTILE)
    // the proxy user's own cluster.env (it owned the directory) and a link in its certs directory
    writeFileSync(join(envoy, 'cluster.env'), 'X=$(id)\n')
    lchownSync(join(envoy, 'cluster.env'), HOSTILE, HOSTILE)
    symlinkSync(victim, join(certs, 'root-cert.pem'))
    lchownSync(join(certs, 'root-cert.pem'), HOSTILE, HOSTILE)
    mkdirSync(join(root, 'var/lib/mesh-expansion'), { recursive: true })
    const r = sh(`WORK="${work}"; files`, env)
    assert.equal(r.code, 0, r.out + r.err)
    assert.equal(owner(envoy), 0)
    assert.equal(owner(join(envoy, 'cluster.env')), 0)
    assert.equal(
      readFileSync(join(envoy, 'cluster.env'), 'utf8'),
      "ISTIO_SERVICE_CIDR='10.0.0.0/16'\n"
    )
    assert.ok(lstatSync(join(certs, 'root-cert.pem')).isFile())
    assert.equal(owner(join(certs, 'root-cert.pem')), HOSTILE)
    assert.equal(readFileSync(victim, 'utf8'), 'root only\n')
    assert.equal(owner(victim), 0)
  })

  test('uninstall removes exactly what the manifest lists, and leaves what we did not place', () => {
    const { root, work, env } = scratch('manifest')
    mkdirSync(join(root, 'var/lib/mesh-expansion'), { recursive: true })
    // the package's own: /etc/certs and /var/lib/istio/envoy exist before us, with a file each
    mkdirSync(join(root, 'etc/certs'), { recursive: true })
    lchownSync(join(root, 'etc/certs'), HOSTILE, HOSTILE)
    mkdirSync(join(root, 'var/lib/istio/envoy'), { recursive: true })
    writeFileSync(join(root, 'var/lib/istio/envoy/sidecar.env'), '# the package\n')
    writeFileSync(join(root, 'etc/hosts'), '127.0.0.1 localhost\n')
    // a key someone else provisioned before our first run
    writeFileSync(join(root, 'etc/certs/key.pem'), 'SOMEONE ELSE\n')
    const r = sh(`WORK="${work}"; manifest_init; files`, env)
    assert.equal(r.code, 0, r.out + r.err)
    const manifest = readFileSync(join(root, 'var/lib/mesh-expansion/manifest'), 'utf8')
    assert.equal(mode(join(root, 'var/lib/mesh-expansion/manifest')), 0o600)
    for (const line of [
      'file /etc/certs/root-cert.pem',
      'file /var/lib/istio/envoy/cluster.env',
      'file /etc/istio/config/mesh',
      'file /var/run/secrets/tokens/istio-token',
      'file /etc/tmpfiles.d/mesh-expansion.conf',
      'block /etc/hosts',
      'dir /etc/istio/config',
      'dir /var/run/secrets/tokens'
    ])
      assert.ok(manifest.split('\n').includes(line), `manifest lacks "${line}":\n${manifest}`)
    assert.doesNotMatch(manifest, /^dir \/etc\/certs$/m, 'a directory that was there is not ours')
    assert.doesNotMatch(manifest, /^package /m)
    assert.doesNotMatch(manifest, /sidecar\.env/)
    // the agent's outputs: written by the sidecar we started (go), or there before us (stay)
    assert.match(manifest, /^agent \/etc\/certs\/cert-chain\.pem$/m)
    assert.doesNotMatch(manifest, /^agent \/etc\/certs\/key\.pem$/m)
    writeFileSync(join(root, 'etc/certs/cert-chain.pem'), 'AGENT\n')
    writeFileSync(join(root, 'var/run/secrets/tokens/key.pem'), 'AGENT\n')
    writeFileSync(join(root, 'etc/istio/config/other'), 'not ours\n')
    const u = sh(
      `WORK="${work}"; changed=0; resolve_owner; uninstall_files; echo "failed=$FAILED"`,
      env
    )
    assert.equal(u.code, 0, u.out + u.err)
    assert.match(u.out, /failed=0/)
    for (const gone of [
      'etc/certs/root-cert.pem',
      'etc/certs/cert-chain.pem',
      'var/lib/istio/envoy/cluster.env',
      'etc/istio/config/mesh',
      'var/run/secrets/tokens',
      'etc/tmpfiles.d'
    ])
      assert.equal(existsSync(join(root, gone)), false, `${gone} is left`)
    for (const kept of [
      'etc/certs/key.pem',
      'var/lib/istio/envoy/sidecar.env',
      'etc/istio/config/other'
    ])
      assert.ok(existsSync(join(root, kept)), `${kept} was removed`)
    assert.equal(readFileSync(join(root, 'etc/hosts'), 'utf8'), '127.0.0.1 localhost\n')
    assert.match(u.out, /MX-LOG \/etc\/istio\/config is not empty: left/)
  })

  test('uninstall without a manifest removes the mesh config install writes, and does not follow a swapped tokens link', () => {
    const { root, env } = scratch('legacy')
    const { dir: victimDir } = victims(root)
    writeFileSync(join(victimDir, 'istio-token'), 'root only\n')
    for (const d of ['etc/istio/config', 'var/lib/istio/config', 'var/run/secrets'])
      mkdirSync(join(root, d), { recursive: true })
    writeFileSync(join(root, 'etc/istio/config/mesh'), 'ours\n')
    writeFileSync(join(root, 'var/lib/istio/config/mesh'), 'the package\n')
    lchownSync(join(root, 'var/run/secrets'), HOSTILE, HOSTILE)
    symlinkSync(victimDir, join(root, 'var/run/secrets/tokens'))
    lchownSync(join(root, 'var/run/secrets/tokens'), HOSTILE, HOSTILE)
    const work = join(root, 'work')
    const u = sh(
      `WORK="${work}"; changed=0; resolve_owner; uninstall_files; echo "failed=$FAILED"`,
      env
    )
    assert.equal(existsSync(join(root, 'etc/istio/config/mesh')), false)
    assert.equal(readFileSync(join(root, 'var/lib/istio/config/mesh'), 'utf8'), 'the package\n')
    assert.equal(readFileSync(join(victimDir, 'istio-token'), 'utf8'), 'root only\n', u.out)
    assert.match(
      u.out,
      /^MX-FAIL .*unsafe-path: .*\/var\/run\/secrets\/tokens changed while it was used/m
    )
    assert.match(u.out, /failed=1/)
  })

  test('a package URL over plain http without a sha256 is refused before anything is fetched', () => {
    const { root, work, env } = scratch('http')
    const log = join(root, 'calls.log')
    const stubs = `installed_version() { :; }
curl() { echo "curl $*" >>"${log}"; return 1; }
wget() { echo "wget $*" >>"${log}"; return 1; }
dpkg() { echo "dpkg $*" >>"${log}"; }
FAMILY=deb; ARCH=amd64; WORK="${work}"; state_dir; package`
    const r = sh(stubs, { ...env, MX_PKG_MODE: 'url', MX_PKG_URL: 'http://198.18.0.1/sidecar.deb' })
    assert.equal(r.code, 21, r.out + r.err)
    assert.match(
      r.out,
      /^MX-FAIL package checksum: http:\/\/198\.18\.0\.1\/sidecar\.deb is not https and no sha256 is given: refused, nothing installed/m
    )
    assert.equal(existsSync(log), false, 'something was fetched or installed')
  })

  test('an https package without a sha256 is checked against <url>.sha256, fetched over https only', () => {
    const { root, work, env } = scratch('https')
    const log = join(root, 'calls.log')
    const bytes = 'a sidecar package\n'
    // the stub curl writes the package, or its checksum (right, then wrong), where -o says
    const run = (sum: string): Run =>
      sh(
        `installed_version() { :; }
check_dependencies() { :; }
curl() {
  echo "curl $*" >>"${log}"
  while [ $# -gt 1 ]; do [ "$1" = -o ] && out=$2; shift; done
  case $1 in *.sha256) echo "${sum}  sidecar.deb" >"$out" ;; *) printf '${bytes.replace(/\n/g, '\\n')}' >"$out" ;; esac
}
dpkg() { echo "dpkg $*" >>"${log}"; }
FAMILY=deb; ARCH=amd64; WORK="${work}"; state_dir; package; echo "action=$PKG_ACTION"`,
        { ...env, MX_PKG_MODE: 'url', MX_PKG_URL: 'https://198.18.0.1/sidecar.deb' }
      )
    const ok = run(sha256(bytes))
    assert.equal(ok.code, 0, ok.out + ok.err)
    assert.match(ok.out, /action=installed/)
    const calls = readFileSync(log, 'utf8')
    assert.match(
      calls,
      /^curl .*--proto =https --proto-redir =https .*https:\/\/198\.18\.0\.1\/sidecar\.deb$/m
    )
    assert.match(calls, /^curl .*--proto =https --proto-redir =https .*sidecar\.deb\.sha256$/m)
    assert.match(calls, /^dpkg -i /m)
    assert.equal(readFileSync(join(root, 'var/lib/mesh-expansion/package.deb'), 'utf8'), bytes)
    rmSync(log)
    const bad = run('0'.repeat(64))
    assert.equal(bad.code, 21, bad.out + bad.err)
    assert.match(
      bad.out,
      /^MX-FAIL package checksum: the package's SHA-256 is [0-9a-f]{64}, expected 0{64}: refused/m
    )
    assert.doesNotMatch(readFileSync(log, 'utf8'), /^dpkg/m, 'installed despite a wrong checksum')
  })

  test('a pushed package whose bytes differ from its sha256 is refused and nothing is installed', () => {
    const { root, work, env } = scratch('pushed')
    const log = join(root, 'calls.log')
    mkdirSync(join(root, 'var/tmp'), { recursive: true })
    const pushed = join(root, 'var/tmp/mesh-expansion-0123456789abcdef.pkg')
    const stubs = `installed_version() { :; }
check_dependencies() { :; }
dpkg() { echo "dpkg $*" >>"${log}"; }
FAMILY=deb; ARCH=amd64; WORK="${work}"; state_dir; package; echo "action=$PKG_ACTION"`
    const pushEnv = (sum: string): Record<string, string> => ({
      ...env,
      MX_PKG_MODE: 'push',
      MX_PKG_PUSHED: pushed,
      MX_PKG_SHA256: sum
    })
    writeFileSync(pushed, 'tampered bytes\n')
    const r = sh(stubs, pushEnv(sha256("the runner's bytes\n")))
    assert.equal(r.code, 21, r.out + r.err)
    assert.match(
      r.out,
      /^MX-FAIL package checksum: the package's SHA-256 is [0-9a-f]{64}, expected [0-9a-f]{64}: refused, nothing installed$/m
    )
    assert.equal(existsSync(log), false, 'dpkg ran')
    const state = readdirSync(join(root, 'var/lib/mesh-expansion'))
    assert.deepEqual(
      state.filter(n => n.startsWith('incoming') || n.startsWith('package')),
      []
    )

    // a link where the pushed file should be: refused, its target untouched
    const { file: victim } = victims(root)
    rmSync(pushed, { force: true })
    symlinkSync(victim, pushed)
    const link = sh(stubs, pushEnv(sha256('root only\n')))
    assert.equal(link.code, 21, link.out + link.err)
    assert.match(
      link.out,
      /^MX-FAIL package unsafe-path: .*mesh-expansion-0123456789abcdef\.pkg is a symlink/m
    )
    assert.equal(readFileSync(victim, 'utf8'), 'root only\n')
    assert.equal(existsSync(log), false, 'dpkg ran')

    // a file of the proxy user (not root, not the SSH user): refused
    rmSync(pushed)
    writeFileSync(pushed, 'bytes\n')
    lchownSync(pushed, HOSTILE, HOSTILE)
    const foreign = sh(stubs, { ...pushEnv(sha256('bytes\n')), SUDO_UID: '1000' })
    assert.equal(foreign.code, 21, foreign.out + foreign.err)
    assert.match(
      foreign.out,
      /^MX-FAIL package unsafe-path: .* is owned by .*uid 12345.*not by root or the SSH user/m
    )
    assert.equal(existsSync(log), false, 'dpkg ran')

    // the SSH user's file with the right bytes: installed from our copy, which is kept
    lchownSync(pushed, 1000, 1000)
    const good = sh(stubs, { ...pushEnv(sha256('bytes\n')), SUDO_UID: '1000' })
    assert.equal(good.code, 0, good.out + good.err)
    assert.match(good.out, /action=installed/)
    assert.match(
      readFileSync(log, 'utf8'),
      /^dpkg -i .*\/var\/lib\/mesh-expansion\/incoming\.[A-Za-z0-9]+$/m
    )
    assert.equal(existsSync(pushed), false)
    assert.equal(readFileSync(join(root, 'var/lib/mesh-expansion/package.deb'), 'utf8'), 'bytes\n')
    // not there before: ours, so uninstall may purge it
    assert.match(
      readFileSync(join(root, 'var/lib/mesh-expansion/manifest'), 'utf8'),
      /^package istio-sidecar /m
    )
  })

  test('the lock: a second run waits for the first, and gives up after MX_LOCK_WAIT with the holder named', async () => {
    const { root, env } = scratch('lock')
    const holder = spawn(
      '/bin/sh',
      ['-c', `. "$1"\ntake_lock; echo "locked $$"; sleep 4`, 'sh', scriptPath],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MX_SOURCE_ONLY: '1', ...env } }
    )
    try {
      const pid = await new Promise<string>((resolve, reject) => {
        let out = ''
        holder.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString()
          const m = /locked (\d+)/.exec(out)
          if (m?.[1]) resolve(m[1])
        })
        holder.on('exit', code => reject(new Error(`the holder ended (${code}): ${out}`)))
      })
      const started = Date.now()
      const r = sh('take_lock; echo got-it', { ...env, MX_LOCK_WAIT: '1' })
      assert.equal(r.code, 12, r.out + r.err)
      assert.ok(Date.now() - started >= 900, 'it did not wait')
      assert.match(
        r.out,
        new RegExp(
          `^MX-LOG waiting for another mesh-expansion run on this host \\(pid ${pid}\\)$`,
          'm'
        )
      )
      assert.match(
        r.out,
        new RegExp(
          `^MX-FAIL preflight lock: another mesh-expansion run holds this host's lock \\(pid ${pid}\\) after waiting 1s$`,
          'm'
        )
      )
      assert.doesNotMatch(r.out, /got-it/)
      // a longer wait: it gets the lock once the first run ends
      const waited = sh('take_lock; echo got-it', { ...env, MX_LOCK_WAIT: '20' })
      assert.equal(waited.code, 0, waited.out + waited.err)
      assert.match(waited.out, /^MX-LOG waiting for another mesh-expansion run/m)
      assert.match(waited.out, /got-it/)
    } finally {
      holder.kill()
    }
    // the lock is not in the state directory (a run that ends may remove that directory)
    assert.equal(existsSync(join(root, 'var/lib/mesh-expansion')), false)
    assert.equal(owner(join(root, 'run/mesh-expansion.lock')), 0)
    // a link where the lock goes is refused
    rmSync(join(root, 'run/mesh-expansion.lock'))
    const { file: victim } = victims(root)
    symlinkSync(victim, join(root, 'run/mesh-expansion.lock'))
    const link = sh('take_lock; echo got-it', env)
    assert.equal(link.code, 12, link.out)
    assert.match(link.out, /^MX-FAIL preflight lock: .*lock is not a regular file/m)
    assert.equal(readFileSync(victim, 'utf8'), 'root only\n')
  })

  /** A host whose sidecar was ready with the files of `work`, about to get new ones. */
  function updatedHost(name: string): {
    root: string
    work: string
    env: Record<string, string>
    log: string
  } {
    const s = scratch(name)
    mkdirSync(join(s.root, 'var/lib/mesh-expansion'), { recursive: true })
    const first = sh(`WORK="${s.work}"; files >/dev/null`, s.env)
    assert.equal(first.code, 0, first.out + first.err)
    return { ...s, log: join(s.root, 'systemctl.log') }
  }

  const serviceStubs = (
    log: string,
    readyAfter: string
  ): string => `installed_version() { echo 1.30.3; }
has_node_agent() { return 1; }
clean_iptables() { echo clean >>"${log}"; }
systemctl() {
  echo "systemctl $*" >>"${log}"
  case "$*" in "restart istio") echo x >>"${log}.restarts" ;; esac
  return 0
}
# ready only after the restart number given (none: never)
probe_ready() { [ -n "${readyAfter}" ] && [ "$(wc -l <"${log}.restarts" 2>/dev/null || echo 0)" -ge 0${readyAfter} ]; }`

  test('an update that is not ready goes back to the last good files and reports rolled back (exit 42)', () => {
    const { root, work, env, log } = updatedHost('rollback')
    writeFileSync(join(work, 'cluster.env'), "ISTIO_SERVICE_CIDR='10.9.0.0/16'\n")
    const r = sh(
      `${serviceStubs(log, '2')}
FAMILY=deb; WORK="${work}"; WAS_READY=1; snapshot; files >/dev/null; service`,
      { ...env, MX_READY_TIMEOUT: '1' }
    )
    assert.equal(r.code, 42, r.out + r.err)
    assert.match(r.out, /^MX-RESULT changed=1 restarted=1 ready=1 package=skipped rolledback=1$/m)
    assert.match(
      r.out,
      /^MX-FAIL ready rolled-back: the new sidecar was not ready within 1s; the previous version is running again$/m
    )
    assert.equal(
      readFileSync(join(root, 'var/lib/istio/envoy/cluster.env'), 'utf8'),
      "ISTIO_SERVICE_CIDR='10.0.0.0/16'\n",
      'the previous cluster.env is back'
    )
    assert.equal(owner(join(root, 'var/lib/istio/envoy/cluster.env')), 0)
    assert.doesNotMatch(readFileSync(log, 'utf8'), /disable/)
  })

  test('a rollback that does not come up either leaves the host reachable (exit 41, rolledback=0)', () => {
    const { work, env, log } = updatedHost('rollback-fails')
    writeFileSync(join(work, 'cluster.env'), "ISTIO_SERVICE_CIDR='10.9.0.0/16'\n")
    const r = sh(
      `${serviceStubs(log, '')}
FAMILY=deb; WORK="${work}"; WAS_READY=1; snapshot; files >/dev/null; service`,
      { ...env, MX_READY_TIMEOUT: '1' }
    )
    assert.equal(r.code, 41, r.out + r.err)
    assert.match(r.out, /^MX-RESULT changed=1 restarted=1 ready=0 package=skipped rolledback=0$/m)
    assert.match(
      r.out,
      /^MX-FAIL ready rollback-failed: .*the previous sidecar was not ready either.*iptables capture removed$/m
    )
    const calls = readFileSync(log, 'utf8')
    assert.match(calls, /systemctl disable --now --quiet istio/)
    assert.match(calls, /^clean$/m)
  })

  test('a package update that is not ready reinstalls the previous package from the kept copy', () => {
    const { root, work, env, log } = updatedHost('rollback-package')
    const state = join(root, 'var/lib/mesh-expansion')
    writeFileSync(join(state, 'package.deb'), 'previous package\n')
    writeFileSync(join(state, 'package.sha256'), `${sha256('previous package\n')}\n`)
    const r = sh(
      `${serviceStubs(log, '2')}
dpkg() { echo "dpkg $* $(cat "$2")" >>"${log}"; }
FAMILY=deb; WORK="${work}"; WAS_READY=1; snapshot
state_file_from /dev/null package.deb; PKG_CHANGED=1; PKG_ACTION=installed
files >/dev/null; service`,
      { ...env, MX_READY_TIMEOUT: '1' }
    )
    assert.equal(r.code, 42, r.out + r.err)
    assert.match(
      readFileSync(log, 'utf8'),
      /^dpkg -i .*last-good\/state\.package\.deb previous package$/m
    )
    assert.equal(readFileSync(join(state, 'package.deb'), 'utf8'), 'previous package\n')
    assert.equal(
      readFileSync(join(state, 'package.sha256'), 'utf8'),
      `${sha256('previous package\n')}\n`
    )
  })

  test('a first install that is not ready stops and disables the sidecar (exit 41), as before', () => {
    const { work, env, log } = updatedHost('first')
    const r = sh(
      `${serviceStubs(log, '')}
FAMILY=deb; WORK="${work}"; WAS_READY=0; FILES_CHANGED=1; service`,
      { ...env, MX_READY_TIMEOUT: '1' }
    )
    assert.equal(r.code, 41, r.out + r.err)
    assert.match(
      r.out,
      /^MX-FAIL ready ready: the sidecar was not ready on :15021 within 1s; service stopped and disabled/m
    )
    assert.match(r.out, /rolledback=0/)
    assert.match(readFileSync(log, 'utf8'), /systemctl disable --now --quiet istio/)
  })

  test('install then uninstall, end to end with the host commands stood in: lock, manifest, exact removal', () => {
    const { root, work, env } = scratch('end-to-end')
    const log = join(root, 'calls.log')
    writeFileSync(join(root, 'hosts-before'), '127.0.0.1 localhost\n')
    mkdirSync(join(root, 'etc'), { recursive: true })
    writeFileSync(join(root, 'etc/hosts'), '127.0.0.1 localhost\n')
    // the package was there before us: its directories, the proxy user's where upstream's are
    for (const d of [
      'etc/certs',
      'var/lib/istio/envoy',
      'var/lib/istio/config',
      'var/lib/istio/proxy'
    ]) {
      mkdirSync(join(root, d), { recursive: true })
      lchownSync(join(root, d), HOSTILE, HOSTILE)
    }
    symlinkSync(join(root, 'var/lib/istio'), join(root, 'etc/istio'))
    const stubs = `preflight() { FAMILY=deb; ARCH=amd64; begin_phase preflight; end_phase ok; }
installed_version() { echo 1.30.3; }
systemctl() {
  echo "systemctl $*" >>"${log}"
  case "$1" in
    is-active) grep -q '^systemctl restart istio' "${log}" ;;
    is-enabled) grep -q '^systemctl enable' "${log}" ;;
  esac
}
dpkg() { echo "dpkg $*" >>"${log}"; }
has_node_agent() { return 1; }
probe_ready() { true; }
track_sessions() { :; }
untrack_sessions() { :; }
clean_iptables() { echo clean >>"${log}"; }
# this machine's own iptables has no capture: the check of it is host-install-repair's
capture_missing() { return 1; }
dns_present() { return 1; }`
    const install = sh(`${stubs}\nWORK="${work}"; install_main`, env)
    assert.equal(install.code, 0, install.out + install.err)
    assert.match(install.out, /^MX-RESULT changed=1 restarted=1 ready=1 package=skipped$/m)
    const state = join(root, 'var/lib/mesh-expansion')
    assert.equal(mode(state), 0o700)
    assert.ok(existsSync(join(root, 'run/mesh-expansion.lock')))
    const manifest = readFileSync(join(state, 'manifest'), 'utf8')
    assert.doesNotMatch(manifest, /^package /m, 'the package was there before us')
    assert.match(manifest, /^file \/etc\/istio\/config\/mesh$/m)
    // through the package's /etc/istio link: the directories root's again where root sources
    assert.equal(owner(join(root, 'var/lib/istio/envoy')), 0)
    assert.equal(owner(join(root, 'var/lib/istio/config')), 0)
    assert.equal(owner(join(root, 'var/lib/istio/proxy')), HOSTILE)
    assert.equal(owner(join(root, 'etc/certs')), HOSTILE)
    assert.ok(lstatSync(join(root, 'etc/istio')).isSymbolicLink(), "the package's link stays")
    const again = sh(`${stubs}\nWORK="${work}"; install_main`, env)
    assert.equal(again.code, 0, again.out + again.err)
    assert.match(again.out, /^MX-RESULT changed=0 restarted=0 ready=1 package=skipped$/m)
    // the sidecar was ready before this run: its files were kept as the last good ones
    assert.match(
      readFileSync(join(state, 'last-good/files'), 'utf8'),
      /^f\d+ 644 .*\/var\/lib\/istio\/envoy\/cluster\.env$/m
    )

    const uninstall = sh(`${stubs}\nWORK="${work}"; uninstall_main`, env)
    assert.equal(uninstall.code, 0, uninstall.out + uninstall.err)
    assert.match(uninstall.out, /^MX-RESULT changed=1 restarted=0 ready=0 package=kept$/m)
    assert.doesNotMatch(
      readFileSync(log, 'utf8'),
      /^dpkg -P/m,
      'a package that was not ours is purged'
    )
    for (const gone of [
      'var/lib/istio/envoy/cluster.env',
      'var/lib/istio/config/mesh',
      'etc/certs/root-cert.pem',
      'var/run/secrets/tokens/istio-token',
      'etc/tmpfiles.d/mesh-expansion.conf',
      'var/lib/mesh-expansion'
    ])
      assert.equal(existsSync(join(root, gone)), false, `${gone} is left`)
    for (const kept of ['etc/certs', 'var/lib/istio/envoy', 'var/lib/istio/proxy'])
      assert.ok(existsSync(join(root, kept)), `${kept} was removed`)
    assert.equal(readFileSync(join(root, 'etc/hosts'), 'utf8'), '127.0.0.1 localhost\n')
    assert.deepEqual(
      readdirSync(join(root, 'etc')).filter(n => n.includes('mx-tmp')),
      [],
      'temporary files left in /etc'
    )
  })

  test('parameters are validated before anything runs', () => {
    const work = mkdtempSync(join(base, 'args-'))
    for (const [key, value] of [
      ['MX_LOCK_WAIT', '5; rm -rf /'],
      ['MX_PKG_SHA256', 'not-a-sha'],
      ['MX_OWNER', 'istio proxy'],
      ['MX_PKG_MODE', 'ftp'],
      ['MX_PKG_URL', '-o/etc/passwd'],
      ['MX_PKG_URL', 'file:///etc/shadow'],
      ['MX_VERSION', '1.30.3; reboot']
    ] as const) {
      const r = spawnSync('/bin/sh', [scriptPath, 'install', work], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MX_ROOT: work, [key]: value }
      })
      assert.equal(r.status, 2, `${key}=${value}: ${r.stdout}`)
      assert.match(r.stdout, /^MX-FAIL args /m)
    }
    assert.equal(statSync(work).isDirectory(), true)
  })

  test('preflight alone takes no lock and creates nothing', () => {
    const root = mkdtempSync(join(base, 'preflight-'))
    const r = spawnSync('/bin/sh', [scriptPath, 'preflight', root], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MX_ROOT: root }
    })
    assert.match(r.stdout, /^MX-PHASE preflight (ok|fail) \d+$/m, r.stdout + r.stderr)
    assert.deepEqual(readdirSync(root), [])
  })
})
