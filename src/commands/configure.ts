// `mesh-expansion configure`: a drop-in for `istioctl x workload entry configure`. It takes
// istioctl's flags verbatim (configureFlags.ts) and writes the same five files
// (configureFiles.ts). The inputs come from files (configureInputs.ts) and, when a file is
// missing and a kubeconfig is found, from the cluster (../cluster/configureOnline.ts).

import { join, resolve } from 'node:path'
import type { ConfigureSources } from '../cluster/configureSources.ts'
import { goQuote } from '../istio/goJson.ts'
import { MeshConfigError, renderVmFiles } from '../istio/index.ts'
import { writeVmFiles } from './configureFiles.ts'
import {
  configureUsage,
  parseConfigureFlags,
  validateConfigureFlags,
  type ParsedFlags
} from './configureFlags.ts'
import { asUsageError, offlineSources } from './configureInputs.ts'
import { ExitCode, type Command, type CommandIO } from './types.ts'

export const configure: Command = async (args, io) => {
  const flags = parseConfigureFlags(args)
  if (flags.values.help) {
    io.stdout(configureUsage())
    return ExitCode.ok
  }
  validateConfigureFlags(flags)
  const warnings: string[] = []
  const sources = offlineSources(flags, io, message => warnings.push(message))
  // online when a file is missing and a kubeconfig is found: the cluster gives the rest, as it
  // does to istioctl (loaded only here: the client library costs start-up time)
  const online = await import('../cluster/configureOnline.ts')
  if (!online.wantsCluster(flags, io.env)) return runConfigure(flags, io, sources, warnings)
  const cluster = await online.openClusterSources(flags, io, sources)
  try {
    return await runConfigure(cluster.flags, io, cluster.sources, warnings)
  } finally {
    await cluster.close()
  }
}

/**
 * Gathers the inputs from `sources`, renders the files and writes them. `warnings` collects
 * what the sources report; they are printed before the files are written.
 */
export async function runConfigure(
  flags: ParsedFlags,
  io: CommandIO,
  sources: ConfigureSources,
  warnings: string[] = []
): Promise<number> {
  const v = flags.values
  const revision = v.revision
  const workloadGroup = await sources.workloadGroup()
  const namespace = workloadGroup.namespace
  const serviceAccount = workloadGroup.spec.template.serviceAccount
  const clusterID = flags.changed.has('clusterID') ? v.clusterID : await sources.clusterID(revision)
  const meshConfig = await sources.meshConfig(revision)
  const rootCert = await sources.rootCert(namespace)
  const token = await sources.token(namespace, serviceAccount, Number(v.tokenDuration))
  const ingress = await sources.ingress(v.ingressIP, revision)

  const rendered = asUsageError(MeshConfigError, () =>
    renderVmFiles({
      workloadGroup,
      meshConfig,
      istioNamespace: v.istioNamespace,
      revision,
      clusterID,
      internalIP: v.internalIP,
      externalIP: v.externalIP,
      ingress,
      autoRegister: v.autoregister,
      captureDns: v['capture-dns'],
      rootCert,
      token
    })
  )

  for (const warning of warnings) io.stderr(`Warning: ${warning}\n`)
  for (const line of rendered.stdout) io.stdout(`${line}\n`)

  await writeVmFiles(resolve(io.cwd, v.output), rendered.files)
  const tokenPath = join(v.output, 'istio-token')
  if (token !== '') {
    io.stderr(
      `Warning: a security token for namespace ${goQuote(namespace)} and service account ` +
        `${goQuote(serviceAccount)} has been ${sources.mintsTokens ? 'generated and ' : ''}` +
        `stored at ${goQuote(tokenPath)}\n`
    )
  } else {
    io.stderr(
      `Warning: no --token given: ${goQuote(tokenPath)} is empty. The VM cannot authenticate to ` +
        `istiod until it holds a token for namespace ${goQuote(namespace)} and service account ` +
        `${goQuote(serviceAccount)} with audience istio-ca (kubectl create token ${serviceAccount} ` +
        `-n ${namespace} --audience istio-ca --duration ${v.tokenDuration}s)\n`
    )
  }
  for (const warning of rendered.warnings) io.stderr(`Warning: ${warning}\n`)
  io.stdout(`Configuration generation into directory ${v.output} was successful\n`)
  return ExitCode.ok
}
