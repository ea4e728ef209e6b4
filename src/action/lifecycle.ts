// What every step of the Action owns until it ends, however it ends: a private temporary
// directory (every temporary file of the run goes there: TMPDIR points at it), the cluster
// connections it opened, and what to do on SIGINT/SIGTERM (the runner's cancellation).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Closable {
  close(): Promise<void>
}

export interface StepLifecycle {
  /** the step's temporary directory (TMPDIR while the step runs) */
  readonly scratch: string
  /** closed (its temporary kubeconfig removed) when the step ends or is cancelled */
  track<T extends Closable>(resource: T): T
  /** removes everything the step holds: safe to call twice */
  release(): Promise<void>
}

/** How long closing the connections may take on cancellation before the files go anyway. */
const CLOSE_LIMIT_MS = 2000

/**
 * Starts a step: TMPDIR becomes a private directory under RUNNER_TEMP. On SIGINT or SIGTERM,
 * `onCancel` runs (it saves what post needs), then everything is released and the process
 * exits 130 or 143, as a shell would.
 */
export function startStep(onCancel: (signal: NodeJS.Signals) => void): StepLifecycle {
  const base = process.env.RUNNER_TEMP || tmpdir()
  const scratch = mkdtempSync(join(base, 'mesh-expansion-'))
  process.env.TMPDIR = scratch
  const resources = new Set<Closable>()
  let released = false
  const release = async (): Promise<void> => {
    const open = [...resources]
    resources.clear()
    await Promise.race([
      Promise.allSettled(open.map(resource => resource.close())),
      new Promise(resolve => setTimeout(resolve, CLOSE_LIMIT_MS).unref())
    ])
    if (!released) rmSync(scratch, { recursive: true, force: true })
    released = true
  }
  let cancelled = false
  const cancel = (signal: NodeJS.Signals): void => {
    if (cancelled) return
    cancelled = true
    try {
      onCancel(signal)
    } finally {
      void release().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
    }
  }
  process.on('SIGINT', cancel)
  process.on('SIGTERM', cancel)
  return {
    scratch,
    track(resource) {
      resources.add(resource)
      return resource
    },
    release
  }
}
