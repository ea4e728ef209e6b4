// Public API of the checks that prove a VM is in the mesh.
export type * from './types.ts'
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
export { runChecks } from './run.ts'
export type { VerifyDeps } from './runtime.ts'
export { READY_URL } from './vmChecks.ts'
export { STRICT_POLICY_NAME, strictPeerAuthentication } from './strictMtls.ts'
export { countResults, evidenceSummary, resultTable, type ResultTable } from './render.ts'
export { hostShellOverTransport } from './hostShell.ts'
export { istiodServiceName, verifyDeps, type EngineVerifyInput } from './deps.ts'
export {
  createKubeVerifyClients,
  parseDebugConnections,
  workloadEntryHealthOf,
  type KubeVerifyClients
} from './podExec.ts'
