// The sidecar package on the runner side: a file to push (hashed once per run), or the official
// package downloaded by the runner into a cache kept between runs (air-gapped hosts).
import { createHash } from 'node:crypto'
import { createReadStream, existsSync } from 'node:fs'
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { officialPackageUrl } from './bundle.ts'

/** Where the package comes from, as the user chose it. */
export type PackageSource =
  /** the package is already there (or installed by other means) */
  | { kind: 'none' }
  /** a file on the runner, pushed over SFTP */
  | { kind: 'push'; path: string }
  /** the host downloads this URL; checked against sha256, else `<url>.sha256` */
  | { kind: 'url'; url: string; sha256?: string }
  /** the host downloads the official package of `version` for its family and architecture */
  | { kind: 'auto'; version: string }
  /** the runner downloads the official package into cacheDir and pushes it (air-gapped hosts) */
  | { kind: 'auto-push'; version: string; cacheDir: string; fetch?: typeof fetch }

export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

const hashes = new Map<string, Promise<string>>()

/** A file's SHA-256, computed once per version of the file and process (a fleet shares one package). */
export async function packageSha256(path: string): Promise<string> {
  // a file replaced at the same path (a rebuilt package) must not keep its old hash
  const info = await stat(path)
  const key = `${path}\0${info.size}\0${info.mtimeMs}\0${info.ino}`
  let hash = hashes.get(key)
  if (!hash) {
    hash = fileSha256(path)
    hashes.set(key, hash)
    hash.catch(() => hashes.delete(key))
  }
  return hash
}

const downloads = new Map<string, Promise<{ path: string; sha256: string }>>()

/**
 * The official package for version/arch/family in cacheDir: downloaded once (with its
 * published .sha256 checked), then reused by later hosts and later runs.
 */
export function cachedOfficialPackage(
  version: string,
  arch: string,
  family: 'deb' | 'rpm',
  cacheDir: string,
  fetchImpl: typeof fetch = fetch
): Promise<{ path: string; sha256: string }> {
  return cachedDownload(
    officialPackageUrl(version, arch, family),
    join(cacheDir, version),
    fetchImpl
  )
}

/** Downloads url into dir unless a checked copy is there; the `.sha256` next to the URL decides. */
export function cachedDownload(
  url: string,
  dir: string,
  fetchImpl: typeof fetch = fetch
): Promise<{ path: string; sha256: string }> {
  const key = `${url} ${dir}`
  let pending = downloads.get(key)
  if (!pending) {
    pending = download(url, dir, fetchImpl)
    downloads.set(key, pending)
    pending.catch(() => downloads.delete(key))
  }
  return pending
}

async function download(
  url: string,
  dir: string,
  fetchImpl: typeof fetch
): Promise<{ path: string; sha256: string }> {
  const path = join(dir, basename(new URL(url).pathname))
  const sumPath = `${path}.sha256`
  if (existsSync(path) && existsSync(sumPath)) {
    const expected = (await readFile(sumPath, 'utf8')).trim()
    if ((await fileSha256(path)) === expected) return { path, sha256: expected }
  }
  const get = async (target: string): Promise<Buffer> => {
    const res = await fetchImpl(target, { signal: AbortSignal.timeout(300_000) })
    if (!res.ok) throw new Error(`cannot download ${target}: HTTP ${res.status}`)
    return Buffer.from(await res.arrayBuffer())
  }
  const expected = (await get(`${url}.sha256`)).toString('utf8').trim().split(/\s+/)[0] ?? ''
  if (!/^[0-9a-f]{64}$/.test(expected)) throw new Error(`${url}.sha256 does not hold a SHA-256`)
  const body = await get(url)
  const seen = createHash('sha256').update(body).digest('hex')
  if (seen !== expected)
    throw new Error(`${url}: SHA-256 is ${seen}, the published one is ${expected}`)
  await mkdir(dir, { recursive: true })
  await writeFile(`${path}.part`, body)
  await rename(`${path}.part`, path)
  await writeFile(sumPath, `${expected}\n`)
  return { path, sha256: expected }
}
