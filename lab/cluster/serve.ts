// Runs the sandbox cluster until interrupted, for trying the product by hand:
//   node lab/cluster/serve.ts --kubeconfig /tmp/sandbox.kubeconfig [--istio 1.30.3] [--revision r]
//        [--host 127.0.0.1] [--port 6443] [--netns mxlab-cluster] [--network net1] [--log]
//        [--rbac]   (authorise as a cluster with RBAC: lab/cluster/rbac.ts; default AlwaysAllow)
import { parseArgs } from 'node:util'
import { startSandboxCluster } from './index.ts'

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    istio: { type: 'string', default: '1.30.3' },
    revision: { type: 'string' },
    network: { type: 'string' },
    'cluster-id': { type: 'string' },
    netns: { type: 'string' },
    kubeconfig: { type: 'string' },
    log: { type: 'boolean', default: false },
    rbac: { type: 'boolean', default: false }
  }
})

const cluster = await startSandboxCluster({
  host: values.host,
  port: Number(values.port),
  istioVersion: values.istio,
  ...(values.revision ? { revision: values.revision } : {}),
  ...(values.network ? { network: values.network } : {}),
  ...(values['cluster-id'] ? { clusterID: values['cluster-id'] } : {}),
  ...(values.netns ? { podNetns: values.netns } : {}),
  ...(values.rbac ? { authorization: 'RBAC' as const } : {})
})
if (values.kubeconfig) await cluster.writeKubeconfig(values.kubeconfig)
console.log(
  `sandbox cluster (Istio ${cluster.istioVersion}, authorization ${cluster.authorization}) at ${cluster.url}`
)
if (values.kubeconfig) console.log(`kubeconfig: ${values.kubeconfig}`)
if (cluster.echo) console.log(`echo app: ${cluster.echo.url}`)
if (values.log) {
  cluster.requestLog.onEntry(e =>
    console.log(
      `${e.time} ${e.status} ${e.method} ${e.path} (${e.verb} ${e.resource}) ${e.user ?? '-'}`
    )
  )
}
await new Promise<void>(resolve => {
  process.once('SIGINT', () => resolve())
  process.once('SIGTERM', () => resolve())
})
await cluster.close()
