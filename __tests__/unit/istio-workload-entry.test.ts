// The WorkloadEntry name of a VM, as the product applies it (manual) and istiod creates it (auto).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { autoRegisteredEntryName, workloadEntryName } from '../../src/istio/index.ts'

describe('WorkloadEntry names', () => {
  const vm = { name: 'vm-1', network: '' }
  const manual = { name: 'vm-app', registration: 'manual' } as const
  const auto = { name: 'vm-app', registration: 'auto' } as const

  test("the VM name (manual), istiod's name (auto)", () => {
    assert.equal(workloadEntryName(vm, manual, '198.18.2.2'), 'vm-1')
    assert.equal(workloadEntryName(vm, auto, '198.18.2.2'), 'vm-app-198.18.2.2')
    assert.equal(
      workloadEntryName({ ...vm, network: 'net2' }, auto, '198.18.2.2'),
      'vm-app-198.18.2.2-net2'
    )
  })

  test('an IPv6 address gives dashes, as istiod sanitizes it', () => {
    assert.equal(autoRegisteredEntryName('vm-app', 'fd00::1', ''), 'vm-app-fd00--1')
  })

  test('a name longer than 253 characters keeps its end, as istiod cuts it', () => {
    const name = autoRegisteredEntryName('g'.repeat(250), '10.0.0.1', 'net')
    assert.equal(name.length, 253)
    assert.ok(name.endsWith('-10.0.0.1-net'))
  })
})
