// The host's mesh address (src/istio/meshAddress.ts), as every generation decides it.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { decideMeshAddress } from '../../src/istio/meshAddress.ts'

describe('decideMeshAddress', () => {
  test('explicit first, even when the SSH host is an IP', () => {
    assert.deepEqual(decideMeshAddress({ explicit: '198.18.5.5', sshHost: '198.18.0.10' }), {
      kind: 'address',
      address: '198.18.5.5',
      source: 'explicit'
    })
    assert.equal(
      decideMeshAddress({ explicit: 'vm.example', sshHost: '198.18.0.10' }).kind,
      'error'
    )
  })

  test('the SSH host when it is a usable IP (IPv6 in brackets too)', () => {
    assert.deepEqual(decideMeshAddress({ sshHost: '198.18.0.10' }), {
      kind: 'address',
      address: '198.18.0.10',
      source: 'ssh-host'
    })
    assert.deepEqual(decideMeshAddress({ sshHost: '[2001:db8::1]' }), {
      kind: 'address',
      address: '2001:db8::1',
      source: 'ssh-host'
    })
  })

  test('a name or a loopback SSH host: ask the host, then take its primary address', () => {
    assert.deepEqual(decideMeshAddress({ sshHost: 'vm-1' }), { kind: 'ask', what: 'host-primary' })
    assert.deepEqual(decideMeshAddress({ sshHost: '127.0.0.1' }), {
      kind: 'ask',
      what: 'host-primary'
    })
    assert.deepEqual(decideMeshAddress({ sshHost: 'vm-1', hostPrimary: '198.18.0.11' }), {
      kind: 'address',
      address: '198.18.0.11',
      source: 'host-primary'
    })
  })

  test("Debian's 127.0.1.1 or link-local is never taken; the public lookup only when enabled", () => {
    const off = decideMeshAddress({ sshHost: 'vm-1', hostPrimary: '127.0.1.1' })
    assert.equal(off.kind, 'error')
    assert.ok(off.kind === 'error' && /127\.0\.1\.1 is a loopback address/.test(off.message))
    assert.equal(decideMeshAddress({ sshHost: 'vm-1', hostPrimary: '169.254.1.2' }).kind, 'error')
    assert.deepEqual(
      decideMeshAddress({ sshHost: 'vm-1', hostPrimary: null, publicLookupEnabled: true }),
      { kind: 'ask', what: 'public-lookup' }
    )
    assert.deepEqual(
      decideMeshAddress({
        sshHost: 'vm-1',
        hostPrimary: '127.0.1.1',
        publicLookupEnabled: true,
        publicLookup: '198.19.0.1'
      }),
      { kind: 'address', address: '198.19.0.1', source: 'public-lookup' }
    )
    const failed = decideMeshAddress({
      sshHost: 'vm-1',
      hostPrimary: null,
      publicLookupEnabled: true,
      publicLookup: null
    })
    assert.ok(failed.kind === 'error' && /set the host's address explicitly/.test(failed.message))
  })
})
