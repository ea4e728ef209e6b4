// `mesh-expansion validate -c FILE`: checks a description and touches nothing (no cluster, no
// host, no network, no file written). Other commands load their description through
// loadDescription so that they validate the same way before doing anything.
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  DESCRIPTION_MAX_BYTES,
  InputFileError,
  formatError,
  parseDescription,
  oneLine,
  quoteText,
  readInputFile,
  shownName,
  type ConfigError,
  type Description,
  type Locate
} from '../config/index.ts'
import { summarize } from '../report/description.ts'
import { errorMessage } from '../util/errors.ts'
import { ExitCode, UsageError, type Command, type CommandIO } from './types.ts'

const HELP = `Usage: mesh-expansion validate -c FILE [--json]

Checks a description file and touches nothing: no cluster, no host, no network, no file written.

Options:
  -c, --config FILE  the description (YAML); "-" reads standard input
      --json         machine-readable result on standard output
  -h, --help         this help

Exit codes: 0 valid, 2 invalid (every error is printed as FILE:LINE:COLUMN PATH: MESSAGE).
`

/** The description file could not be used; its message lists every error, one per line. */
export class DescriptionError extends UsageError {
  override name = 'DescriptionError'
  readonly errors: readonly ConfigError[]
  constructor(errors: readonly ConfigError[]) {
    super(errors.map(formatError).join('\n'))
    this.errors = errors
  }
}

export interface LoadedDescription {
  /** The file name as the user gave it (`<stdin>` for "-"), used in messages. */
  file: string
  text: string
  description: Description
  locate: Locate
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk))
    size += buffer.length
    if (size > DESCRIPTION_MAX_BYTES) {
      process.stdin.destroy()
      throw new UsageError(
        `the description on standard input is more than the limit of ${DESCRIPTION_MAX_BYTES / 1024 / 1024} MiB`
      )
    }
    chunks.push(buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

async function readText(file: string, io: CommandIO): Promise<string> {
  if (file === '-') return readStdin()
  try {
    // a device, a FIFO or a directory is refused unopened; a large file unread
    return readInputFile(resolve(io.cwd, file), {
      what: 'the description',
      shown: file,
      maxBytes: DESCRIPTION_MAX_BYTES
    })
  } catch (error) {
    if (!(error instanceof InputFileError)) throw error
    throw new UsageError(`cannot read the description ${shownName(file)}: ${error.reason}`)
  }
}

/**
 * Reads and validates a description; throws DescriptionError (a UsageError: exit 2, no stack
 * trace) listing every error. `file` is relative to io.cwd, or "-" for standard input.
 */
export async function loadDescription(file: string, io: CommandIO): Promise<LoadedDescription> {
  const text = await readText(file, io)
  const name = file === '-' ? '<stdin>' : file
  const result = parseDescription(text, name)
  if (!result.ok) throw new DescriptionError(result.errors)
  return { file: name, text, description: result.description, locate: result.locate }
}

function parseFlags(args: readonly string[]): { config?: string; json: boolean; help: boolean } {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: {
        config: { type: 'string', short: 'c' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      },
      allowPositionals: true,
      strict: true
    })
    if (positionals.length > 0) {
      const extra = quoteText(positionals[0] ?? '')
      throw new UsageError(`unexpected argument ${extra}; give the file with -c FILE`)
    }
    return { config: values.config, json: values.json, help: values.help }
  } catch (error) {
    if (error instanceof UsageError) throw error
    // parseArgs quotes the argument as given: on one line, nothing of it starts a line
    throw new UsageError(`${oneLine(errorMessage(error))}\n\n${HELP}`)
  }
}

export const validate: Command = async (args, io) => {
  const flags = parseFlags(args)
  if (flags.help) {
    io.stdout(HELP)
    return ExitCode.ok
  }
  if (flags.config === undefined || flags.config === '') {
    throw new UsageError(`missing -c FILE (the description to check)\n\n${HELP}`)
  }
  try {
    const loaded = await loadDescription(flags.config, io)
    if (flags.json) {
      const output = { valid: true, file: loaded.file, description: loaded.description }
      io.stdout(`${JSON.stringify(output, null, 2)}\n`)
    } else {
      io.stdout(`${summarize(loaded.file, loaded.description)}\n`)
    }
    return ExitCode.ok
  } catch (error) {
    if (!(error instanceof DescriptionError)) throw error
    if (flags.json) {
      const errors = error.errors.map(({ file, line, column, path, message }) => ({
        file,
        line,
        column,
        path,
        message
      }))
      io.stdout(`${JSON.stringify({ valid: false, errors }, null, 2)}\n`)
    } else {
      io.stderr(`${error.message}\n`)
    }
    return ExitCode.invalid
  }
}
