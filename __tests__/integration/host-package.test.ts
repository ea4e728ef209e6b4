// The runner-side package cache (air-gapped hosts): a download checked against its published
// .sha256, kept on disk for later runs, fetched once for a whole fleet; a bad checksum refused.
// Served from a loopback HTTP server.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { cachedDownload, fileSha256, packageSha256 } from '../../src/host/package.ts'

describe('runner package cache', () => {
  let server: Server
  let base: string
  let dir: string
  const requests: string[] = []
  const body = Buffer.from('pretend this is istio-sidecar.deb')
  const sum = createHash('sha256').update(body).digest('hex')

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mx-pkg-'))
    server = createServer((req, res) => {
      requests.push(req.url ?? '')
      if (req.url === '/good/istio-sidecar.deb') res.end(body)
      else if (req.url === '/good/istio-sidecar.deb.sha256') res.end(`${sum}  istio-sidecar.deb\n`)
      else if (req.url === '/bad/istio-sidecar.deb') res.end(body)
      else if (req.url === '/bad/istio-sidecar.deb.sha256') res.end(`${'0'.repeat(64)}\n`)
      else {
        res.statusCode = 404
        res.end()
      }
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    await new Promise(resolve => server.close(resolve))
    rmSync(dir, { recursive: true, force: true })
  })

  test('downloads once for many hosts, checks the published SHA-256, keeps it on disk', async () => {
    const cache = join(dir, 'cache')
    const all = await Promise.all(
      Array.from({ length: 5 }, () => cachedDownload(`${base}/good/istio-sidecar.deb`, cache))
    )
    assert.equal(requests.filter(r => r === '/good/istio-sidecar.deb').length, 1)
    for (const got of all)
      assert.deepEqual(got, { path: join(cache, 'istio-sidecar.deb'), sha256: sum })
    assert.ok(readFileSync(join(cache, 'istio-sidecar.deb')).equals(body))
    assert.equal(readFileSync(join(cache, 'istio-sidecar.deb.sha256'), 'utf8'), `${sum}\n`)
    assert.equal(await fileSha256(join(cache, 'istio-sidecar.deb')), sum)
    assert.equal(await packageSha256(join(cache, 'istio-sidecar.deb')), sum)
  })

  test('a later run (another cache key, same directory) reuses the checked file', async () => {
    const cache = join(dir, 'cache')
    const before = requests.length
    // the same file under a URL with a query: another memo key, the same file name on disk
    const got = await cachedDownload(`${base}/good/istio-sidecar.deb?again`, cache)
    assert.equal(got.sha256, sum)
    assert.equal(requests.length, before, 'nothing fetched: the cached copy matched its .sha256')
  })

  test('a package that does not match its .sha256 is refused and not cached', async () => {
    const cache = join(dir, 'bad-cache')
    await assert.rejects(
      cachedDownload(`${base}/bad/istio-sidecar.deb`, cache),
      /SHA-256 is [0-9a-f]{64}, the published one is 0{64}/
    )
    assert.equal(existsSync(join(cache, 'istio-sidecar.deb')), false)
  })

  test('a missing package is an HTTP error with the URL', async () => {
    await assert.rejects(
      cachedDownload(`${base}/none/istio-sidecar.deb`, join(dir, 'x')),
      /cannot download .*\/none\/istio-sidecar\.deb\.sha256: HTTP 404/
    )
  })
})

describe('packageSha256', () => {
  test('a package rebuilt at the same path gets its new hash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mx-pkg-'))
    try {
      const path = join(dir, 'istio-sidecar.deb')
      writeFileSync(path, 'first build')
      const first = await packageSha256(path)
      writeFileSync(path, 'second build, another size')
      const second = await packageSha256(path)
      assert.notEqual(first, second)
      assert.equal(second, createHash('sha256').update('second build, another size').digest('hex'))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
