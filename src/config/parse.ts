// Text + file name -> a typed, fully defaulted description, or every error with its position.
// Pure: the caller reads the file. The YAML is parsed keeping source ranges so that each error,
// and any later annotation, points at line:column of the value it is about.
import {
  LineCounter,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type Document,
  type Node,
  type YAMLError
} from 'yaml'
import * as z from 'zod'
import { errorMessage } from '../util/errors.ts'
import { resolveDefaults, type Description } from './defaults.ts'
import { closest, q } from './formats.ts'
import { MAX_NESTING, firstControl, oneLine, shownName } from './inputFile.ts'
import { descriptionSchema } from './schema.ts'
import { semanticIssues, type PathSegment } from './semantics.ts'
import { aliasNesting, parseBounded } from './yamlBounded.ts'

export type { PathSegment }

export interface Position {
  /** 1-based. */
  line: number
  /** 1-based. */
  column: number
}

export interface ConfigError extends Position {
  file: string
  /** `vms[1].group`; '' for errors about the file as a whole. */
  path: string
  segments: PathSegment[]
  message: string
}

/** Finds where a path of the description is written (its value, else its key, else the nearest parent). */
export type Locate = (path: readonly PathSegment[]) => Position

export type ParseResult =
  { ok: true; description: Description; locate: Locate } | { ok: false; errors: ConfigError[] }

const TOP_KEYS = 'cluster, workloadGroups, vms, ssh, settings, checks'

/** Errors listed at most; the rest are counted in one last line. */
const MAX_ERRORS = 100

/** `vms[1].group`, `labels["app.kubernetes.io/name"]`. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = ''
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) out += out === '' ? segment : `.${segment}`
    else out += `[${q(segment)}]`
  }
  return out
}

/**
 * One line: `mesh.yaml:12:5 vms[1].group: unknown group "mysq" (known: mysql)`. Always one line
 * that starts with the file name (quoted when it is not plain text): nothing from the input can
 * start a line of its own.
 */
export function formatError(error: ConfigError): string {
  const where = `${shownName(error.file)}:${error.line}:${error.column}`
  return oneLine(
    error.path === '' ? `${where} ${error.message}` : `${where} ${error.path}: ${error.message}`
  )
}

// ---- finding nodes by path ----

interface Found {
  value: Node | null
  key: Node | null
  /** The deepest node on the path that exists. */
  nearest: Node | null
}

function deref(node: unknown, doc: Document): unknown {
  let current = node
  for (let i = 0; i < 10 && isAlias(current); i++) current = current.resolve(doc)
  return current
}

function findPair(
  map: unknown,
  segment: PathSegment,
  doc: Document,
  depth = 0
): { key: Node | null; value: Node | null } | undefined {
  const node = deref(map, doc)
  if (!isMap(node) || depth > 10) return undefined
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? pair.key.value : pair.key
    if (key !== null && key !== undefined && String(key) === String(segment)) {
      return { key: pair.key as Node, value: (pair.value as Node | null) ?? null }
    }
  }
  // keys brought in by a `<<` merge live in the merged map
  for (const pair of node.items) {
    if (!isScalar(pair.key) || pair.key.value !== '<<') continue
    const source = deref(pair.value, doc)
    const sources = isSeq(source) ? source.items : [source]
    for (const item of sources) {
      const found = findPair(item, segment, doc, depth + 1)
      if (found) return found
    }
  }
  return undefined
}

function findNode(doc: Document, segments: readonly PathSegment[]): Found {
  let current: unknown = doc.contents
  let key: Node | null = null
  let nearest = (doc.contents as Node | null) ?? null
  for (const segment of segments) {
    const node = deref(current, doc)
    if (isMap(node)) {
      const pair = findPair(node, segment, doc)
      if (!pair) return { value: null, key: null, nearest }
      key = pair.key
      current = pair.value
    } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
      key = null
      current = node.items[segment]
    } else {
      return { value: null, key: null, nearest }
    }
    nearest = (current as Node | null) ?? key ?? nearest
  }
  return { value: (current as Node | null) ?? null, key, nearest }
}

function offsetOf(node: Node | null): number | undefined {
  return node?.range?.[0]
}

function isNullScalar(node: Node | null): boolean {
  return isScalar(node) && node.value === null
}

