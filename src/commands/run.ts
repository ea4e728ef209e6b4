// `apply`, `verify` and `cleanup -c FILE`: the whole engine from the command line.
import type { Description } from '../config/index.ts'
import { apply, cleanup, verify, type Engine, type EngineOptions } from '../engine/run.ts'
import { emptyReport, type RunReport } from '../engine/report.ts'
import { shardVms } from '../host/fleet.ts'
import { logLine } from '../report/escape.ts'
import { HostProgress } from '../report/progress.ts'
import { checkLine, hostLine, humanReport } from '../report/terminal.ts'
import { cleanupCommand, openCluster, parseCommonFlags, type CommonFlags } from './cluster.ts'
import { ExitCode, UsageError, type Command, type CommandIO } from './types.ts'
import { DescriptionError, loadDescription } from './validate.ts'

const help = (name: string, what: string): string =>
  `Usage: mesh-expansion ${name} -c FILE [--owner OWNER] [--kubeconfig PATH] [--context NAME] [--json]

${what}

Exit codes: 0 success, 1 a host, the cluster or a check failed, 2 invalid input (nothing changed).
`

/**
 * With --json, a run that stops before its engine gives a report (no description, an invalid
 * one, an exception) still prints one: ok false and the problems; the error goes to stderr.
 */
async function runEngine(
  command: RunReport['command'],
  engine: Engine,
  flags: CommonFlags,
  io: CommandIO,
  extra: Partial<EngineOptions> = {}
): Promise<number> {
  try {
    return await runFlow(engine, flags, io, extra)
  } catch (error) {
    if (flags.json) {
      const invalid = error instanceof UsageError
      const report = {
        ...emptyReport(command, flags.owner ?? ''),
        problems:
          error instanceof DescriptionError
            ? error.message.split('\n')
            : [error instanceof Error ? error.message : String(error)],
        failedPhase: invalid ? 'inputs' : null,
        invalid
      }
      io.stdout(`${JSON.stringify(report, null, 2)}\n`)
    }
    throw error
  }
}

async function runFlow(
  engine: Engine,
  flags: CommonFlags,
  io: CommandIO,
  extra: Partial<EngineOptions>
): Promise<number> {
  if (!flags.config) throw new UsageError('missing -c FILE (the description)')
  const { description } = await loadDescription(flags.config, io)
  const print = (line: string): void => {
    if (!flags.json) io.stdout(`${line}\n`)
  }
  let report: RunReport
  let progress: HostProgress | undefined
  try {
    // opened in the run's preflight, so a bad kubeconfig is listed with every other problem
    report = await engine(description as Description, () => openCluster(flags, io, description), {
      owner: flags.owner ?? description.settings.owner,
      env: io.env,
      log: line => print(logLine(line)),
      onPhase: event => {
        // a new phase starts below the host block, which is not redrawn any more
        progress?.finish()
        progress = undefined
        if (event.state === 'end') return
        print(`${event.phase}: ${event.title}`)
        // the host phase: a line per host, rewritten in place on a terminal
        if (event.phase === 'hosts' && !flags.json) {
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
  }
  if (flags.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`)
  else io.stdout(`\n${humanReport(report).join('\n')}\n`)
  if (report.ok) return ExitCode.ok
  return report.invalid ? ExitCode.invalid : ExitCode.failed
}

/** A command that runs one engine flow over the description. */
function engineCommand(name: RunReport['command'], engine: Engine, what: string): Command {
  const text = help(name, what)
  return async (args, io) => {
    const { common } = parseCommonFlags(args, text)
    if (common.help) return (io.stdout(text), ExitCode.ok)
    return runEngine(name, engine, common, io)
  }
}

export const applyCommand = engineCommand(
  'apply',
  apply,
  'Prepares the cluster, onboards every VM of this shard, registers them and runs the checks.'
)

export const verifyCommand = engineCommand(
  'verify',
  verify,
  'Runs the checks against what an earlier apply set up. Writes nothing to the cluster.'
)

/** With -c FILE: the hosts too (sidecar removed), then the cluster; without: the cluster only. */
export const fullCleanupCommand: Command = async (args, io) => {
  const { common } = parseCommonFlags(args, help('cleanup', ''))
  if (common.help || !common.config) return cleanupCommand(args, io)
  return runEngine('cleanup', cleanup, common, io)
}
