// The glue the engine calls: a description's VMs (this job's shard) onboarded or cleaned up
// with the settings it gives (parallelism, failFast, maxFailures, timeouts). Rendering the
// files (tokens, cluster discovery) stays with the caller: `filesFor` is asked per VM, just in
// time, so a token is minted only when its host is about to be worked on.
import type { Description, Vm } from '../config/defaults.ts'
import type { HostFiles } from './bundle.ts'
import { DEFAULT_PARAMS } from './bundle.ts'
import {
  busyDiagnosis,
  fanOut,
  selectShard,
  type AdaptiveFanout,
  type FanoutReport
} from './fanout.ts'
import { onboardHost, type HostResult, type HostTarget } from './onboard.ts'
import type { PackageSource } from './package.ts'
import { diagnoseReadiness } from './readiness.ts'
import { hostTarget, sshSecretsFrom, type SshSecrets } from './targets.ts'
import type { HostTransport } from './transport.ts'
import { uninstallHost } from './uninstall.ts'
import { rollbackHost } from './rollback.ts'
import { readRunning, type RunningFacts } from './running.ts'
import pLimit from 'p-limit'
import { errorMessage } from '../util/errors.ts'

export interface FleetOptions {
  description: Description
  /** Environment holding the secrets the description names (process.env in the Action). */
  env: Record<string, string | undefined>
  /** Loud warnings (host-key checking off). */
  warn: (message: string) => void
  onResult?: (result: HostResult) => void
}

export interface OnboardFleetOptions extends FleetOptions {
  /** The rendered files of a VM, asked once its host is connected (a token only for a host
   * that answered). */
  filesFor: (vm: Vm) => Promise<HostFiles>
  /** asked once the VM's files are rendered: its sidecar must connect again (install.sh restarts
   * it even when nothing of its own changed) */
  reconnect?: (vm: Vm) => boolean
  /** The Istio version found in the cluster: what `sidecar.version: auto` means. */
  istioVersion: string
  /** Air-gapped hosts: the runner downloads official packages into this cache and pushes them. */
  runnerPackageCache?: string
  statusPort?: number
  readyTimeoutSec?: number
  /**
   * When given, each host's connection stays open after onboarding and is put here (the caller
   * closes it), so the checks that follow need no second handshake. A connection already here
   * (opened by readFleet) is used for the host's first attempt instead of a new one.
   */
  keepOpen?: Map<string, HostTransport>
  /** Only these of the shard's VMs (a batch of settings.rollout); default: the whole shard. */
  vms?: readonly Vm[]
  /** The control plane's addresses as the VMs dial them (the east-west gateway), so that a
   * timeout to them reads as the control plane's (istiod's names and ports always do). */
  controlPlaneHosts?: string[]
  /** The adaptive limit and retries (tests tune them); false: `parallelism` at once, no retry. */
  adaptive?: Partial<Omit<AdaptiveFanout, 'diagnose'>> | false
}

/** The transport as onboarding sees it, except that closing it is left to whoever holds it. */
function held(transport: HostTransport): HostTransport {
  return {
    get description() {
      return transport.description
    },
    exec: (command, options) => transport.exec(command, options),
    ...(transport.putFile
      ? {
          putFile: (local: string, remote: string) =>
            transport.putFile?.(local, remote) ?? Promise.resolve()
        }
      : {}),
    close: async () => undefined,
    get stats() {
      return transport.stats
    }
  }
}

function keepingOpen(target: HostTarget, into: Map<string, HostTransport> | undefined): HostTarget {
  if (into === undefined) return target
  // a connection opened before (readFleet) serves the first attempt; a retry opens its own
  let reuse = into.get(target.name)
  return {
    name: target.name,
    connect: async () => {
      if (reuse) {
        const open = reuse
        reuse = undefined
        return held(open)
      }
      const transport = await target.connect()
      // a host tried again: the connection of its earlier attempt is not needed any more
      const earlier = into.get(target.name)
      into.set(target.name, transport)
      if (earlier && earlier !== transport) await earlier.close().catch(() => {})
      return held(transport)
    }
  }
}

