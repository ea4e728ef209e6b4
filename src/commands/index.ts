import { ExitCode, UsageError, type Command, type CommandIO } from './types.ts'

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  validate: {
    summary: 'check a description file; touches nothing',
    load: async () => (await import('./validate.ts')).validate
  },
  plan: {
    summary: 'discover the cluster and show what apply would change; writes nothing',
    load: async () => (await import('./cluster.ts')).planCommand
  },
  apply: {
    summary: 'prepare the cluster, onboard the VMs, register them and run the checks',
    load: async () => (await import('./run.ts')).applyCommand
  },
  verify: {
    summary: 'run the checks against what an earlier apply set up',
    load: async () => (await import('./run.ts')).verifyCommand
  },
  cleanup: {
    summary: 'remove the sidecar from the VMs (-c FILE) and what one owner created in the cluster',
    load: async () => (await import('./run.ts')).fullCleanupCommand
  },
  sweep: {
    summary: 'remove the objects of owners older than an age (preview environments)',
    load: async () => (await import('./cluster.ts')).sweepCommand
  },
  configure: {
    summary: 'write the VM files, a drop-in for `istioctl x workload entry configure`',
    load: async () => (await import('./configure.ts')).configure
  }
}

export function usage(): string {
  const width = Math.max(...Object.keys(commands).map(name => name.length))
  const lines = Object.entries(commands).map(
    ([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`
  )
  return [
    'Usage: mesh-expansion <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Exit codes: 0 success, 1 the run failed, 2 invalid input (nothing was changed).',
    ''
  ].join('\n')
}

/** Runs one CLI invocation and returns its exit code; never throws. */
export async function runCli(argv: readonly string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage())
    return name === undefined ? ExitCode.invalid : ExitCode.ok
  }
  const entry = commands[name]
  if (!entry) {
    io.stderr(`mesh-expansion: unknown command "${name}"\n\n${usage()}`)
    return ExitCode.invalid
  }
  try {
    return await (
      await entry.load()
    )(rest, io)
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`Error: ${error.message}\n`)
      return ExitCode.invalid
    }
    const message = error instanceof Error ? error.message : String(error)
    io.stderr(`Error: ${message}\n`)
    return ExitCode.failed
  }
}
