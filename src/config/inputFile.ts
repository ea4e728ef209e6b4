// Reading a file the user named (the description, a kubeconfig, an SSH key) without trusting it:
// what it is and how large are checked with stat before it is opened (a device, a FIFO, a socket
// or a directory is refused unopened), it is opened without blocking, checked again, and read no
// further than its limit. The messages name the file safely quoted and never quote its content.
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs'

/** The description (the CLI's -c, the Action's `config` and `config-file`). */
export const DESCRIPTION_MAX_BYTES = 4 * 1024 * 1024
/** A kubeconfig (--kubeconfig, cluster.kubeconfig, KUBECONFIG, the Action's `kubeconfig`). */
export const KUBECONFIG_MAX_BYTES = 4 * 1024 * 1024
/** An SSH private key file (ssh.privateKeyPath); the largest OpenSSH keys are under 20 KiB. */
export const KEY_MAX_BYTES = 1024 * 1024
/** Levels of nesting a YAML file may have (the description needs about 10). */
export const MAX_NESTING = 64

/** A file that cannot be used: bad input, never a crash. The message never quotes the content. */
export class InputFileError extends Error {
  override name = 'InputFileError'
  /** the errno code when the system refused (ENOENT, EACCES…) */
  readonly code: string | undefined
  /** what is wrong, without the file's name: "it is a named pipe (FIFO), not a regular file" */
  readonly reason: string
  constructor(message: string, reason: string, code?: string) {
    super(message)
    this.reason = reason
    this.code = code
  }
}

/**
 * A name from the input, safe to print at the start of a line: as it is when it is plain
 * printable text, else JSON-quoted with every control, line-separator and bidi character
 * escaped (a newline in a name can never start a new line, `::` never starts a line).
 */
export function shownName(name: string): string {
  if (/^[A-Za-z0-9_./~+@=,%-][A-Za-z0-9_./~+@=,%: -]*$/.test(name) && !name.endsWith(' ')) {
    return name
  }
  return quoteText(name)
}

/** JSON quoting that also escapes C1 controls, U+2028/2029 and bidi controls. */
export function quoteText(text: string): string {
  return JSON.stringify(text).replace(
    /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g,
    ch => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`
  )
}

/** C0 and C1 control characters and the Unicode line separators; a tab is text. */
function isControl(code: number, newlines: boolean): boolean {
  if (code === 0x0a || code === 0x0d || code === 0x2028 || code === 0x2029) return !newlines
  return (code < 0x20 && code !== 0x09) || (code >= 0x7f && code <= 0x9f)
}

/** The first control character of the text (newlines allowed or not), if any. */
export function firstControl(text: string, allowNewlines = false): string | undefined {
  for (const ch of text) if (isControl(ch.charCodeAt(0), allowNewlines)) return ch
  return undefined
}

/** Text on one line: control characters (newlines first) escaped as in JSON, the rest kept. */
export function oneLine(text: string): string {
  if (firstControl(text) === undefined) return text
  let out = ''
  for (const ch of text) {
    const code = ch.charCodeAt(0)
    if (!isControl(code, false)) out += ch
    else if (ch === '\n') out += '\\n'
    else if (ch === '\r') out += '\\r'
    else out += `\\u${code.toString(16).padStart(4, '0')}`
  }
  return out
}

function sizeText(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`
  return `${bytes} bytes`
}

function kindOf(info: Stats): string | undefined {
  if (info.isFile()) return undefined
  if (info.isDirectory()) return 'a directory'
  if (info.isFIFO()) return 'a named pipe (FIFO)'
  if (info.isSocket()) return 'a socket'
  if (info.isCharacterDevice()) return 'a character device'
  if (info.isBlockDevice()) return 'a block device'
  return 'not a regular file'
}

function reason(error: unknown): { text: string; code: string | undefined } {
  const code = (error as NodeJS.ErrnoException | null)?.code
  const known: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    ERR_ACCESS_DENIED: 'permission denied',
    EISDIR: 'is a directory',
    ENOTDIR: 'a part of the path is not a directory',
    ELOOP: 'too many symbolic links',
    ENAMETOOLONG: 'the name is too long',
    ENXIO: 'no such device',
    EAGAIN: 'it would block (not a regular file)'
  }
  return { text: (code !== undefined ? known[code] : undefined) ?? code ?? 'unreadable', code }
}

export interface InputFileOptions {
  /** what the file is, for messages: "the description", "kubeconfig", "the SSH key file" */
  readonly what: string
  readonly maxBytes: number
  /** the name as the user wrote it, for messages (default: the path) */
  readonly shown?: string
}

/** Text that came inline (an Action input) gets the same size limit as a file. */
export function checkInlineSize(text: string, options: InputFileOptions): void {
  const bytes = Buffer.byteLength(text, 'utf8')
  if (bytes > options.maxBytes) {
    const who =
      options.shown !== undefined ? `${options.what} ${shownName(options.shown)}` : options.what
    const why = `it is ${bytes} bytes, more than the limit of ${sizeText(options.maxBytes)}`
    throw new InputFileError(`${who}: ${why}`, why)
  }
}

/**
 * Reads a regular file of at most `maxBytes` as UTF-8. Throws InputFileError, whose message says
 * what is wrong with the file (and never shows what is in it).
 */
export function readInputFile(path: string, options: InputFileOptions): string {
  const name = `${options.what} ${shownName(options.shown ?? path)}`
  const refuse = (why: string): never => {
    throw new InputFileError(`${name}: ${why}`, why)
  }
  const failed = (error: unknown): never => {
    const { text, code } = reason(error)
    throw new InputFileError(`${name}: cannot read it: ${text}`, text, code)
  }
  let before: Stats
  try {
    before = statSync(path)
  } catch (error) {
    return failed(error)
  }
  const kind = kindOf(before)
  if (kind !== undefined) return refuse(`it is ${kind}, not a regular file`)
  const limit = `more than the limit of ${sizeText(options.maxBytes)}`
  if (before.size > options.maxBytes) return refuse(`it is ${before.size} bytes, ${limit}`)
  let fd: number
  try {
    // never blocks, never becomes the controlling terminal, whatever replaced the file meanwhile
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY)
  } catch (error) {
    return failed(error)
  }
  try {
    const opened = fstatSync(fd)
    if (!opened.isFile() || opened.ino !== before.ino || opened.dev !== before.dev) {
      return refuse('it changed while it was being opened; not read')
    }
    // files of /proc and the like say 0 bytes and have more: read up to the limit, whatever stat said
    let chunk = Buffer.alloc(Math.min(Math.max(opened.size, 64 * 1024), options.maxBytes) + 1)
    let length = 0
    for (;;) {
      if (length === chunk.length) {
        if (chunk.length > options.maxBytes) return refuse(`it is ${limit}`)
        const larger = Buffer.alloc(Math.min(chunk.length * 2, options.maxBytes + 1))
        chunk.copy(larger, 0, 0, length)
        chunk = larger
      }
      let read: number
      try {
        read = readSync(fd, chunk, length, chunk.length - length, null)
      } catch (error) {
        return failed(error)
      }
      if (read === 0) break
      length += read
    }
    if (length > options.maxBytes) return refuse(`it is ${limit}`)
    return chunk.toString('utf8', 0, length)
  } finally {
    closeSync(fd)
  }
}
