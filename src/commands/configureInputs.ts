// `configure` offline: every input istioctl would read from the cluster comes from a file named
// on the command line, or a default install's value with a warning.
import { resolve } from 'node:path'
import type { ConfigureSources, SourceFlags } from '../cluster/configureSources.ts'
import {
  helmDefaultMeshConfig,
  istiodAddress,
  MeshConfigError,
  meshConfigFromFile,
  parseWorkloadGroupYaml,
  resolveIngressAddress,
  WorkloadGroupError
} from '../istio/index.ts'
import { DESCRIPTION_MAX_BYTES, InputFileError, readInputFile, shownName } from '../config/index.ts'
import { UsageError, type CommandIO } from './types.ts'

/** The value of `parse`; an error of `kind` from it (the input is wrong) becomes a UsageError. */
export function asUsageError<T>(
  kind: typeof MeshConfigError | typeof WorkloadGroupError,
  parse: () => T
): T {
  try {
    return parse()
  } catch (error) {
    if (error instanceof kind) throw new UsageError(error.message)
    throw error
  }
}

// `what` prefixes the error for our own flags; -f errors read exactly as istioctl's.
// Each file is a regular file of at most 4 MiB, checked before it is opened (a FIFO never hangs).
async function readInput(io: CommandIO, path: string, what?: string): Promise<string> {
  try {
    return readInputFile(resolve(io.cwd, path), {
      what: what ?? 'the file',
      shown: path,
      maxBytes: DESCRIPTION_MAX_BYTES
    })
  } catch (error) {
    if (!(error instanceof InputFileError)) throw error
    const prefix = what !== undefined ? `${what}: ` : ''
    throw new UsageError(`${prefix}open ${shownName(path)}: ${error.reason}`)
  }
}

/** Reads every input from files given on the command line (no cluster). */
export function offlineSources(
  flags: SourceFlags,
  io: CommandIO,
  warn: (message: string) => void
): ConfigureSources {
  const v = flags.values
  return {
    async workloadGroup() {
      if (v.file === '') {
        throw new UsageError(
          'reading the WorkloadGroup from a cluster (--name/--namespace) is not available yet: ' +
            'pass it with -f FILE and run offline (--mesh-config, --root-cert, --token)'
        )
      }
      const text = await readInput(io, v.file)
      return asUsageError(WorkloadGroupError, () => parseWorkloadGroupYaml(text, v.file))
    },
    async meshConfig(revision) {
      if (v['mesh-config'] === '') {
        warn(
          'no --mesh-config given: using the mesh config of a default install (trustDomain ' +
            `cluster.local, discoveryAddress ${istiodAddress(v.istioNamespace, revision)})`
        )
        return helmDefaultMeshConfig(v.istioNamespace, revision)
      }
      const text = await readInput(io, v['mesh-config'], '--mesh-config')
      return asUsageError(MeshConfigError, () => meshConfigFromFile(text, v['mesh-config']))
    },
    async clusterID() {
      warn(
        'no --clusterID given and no cluster to read global.multiCluster.clusterName from: ' +
          "ISTIO_META_CLUSTER_ID is '' (a default install's value; pass --clusterID, e.g. Kubernetes)"
      )
      return ''
    },
    async rootCert(namespace) {
      if (v['root-cert'] === '') {
        throw new UsageError(
          'no cluster connection: pass --root-cert FILE with the root-cert.pem of the ' +
            `istio-ca-root-cert ConfigMap in namespace ${namespace} ` +
            `(kubectl get configmap istio-ca-root-cert -n ${namespace} -o jsonpath='{.data.root-cert\\.pem}')`
        )
      }
      const rootCert = await readInput(io, v['root-cert'], '--root-cert')
      if (rootCert.trim() === '') throw new UsageError(`--root-cert ${v['root-cert']} is empty`)
      return rootCert
    },
    async token() {
      if (v.token === '') return ''
      // a JWT has no whitespace; a trailing newline from `kubectl create token > file` is dropped
      const token = (await readInput(io, v.token, '--token')).replace(/\s+$/u, '')
      if (token === '') throw new UsageError(`--token ${v.token} is empty`)
      return token
    },
    async ingress(ingressIP) {
      // no Service to look up offline: the flag is all there is
      return resolveIngressAddress(ingressIP)
    }
  }
}