/** The package source of a VM: its `sidecar.package` (URL or runner path) or the official one. */
export function packageSourceFor(
  vm: Vm,
  istioVersion: string,
  runnerPackageCache?: string
): PackageSource {
  const version = sidecarVersion(vm, istioVersion)
  const given = vm.sidecar.package
  if (given !== null) {
    if (!/^https?:\/\//i.test(given)) return { kind: 'push', path: given }
    // the description's sha256 is checked on the host; without one (validation lets only an
    // https:// URL come without it) the host checks `<url>.sha256`
    const { sha256 } = vm.sidecar
    return sha256 !== undefined ? { kind: 'url', url: given, sha256 } : { kind: 'url', url: given }
  }
  if (version === '')
    throw new Error(
      `${vm.name}: the sidecar version is unknown (sidecar.version: auto and no Istio version found)`
    )
  return runnerPackageCache !== undefined
    ? { kind: 'auto-push', version, cacheDir: runnerPackageCache }
    : { kind: 'auto', version }
}

export function sidecarVersion(vm: Vm, istioVersion: string): string {
  return vm.sidecar.version === 'auto' ? istioVersion : vm.sidecar.version
}

function secretsIfNeeded(options: FleetOptions, vms: Vm[]): SshSecrets | undefined {
  return vms.some(vm => vm.host !== 'local')
    ? sshSecretsFrom(options.description.ssh, options.env)
    : undefined
}

/** This job's VMs (settings.shard). */
export function shardVms(description: Description): Vm[] {
  return selectShard(description.vms, description.settings.shard)
}

function fanOutOptions(options: FleetOptions): Parameters<typeof fanOut>[2] {
  const { settings } = options.description
  return {
    parallelism: settings.parallelism,
    failFast: settings.failFast,
    maxFailures: settings.maxFailures,
    ...(options.onResult ? { onResult: options.onResult } : {})
  }
}

/** Onboards this shard's VMs; failed hosts do not stop the others (see FanoutReport.ok). */
export async function onboardFleet(options: OnboardFleetOptions): Promise<FanoutReport> {
  const { description } = options
  const vms = options.vms ? [...options.vms] : shardVms(description)
  const secrets = secretsIfNeeded(options, vms)
  const byName = new Map(vms.map(vm => [vm.name, vm]))
  const targets = vms.map(vm =>
    keepingOpen(hostTarget(vm, description.ssh, secrets, options.warn), options.keepOpen)
  )
  const readyBudgetMs = (options.readyTimeoutSec ?? DEFAULT_PARAMS.readyTimeoutSec) * 1000
  const controlPlaneHosts = options.controlPlaneHosts ?? []
  const adaptive: AdaptiveFanout | undefined =
    options.adaptive === false
      ? undefined
      : {
          // a render the control plane failed was diagnosed by onboardHost already
          diagnose: result => result.diagnosis ?? diagnoseReadiness(result, controlPlaneHosts),
          // ready in the first half of its budget: the control plane keeps up
          slowMs: readyBudgetMs / 2,
          ...options.adaptive
        }
  return fanOut(
    targets,
    async target => {
      const vm = byName.get(target.name)
      if (!vm) throw new Error(`internal: no VM ${target.name}`)
      return onboardHost(target, {
        files: () => options.filesFor(vm),
        ...(options.reconnect ? { reconnect: () => options.reconnect?.(vm) ?? false } : {}),
        version: sidecarVersion(vm, options.istioVersion),
        package: packageSourceFor(vm, options.istioVersion, options.runnerPackageCache),
        commandTimeoutMs: description.ssh.commandTimeout * 1000,
        tokenRefreshWithinSec: description.settings.tokenRefreshWithin,
        ...(options.statusPort !== undefined ? { statusPort: options.statusPort } : {}),
        ...(options.readyTimeoutSec !== undefined
          ? { readyTimeoutSec: options.readyTimeoutSec }
          : {})
      })
    },
    { ...fanOutOptions(options), ...(adaptive ? { adaptive } : {}) }
  )
}

/** What a host runs before the run changes it, or why it could not be read. */
export type RunningRead = RunningFacts | { readonly error: string }

/**
 * Reads what each VM runs (settings.rollout), `parallelism` hosts at once, over the connection
 * each host's onboarding then goes on with: it is put in `keepOpen`, which onboardFleet uses for
 * the host's first attempt. One exec per host, nothing written.
 */
export async function readFleet(
  options: FleetOptions & { vms: readonly Vm[]; keepOpen: Map<string, HostTransport> }
): Promise<Map<string, RunningRead>> {
  const { description, keepOpen } = options
  const secrets = secretsIfNeeded(options, [...options.vms])
  const limit = pLimit(description.settings.parallelism)
  const reads = new Map<string, RunningRead>()
  await Promise.all(
    options.vms.map(vm =>
      limit(async () => {
        try {
          const transport = await hostTarget(vm, description.ssh, secrets, options.warn).connect()
          keepOpen.set(vm.name, transport)
          reads.set(vm.name, await readRunning(transport))
        } catch (error) {
          reads.set(vm.name, { error: errorMessage(error) })
        }
      })
    )
  )
  return reads
}

/**
 * Puts the last known good back on these VMs (a rollout batch's hosts whose checks failed after
 * their new sidecar was ready), each over the connection its onboarding used (a new one when it
 * has none), `parallelism` at once.
 */
export async function rollbackFleet(
  options: FleetOptions & { vms: readonly Vm[]; keepOpen: Map<string, HostTransport> }
): Promise<HostResult[]> {
  const { description } = options
  const secrets = secretsIfNeeded(options, [...options.vms])
  const limit = pLimit(description.settings.parallelism)
  return Promise.all(
    options.vms.map(vm =>
      limit(() =>
        rollbackHost(
          keepingOpen(hostTarget(vm, description.ssh, secrets, options.warn), options.keepOpen),
          { keepPackage: false, commandTimeoutMs: description.ssh.commandTimeout * 1000 }
        )
      )
    )
  )
}

/** Cleans up this shard's VMs (stop, capture, package unless kept, files, hosts block). */
export async function uninstallFleet(
  options: FleetOptions & { keepPackage: boolean }
): Promise<FanoutReport> {
  const { description } = options
  const vms = shardVms(description)
  const secrets = secretsIfNeeded(options, vms)
  return fanOut(
    vms.map(vm => hostTarget(vm, description.ssh, secrets, options.warn)),
    target =>
      uninstallHost(target, {
        keepPackage: options.keepPackage,
        commandTimeoutMs: description.ssh.commandTimeout * 1000
      }),
    // cleanup goes on after failures: every host that can be cleaned is. Uninstalls are heavy
    // (stop, dpkg purge): started few at once, more as hosts finish, fewer (and the host tried
    // again) when handshakes time out; 100 at once on the lab's 2 cores lost 24 hosts so.
    {
      ...fanOutOptions(options),
      failFast: false,
      maxFailures: null,
      adaptive: { diagnose: busyDiagnosis }
    }
  )
}
