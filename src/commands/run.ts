// `apply`, `verify` and `cleanup -c FILE`: the whole engine from the command line.
import type { Description } from '../config/index.ts'
import { apply, cleanup, verify, type EngineOptions } from '../engine/run.ts'
import type { RunReport } from '../engine/report.ts'
import { shardVms } from '../host/fleet.ts'
import { HostProgress } from '../report/progress.ts'
import { checkLine, hostLine, reportLines } from '../report/terminal.ts'
import { cleanupCommand, openCluster, parseCommonFlags, type CommonFlags } from './cluster.ts'
import { ExitCode, UsageError, type Command, type CommandIO } from './types.ts'
import { loadDescription } from './validate.ts'

type Engine = typeof apply

const help = (name: string, what: string): string =>
  `Usage: mesh-expansion ${name} -c FILE [--owner OWNER] [--kubeconfig PATH] [--context NAME] [--json]

${what}

Exit codes: 0 success, 1 a host, the cluster or a check failed, 2 invalid input (nothing changed).
`

async function runEngine(
  engine: Engine,
  flags: CommonFlags,
  io: CommandIO,
  extra: Partial<EngineOptions> = {}
): Promise<number> {
  if (!flags.config) throw new UsageError('missing -c FILE (the description)')
  const { description } = await loadDescription(flags.config, io)
  const connection = await openCluster(flags, io, description)
  const print = (line: string): void => {
    if (!flags.json) io.stdout(`${line}\n`)
  }
  let report: RunReport
  let progress: HostProgress | undefined
  try {
    report = await engine(description as Description, connection, {
      owner: flags.owner ?? description.settings.owner,
      env: io.env,
      log: line => {
        // a new phase starts below the host block, which is not redrawn any more
        progress?.finish()
        print(line)
        // the host phase: a line per host, rewritten in place on a terminal
        if (line.startsWith('hosts:') && !flags.json) {
          const names = shardVms(description).map(vm => vm.name)
          progress = new HostProgress(names, io.stdout, io.isTTY === true)
        }
      },
      warn: message => io.stderr(`warning: ${message}\n`),
      // the CLI prints no secret, so there is nothing to mask
      onSecret: () => undefined,
      onHostStarted: name => progress?.started(name),
      onHostResult: result => (progress ? progress.finished(result) : print(hostLine(result))),
      onCheckResult: result => print(checkLine(result)),
      ...extra
    })
  } finally {
    progress?.finish()
    await connection.close()
  }
  if (flags.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`)
  else for (const line of reportLines(report)) io.stdout(`${line}\n`)
  return report.ok ? ExitCode.ok : ExitCode.failed
}

export const applyCommand: Command = async (args, io) => {
  const text = help(
    'apply',
    'Prepares the cluster, onboards every VM of this shard, registers them and runs the checks.'
  )
  const { common } = parseCommonFlags(args, text)
  if (common.help) return (io.stdout(text), ExitCode.ok)
  return runEngine(apply, common, io)
}

export const verifyCommand: Command = async (args, io) => {
  const text = help(
    'verify',
    'Runs the checks against what an earlier apply set up. Writes nothing to the cluster.'
  )
  const { common } = parseCommonFlags(args, text)
  if (common.help) return (io.stdout(text), ExitCode.ok)
  return runEngine(verify, common, io)
}

/** With -c FILE: the hosts too (sidecar removed), then the cluster; without: the cluster only. */
export const fullCleanupCommand: Command = async (args, io) => {
  const { common } = parseCommonFlags(args, help('cleanup', ''))
  if (common.help || !common.config) return cleanupCommand(args, io)
  return runEngine(cleanup, common, io)
}
