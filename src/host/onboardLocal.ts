// Onboards the machine this runs on (a self-hosted runner joining the mesh), with no SSH: the
// same bundle and install script, through the local transport. Also a small entry point:
//   node onboardLocal.js JOB.json   -> prints the HostResult as JSON; exit 0 when ready
// (the job file holds the rendered files, so it is as secret as the token in it).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
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
}

export function onboardLocal(job: LocalJob): Promise<HostResult> {
  return onboardHost(
    { name: job.name, connect: async () => new LocalTransport() },
    {
      files: job.files,
      version: job.version,
      package: job.package,
      commandTimeoutMs: (job.commandTimeoutSec ?? 600) * 1000,
      ...(job.readyTimeoutSec !== undefined ? { readyTimeoutSec: job.readyTimeoutSec } : {})
    }
  )
}

async function main(argv: string[]): Promise<number> {
  const path = argv[0]
  if (path === undefined) {
    process.stderr.write('usage: onboardLocal JOB.json\n')
    return 2
  }
  const job = JSON.parse(readFileSync(path, 'utf8')) as LocalJob
  const result = await onboardLocal(job)
  process.stdout.write(`${JSON.stringify(result)}\n`)
  return result.status === 'ok' ? 0 : 1
}

if (process.argv[1] !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    code => (process.exitCode = code),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`)
      process.exitCode = 1
    }
  )
}
