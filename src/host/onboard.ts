// One host, end to end: connect once, run the bundle (one exec), push the package only when
// the host asks for it, run the bundle again; then parse what install.sh reported. Never
// throws: every outcome is a HostResult with the phase that failed.
import { readFile, stat } from 'node:fs/promises'
import { errorMessage } from '../util/errors.ts'
import {
  DEFAULT_PARAMS,
  buildBundle,
  pushedPackagePath,
  remoteCommand,
  type HostFiles,
  type InstallParams,
  type PackagePlan
} from './bundle.ts'
import { cachedOfficialPackage, packageSha256, type PackageSource } from './package.ts'
import type { FailureCause, ReadinessDiagnosis } from './readiness.ts'
import { parseRemoteOutput, type RemoteReport, type TokenOutcome } from './results.ts'
import {
  TransportError,
  newStats,
  type ExecResult,
  type HostTransport,
  type TransportStats
} from './transport.ts'

/** Pushed packages up to this size go inside the bundle (base64), larger ones over SFTP. */
export const INLINE_PACKAGE_MAX_BYTES = 8 * 1024 * 1024

export interface HostTarget {
  /** The VM's name (results and shards go by it). */
  name: string
  /** Opens the one connection of this host (connectSsh or a LocalTransport). */
  connect: () => Promise<HostTransport>
}

export interface PhaseTiming {
  name: string
  ms: number
  ok: boolean
}

export interface HostResult {
  host: string
  status: 'ok' | 'failed' | 'skipped'
  /** Something on the host changed (package, a file, the hosts block, the service). */
  changed: boolean
  restarted: boolean
  ready: boolean
  /** installed | unchanged | skipped | removed | kept ('' when not reached) */
  package: string
  /** The update was not ready in time and the host went back to its previous sidecar, which is
   * ready again (install.sh exit 42). The host still counts as failed. */
  rolledBack?: boolean
  /** Whether the host kept its bootstrap token or got the new one (modern generations); a new
   * token is not a change: the agent reads it when it needs it. */
  token?: TokenOutcome
  /** Runner phases (connect, push, exec) and the host's (preflight, package, files, service, ready). */
  phases: PhaseTiming[]
  error?: { phase: string; message: string }
  /** istio.log / dpkg lines the host sent back on failure. */
  logs: string[]
  /** Times the host was worked on in this run (set by an adaptive fan-out: a host whose
   * sidecar was not ready for a control-plane reason is tried again). */
  attempts?: number
  /** Why the sidecar was not ready (a failed readiness, adaptive fan-out): the control plane's
   * fault (retried) or the host's own (not retried), with the agent's line that says so. */
  diagnosis?: ReadinessDiagnosis
  stats: TransportStats
  totalMs: number
}

export interface OnboardOptions {
  /** The rendered files, or a function that renders them once the host is connected (so a
   * token is minted only for a host that answered). */
  files: HostFiles | (() => Promise<HostFiles>)
  /** Istio version wanted ('' = unknown: the package's SHA-256 decides). */
  version: string
  package: PackageSource
  /** Per exec; the remote side also kills itself after it. */
  commandTimeoutMs: number
  statusPort?: number
  readyTimeoutSec?: number
  minDiskMb?: number
  maxSkewSec?: number
  /** Asked once the files are rendered: restart the sidecar even when nothing of the host's
   * changed (its health-checked WorkloadEntry was made again: see GenerationStrategy.reconnect). */
  reconnect?: () => boolean
  /** settings.tokenRefreshWithin: the host keeps a token good for longer (default one day). */
  tokenRefreshWithinSec?: number
  /** A pushed package up to this size travels inside the second exec's stream instead of over
   * SFTP (default 8 MiB; 0 = always SFTP). */
  inlinePackageMaxBytes?: number
  /** Runner clock in ms (tests). */
  now?: () => number
}

export function emptyResult(host: string, status: HostResult['status']): HostResult {
  return {
    host,
    status,
    changed: false,
    restarted: false,
    ready: false,
    package: '',
    rolledBack: false,
    phases: [],
    logs: [],
    stats: newStats(),
    totalMs: 0
  }
}

async function timed<T>(phases: PhaseTiming[], name: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now()
  try {
    const value = await work()
    phases.push({ name, ms: Date.now() - started, ok: true })
    return value
  } catch (e) {
    phases.push({ name, ms: Date.now() - started, ok: false })
    throw e
  }
}

