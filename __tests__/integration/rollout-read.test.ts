// settings.rollout's read of what a host runs, for real: the script through the bundle's root
// wrapper on the runner itself (`host: local`), one exec over the connection that is then kept
// for the host's onboarding. Writes nothing (the runner has no sidecar: a new host).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseDescription, type Description } from '../../src/config/index.ts'
import { readFleet } from '../../src/host/fleet.ts'
import type { HostTransport } from '../../src/host/transport.ts'

function describeYaml(text: string): Description {
  const parsed = parseDescription(text, 'test.yaml')
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors))
  return parsed.description
}

describe('readFleet', () => {
  test('one exec per host; the connection is kept for the onboarding; a host without a sidecar is new', async t => {
    if (process.getuid?.() !== 0)
      return t.skip('needs root (the script runs as root, as on a host)')
    const description = describeYaml(
      'workloadGroups:\n  - {name: app, namespace: vm, ports: {http: 8080}}\n' +
        'vms:\n  - {name: me, host: local, group: app}\nsettings: {rollout: {}}\n'
    )
    const keepOpen = new Map<string, HostTransport>()
    const reads = await readFleet({
      description,
      env: {},
      warn: () => undefined,
      vms: description.vms,
      keepOpen
    })
    const read = reads.get('me')
    assert.ok(read && !('error' in read), JSON.stringify(read))
    assert.equal(read.packageVersion, null)
    assert.equal(read.caAddress, null)
    assert.equal(keepOpen.get('me')?.stats.channels, 1)
  })
})
