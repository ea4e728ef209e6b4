/** What a command may touch of the process: injected so tests run commands in-process. */
export interface CommandIO {
  readonly cwd: string
  readonly env: NodeJS.ProcessEnv
  /** standard output is a terminal: progress may rewrite lines */
  readonly isTTY?: boolean
  stdout(text: string): void
  stderr(text: string): void
}

/** A CLI command: parses its own arguments, returns the process exit code. */
export type Command = (args: readonly string[], io: CommandIO) => Promise<number>

/** Documented exit codes of the CLI. */
export const ExitCode = {
  ok: 0,
  /** The run itself failed: a host, the cluster or a check. */
  failed: 1,
  /** Bad input: arguments or the description. Nothing was changed. */
  invalid: 2
} as const

/** Bad input detected before anything was touched. Printed without a stack trace; exit 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}
