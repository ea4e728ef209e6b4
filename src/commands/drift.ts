// `mesh-expansion drift -c FILE`: what differs between the description and the hosts and the
// cluster, reading only (src/drift). Exit 0 nothing differs, 3 drift found, 1 something could not
// be checked, 2 invalid input.
import { drift } from '../drift/run.ts'
import { driftExitCode } from '../drift/types.ts'
import { logLine } from '../report/escape.ts'
import { driftLines } from '../report/drift.ts'
import { openCluster, parseCommonFlags } from './cluster.ts'
import { ExitCode, UsageError, type Command } from './types.ts'
import { loadDescription } from './validate.ts'

const HELP = `Usage: mesh-expansion drift -c FILE [--owner OWNER] [--kubeconfig PATH] [--context NAME] [--json] [--all]

Compares what the description renders now with what this shard's hosts and the cluster have,
writing nothing: over one SSH connection per host, each file placed (by SHA-256, computed on the
host), the bootstrap token (its copy and its expiry, settings.tokenRefreshWithin), the
workload certificate's expiry, the package version and its skew with istiod, the service, its
readiness, the iptables capture and the WorkloadEntry's health; in the cluster, the objects of
the owner against the description. --all lists what is as described too.

Exit codes: 0 no drift, 3 drift found, 1 something could not be checked, 2 invalid input.
`

export const driftCommand: Command = async (args, io) => {
  const { common, values } = parseCommonFlags(args, HELP, { all: { type: 'boolean' } })
  if (common.help) return (io.stdout(HELP), ExitCode.ok)
  if (!common.config) throw new UsageError(`missing -c FILE (the description)\n\n${HELP}`)
  const { description } = await loadDescription(common.config, io)
  const owner = common.owner ?? description.settings.owner
  const { report, invalid } = await drift(description, () => openCluster(common, io, description), {
    owner,
    env: io.env,
    log: line => {
      if (!common.json) io.stdout(`${logLine(line)}\n`)
    },
    warn: message => io.stderr(`warning: ${logLine(message)}\n`),
    onHost: host => {
      if (!common.json)
        io.stdout(`${host.host}: ${host.status === 'unchecked' ? 'not checked' : host.status}\n`)
    }
  })
  if (common.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`)
  else if (!invalid) io.stdout(`${driftLines(report, { all: values.all === true }).join('\n')}\n`)
  // bad input: nothing was read, the problems are all there is to say
  if (invalid) for (const problem of report.problems) io.stderr(`Error: ${logLine(problem)}\n`)
  return driftExitCode(report, invalid)
}