/** A failure with the phase it belongs to, and whose it is when that is known. */
export class PhaseError extends Error {
  readonly phase: string
  readonly whose: FailureCause | undefined
  constructor(phase: string, message: string, whose?: FailureCause) {
    super(message)
    this.phase = phase
    this.whose = whose
  }
}

/**
 * Thrown by a render function (OnboardOptions.files) when the control plane failed it for a
 * reason that passes (the Kubernetes API did not answer, dropped the connection, or was
 * overloaded): the host is diagnosed as the control plane's, so an adaptive fan-out shrinks
 * its limit and tries the host again later instead of failing it.
 */
export class ControlPlaneError extends Error {
  override name = 'ControlPlaneError'
}

async function initialPlan(source: PackageSource): Promise<PackagePlan> {
  switch (source.kind) {
    case 'none':
      return { mode: 'none' }
    case 'push': {
      const sha256 = await packageSha256(source.path)
      return { mode: 'push', sha256, remotePath: pushedPackagePath(sha256) }
    }
    case 'url':
      return source.sha256 !== undefined
        ? { mode: 'url', url: source.url, sha256: source.sha256 }
        : { mode: 'url', url: source.url }
    case 'auto':
      return { mode: 'auto', version: source.version }
    case 'auto-push':
      // the file is fetched only if the host asks (its family and arch are known then)
      return {
        mode: 'push',
        sha256: '',
        remotePath: `/var/tmp/mesh-expansion-${source.version}.pkg`
      }
  }
}

function failureMessage(exec: ExecResult, report: RemoteReport, timeoutMs: number): PhaseError {
  const lastPhase = report.phases[report.phases.length - 1]?.name ?? 'exec'
  if (exec.timedOut) {
    return new PhaseError(
      lastPhase,
      `the install did not finish within ${Math.round(timeoutMs / 1000)} s and was killed`
    )
  }
  if (exec.code === 124) {
    return new PhaseError(
      lastPhase,
      `the install did not finish within ${Math.round(timeoutMs / 1000)} s and was stopped on the host`
    )
  }
  if (report.failures.length > 0) {
    const phase = report.failures[0]?.phase ?? lastPhase
    return new PhaseError(phase, report.failures.map(f => `${f.check}: ${f.message}`).join('; '))
  }
  const tail = exec.stderr.trim().split('\n').slice(-5).join(' | ')
  const how =
    exec.code >= 0
      ? `exited with ${exec.code}`
      : `ended without an exit status (signal ${exec.signal ?? 'none'}: the session was cut)`
  return new PhaseError(lastPhase, `the install script ${how}${tail ? `: ${tail}` : ''}`)
}

/** Onboards one host. */
export async function onboardHost(
  target: HostTarget,
  options: OnboardOptions
): Promise<HostResult> {
  return runOnHost(target, options, 'install')
}

