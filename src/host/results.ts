// Reading what install.sh says: the MX-* lines on its stdout. Pure.

export interface RemotePhase {
  name: string
  ok: boolean
  ms: number
}

export interface RemoteFailure {
  phase: string
  check: string
  message: string
}

export interface RemoteResult {
  changed: boolean
  restarted: boolean
  ready: boolean
  /** installed | unchanged | skipped | removed | kept */
  package: string
  /** The new sidecar was not ready and the previous one was put back, ready again. */
  rolledBack: boolean
}

/** What became of the host's bootstrap token (install.sh's MX-TOKEN line). */
export interface TokenOutcome {
  /** kept: the token on the host stays; refreshed: the new one was placed */
  action: 'kept' | 'refreshed'
  /** valid (kept) | missing | not-ours | unreadable | identity | signer | expiring */
  reason: string
  /** Seconds the token on the host had left by the host's clock; null when unknown. */
  leftSeconds: number | null
}

export interface RemoteReport {
  phases: RemotePhase[]
  failures: RemoteFailure[]
  /** The host asks for the package to be pushed (nothing was changed yet). */
  need?: { family: string; arch: string }
  /** Lines of istio.log / dpkg output sent back on failure. */
  logs: string[]
  result?: RemoteResult
  token?: TokenOutcome
}

export function parseRemoteOutput(stdout: string): RemoteReport {
  const report: RemoteReport = { phases: [], failures: [], logs: [] }
  for (const line of stdout.split('\n')) {
    let m: RegExpMatchArray | null
    if ((m = /^MX-PHASE (\S+) (ok|fail) (\d+)$/.exec(line))) {
      report.phases.push({ name: m[1] ?? '', ok: m[2] === 'ok', ms: Number(m[3]) })
    } else if ((m = /^MX-FAIL (\S+) ([^:]+): (.*)$/.exec(line))) {
      report.failures.push({ phase: m[1] ?? '', check: m[2] ?? '', message: m[3] ?? '' })
    } else if ((m = /^MX-NEED push family=(\S+) arch=(\S*)$/.exec(line))) {
      report.need = { family: m[1] ?? '', arch: m[2] ?? '' }
    } else if (line.startsWith('MX-LOG ')) {
      report.logs.push(line.slice(7))
    } else if ((m = /^MX-TOKEN (kept|refreshed) reason=([a-z-]+) left=(-?\d+|-)$/.exec(line))) {
      report.token = {
        action: m[1] === 'kept' ? 'kept' : 'refreshed',
        reason: m[2] ?? '',
        leftSeconds: m[3] === '-' || m[3] === undefined ? null : Number(m[3])
      }
    } else if ((m = /^MX-RESULT (.*)$/.exec(line))) {
      const fields = Object.fromEntries(
        (m[1] ?? '').split(' ').map(kv => kv.split('=') as [string, string])
      )
      report.result = {
        changed: fields.changed === '1',
        restarted: fields.restarted === '1',
        ready: fields.ready === '1',
        package: fields.package ?? '',
        rolledBack: fields.rolledback === '1'
      }
    }
  }
  return report
}
