// The official package's URL per family and architecture, as the release names the files
// (istio/release-builder pkg/build/debian.go, rpm.go: `istio-sidecar[-<arch>].<deb|rpm>`, arm64
// from 1.17 on).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { officialPackageUrl } from '../../src/host/bundle.ts'

const BASE = 'https://storage.googleapis.com/istio-release/releases'

test('arm64 deb and rpm are istio-sidecar-arm64.<family>; none before 1.17', () => {
  assert.equal(officialPackageUrl('1.30.3', 'amd64', 'rpm'), `${BASE}/1.30.3/rpm/istio-sidecar.rpm`)
  assert.equal(
    officialPackageUrl('1.30.3', 'arm64', 'rpm'),
    `${BASE}/1.30.3/rpm/istio-sidecar-arm64.rpm`
  )
  assert.equal(
    officialPackageUrl('1.17.0', 'arm64', 'deb'),
    `${BASE}/1.17.0/deb/istio-sidecar-arm64.deb`
  )
  assert.throws(() => officialPackageUrl('1.16.2', 'arm64', 'rpm'), /no official arm64 sidecar/)
  assert.equal(officialPackageUrl('1.16.2', 'amd64', 'deb'), `${BASE}/1.16.2/deb/istio-sidecar.deb`)
})