/** Shared by onboarding, uninstall and rollback. */
export async function runOnHost(
  target: HostTarget,
  options: OnboardOptions | UninstallRunOptions,
  mode: 'install' | 'uninstall' | 'rollback'
): Promise<HostResult> {
  const started = Date.now()
  const result = emptyResult(target.name, 'failed')
  let transport: HostTransport | undefined
  try {
    transport = await timed(result.phases, 'connect', target.connect).catch((e: unknown) => {
      throw new PhaseError('connect', errorMessage(e))
    })
    const install = 'files' in options
    let files: HostFiles | undefined
    if (install) {
      const given = options.files
      files =
        typeof given === 'function'
          ? await timed(result.phases, 'render', given).catch((e: unknown) => {
              const whose = e instanceof ControlPlaneError ? 'control-plane' : undefined
              throw new PhaseError('render', errorMessage(e), whose)
            })
          : given
    }
    let plan: PackagePlan = install ? await initialPlan(options.package) : { mode: 'none' }
    const now = options.now ?? Date.now
    const params = (): InstallParams => ({
      ...DEFAULT_PARAMS,
      ...(install && options.statusPort !== undefined ? { statusPort: options.statusPort } : {}),
      ...(install && options.readyTimeoutSec !== undefined
        ? { readyTimeoutSec: options.readyTimeoutSec }
        : {}),
      ...(install && options.minDiskMb !== undefined ? { minDiskMb: options.minDiskMb } : {}),
      ...(install && options.maxSkewSec !== undefined ? { maxSkewSec: options.maxSkewSec } : {}),
      ...(install && options.tokenRefreshWithinSec !== undefined
        ? { tokenRefreshWithinSec: options.tokenRefreshWithinSec }
        : {}),
      ...(install && options.reconnect?.() ? { reconnect: true } : {}),
      mode,
      version: install ? options.version : '',
      package: plan,
      runnerTime: Math.floor(now() / 1000),
      keepPackage: !install && options.keepPackage
    })
    const runBundle = async (
      phase: string,
      inlinePackage?: Buffer
    ): Promise<{ exec: ExecResult; report: RemoteReport }> => {
      const bundle = buildBundle({
        ...(files ? { files } : {}),
        params: params(),
        ...(inlinePackage ? { inlinePackage } : {})
      })
      const exec = await timed(result.phases, phase, () =>
        transport!.exec(remoteCommand(options.commandTimeoutMs / 1000), {
          stdin: bundle.payload,
          timeoutMs: options.commandTimeoutMs + 10_000
        })
      )
      const report = parseRemoteOutput(exec.stdout)
      result.phases.push(...report.phases.map(p => ({ name: p.name, ms: p.ms, ok: p.ok })))
      result.logs.push(...report.logs)
      return { exec, report }
    }

    let { exec, report } = await runBundle('exec')
    if (exec.code === 20 && report.need && install) {
      const source = options.package
      let local: string
      if (source.kind === 'push') local = source.path
      else if (source.kind === 'auto-push') {
        const family = report.need.family === 'rpm' ? 'rpm' : 'deb'
        const fetched = await timed(result.phases, 'download', () =>
          cachedOfficialPackage(
            source.version,
            report.need?.arch ?? 'amd64',
            family,
            source.cacheDir,
            source.fetch
          )
        ).catch((e: unknown) => {
          throw new PhaseError('download', errorMessage(e))
        })
        local = fetched.path
        plan = {
          mode: 'push',
          sha256: fetched.sha256,
          remotePath: pushedPackagePath(fetched.sha256)
        }
      } else
        throw new PhaseError(
          'package',
          'the host asked for a pushed package, but the package is not pushed'
        )
      const limit = install ? (options.inlinePackageMaxBytes ?? INLINE_PACKAGE_MAX_BYTES) : 0
      if ((await stat(local)).size <= limit) {
        // small enough to travel in the stream itself: no SFTP channel, no extra round trips
        ;({ exec, report } = await runBundle('exec', await readFile(local)))
      } else {
        if (!transport.putFile)
          throw new PhaseError('push', `${transport.description} cannot receive files`)
        const remotePath = plan.mode === 'push' ? plan.remotePath : ''
        await timed(result.phases, 'push', () => transport!.putFile!(local, remotePath)).catch(
          (e: unknown) => {
            throw new PhaseError('push', errorMessage(e))
          }
        )
        ;({ exec, report } = await runBundle('exec'))
      }
    }
    if (report.result) {
      result.changed = report.result.changed
      result.restarted = report.result.restarted
      result.ready = report.result.ready
      result.package = report.result.package
      result.rolledBack = report.result.rolledBack
    }
    if (report.token) result.token = report.token
    if (exec.code !== 0) throw failureMessage(exec, report, options.commandTimeoutMs)
    if (!report.result)
      throw new PhaseError('exec', 'the install script ended without a result line')
    result.status = 'ok'
  } catch (e) {
    result.status = 'failed'
    if (e instanceof PhaseError) {
      result.error = { phase: e.phase, message: e.message }
      if (e.whose) result.diagnosis = { cause: e.whose, reason: e.message }
    } else if (e instanceof TransportError)
      result.error = { phase: e.kind === 'closed' ? 'exec' : e.kind, message: e.message }
    else result.error = { phase: 'internal', message: errorMessage(e) }
  } finally {
    if (transport) {
      await transport.close().catch(() => {})
      result.stats = { ...transport.stats }
    }
    result.totalMs = Date.now() - started
  }
  return result
}

export interface UninstallRunOptions {
  keepPackage: boolean
  commandTimeoutMs: number
  now?: () => number
}
