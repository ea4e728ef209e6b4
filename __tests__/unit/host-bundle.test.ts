// The bundle: one shell payload read by `sh -s` that recreates the files byte for byte, hands
// the parameters to the script, cleans up after itself, and keeps secrets off the command line.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { describe, test } from 'node:test'
import {
  buildBundle,
  configSha256,
  officialPackageUrl,
  officialPackageUrlTemplate,
  remoteCommand,
  type HostFiles,
  type InstallParams
} from '../../src/host/bundle.ts'
import { shellQuote } from '../../src/util/shell.ts'
import { LocalTransport } from '../../src/host/local.ts'

const files: HostFiles = {
  'cluster.env': "ISTIO_NAMESPACE='vm'\nCANONICAL_SERVICE='a b'\n",
  'mesh.yaml': 'defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\n',
  hosts: '198.18.0.2 istiod.istio-system.svc',
  'root-cert.pem': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  'istio-token': 'eyJhbGciOi.secret-part.sig'
}

const legacyExtras: Required<
  Pick<HostFiles, 'cert-chain.pem' | 'key.pem' | 'sidecar.env' | 'kubedns'>
> = {
  'cert-chain.pem': '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n',
  'key.pem': '-----BEGIN PRIVATE KEY-----\nKEY-SECRET\n-----END PRIVATE KEY-----\n',
  'sidecar.env': 'ISTIO_INBOUND_PORTS=8080\n',
  kubedns: 'address=/istio-pilot/198.18.0.2\naddress=/istio-pilot.istio-system/198.18.0.2\n'
}

const params: InstallParams = {
  mode: 'install',
  version: '1.30.3',
  package: { mode: 'push', sha256: 'ab'.repeat(32), remotePath: "/var/tmp/it's.pkg" },
  statusPort: 15021,
  readyTimeoutSec: 7,
  minDiskMb: 1,
  maxSkewSec: 120,
  runnerTime: 1_700_000_000,
  keepPackage: false
}

// Stands in for install.sh: shows what it was given.
const probe = `#!/bin/sh
set -eu
echo "args=$1 $(basename "$2")"
for f in cluster.env mesh.yaml hosts root-cert.pem istio-token; do
  printf '%s=%s\\n' "$f" "$(sha256sum "$2/$f" | cut -d ' ' -f 1)"
done
echo "workdir=$2"
echo "mode=$(stat -c %a "$2")"
env | grep '^MX_' | sort
exit 3
`

