// What the phases of a run share: the given inputs, and what each phase produces for the next.
// A field is undefined until the phase that produces it has run (the runner checks the order).
import type { Description, Vm } from '../config/index.ts'
import type { Connection } from '../cluster/connection.ts'
import type { Prepared } from '../cluster/prepare.ts'
import type { HostFiles } from '../host/bundle.ts'
import type { FanoutReport } from '../host/fanout.ts'
import type { HostResult } from '../host/onboard.ts'
import type { PackageFile } from '../host/preflight.ts'
import type { SshSecrets } from '../host/targets.ts'
import type { HostTransport } from '../host/transport.ts'
import type { CheckResult } from '../verify/types.ts'
import type { AddressOptions } from './addresses.ts'
import type { RunReport } from './report.ts'
import type { PhaseEvent } from './runner.ts'
import type { GenerationStrategy, Registered } from './strategy.ts'

export interface EngineOptions {
  owner: string
  /** where the secrets the description names are read (process.env) */
  env: Record<string, string | undefined>
  /** progress lines */
  log: (line: string) => void
  warn: (message: string) => void
  /** called with every secret as soon as it exists (the Action masks it) */
  onSecret: (value: string) => void
  /** a phase starts or ends: the Action's log groups, the CLI's progress */
  onPhase?: (event: PhaseEvent) => void
  /** a host's turn came: it is connected and its files are being rendered */
  onHostStarted?: (name: string) => void
  onHostResult?: (result: HostResult) => void
  onCheckResult?: (result: CheckResult) => void
  /** run the checks after onboarding (default true) */
  verify?: boolean
  strictMtls?: boolean
  /** air-gapped hosts: official packages are downloaded here on the runner and pushed */
  runnerPackageCache?: string
  readyTimeoutSec?: number
  /** cleanup: leave the package installed */
  keepPackage?: boolean
}

/**
 * The cluster as the caller hands it over: a connection it opened (and closes), or a way to
 * open one, which the run calls in its preflight (so a bad kubeconfig is listed with every
 * other problem) and closes at its end.
 */
export type ClusterAccess = Connection | (() => Promise<Connection>)

/** What the inputs phase read on the runner: no connection made, nothing written. */
export interface RunInputs {
  readonly secrets: SshSecrets | undefined
  readonly packages: readonly PackageFile[]
  readonly addressOptions: AddressOptions
  /** problems of the inputs: reported by preflight together with the cluster's */
  readonly problems: readonly string[]
}

export interface RunState {
  // given
  readonly description: Description
  readonly options: EngineOptions
  readonly access: ClusterAccess
  readonly report: RunReport
  /** this job's shard of the VMs */
  readonly vms: readonly Vm[]
  // produced
  inputs?: RunInputs
  connection?: Connection
  /** discovery, ownership and the plan, read in preflight */
  prepared?: Prepared
  /** the generation's way of rendering, registering and withdrawing; null: not discovered */
  strategy?: GenerationStrategy | null
  /** VM → the address the mesh reaches it at (filled in as hosts answer) */
  addresses?: Map<string, string>
  /** renders one VM's files, minting its identity just in time */
  render?: (vm: Vm) => Promise<HostFiles>
  /** each host's one connection, open until the run ends */
  transports?: Map<string, HostTransport>
  fleet?: FanoutReport
  /** VM → address, of the hosts that came up */
  ready?: Map<string, string>
  registered?: Registered
}
