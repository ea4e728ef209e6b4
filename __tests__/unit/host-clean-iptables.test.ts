// The product's removal of the capture (install.sh clean_iptables, run by uninstall and by the
// rollback of a sidecar that never got ready) against the istio-start.sh of each package
// generation (istio/istio tools/packaging/common/istio-start.sh): from 1.10 `clean` removes the
// capture (1.24 on through `pilot-agent istio-iptables --cleanup-only`); before 1.10 the script
// has no `clean`, and any argument installs the capture and runs the proxy, so it is not called.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'

const scriptPath = fileURLToPath(new URL('../../src/host/install.sh', import.meta.url))

// The lines of upstream's scripts that decide what `istio-start.sh clean` does; each records the
// pilot-agent command it would run in $CALLS.
const START_SCRIPTS: Record<string, string> = {
  '1.9': [
    '#!/bin/sh',
    'if [ "${ISTIO_CUSTOM_IP_TABLES}" != "true" ] ; then',
    '  echo "istio-clean-iptables" >>"$CALLS"',
    '  echo "istio-iptables" >>"$CALLS"',
    'fi',
    'echo "proxy" >>"$CALLS"'
  ].join('\n'),
  '1.23': [
    '#!/bin/sh',
    'if [ "${1-}" = "clean" ] ; then',
    '  echo "istio-clean-iptables" >>"$CALLS"',
    '  exit 0',
    'fi',
    'echo "proxy" >>"$CALLS"'
  ].join('\n'),
  '1.24': [
    '#!/bin/sh',
    'if [ "${1-}" = "clean" ] ; then',
    '  echo "istio-iptables --cleanup-only" >>"$CALLS"',
    '  exit 0',
    'fi',
    'echo "proxy" >>"$CALLS"'
  ].join('\n')
}

describe('install.sh clean_iptables per package generation', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mx-clean-'))
    // iptables that cannot read any table: the sweep after the package's own removal skips
    mkdirSync(join(dir, 'bin'))
    for (const name of ['iptables', 'ip6tables']) {
      writeFileSync(join(dir, 'bin', name), '#!/bin/sh\nexit 1\n')
      chmodSync(join(dir, 'bin', name), 0o755)
    }
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  function clean(generation: string): string[] {
    const start = join(dir, `istio-start-${generation}.sh`)
    const calls = join(dir, `calls-${generation}`)
    writeFileSync(start, `${START_SCRIPTS[generation] ?? ''}\n`)
    chmodSync(start, 0o755)
    const r = spawnSync('/bin/sh', ['-c', '. "$1"\nclean_iptables', 'sh', scriptPath], {
      encoding: 'utf8',
      env: {
        PATH: `${join(dir, 'bin')}:/usr/bin:/bin`,
        MX_SOURCE_ONLY: '1',
        MX_ISTIO_START: start,
        CALLS: calls
      }
    })
    assert.equal(r.status, 0, r.stderr)
    if (!existsSync(calls)) return []
    return spawnSync('cat', [calls], { encoding: 'utf8' }).stdout.trim().split('\n')
  }

  test('1.24 on: the package removes its capture with istio-iptables --cleanup-only', () => {
    assert.deepEqual(clean('1.24'), ['istio-iptables --cleanup-only'])
  })

  test('1.10-1.23: with istio-clean-iptables', () => {
    assert.deepEqual(clean('1.23'), ['istio-clean-iptables'])
  })

  test('before 1.10: the script is not called (it would install the capture and start the proxy)', () => {
    assert.deepEqual(clean('1.9'), [])
  })
})