// ---- converting issues ----

type Anchor = 'key' | 'value'

interface Pending {
  segments: PathSegment[]
  message: string
  anchor: Anchor
  /** Set on "missing required key" errors: the key that is missing. */
  missing?: string
  /** Set on "unknown key" errors: the valid key it probably meant. */
  meant?: string
}

function valueAt(data: unknown, segments: readonly PathSegment[]): unknown {
  let current = data
  for (const segment of segments) {
    if (current === null || typeof current !== 'object') return undefined
    current = (current as Record<string, unknown>)[segment as string]
  }
  return current
}

interface Unwrappable {
  _zod: {
    def: {
      type: string
      innerType?: Unwrappable
      in?: Unwrappable
      element?: Unwrappable
      valueType?: Unwrappable
      shape?: Record<string, Unwrappable>
    }
  }
}

function unwrap(schema: Unwrappable | undefined): Unwrappable[] {
  const layers: Unwrappable[] = []
  let current = schema
  for (let i = 0; i < 10 && current; i++) {
    layers.push(current)
    const def: Unwrappable['_zod']['def'] = current._zod.def
    if (def.innerType) current = def.innerType
    else if (def.type === 'pipe' && def.in) current = def.in
    else break
  }
  return layers
}

/** The schema at a path, as its wrapper layers (default, optional, …) down to the inner type. */
function schemaAt(segments: readonly PathSegment[]): Unwrappable[] {
  let layers = unwrap(descriptionSchema as unknown as Unwrappable)
  for (const segment of segments) {
    const def = layers[layers.length - 1]?._zod.def
    let next: Unwrappable | undefined
    if (def?.type === 'object') next = def.shape?.[String(segment)]
    else if (def?.type === 'array') next = def.element
    else if (def?.type === 'record') next = def.valueType
    if (!next) return []
    layers = unwrap(next)
  }
  return layers
}

/** The keys the schema accepts at a path (for "valid keys: …"). */
function keysAt(segments: readonly PathSegment[]): string[] {
  return Object.keys(schemaAt(segments).at(-1)?._zod.def.shape ?? {})
}

/** The schema's description of a field, to say what a missing value should be. */
function describedAs(segments: readonly PathSegment[]): string {
  for (const layer of schemaAt(segments)) {
    const meta = z.globalRegistry.get(layer as unknown as z.ZodType)
    const text = meta?.description?.replace(/\.$/, '')
    // "Where to reach…" reads as "(where to reach…)"; "SSH port…" keeps its capitals
    if (text)
      return ` (${/^[A-Z](?![A-Z])/.test(text) ? text[0]?.toLowerCase() + text.slice(1) : text})`
  }
  return ''
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  record: 'a mapping (key: value)',
  array: 'a list'
}

function sourceText(found: Found, text: string): string | undefined {
  const range = found.value?.range
  return range ? text.slice(range[0], range[1]).trim() : undefined
}

function describe(input: unknown, source: string | undefined): string {
  if (input === null) return 'nothing'
  if (input instanceof Uint8Array) return 'binary data'
  if (Array.isArray(input)) return 'a list'
  if (typeof input === 'object') return 'a mapping'
  if (typeof input === 'string') return q(input)
  if (typeof input === 'number') return `the number ${source ?? String(input)}`
  return String(input)
}

type Issue = z.core.$ZodIssue

