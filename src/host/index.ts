// The host side: transports, the bundle, onboarding, fan-out, uninstall.
export type { ExecOptions, ExecResult, HostTransport, TransportStats } from './transport.ts'
export { TransportError } from './transport.ts'
export {
  connectSsh,
  connectBudgetMs,
  readPrivateKey,
  SshTransport,
  type SshOptions,
  type SshHop
} from './ssh.ts'
export { LocalTransport } from './local.ts'
export {
  fingerprintOf,
  normalizeFingerprint,
  parseKnownHosts,
  verifyHostKey,
  type HostKeyPolicy
} from './knownHosts.ts'
export {
  buildBundle,
  officialPackageUrl,
  remoteCommand,
  type HostFiles,
  type InstallParams,
  type PackagePlan
} from './bundle.ts'
export { cachedOfficialPackage, type PackageSource } from './package.ts'
export { parseRemoteOutput, type RemoteReport } from './results.ts'
export {
  onboardHost,
  type HostResult,
  type HostTarget,
  type OnboardOptions,
  type PhaseTiming
} from './onboard.ts'
export { uninstallHost, type UninstallOptions } from './uninstall.ts'
export {
  fanOut,
  selectShard,
  shardOf,
  type AdaptiveFanout,
  type FanoutOptions,
  type FanoutReport
} from './fanout.ts'
export { AdaptiveLimit, concurrencyLine, type ConcurrencyPoint } from './adaptive.ts'
export { diagnoseReadiness, type ReadinessDiagnosis } from './readiness.ts'
export { hostKeyPolicy, hostTarget, sshSecretsFrom, type SshSecrets } from './targets.ts'
export {
  onboardFleet,
  packageSourceFor,
  shardVms,
  sidecarVersion,
  uninstallFleet,
  type FleetOptions,
  type OnboardFleetOptions
} from './fleet.ts'
export { onboardLocal, type LocalJob } from './onboardLocal.ts'
