// Writes the five VM files of `configure` into the output directory, with istioctl's modes.
// Each file is written to a new private file in the directory, then renamed over its name:
// an existing `istio-token` that is a symlink (to ~/.ssh/authorized_keys, /etc/…) is replaced
// as a link, its target never opened, and a reader never sees half a file.
import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { VmFileName, VmFiles } from '../istio/index.ts'

// istioctl writes every file (and creates the directory) with mode 0744. The token is a
// credential: it is written 0600 instead, also when a file with looser mode was there.
const FILE_MODE = 0o744
const TOKEN_MODE = 0o600

// istioctl's order of writing
const ORDER: readonly VmFileName[] = [
  'mesh.yaml',
  'cluster.env',
  'root-cert.pem',
  'istio-token',
  'hosts'
]

/**
 * Writes `content` to `path` through a new file beside it (never followed), then a rename.
 * The new file gets `mode` as istioctl's files do (umask applies); `exact` sets it whatever
 * the umask (the token).
 */
async function replaceFile(
  path: string,
  content: string,
  mode: number,
  exact: boolean
): Promise<void> {
  const temporary = `${path}.mx-${randomBytes(6).toString('hex')}.tmp`
  // 'wx': O_CREAT|O_EXCL, so an existing name (a planted symlink included) is refused
  const handle = await open(temporary, 'wx', mode)
  try {
    try {
      if (exact) await handle.chmod(mode)
      await handle.writeFile(content)
    } finally {
      await handle.close()
    }
    await rename(temporary, path)
  } catch (error) {
    await rm(temporary, { force: true })
    throw error
  }
}

/** Creates `dir` if missing and writes the files into it. */
export async function writeVmFiles(dir: string, files: VmFiles['files']): Promise<void> {
  await mkdir(dir, { recursive: true, mode: FILE_MODE })
  for (const name of ORDER) {
    const token = name === 'istio-token'
    await replaceFile(join(dir, name), files[name], token ? TOKEN_MODE : FILE_MODE, token)
  }
}
