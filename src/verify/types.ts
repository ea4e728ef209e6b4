// The small interfaces the checks depend on. src/verify does no I/O of its own: the engine (or a
// test) hands in a shell on each host, a way to exec in pods, and a view of the control plane.

export interface ShellResult {
  /** Exit code; -1 when killed (timeout, signal). */
  code: number
  stdout: string
  stderr: string
}

/** A shell on one host (SSH or the runner itself). */
export interface HostShell {
  /**
   * Runs `command` with `sh -c` semantics. With `user`, as that user (the implementation adds
   * `sudo -n -u <user>` when it is not the login user).
   */
  run(command: string, options: { user?: string; timeoutMs: number }): Promise<ShellResult>
}

export interface PodRef {
  name: string
  container: string
  /** spec.serviceAccountName ('default' when unset): the pod's mesh identity. */
  serviceAccount: string
  /** True when the pod has an istio-proxy container or the sidecar.istio.io/status annotation. */
  injected: boolean
  /** status.podIP, when known. */
  ip?: string
}

/** Exec in pods (kubectl exec). */
export interface PodShell {
  /** The first running pod matching the selector, or null. */
  findPod(namespace: string, selector: string): Promise<PodRef | null>
  exec(
    namespace: string,
    pod: string,
    container: string,
    argv: string[],
    timeoutMs: number
  ): Promise<ShellResult>
}

export interface ConnectedProxy {
  /** Proxy ID (`<pod or host name>.<namespace>`), as istiod knows it. */
  id: string
  /** The connection's peer address (IP only). */
  ip: string
}

export type WorkloadEntryHealth =
  | { state: 'healthy' }
  | { state: 'unhealthy'; reason: string; message: string }
  | { state: 'unknown' }
  | { state: 'missing' }

/** istiod could not be asked (why, for a skip): its answer says nothing about the VM. */
export interface CannotTell {
  cannotTell: string
}

export interface ControlPlane {
  /**
   * null when the control plane does not tell (no such debug endpoint: older versions);
   * CannotTell when it has the endpoint but would not answer us (401 and no way to ask on
   * localhost).
   */
  connectedProxies(): Promise<ConnectedProxy[] | null | CannotTell>
  workloadEntryHealth(namespace: string, name: string): Promise<WorkloadEntryHealth>
}

/** Creates and removes the temporary STRICT PeerAuthentication. */
export interface PolicyClient {
  /** Server-side apply of a PeerAuthentication (labelled as ours by the caller). */
  applyPeerAuthentication(manifest: Record<string, unknown>): Promise<void>
  /** Deletes it; a missing object is not an error. */
  deletePeerAuthentication(namespace: string, name: string): Promise<void>
}

export type CheckKind =
  | 'sidecar-ready'
  | 'istiod-connection'
  | 'workload-entry-health'
  | 'host-to-cluster'
  | 'cluster-to-host'
  | 'host-to-host'
  | 'pod-to-pod'
  | 'strict-mtls'

export type CheckStatus = 'pass' | 'fail' | 'skip'

export interface Evidence {
  /** Where the check ran: `vm/<name>`, `pod/<ns>/<pod>`, `cluster`. */
  where?: string
  /** The command run (never a secret in it). */
  command?: string
  /** The HTTP client used (curl, wget, python3). */
  tool?: string
  status?: number
  headers?: Record<string, string>
  bodyExcerpt?: string
  /** The address a name resolved to, when known. */
  resolved?: string
  /** Transport error (no HTTP answer): kind and message. */
  error?: string
  /** Other facts (log tail, proxies seen...). */
  notes?: string[]
  durationMs: number
  attempts: number
}

export interface CheckResult {
  name: string
  kind: CheckKind
  /** The VM this check is about, when there is one. */
  vm?: string
  status: CheckStatus
  ok: boolean
  evidence: Evidence
  /** On failure (or skip): the likely cause, in one or two sentences. */
  diagnosis?: string
}
