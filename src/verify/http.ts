// HTTP requests made with whatever client a host or pod has (curl, wget or python3), and the
// parsing of their output into one shape. Pure: commands are built here and run elsewhere.
import { shellJoin, shellQuote } from '../util/shell.ts'
import type { ShellResult } from './types.ts'

export const HTTP_TOOLS = ['curl', 'wget', 'python3'] as const
export type HttpTool = (typeof HTTP_TOOLS)[number]

/** Marker of the line that carries the address curl/python connected to. */
const REMOTE_MARK = '__mx_remote_ip='

/** Prints every client the shell finds, in order of preference; exit 127 when there is none. */
export const PROBE_TOOLS_SCRIPT =
  'f=; for t in curl wget python3; do if command -v "$t" >/dev/null 2>&1; then echo "$t"; f=1; fi; done; [ -n "$f" ] || exit 127'

/** argv that tells which client exists, for a pod (sh may be missing: see directProbeArgv). */
export function probeToolsArgv(): string[] {
  return ['sh', '-c', PROBE_TOOLS_SCRIPT]
}

/** Without sh: each client tried directly, in order. */
export function directProbeArgv(tool: HttpTool): string[] {
  switch (tool) {
    case 'curl':
      return ['curl', '--version']
    case 'wget':
      return ['wget', '--help']
    case 'python3':
      return ['python3', '-c', 'pass']
  }
}

/** The clients named in the probe's output, in order. */
export function parseProbeAll(result: ShellResult): HttpTool[] {
  if (result.code !== 0) return []
  const known = HTTP_TOOLS as readonly string[]
  return result.stdout.split(/\s+/).filter((name): name is HttpTool => known.includes(name))
}

/** The first client named in the probe's output, or null. */
export function parseProbe(result: ShellResult): HttpTool | null {
  return parseProbeAll(result)[0] ?? null
}

// Same output as `curl -i` (status line, headers, blank line, body) and curl's exit codes for
// the failures the diagnosis tells apart (6 name, 7 connect, 28 timeout, 56 reset).
const PYTHON_CLIENT = `import sys, socket, http.client, urllib.parse, ssl
u = urllib.parse.urlsplit(sys.argv[1]); t = float(sys.argv[2])
a = sys.argv[3] if len(sys.argv) > 3 else u.hostname
try:
    if u.scheme == 'https':
        c = http.client.HTTPSConnection(a, u.port or 443, timeout=t, context=ssl.create_default_context())
    else:
        c = http.client.HTTPConnection(a, u.port or 80, timeout=t)
    c.connect()
    try:
        sys.stderr.write('${REMOTE_MARK}%s\\n' % c.sock.getpeername()[0])
    except Exception:
        pass
    c.request('GET', (u.path or '/') + ('?' + u.query if u.query else ''), headers={'Host': u.netloc})
    r = c.getresponse()
    head = 'HTTP/%d.%d %d %s\\r\\n' % (r.version // 10, r.version % 10, r.status, r.reason)
    for k, v in r.getheaders():
        head += '%s: %s\\r\\n' % (k, v)
    sys.stdout.write(head + '\\r\\n'); sys.stdout.flush()
    sys.stdout.buffer.write(r.read(65536)); sys.stdout.flush()
except socket.gaierror as e:
    sys.stderr.write('Could not resolve host: %s (%s)\\n' % (u.hostname, e)); sys.exit(6)
except ConnectionRefusedError as e:
    sys.stderr.write('Failed to connect: Connection refused\\n'); sys.exit(7)
except socket.timeout as e:
    sys.stderr.write('Operation timed out after %s s\\n' % t); sys.exit(28)
except ConnectionResetError as e:
    sys.stderr.write('Recv failure: Connection reset by peer\\n'); sys.exit(56)
except http.client.RemoteDisconnected as e:
    sys.stderr.write('Empty reply from server\\n'); sys.exit(52)
except ssl.SSLError as e:
    sys.stderr.write('TLS error: %s\\n' % e); sys.exit(35)
except OSError as e:
    sys.stderr.write('Failed to connect: %s\\n' % e); sys.exit(7)
`

/**
 * The client's argv for one GET of `url`, bounded by `timeoutSeconds`. With `connectTo`, the
 * connection goes to that address while the request names the URL's host (curl --resolve): a
 * service host name needs no DNS entry, and the caller's sidecar routes the request by its Host.
 */