function convertIssue(
  issue: Issue,
  data: unknown,
  nulls: ReadonlySet<string>,
  doc: Document,
  text: string
): Pending[] {
  const segments = issue.path.map(p => (typeof p === 'symbol' ? String(p) : p))
  switch (issue.code) {
    case 'unrecognized_keys': {
      const valid = keysAt(segments)
      return issue.keys.map(key => {
        const hint = closest(key, valid)
        return {
          segments: [...segments, key],
          anchor: 'key' as const,
          meant: hint,
          message:
            `unknown key ${q(key)}` +
            (hint !== undefined ? `; did you mean ${q(hint)}?` : '') +
            ` (valid keys: ${valid.join(', ')})`
        }
      })
    }
    case 'invalid_key': {
      const inner = issue.issues[0]
      return [{ segments, anchor: 'key', message: inner?.message ?? 'invalid key' }]
    }
    case 'invalid_type': {
      const input = valueAt(data, segments)
      const expected = EXPECTED[issue.expected] ?? issue.expected
      if (input === undefined) {
        const last = segments[segments.length - 1]
        if (nulls.has(JSON.stringify(segments))) {
          return [
            {
              segments,
              anchor: 'key',
              message: `no value given: expected ${expected}${describedAs(segments)}`
            }
          ]
        }
        return [
          {
            segments: segments.slice(0, -1),
            anchor: 'value',
            message: `missing required key ${q(String(last))}${describedAs(segments)}`,
            missing: String(last)
          }
        ]
      }
      // a number of the wrong kind (1.5 for a port) carries our own message
      if (issue.expected === 'int' && typeof input === 'number') {
        return [{ segments, anchor: 'value', message: issue.message }]
      }
      const source = sourceText(findNode(doc, segments), text)
      if (typeof input === 'number' && !Number.isFinite(input)) {
        return [{ segments, anchor: 'value', message: `number out of range: ${source ?? input}` }]
      }
      let message = `expected ${expected}, got ${describe(input, source)}`
      if (
        issue.expected === 'string' &&
        (typeof input === 'number' || typeof input === 'boolean')
      ) {
        message += `; quote it: ${q(source ?? String(input))}`
      }
      if (issue.expected === 'boolean' && /^(y|n|yes|no|on|off)$/i.test(String(input))) {
        message += ' (YAML 1.2 reads yes/no/on/off as text: write true or false)'
      }
      return [{ segments, anchor: 'value', message }]
    }
    case 'invalid_value': {
      const input = valueAt(data, segments)
      const values = issue.values.map(v => String(v))
      const hint = typeof input === 'string' ? closest(input, values) : undefined
      return [
        {
          segments,
          anchor: 'value',
          message:
            `invalid value ${typeof input === 'string' ? q(input) : String(input)}` +
            (hint !== undefined ? `; did you mean ${q(hint)}?` : '') +
            ` (valid: ${values.join(', ')})`
        }
      ]
    }
    case 'too_small':
    case 'too_big': {
      let message = issue.message
      if (/^Too (small|big)/.test(message)) {
        const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum
        if (issue.origin === 'string' && issue.code === 'too_small') message = 'must not be empty'
        else if (issue.origin === 'array' && issue.code === 'too_small') {
          message = `must have at least ${String(bound)} item${Number(bound) === 1 ? '' : 's'}`
        } else
          message = `must be ${issue.code === 'too_small' ? 'at least' : 'at most'} ${String(bound)}`
      }
      return [{ segments, anchor: 'value', message }]
    }
    default:
      return [{ segments, anchor: 'value', message: issue.message }]
  }
}

// ---- YAML-level checks ----

/**
 * Removes null values of known fields (an empty `key:` means "not given"), remembering where
 * they were. Nulls in free-form maps (labels, ports) and under unknown keys stay, to be reported.
 */
function dropNulls(
  value: unknown,
  path: PathSegment[],
  nulls: Set<string>,
  seen: Set<object>
): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return
  seen.add(value)
  if (Array.isArray(value)) {
    value.forEach((item, index) => dropNulls(item, [...path, index], nulls, seen))
    return
  }
  const record = value as Record<string, unknown>
  const fields = keysAt(path)
  for (const [key, item] of Object.entries(record)) {
    if (item === null && fields.includes(key)) {
      nulls.add(JSON.stringify([...path, key]))
      delete record[key]
    } else {
      dropNulls(item, [...path, key], nulls, seen)
    }
  }
}

/** PEM blocks anywhere in the file: secrets must never be inline. */
function findSecrets(doc: Document): { segments: PathSegment[]; node: Node }[] {
  const found: { segments: PathSegment[]; node: Node }[] = []
  const looksSecret = (node: unknown): boolean =>
    isScalar(node) && typeof node.value === 'string' && node.value.includes('-----BEGIN')
  const walk = (node: unknown, segments: PathSegment[], depth: number): void => {
    if (depth > 50) return
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key)
        if (looksSecret(pair.key))
          found.push({ segments: [...segments, key], node: pair.key as Node })
        walk(pair.value, [...segments, key], depth + 1)
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => walk(item, [...segments, index], depth + 1))
    } else if (looksSecret(node)) {
      found.push({ segments, node: node as Node })
    }
  }
  walk(doc.contents, [], 0)
  return found
}

