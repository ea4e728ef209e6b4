// install.sh reads the sidecar package's own dependencies (dpkg-deb -f, rpm -qpR) and names the
// ones no alternative of which is installed, with fake package tools on PATH.
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { sourced } from '../helpers/installScript.ts'

describe('install.sh: the package dependencies', () => {
  let bin: string
  before(() => {
    bin = mkdtempSync(join(tmpdir(), 'mx-depends-'))
    const tool = (name: string, body: string): void => {
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`)
      chmodSync(join(bin, name), 0o755)
    }
    tool('dpkg-deb', `echo 'iproute2, iptables (>= 1.8), sudo | doas, hostname, python3:any'`)
    // installed: iproute2, iptables, hostname, python3; doas is only half there
    tool(
      'dpkg-query',
      `case "$4" in iproute2|iptables|hostname|python3) echo 'install ok installed' ;; doas) echo 'deinstall ok config-files' ;; *) exit 1 ;; esac`
    )
    tool(
      'rpm',
      `printf '%s\\n' iproute iptables sudo hostname '/bin/sh' 'config(istio-sidecar) = 1.30.3-1' 'rpmlib(CompressedFileNames) <= 3.0.4-1'`
    )
  })
  after(() => rmSync(bin, { recursive: true, force: true }))

  function sh(body: string): string {
    const r = sourced(body, { PATH: `${bin}:/usr/bin:/bin` })
    assert.equal(r.code, 0, r.err)
    return r.out
  }

  test('deb: groups from Depends without versions or architectures; sudo is missing', () => {
    assert.equal(
      sh('FAMILY=deb; depends_of pkg.deb'),
      'iproute2\niptables\nsudo | doas\nhostname\npython3\n'
    )
    assert.equal(sh('FAMILY=deb; missing_dependencies pkg.deb'), 'sudo')
  })

  test('rpm: Requires without rpmlib(), config() and files', () => {
    assert.equal(sh('FAMILY=rpm; depends_of pkg.rpm'), 'iproute\niptables\nsudo\nhostname\n')
  })
})
