// The product's one version order: Semantic Versioning's precedence with short versions.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { compareVersions, onOrAfterLine } from '../../src/util/version.ts'

describe('compareVersions', () => {
  it('sorts as semver.org §11 does, short versions read with zeros', () => {
    const sorted = [
      '1.13',
      '1.9.9',
      '1.13.0-rc.1',
      '1.13.0-alpha',
      '1.13.0-alpha.1',
      '1.13.0-alpha.beta',
      '1.13.0-beta.11',
      '1.13.0-beta.2',
      '1.13.0-beta',
      '1.13.1',
      '0.8',
      'v1.30.3',
      '1.13.0-rc.1+build.5'
    ].sort(compareVersions)
    assert.deepEqual(sorted, [
      '0.8',
      '1.9.9',
      '1.13.0-alpha',
      '1.13.0-alpha.1',
      '1.13.0-alpha.beta',
      '1.13.0-beta',
      '1.13.0-beta.2',
      '1.13.0-beta.11',
      '1.13.0-rc.1',
      '1.13.0-rc.1+build.5',
      '1.13',
      '1.13.1',
      'v1.30.3'
    ])
  })

  it('a pre-release is below its release, not above it', () => {
    assert.ok(compareVersions('1.13.0-rc.1', '1.13') < 0)
    assert.ok(compareVersions('1.13', '1.13.0-rc.1') > 0)
    assert.equal(compareVersions('1.13', '1.13.0'), 0)
    assert.ok(compareVersions('1.10', '1.9') > 0)
  })

  it('a release line includes its pre-releases', () => {
    assert.equal(onOrAfterLine('1.13.0-rc.1', '1.13'), true)
    assert.equal(onOrAfterLine('1.12.9', '1.13'), false)
    assert.equal(onOrAfterLine('1.1.0-snapshot.0', '1.1'), true)
    assert.equal(onOrAfterLine('0.8.0', '1.1'), false)
  })
})
