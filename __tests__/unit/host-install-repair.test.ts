// What install.sh repairs that `drift` reports (issue 19): a package changed by hand since we
// installed it (the recorded version differs, the wanted file is the same), and a running
// sidecar whose iptables capture is gone. The helpers sourced one by one, iptables a stub.
import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { sourced } from '../helpers/installScript.ts'

describe('install.sh repairs what drift reports', () => {
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mx-repair-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const sh = (body: string, env: Record<string, string> = {}): number => sourced(body, env).code

  test('recorded_version_is: the manifest says which version we installed', () => {
    const state = join(dir, 'state')
    mkdirSync(state, { recursive: true })
    const env = { MX_STATE_DIR: state }
    // nothing recorded (an older build's host): the file decides, as before
    assert.equal(sh('recorded_version_is 1.29.0', env), 0)
    writeFileSync(join(state, 'manifest'), 'file /etc/x\npackage istio-sidecar 1.30.3\n')
    assert.equal(sh('recorded_version_is 1.30.3', env), 0)
    assert.equal(sh('recorded_version_is 1.29.0', env), 1, 'a version installed by hand')
    writeFileSync(join(state, 'manifest'), 'package istio-sidecar pending\n')
    assert.equal(sh('recorded_version_is 1.29.0', env), 0)
  })

  test('capture_missing: the jumps and redirects cluster.env asks for, else a restart', () => {
    const root = join(dir, 'root')
    const envoy = join(root, 'var/lib/istio/envoy')
    mkdirSync(envoy, { recursive: true })
    const bin = join(dir, 'bin')
    mkdirSync(bin, { recursive: true })
    // the nat table as a file of `-A` lines; `-C` and `-S` answer from it
    const table = join(dir, 'nat')
    writeFileSync(
      join(bin, 'iptables'),
      `#!/bin/sh
shift 2
case $1 in
  -C) shift; grep -qxF -- "-A $*" "${table}" ;;
  -S) grep -- "^-A $2 " "${table}" ;;
esac
`
    )
    chmodSync(join(bin, 'iptables'), 0o755)
    const env = { MX_ROOT: root, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` }
    const full = [
      '-A PREROUTING -p tcp -j ISTIO_INBOUND',
      '-A OUTPUT -p tcp -j ISTIO_OUTPUT',
      '-A ISTIO_INBOUND -p tcp -m tcp --dport 8080 -j ISTIO_IN_REDIRECT',
      '-A ISTIO_OUTPUT -j ISTIO_REDIRECT'
    ]
    writeFileSync(
      join(envoy, 'cluster.env'),
      "ISTIO_INBOUND_PORTS='8080'\nISTIO_SERVICE_CIDR='*'\n"
    )
    writeFileSync(table, `${full.join('\n')}\n`)
    assert.equal(sh('capture_missing', env), 1, 'all there: no restart')
    writeFileSync(table, `${full.filter(r => !r.startsWith('-A ISTIO_INBOUND')).join('\n')}\n`)
    assert.equal(sh('capture_missing', env), 0, 'ISTIO_INBOUND flushed')
    writeFileSync(table, `${full.filter(r => !r.startsWith('-A OUTPUT')).join('\n')}\n`)
    assert.equal(sh('capture_missing', env), 0, 'the OUTPUT jump gone')
    // no inbound ports: no PREROUTING jump is asked for
    writeFileSync(join(envoy, 'cluster.env'), "ISTIO_INBOUND_PORTS=''\nISTIO_SERVICE_CIDR='*'\n")
    writeFileSync(
      table,
      `${full
        .slice(1)
        .filter(r => !r.includes('ISTIO_IN'))
        .join('\n')}\n`
    )
    assert.equal(sh('capture_missing', env), 1)
    // the host's own iptables: never a restart for it
    writeFileSync(join(envoy, 'cluster.env'), "ISTIO_CUSTOM_IP_TABLES='true'\n")
    writeFileSync(table, '')
    assert.equal(sh('capture_missing', env), 1)
  })
})