export function httpRequestArgv(
  tool: HttpTool,
  url: string,
  timeoutSeconds: number,
  connectTo?: string
): string[] {
  const t = String(Math.max(1, Math.round(timeoutSeconds)))
  const u = new URL(url)
  const port = u.port || (u.protocol === 'https:' ? '443' : '80')
  const bracketed = connectTo?.includes(':') ? `[${connectTo}]` : connectTo
  switch (tool) {
    case 'curl':
      return [
        'curl',
        '-sS',
        '-i',
        '--noproxy',
        '*',
        '--max-time',
        t,
        '-w',
        `\\n${REMOTE_MARK}%{remote_ip}\\n`,
        ...(connectTo ? ['--resolve', `${u.hostname}:${port}:${bracketed}`] : []),
        url
      ]
    case 'wget': {
      // busybox and GNU wget both print the response head on stderr with -S, indented
      if (!connectTo) return ['wget', '-S', '-O', '-', '-T', t, url]
      const direct = new URL(url)
      direct.hostname = bracketed ?? connectTo
      return ['wget', '-S', '-O', '-', '-T', t, '--header', `Host: ${u.host}`, direct.toString()]
    }
    case 'python3':
      return ['python3', '-c', PYTHON_CLIENT, url, t, ...(connectTo ? [connectTo] : [])]
  }
}

export { shellJoin, shellQuote }

/** Wraps a command to run as another user; null/undefined or the login user: unchanged. */
export function asUser(command: string, user: string | undefined, loginUser: string): string {
  if (user === undefined || user === loginUser) return command
  return `sudo -n -u ${shellQuote(user)} -- sh -c ${shellQuote(command)}`
}

/**
 * The unprivileged user a host-side request runs as: the SSH user unless it is root (then
 * `nobody`), so the request is captured like an application's and not as root's.
 */
export function unprivilegedUser(loginUser: string): string {
  return loginUser === 'root' ? 'nobody' : loginUser
}

export interface HttpResponse {
  status: number
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>
  body: string
}

export type FailureKind =
  'dns' | 'refused' | 'unreachable' | 'timeout' | 'reset' | 'empty' | 'tls' | 'no-client' | 'other'

export interface HttpOutcome {
  response?: HttpResponse
  failure?: { kind: FailureKind; message: string }
  /** The address the client connected to, when it said. */
  remoteIp?: string
}

interface Head {
  status: number
  headers: Record<string, string>
}

function parseHeadLines(lines: string[]): Head | null {
  const statusLine = lines[0]?.trim() ?? ''
  const m = /^HTTP\/\d(?:\.\d)?\s+(\d{3})/.exec(statusLine)
  if (!m) return null
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] !== undefined ? `${headers[name]}, ${value}` : value
  }
  return { status: Number(m[1]), headers }
}

/** Parses `HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody`, skipping 1xx heads. */
export function parseRawResponse(text: string): HttpResponse | null {
  let rest = text
  for (let i = 0; i < 5; i++) {
    const end = /\r?\n\r?\n/.exec(rest)
    const headText = end ? rest.slice(0, end.index) : rest
    const head = parseHeadLines(headText.split(/\r?\n/))
    if (!head) return null
    const body = end ? rest.slice(end.index + end[0].length) : ''
    if (head.status >= 200 || !end) return { ...head, body }
    rest = body
  }
  return null
}

function takeRemote(text: string): { text: string; remoteIp?: string } {
  const re = new RegExp(`\\n?${REMOTE_MARK}([^\\n]*)\\n?$`)
  const m = re.exec(text)
  if (!m) return { text }
  const ip = (m[1] ?? '').trim()
  return { text: text.slice(0, m.index), ...(ip !== '' ? { remoteIp: ip } : {}) }
}

const CURL_CODES: Record<number, FailureKind> = {
  6: 'dns',
  7: 'refused',
  28: 'timeout',
  35: 'tls',
  51: 'tls',
  52: 'empty',
  56: 'reset',
  60: 'tls',
  127: 'no-client'
}

function classifyMessage(message: string): FailureKind {
  if (/resolve|bad address|Name or service not known|no such host|unknown host/i.test(message))
    return 'dns'
  if (/refused/i.test(message)) return 'refused'
  if (/no route to host|network is unreachable|unreachable/i.test(message)) return 'unreachable'
  if (/timed? ?out/i.test(message)) return 'timeout'
  if (/reset/i.test(message)) return 'reset'
  if (/empty reply|closed|remote ?disconnected/i.test(message)) return 'empty'
  if (/ssl|tls|certificate/i.test(message)) return 'tls'
  if (/not found|executable file/i.test(message)) return 'no-client'
  return 'other'
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map(l => l.trim())
    .filter(l => l !== '' && !l.startsWith(REMOTE_MARK))
  return lines[lines.length - 1] ?? ''
}

