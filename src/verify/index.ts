// Public API of the checks that prove a VM is in the mesh.
export type {
  CheckKind,
  CheckResult,
  CheckStatus,
  ConnectedProxy,
  ControlPlane,
  Evidence,
  HostShell,
  PodRef,
  PodShell,
  PolicyClient,
  ShellResult,
  WorkloadEntryHealth
} from './types.ts'
export {
  asUser,
  callerIdentity,
  echoedHeaders,
  headerMismatches,
  httpRequestArgv,
  parseHttpResult,
  parseRawResponse,
  parseXfcc,
  unprivilegedUser,
  type HttpOutcome,
  type HttpResponse,
  type HttpTool
} from './http.ts'
export {
  findProxy,
  judgeIstiodConnection,
  judgeReadiness,
  judgeRequest,
  judgeWorkloadEntry,
  logHint,
  type RequestContext,
  type Verdict
} from './diagnose.ts'
export {
  READY_URL,
  runChecks,
  STRICT_POLICY_NAME,
  strictPeerAuthentication,
  workloadEntryName,
  type VerifyDeps
} from './run.ts'
export { countResults, evidenceSummary, resultTable, type ResultTable } from './render.ts'
export { hostShellOverTransport } from './hostShell.ts'
export { istiodServiceName, verifyDeps, type EngineVerifyInput } from './deps.ts'
export {
  createKubeVerifyClients,
  parseDebugConnections,
  workloadEntryHealthOf,
  type KubeVerifyClients
} from './podExec.ts'
