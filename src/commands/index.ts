import { errorMessage } from '../util/errors.ts'
import { closest } from '../util/closest.ts'
import { VERSION } from '../util/product.ts'
import { ExitCode, UsageError, type Command, type CommandIO } from './types.ts'

// Each command's module is loaded only when it runs: the cluster client costs start-up time.
const load = {
  validate: async () => (await import('./validate.ts')).validate,
  plan: async () => (await import('./cluster.ts')).planCommand,
  apply: async () => (await import('./run.ts')).applyCommand,
  verify: async () => (await import('./run.ts')).verifyCommand,
  drift: async () => (await import('./drift.ts')).driftCommand,
  cleanup: async () => (await import('./run.ts')).fullCleanupCommand,
  sweep: async () => (await import('./cluster.ts')).sweepCommand,
  configure: async () => (await import('./configure.ts')).configure,
  rbac: async () => (await import('./rbac.ts')).rbacCommand,
  completion: async (): Promise<Command> =>
    (await import('./completion.ts')).completionCommand(Object.keys(summaries))
} satisfies Record<string, () => Promise<Command>>

type CommandName = keyof typeof load

// in the order `usage` lists them
const summaries: Record<CommandName, string> = {
  validate: 'check a description file; touches nothing',
  plan: 'discover the cluster and show what apply would change; writes nothing',
  apply: 'prepare the cluster, onboard the VMs, register them and run the checks',
  verify: 'run the checks against what an earlier apply set up',
  drift: 'compare the hosts and the cluster with the description; writes nothing',
  cleanup: 'remove the sidecar from the VMs (-c FILE) and what one owner created in the cluster',
  sweep: 'remove the objects of owners older than an age (preview environments)',
  configure: 'write the VM files, a drop-in for `istioctl x workload entry configure`',
  rbac: 'print the least-privilege RBAC for the runs of a description; reads no cluster',
  completion: 'print a completion script for bash or zsh'
}

export function usage(): string {
  const width = Math.max(...Object.keys(summaries).map(name => name.length))
  const lines = Object.entries(summaries).map(
    ([name, summary]) => `  ${name.padEnd(width)}  ${summary}`
  )
  return [
    'Usage: mesh-expansion <command> [options]    (--version, --help)',
    '',
    'Commands:',
    ...lines,
    '',
    'Exit codes: 0 success, 1 the run failed, 2 invalid input (nothing was changed),',
    '3 drift found (drift).',
    ''
  ].join('\n')
}

/**
 * parseArgs' "Unknown option '--kubecofig'. To specify a positional argument…" with the nearest
 * flag of the command's help (which follows in the message) instead of the positional advice.
 */
export function withSuggestion(message: string): string {
  const unknown = /^Unknown option '(-{1,2}[^'=\s]+)[^\n]*/.exec(message)
  if (!unknown) return message
  const flags = [...new Set(message.match(/--[a-z][a-z0-9-]*/g) ?? [])].filter(
    flag => flag !== unknown[1]
  )
  const near = closest(unknown[1] ?? '', flags)
  if (near === undefined) return message
  return `Unknown option '${unknown[1] ?? ''}' (did you mean ${near}?)${message.slice(unknown[0].length)}`
}

/** Runs one CLI invocation and returns its exit code; never throws. */
export async function runCli(argv: readonly string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage())
    return name === undefined ? ExitCode.invalid : ExitCode.ok
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    io.stdout(`mesh-expansion ${VERSION}\n`)
    return ExitCode.ok
  }
  if (!Object.hasOwn(load, name)) {
    const near = closest(name, Object.keys(load))
    const hint = near === undefined ? '' : ` (did you mean "${near}"?)`
    io.stderr(`mesh-expansion: unknown command ${JSON.stringify(name)}${hint}\n\n${usage()}`)
    return ExitCode.invalid
  }
  try {
    const command = await load[name as CommandName]()
    return await command(rest, io)
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`Error: ${withSuggestion(error.message)}\n`)
      return ExitCode.invalid
    }
    io.stderr(`Error: ${errorMessage(error)}\n`)
    return ExitCode.failed
  }
}