/** Keys written twice in one mapping, each with the first one: one pass, a set per mapping. */
function findDuplicateKeys(doc: Document): { segments: PathSegment[]; node: Node; first: Node }[] {
  const found: { segments: PathSegment[]; node: Node; first: Node }[] = []
  const stack: { node: unknown; segments: PathSegment[] }[] = [{ node: doc.contents, segments: [] }]
  while (stack.length > 0) {
    const { node, segments } = stack.pop() as { node: unknown; segments: PathSegment[] }
    if (isMap(node)) {
      const seen = new Map<string, Node>()
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key)
        if (isScalar(pair.key)) {
          const id = `${typeof pair.key.value}:${key}`
          const first = seen.get(id)
          if (first) found.push({ segments: [...segments, key], node: pair.key as Node, first })
          else seen.set(id, pair.key as Node)
        }
        stack.push({ node: pair.value, segments: [...segments, key] })
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) =>
        stack.push({ node: item, segments: [...segments, index] })
      )
    }
  }
  return found
}

/** Keys that are lists or mappings (`? [a]: b`): the description only has plain names. */
function findComplexKeys(doc: Document): Node[] {
  const found: Node[] = []
  const walk = (node: unknown, depth: number): void => {
    if (depth > 50) return
    if (isMap(node)) {
      for (const pair of node.items) {
        if (pair.key !== null && !isScalar(pair.key) && !isAlias(pair.key)) {
          found.push(pair.key as Node)
        }
        walk(pair.value, depth + 1)
      }
    } else if (isSeq(node)) {
      for (const item of node.items) walk(item, depth + 1)
    }
  }
  walk(doc.contents, 0)
  return found
}

/** The path of the deepest key whose node starts at `offset` (for duplicate-key errors). */
function pathOfKeyAt(doc: Document, offset: number): PathSegment[] | undefined {
  const walk = (
    node: unknown,
    segments: PathSegment[],
    depth: number
  ): PathSegment[] | undefined => {
    if (depth > 50) return undefined
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key)
        const keyNode = pair.key as Node | null
        if (keyNode?.range?.[0] === offset) return [...segments, key]
        const inner = walk(pair.value, [...segments, key], depth + 1)
        if (inner) return inner
      }
    } else if (isSeq(node)) {
      for (const [index, item] of node.items.entries()) {
        const inner = walk(item, [...segments, index], depth + 1)
        if (inner) return inner
      }
    }
    return undefined
  }
  return walk(doc.contents, [], 0)
}

/** Where text may span lines: free text that never names anything (annotations, a body…). */
const MULTILINE = [
  ['workloadGroups', '*', 'annotations'],
  ['workloadGroups', '*', 'proxyConfig'],
  ['workloadGroups', '*', 'probe', 'exec', 'command'],
  ['checks', '*', 'expect', 'body']
]

/**
 * Keys and values with control characters: a newline in a name could start a line of its own
 * in a log (a workflow command: `::stop-commands::…`), an escape sequence could rewrite a
 * terminal. Newlines are allowed only in the free text of MULTILINE, other controls nowhere.
 */
function controlCharacters(data: unknown): Pending[] {
  const found: Pending[] = []
  const multiline = (path: readonly PathSegment[]): boolean =>
    MULTILINE.some(
      prefix =>
        prefix.length <= path.length &&
        prefix.every((segment, i) => segment === '*' || segment === String(path[i]))
    )
  const check = (text: string, path: PathSegment[], anchor: 'key' | 'value'): void => {
    const ch = firstControl(text, anchor === 'value' && multiline(path))
    if (ch === undefined) return
    const what =
      ch === '\n' || ch === '\r' || ch === '\u2028' || ch === '\u2029'
        ? 'a line break'
        : `the control character U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`
    found.push({
      segments: path,
      anchor,
      message: `${anchor === 'key' ? 'the key' : 'the value'} contains ${what}: names and values are one line of printable text`
    })
  }
  const stack: { value: unknown; path: PathSegment[] }[] = [{ value: data, path: [] }]
  const seen = new Set<object>()
  while (stack.length > 0 && found.length < 100) {
    const { value, path } = stack.pop() as { value: unknown; path: PathSegment[] }
    if (typeof value === 'string') check(value, path, 'value')
    if (value === null || typeof value !== 'object' || seen.has(value)) continue
    seen.add(value)
    if (Array.isArray(value))
      value.forEach((item, i) => stack.push({ value: item, path: [...path, i] }))
    else {
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        check(key, [...path, key], 'key')
        stack.push({ value: item, path: [...path, key] })
      }
    }
  }
  return found
}

