// Writes the five VM files of `configure` into the output directory, with istioctl's modes.
import { mkdir, open, writeFile } from 'node:fs/promises'
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

async function writeToken(path: string, token: string): Promise<void> {
  const handle = await open(path, 'w', TOKEN_MODE)
  try {
    await handle.chmod(TOKEN_MODE)
    await handle.writeFile(token)
  } finally {
    await handle.close()
  }
}

/** Creates `dir` if missing and writes the files into it. */
export async function writeVmFiles(dir: string, files: VmFiles['files']): Promise<void> {
  await mkdir(dir, { recursive: true, mode: FILE_MODE })
  for (const name of ORDER) {
    const path = join(dir, name)
    if (name === 'istio-token') await writeToken(path, files[name])
    else await writeFile(path, files[name], { mode: FILE_MODE })
  }
}
