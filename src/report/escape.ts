// Text from outside (the description, the cluster, a host) on its way to a log line, a job
// summary cell or a pull-request comment: it can start no workflow command and inject no HTML.

/** Line breaks the runner splits on, and the other control characters (ANSI escapes included). */
// eslint-disable-next-line no-control-regex
const CONTROL = /\r\n|[\u0000-\u0008\u000a-\u001f\u007f\u0085\u2028\u2029]/g

/**
 * One line, whatever the text holds: a line break becomes a visible `\n`, any other control
 * character its `\u00XX` form. Nothing outside can then begin a line of ours.
 */
export function oneLine(text: string): string {
  return text.replace(CONTROL, c =>
    c === '\n' || c === '\r\n'
      ? '\\n'
      : c === '\r'
        ? '\\r'
        : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
  )
}

/** What the runner reads as a workflow command: `::name…` or the older `##[name…`, after blanks. */
const COMMAND_START = /^\s*(::|##\[)/

/**
 * A log line that is shown, never obeyed: made one line, and marked with a leading `·` when it
 * would otherwise start with a workflow command (`::error::`, `::stop-commands::`…).
 */
export function logLine(text: string): string {
  const line = oneLine(text)
  return COMMAND_START.test(line) ? `·${line}` : line
}

const HTML: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;'
}

/** Text inside HTML (a job summary cell, a `<pre>` block). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, c => HTML[c] ?? c)
}

/**
 * Text inside Markdown (a pull-request comment): HTML-escaped, and the characters that make
 * links, emphasis, code, tables or @mentions written as entities, which Markdown shows as they are.
 */
export function escapeMarkdown(text: string): string {
  return oneLine(text).replace(/[&<>"'`*_[\]()\\|~#!@]/g, c => HTML[c] ?? `&#${c.charCodeAt(0)};`)
}
