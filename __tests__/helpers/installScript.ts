// install.sh sourced for its helpers (MX_SOURCE_ONLY=1: main does not run), shared by the unit
// tests that call its functions one by one.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const INSTALL_SH_PATH = fileURLToPath(new URL('../../src/host/install.sh', import.meta.url))

export interface ShellRun {
  code: number
  out: string
  err: string
}

/** Sources install.sh and runs `body` in /bin/sh; `env` adds to (or replaces) PATH only. */
export function sourced(body: string, env: Record<string, string> = {}): ShellRun {
  const r = spawnSync('/bin/sh', ['-c', `. "$1"\n${body}`, 'sh', INSTALL_SH_PATH], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MX_SOURCE_ONLY: '1', ...env }
  })
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr }
}
