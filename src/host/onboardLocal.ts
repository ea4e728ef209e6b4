// Onboards the machine this runs on (a self-hosted runner joining the mesh), with no SSH: the
// same bundle and install script, through the local transport. onboardLocalMain.ts makes it an
// entry point: node onboard-local.js JOB.json -> the HostResult as JSON; exit 0 when ready
// (the job file holds the rendered files, so it is as secret as the token in it).
import { readFileSync } from 'node:fs'
import type { HostFiles } from './bundle.ts'
import { LocalTransport } from './local.ts'
import { onboardHost, type HostResult } from './onboard.ts'
import type { PackageSource } from './package.ts'

export interface LocalJob {
  name: string
  files: HostFiles
  version: string
  package: PackageSource
  commandTimeoutSec?: number
  readyTimeoutSec?: number
  /** settings.tokenRefreshWithin (default one day) */
  tokenRefreshWithinSec?: number
}

export function onboardLocal(job: LocalJob): Promise<HostResult> {
  return onboardHost(
    { name: job.name, connect: async () => new LocalTransport() },
    {
      files: job.files,
      version: job.version,
      package: job.package,
      commandTimeoutMs: (job.commandTimeoutSec ?? 600) * 1000,
      ...(job.readyTimeoutSec !== undefined ? { readyTimeoutSec: job.readyTimeoutSec } : {}),
      ...(job.tokenRefreshWithinSec !== undefined
        ? { tokenRefreshWithinSec: job.tokenRefreshWithinSec }
        : {})
    }
  )
}

/** Runs a job file and prints the result as JSON; the exit code to use (0 when ready). */
export async function runLocalJobFile(argv: string[]): Promise<number> {
  const path = argv[0]
  if (path === undefined) {
    process.stderr.write('usage: onboard-local JOB.json\n')
    return 2
  }
  const job = JSON.parse(readFileSync(path, 'utf8')) as LocalJob
  const result = await onboardLocal(job)
  process.stdout.write(`${JSON.stringify(result)}\n`)
  return result.status === 'ok' ? 0 : 1
}