/** Reads a client's result into a response or a classified failure. */
export function parseHttpResult(tool: HttpTool, result: ShellResult): HttpOutcome {
  if (tool === 'wget') {
    // the last response head on stderr (after redirects), indented by two spaces
    const lines = result.stderr.split(/\r?\n/)
    let start = -1
    for (let i = 0; i < lines.length; i++) if (/^\s+HTTP\/\d/.test(lines[i] ?? '')) start = i
    if (start >= 0) {
      const headLines: string[] = []
      for (let i = start; i < lines.length && /^\s+\S/.test(lines[i] ?? ''); i++)
        headLines.push(lines[i] ?? '')
      const head = parseHeadLines(headLines)
      if (head) return { response: { ...head, body: result.stdout } }
    }
    const message = lastLine(result.stderr) || `wget exited with ${result.code}`
    const kind = result.code === 127 ? 'no-client' : classifyMessage(message)
    return { failure: { kind, message } }
  }
  const fromStdout = takeRemote(result.stdout)
  const fromStderr = takeRemote(result.stderr.trimEnd() + '\n')
  const remoteIp = fromStdout.remoteIp ?? remoteFromText(result.stderr)
  const response = parseRawResponse(fromStdout.text)
  if (response && (result.code === 0 || response.status > 0)) {
    return { response, ...(remoteIp ? { remoteIp } : {}) }
  }
  const message =
    lastLine(fromStderr.text) || lastLine(fromStdout.text) || `${tool} exited with ${result.code}`
  const kind = CURL_CODES[result.code] ?? classifyMessage(message)
  return { failure: { kind, message }, ...(remoteIp ? { remoteIp } : {}) }
}

function remoteFromText(text: string): string | undefined {
  const m = new RegExp(`${REMOTE_MARK}(\\S+)`).exec(text)
  return m?.[1]
}

/** The request headers an echo app reports in its JSON body (`{headers: {...}}`), or null. */
export function echoedHeaders(body: string): Record<string, string> | null {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return null
  }
  if (typeof parsed !== 'object' || parsed === null) return null
  const headers = (parsed as { headers?: unknown }).headers
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return null
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers as Record<string, unknown>)) {
    out[k.toLowerCase()] = Array.isArray(v) ? v.map(String).join(', ') : String(v)
  }
  return out
}

export interface XfccElement {
  by?: string
  uri: string[]
  hash?: string
  subject?: string
}

/** Parses x-forwarded-client-cert (`By=..;Hash=..;Subject="..";URI=..`, elements by commas). */
export function parseXfcc(value: string): XfccElement[] {
  const elements: XfccElement[] = []
  for (const element of splitOutsideQuotes(value, ',')) {
    const out: XfccElement = { uri: [] }
    for (const pair of splitOutsideQuotes(element, ';')) {
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      const key = pair.slice(0, eq).trim().toLowerCase()
      let val = pair.slice(eq + 1).trim()
      if (val.startsWith('"') && val.endsWith('"')) val = val.slice(1, -1)
      if (key === 'uri') out.uri.push(val)
      else if (key === 'by') out.by = val
      else if (key === 'hash') out.hash = val
      else if (key === 'subject') out.subject = val
    }
    elements.push(out)
  }
  return elements
}

function splitOutsideQuotes(text: string, sep: string): string[] {
  const parts: string[] = []
  let current = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? ''
    if (c === '\\' && quoted) {
      current += c + (text[i + 1] ?? '')
      i++
      continue
    }
    if (c === '"') quoted = !quoted
    if (c === sep && !quoted) {
      if (current.trim() !== '') parts.push(current.trim())
      current = ''
    } else current += c
  }
  if (current.trim() !== '') parts.push(current.trim())
  return parts
}

/** The caller identity the last proxy recorded (URI of the last XFCC element), or null. */
export function callerIdentity(xfcc: string | undefined): string | null {
  if (!xfcc) return null
  const last = parseXfcc(xfcc).at(-1)
  return last?.uri[0] ?? null
}

/** `spiffe://<trust domain>/ns/<namespace>/sa/<account>` parts, or null. */
export function parseSpiffe(
  id: string
): { trustDomain: string; namespace: string; serviceAccount: string } | null {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id)
  if (!m) return null
  return { trustDomain: m[1] ?? '', namespace: m[2] ?? '', serviceAccount: m[3] ?? '' }
}

/** The header rule of the description: present, and its value contains the text (any case). */
export function headerMismatches(
  headers: Record<string, string>,
  expected: Record<string, string>
): string[] {
  const problems: string[] = []
  for (const [name, text] of Object.entries(expected)) {
    const value = headers[name.toLowerCase()]
    if (value === undefined) problems.push(`no \`${name.toLowerCase()}\` header`)
    else if (!value.toLowerCase().includes(text.toLowerCase()))
      problems.push(`\`${name.toLowerCase()}: ${value}\` does not contain "${text}"`)
  }
  return problems
}

/** A short, single-line excerpt of a body for evidence. */
export function excerpt(body: string, max = 300): string {
  const flat = body.replace(/\s+/g, ' ').trim()
  return flat.length > max ? `${flat.slice(0, max)}…` : flat
}