describe('bundle', () => {
  test('runs through sh -s, recreates the files exactly and passes the parameters', async () => {
    const bundle = buildBundle({ files, params, script: probe })
    const local = new LocalTransport()
    const result = await local.exec(remoteCommand(30), { stdin: bundle.payload, timeoutMs: 20_000 })
    assert.equal(result.code, 3, result.stderr) // the script's exit code comes back
    const out = result.stdout
    assert.match(out, /^args=install mesh-expansion\.\w+$/m)
    for (const [name, content] of Object.entries(files)) {
      const { createHash } = await import('node:crypto')
      assert.match(
        out,
        new RegExp(
          `^${name.replace('.', '\\.')}=${createHash('sha256').update(content).digest('hex')}$`,
          'm'
        )
      )
    }
    assert.match(out, /^mode=700$/m)
    assert.match(out, /^MX_PKG_PUSHED=\/var\/tmp\/it's\.pkg$/m)
    assert.match(out, /^MX_VERSION=1\.30\.3$/m)
    assert.match(out, /^MX_READY_TIMEOUT=7$/m)
    assert.match(out, /^MX_RUNNER_TIME=1700000000$/m)
    // the host's lock: 300 s unless given
    assert.match(out, /^MX_LOCK_WAIT=300$/m)
    const workdir = /^workdir=(.*)$/m.exec(out)?.[1] ?? ''
    assert.ok(workdir.length > 0)
    assert.equal(existsSync(workdir), false, 'the work directory is removed on exit')
    assert.equal(local.stats.channels, 1)
    assert.equal(local.stats.bytesSent, bundle.payload.length)
  })

  test('an inline package arrives as $WORK/package, byte for byte', async () => {
    const pkg = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 256))
    const script =
      '#!/bin/sh\nsha256sum "$2/package" | cut -d " " -f 1; echo "inline=$MX_PKG_INLINE"\n'
    const bundle = buildBundle({ files, params, script, inlinePackage: pkg })
    const r = await new LocalTransport().exec(remoteCommand(30), {
      stdin: bundle.payload,
      timeoutMs: 20_000
    })
    const { createHash } = await import('node:crypto')
    assert.equal(r.stdout, `${createHash('sha256').update(pkg).digest('hex')}\ninline=1\n`)
  })

  test('the command line carries no secret; the token only travels encoded in the payload', () => {
    const command = remoteCommand(600)
    assert.doesNotMatch(command, /secret-part/)
    assert.match(command, /sudo -n/)
    assert.match(command, /timeout -k 5 600/)
    const payload = buildBundle({ files, params }).payload.toString()
    assert.doesNotMatch(payload, /secret-part/)
  })

  test('the config hash ignores the token and follows everything else', () => {
    const base = configSha256(files, params)
    assert.equal(configSha256({ ...files, 'istio-token': 'other' }, params), base)
    assert.notEqual(configSha256({ ...files, hosts: '198.18.0.3 istiod' }, params), base)
    assert.notEqual(configSha256(files, { ...params, version: '1.30.4' }), base)
  })

  test('the lock wait travels as MX_LOCK_WAIT and changes neither the config hash nor a restart', () => {
    const withWait = { ...params, lockWaitSec: 17 }
    assert.match(
      buildBundle({ files, params: withWait }).payload.toString(),
      /^MX_LOCK_WAIT=17; export MX_LOCK_WAIT$/m
    )
    assert.equal(
      buildBundle({ files, params: withWait }).configSha256,
      buildBundle({ files, params }).configSha256
    )
  })

  test('the config hash of files without the optional ones is what it always was', () => {
    // pinned: a modern host onboarded before the optional files existed stays "unchanged"
    assert.equal(
      configSha256(files, params),
      '89d4e7858dfc8e57fae87315f690376940c729cf668580d2e9bef5e577e0534c'
    )
    // an optional key present but undefined is absent
    assert.equal(
      configSha256({ ...files, kubedns: undefined }, params),
      configSha256(files, params)
    )
  })

  test('the config hash follows each optional file when present', () => {
    const legacy: HostFiles = { ...files, ...legacyExtras }
    const base = configSha256(legacy, params)
    assert.notEqual(base, configSha256(files, params))
    for (const name of ['cert-chain.pem', 'key.pem', 'sidecar.env', 'kubedns'] as const) {
      assert.notEqual(configSha256({ ...legacy, [name]: `${legacy[name]}x` }, params), base, name)
      const without: HostFiles = { ...legacy }
      delete without[name]
      assert.notEqual(configSha256(without, params), base, name)
    }
    // even an empty optional file is present (it is placed)
    assert.notEqual(
      configSha256({ ...files, 'sidecar.env': '' }, params),
      configSha256(files, params)
    )
  })

  test('the optional files travel only when present; an empty token and mesh.yaml arrive empty', async () => {
    const listing = `#!/bin/sh
cd "$2" && for f in *; do [ "$f" = install.sh ] || printf '%s %s\\n' "$f" "$(wc -c <"$f")"; done
`
    const run = async (given: HostFiles): Promise<string> => {
      const r = await new LocalTransport().exec(remoteCommand(30), {
        stdin: buildBundle({ files: given, params, script: listing }).payload,
        timeoutMs: 20_000
      })
      assert.equal(r.code, 0, r.stderr)
      return r.stdout
    }
    const sizes = (given: HostFiles): string =>
      Object.entries(given)
        .filter((e): e is [string, string] => e[1] !== undefined)
        .map(([name, content]) => `${name} ${Buffer.byteLength(content)}\n`)
        .sort()
        .join('')
    assert.equal(await run(files), sizes(files))
    const legacy: HostFiles = { ...files, 'istio-token': '', 'mesh.yaml': '', ...legacyExtras }
    assert.equal(await run(legacy), sizes(legacy))
    assert.match(sizes(legacy), /^istio-token 0\nkey\.pem \d+\nkubedns \d+\nmesh\.yaml 0\n/m)
    // the key travels encoded, never in clear
    assert.doesNotMatch(buildBundle({ files: legacy, params }).payload.toString(), /KEY-SECRET/)
  })

  test('the shell quoter survives quotes', () => {
    assert.equal(shellQuote("it's"), `'it'"'"'s'`)
  })

  test('official package URLs (never fetched in tests)', () => {
    assert.equal(
      officialPackageUrl('1.30.3', 'amd64'),
      'https://storage.googleapis.com/istio-release/releases/1.30.3/deb/istio-sidecar.deb'
    )
    assert.equal(
      officialPackageUrl('1.30.3', 'arm64'),
      'https://storage.googleapis.com/istio-release/releases/1.30.3/deb/istio-sidecar-arm64.deb'
    )
    assert.equal(
      officialPackageUrl('1.29.0', 'amd64', 'rpm'),
      'https://storage.googleapis.com/istio-release/releases/1.29.0/rpm/istio-sidecar.rpm'
    )
    assert.equal(
      officialPackageUrlTemplate('1.30.3'),
      'https://storage.googleapis.com/istio-release/releases/1.30.3/@FAMILY@/istio-sidecar@ARCHSUFFIX@.@FAMILY@'
    )
    assert.throws(() => officialPackageUrl('latest', 'amd64'), /not an Istio release version/)
  })
})