function startsWith(path: readonly PathSegment[], prefix: readonly PathSegment[]): boolean {
  return (
    prefix.length <= path.length &&
    prefix.every((segment, i) => String(path[i]) === String(segment))
  )
}

/** Parses and validates a description. Never throws for bad input; never touches I/O. */
export function parseDescription(text: string, file: string): ParseResult {
  const lineCounter = new LineCounter()
  const position = (offset: number | undefined): Position => {
    if (offset === undefined) return { line: 1, column: 1 }
    const { line, col } = lineCounter.linePos(offset)
    return { line, column: col }
  }
  const error = (segments: PathSegment[], at: Position, message: string): ConfigError => ({
    file,
    path: formatPath(segments),
    segments,
    line: at.line,
    column: at.column,
    message
  })
  // a file of errors lists the first MAX_ERRORS (placing each one costs a walk of the file)
  let unlisted = 0
  const fail = (errors: ConfigError[]): ParseResult => {
    const sorted = sortErrors(errors)
    const last = sorted[sorted.length - 1]
    if (unlisted > 0 && last) {
      const more = `${unlisted} more error(s) not listed: correct these first`
      sorted.push(error([], { line: last.line, column: last.column }, more))
    }
    return { ok: false, errors: sorted }
  }

  // duplicate keys are found by findDuplicateKeys: the parser's own check is quadratic
  const parsed = parseBounded(text, MAX_NESTING, { lineCounter, merge: true, uniqueKeys: false })
  if (!parsed.ok) {
    return fail([
      error(
        [],
        position(parsed.offset),
        `nested more than ${MAX_NESTING} levels deep: a description needs about 10 ` +
          '(is this the right file?)'
      )
    ])
  }
  const docs = parsed.docs
  const first = docs[0]
  if (
    first === undefined ||
    (docs.length === 1 && first.contents === null && first.errors.length === 0)
  ) {
    return fail([
      error(
        [],
        { line: 1, column: 1 },
        `the description is empty: expected a mapping with the keys ${TOP_KEYS}`
      )
    ])
  }
  const errors: ConfigError[] = []
  const room = (): boolean => errors.length < MAX_ERRORS || (unlisted++, false)
  const syntaxLines = new Set<number>()
  for (const doc of docs) {
    for (const problem of [...doc.errors, ...doc.warnings] as YAMLError[]) {
      if (!room()) continue
      const at = position(problem.pos[0])
      if (problem.code === 'DUPLICATE_KEY') {
        const segments = pathOfKeyAt(doc, problem.pos[0]) ?? []
        const key = segments[segments.length - 1]
        const earlier = findNode(doc, segments).key
        const firstAt = position(offsetOf(earlier))
        const seenBefore =
          earlier && offsetOf(earlier) !== problem.pos[0]
            ? ` (first at ${firstAt.line}:${firstAt.column})`
            : ''
        errors.push(error(segments, at, `duplicate key ${q(String(key ?? ''))}${seenBefore}`))
      } else if (!syntaxLines.has(at.line)) {
        // one mistake often yields several parser errors on its line: report the first
        syntaxLines.add(at.line)
        errors.push(error([], at, `YAML syntax error: ${problem.message}`))
      }
    }
  }
  for (const doc of docs) {
    for (const duplicate of findDuplicateKeys(doc)) {
      if (!room()) continue
      const key = duplicate.segments[duplicate.segments.length - 1]
      const firstAt = position(offsetOf(duplicate.first))
      errors.push(
        error(
          duplicate.segments,
          position(offsetOf(duplicate.node)),
          `duplicate key ${q(String(key ?? ''))} (first at ${firstAt.line}:${firstAt.column})`
        )
      )
    }
  }
  if (docs.length > 1) {
    const second = docs[1]
    errors.push(
      error(
        [],
        position(second?.range[0]),
        'only one YAML document is allowed: remove the "---" and what follows, or merge it into the first'
      )
    )
  }
  if (errors.length > 0) return fail(errors)

  const doc = first
  const root = deref(doc.contents, doc)
  if (!isMap(root)) {
    const kind = isSeq(root) ? 'a list' : 'a single value'
    return fail([
      error(
        [],
        position(offsetOf(doc.contents as Node | null)),
        `the description must be a mapping with the keys ${TOP_KEYS}, not ${kind}`
      )
    ])
  }

  const locate: Locate = segments => {
    const found = findNode(doc, segments)
    const node =
      found.value && !isNullScalar(found.value) ? found.value : (found.key ?? found.nearest)
    return position(offsetOf(node))
  }
  const place = (pending: Pending): ConfigError => {
    const found = findNode(doc, pending.segments)
    const node =
      pending.anchor === 'key'
        ? (found.key ?? found.value ?? found.nearest)
        : found.value && !isNullScalar(found.value)
          ? found.value
          : (found.key ?? found.nearest)
    return error(pending.segments, position(offsetOf(node)), pending.message)
  }

  const nesting = aliasNesting(doc, MAX_NESTING)
  if (nesting) return fail([error([], position(offsetOf(nesting.node)), nesting.message)])

  const complexKeys = findComplexKeys(doc)
  if (complexKeys.length > 0) {
    return fail(
      complexKeys.map(node =>
        error([], position(offsetOf(node)), 'a key must be a plain name, not a list or mapping')
      )
    )
  }

  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: 100 })
  } catch (problem) {
    const message = `cannot read the YAML: ${errorMessage(problem)}`
    return fail([error([], { line: 1, column: 1 }, message)])
  }
  const nulls = new Set<string>()
  dropNulls(data, [], nulls, new Set())

  const secrets = findSecrets(doc)
  for (const secret of secrets) {
    errors.push(
      error(
        secret.segments,
        position(offsetOf(secret.node)),
        'looks like a private key or certificate (-----BEGIN …): secrets are never accepted in the ' +
          'description; put it in an environment variable and name that variable instead ' +
          '(e.g. ssh.privateKeyEnv: SSH_PRIVATE_KEY)'
      )
    )
  }
  const hidden = (segments: readonly PathSegment[]): boolean =>
    secrets.some(secret => startsWith(segments, secret.segments))

  const result = descriptionSchema.safeParse(data)
  if (!result.success) {
    // converting an issue may walk the file: only as many as can be listed are converted
    const issues = result.error.issues.slice(0, MAX_ERRORS).map(issue => {
      if (issue.code !== 'unrecognized_keys' || issue.keys.length <= MAX_ERRORS) return issue
      unlisted += issue.keys.length - MAX_ERRORS
      return { ...issue, keys: issue.keys.slice(0, MAX_ERRORS) }
    })
    unlisted += result.error.issues.length - issues.length
    const pendings = issues.flatMap(issue => convertIssue(issue, data, nulls, doc, text))
    // "hots" unknown and "host" missing are one mistake: keep only the did-you-mean
    const meant = new Set(
      pendings
        .filter(p => p.meant !== undefined)
        .map(p => JSON.stringify([...p.segments.slice(0, -1), p.meant]))
    )
    for (const pending of pendings) {
      const covered =
        pending.missing !== undefined &&
        meant.has(JSON.stringify([...pending.segments, pending.missing]))
      if (!covered && !hidden(pending.segments) && room()) errors.push(place(pending))
    }
  }
  for (const issue of semanticIssues(data, locate)) {
    if (!hidden(issue.path) && room())
      errors.push(place({ segments: issue.path, message: issue.message, anchor: 'value' }))
  }
  // a control character is said once per value, unless that value has an error already
  const flagged = new Set(errors.map(e => e.path))
  for (const issue of controlCharacters(data)) {
    if (!hidden(issue.segments) && !flagged.has(formatPath(issue.segments)) && room())
      errors.push(place(issue))
  }
  if (errors.length > 0 || !result.success) return fail(errors)
  return { ok: true, description: resolveDefaults(result.data), locate }
}

function sortErrors(errors: ConfigError[]): ConfigError[] {
  const seen = new Set<string>()
  return errors
    .filter(e => {
      const key = formatError(e)
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
    .sort((a, b) => a.line - b.line || a.column - b.column)
}
