// The seam of `configure` (a drop-in for `istioctl x workload entry configure`): where each input
// istioctl reads from the cluster comes from. The command reads files (offline); the cluster
// implementation (configureOnline.ts) reads what no file gives. Both are shaped here, below
// the command, so the cluster side never imports the command.
import type { IngressAddress, WorkloadGroup } from '../istio/index.ts'

/**
 * Where `configure` gets what istioctl reads from the cluster. The offline implementation
 * reads files; a cluster implementation (ConfigMaps, TokenRequest, the gateway Service) plugs
 * in here. Methods throw UsageError for bad input, other errors for failures.
 */
export interface ConfigureSources {
  /** -f FILE, or the WorkloadGroup --name in --namespace */
  workloadGroup(): Promise<WorkloadGroup>
  /** the `mesh` key of ConfigMap istio[-<rev>] in the istio namespace */
  meshConfig(revision: string): Promise<string>
  /** only asked when --clusterID was not given: global.multiCluster.clusterName */
  clusterID(revision: string): Promise<string>
  /** root-cert.pem of ConfigMap istio-ca-root-cert in the group's namespace */
  rootCert(namespace: string): Promise<string>
  /** a token for the service account, audience istio-ca; "" when none can be had */
  token(namespace: string, serviceAccount: string, seconds: number): Promise<string>
  /** the gateway address for `hosts`, from --ingressIP or the --ingressService Service */
  ingress(ingressIP: string, revision: string): Promise<IngressAddress>
  /** true when token() mints tokens (TokenRequest): istioctl's "has been generated" message */
  readonly mintsTokens?: boolean
}

/** The flags (istioctl's names) that choose the sources, as `configure` parsed them. */
export interface SourceFlags {
  readonly values: {
    readonly [
      name in
        | 'file'
        | 'name'
        | 'namespace'
        | 'revision'
        | 'istioNamespace'
        | 'ingressService'
        | 'kubeconfig'
        | 'context'
        | 'mesh-config'
        | 'root-cert'
        | 'token'
    ]: string
  }
  /** flags given on the command line (an explicit empty value counts) */
  readonly changed: ReadonlySet<string>
}
