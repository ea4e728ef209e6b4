// A YAML emitter that reproduces what istioctl writes: sigs.k8s.io/yaml.Marshal, i.e. JSON
// turned back into YAML by go-yaml v2 (a port of libyaml's emitter). Only the shapes that
// come out of a JSON document occur: maps with string keys, arrays, strings, numbers,
// booleans and null. The state machine below follows libyaml's (column, indent, indention,
// whitespace) closely, because line wrapping and quoting depend on it.

/** A JSON-shaped value as sigs.k8s.io/yaml sees it. Integral numbers print as ints. */
export type GoYamlValue =
  | string
  | number
  | boolean
  | null
  | readonly GoYamlValue[]
  | { readonly [key: string]: GoYamlValue }

const BEST_INDENT = 2
const BEST_WIDTH = 80

/** go-yaml v2's "natural" key order (keyList.Less): negative when a sorts before b. */
export function compareGoYamlKeys(a: string, b: string): number {
  if (a === b) return 0
  return goYamlKeyLess(a, b) ? -1 : 1
}

function isLetter(ch: string): boolean {
  return /\p{L}/u.test(ch)
}

function isDigit(ch: string): boolean {
  return /\p{Nd}/u.test(ch)
}

function digitValue(ch: string): number {
  return (ch.codePointAt(0) ?? 48) - 48
}

function goYamlKeyLess(a: string, b: string): boolean {
  const ar = [...a]
  const br = [...b]
  for (let i = 0; i < ar.length && i < br.length; i++) {
    const ai0 = ar[i] ?? ''
    const bi0 = br[i] ?? ''
    if (ai0 === bi0) continue
    const al = isLetter(ai0)
    const bl = isLetter(bi0)
    if (al && bl) return (ai0.codePointAt(0) ?? 0) < (bi0.codePointAt(0) ?? 0)
    if (al || bl) return bl
    // Digit runs compare by value; a run that is preceded by non-zero digits counts as one.
    let an = 0
    let bn = 0
    if (ai0 === '0' || bi0 === '0') {
      for (let j = i - 1; j >= 0 && isDigit(ar[j] ?? ''); j--) {
        if (ar[j] !== '0') {
          an = 1
          bn = 1
          break
        }
      }
    }
    let ai = i
    let bi = i
    for (; ai < ar.length && isDigit(ar[ai] ?? ''); ai++) an = an * 10 + digitValue(ar[ai] ?? '')
    for (; bi < br.length && isDigit(br[bi] ?? ''); bi++) bn = bn * 10 + digitValue(br[bi] ?? '')
    if (an !== bn) return an < bn
    if (ai !== bi) return ai < bi
    return (ai0.codePointAt(0) ?? 0) < (bi0.codePointAt(0) ?? 0)
  }
  return ar.length < br.length
}

// ---- how go-yaml v2 resolves a plain scalar (resolve.go): anything that is not a string
// when read back unquoted must be quoted.

const resolveMapNonString = new Set([
  '',
  '~',
  'null',
  'Null',
  'NULL',
  'y',
  'Y',
  'yes',
  'Yes',
  'YES',
  'n',
  'N',
  'no',
  'No',
  'NO',
  'true',
  'True',
  'TRUE',
  'false',
  'False',
  'FALSE',
  'on',
  'On',
  'ON',
  'off',
  'Off',
  'OFF',
  '.nan',
  '.NaN',
  '.NAN',
  '.inf',
  '.Inf',
  '.INF',
  '+.inf',
  '+.Inf',
  '+.INF',
  '-.inf',
  '-.Inf',
  '-.INF'
  // "<<" is in go-yaml's map too, but its first character has no resolve hint, so it stays a string
])

const yamlStyleFloat = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/
const base60Float = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/
// time.Parse layouts go-yaml v2 tries: 2006-1-2T15:4:5.999999999Z07:00, the same with a
// lower-case t, "2006-1-2 15:4:5.999999999" and "2006-1-2".
const timestampLike =
  /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2}))|(?: [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?))?$/

function goParseIntBase0(s: string): boolean {
  // strconv.ParseInt/ParseUint with base 0, after go-yaml removed underscores.
  const m = /^[-+]?(.*)$/.exec(s)
  const body = m?.[1] ?? ''
  if (/^0[xX][0-9a-fA-F]+$/.test(body)) return true
  if (/^0[bB][01]+$/.test(body)) return true
  if (/^0[oO][0-7]+$/.test(body)) return true
  if (/^0[0-7]*$/.test(body)) return true
  if (/^[1-9][0-9]*$/.test(body)) return true
  return false
}

/** True when go-yaml v2 would read the plain scalar back as something other than a string. */
export function resolvesToNonString(s: string): boolean {
  if (resolveMapNonString.has(s)) return true
  const c = s[0] ?? ''
  if (c === '.') {
    // strconv.ParseFloat of the raw text
    return /^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(s)
  }
  if (/[-+0-9]/.test(c)) {
    if (timestampLike.test(s)) return true
    const plain = s.replaceAll('_', '')
    if (goParseIntBase0(plain)) return true
    if (yamlStyleFloat.test(plain)) return true
    if (/^-?0b[01]+$/.test(plain)) return true
  }
  return false
}

// ---- character classes of libyaml (on code points)

function isPrintable(cp: number): boolean {
  return (
    cp === 0x0a ||
    (cp >= 0x20 && cp <= 0x7e) ||
    (cp >= 0xa0 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd && cp !== 0xfeff)
  )
}
function isBreak(cp: number | undefined): boolean {
  return cp === 0x0d || cp === 0x0a || cp === 0x85 || cp === 0x2028 || cp === 0x2029
}
function isBlankz(cp: number | undefined): boolean {
  return cp === undefined || cp === 0x20 || cp === 0x09 || isBreak(cp) || cp === 0
}

interface ScalarAnalysis {
  multiline: boolean
  flowPlainAllowed: boolean
  blockPlainAllowed: boolean
  singleQuotedAllowed: boolean
  blockAllowed: boolean
}

const NO_INDICATOR = { flow: false, block: false }
const BOTH_INDICATORS = { flow: true, block: true }

/** Whether a character keeps the scalar from being plain in flow and in block context. */
function indicator(
  ch: string,
  first: boolean,
  precededByBlank: boolean,
  followedByBlank: boolean
): { flow: boolean; block: boolean } {
  if (first) {
    if ('#,[]{}&*!|>\'"%@`'.includes(ch)) return BOTH_INDICATORS
    if (ch === '?' || ch === ':') return { flow: true, block: followedByBlank }
    return ch === '-' && followedByBlank ? BOTH_INDICATORS : NO_INDICATOR
  }
  if (',?[]{}'.includes(ch)) return { flow: true, block: false }
  if (ch === ':') return { flow: true, block: followedByBlank }
  return ch === '#' && precededByBlank ? BOTH_INDICATORS : NO_INDICATOR
}

/** libyaml's yaml_emitter_analyze_scalar: which styles can write the value. */
function analyzeScalar(value: string): ScalarAnalysis {
  const cps = [...value].map(ch => ch.codePointAt(0) ?? 0)
  if (cps.length === 0) {
    return {
      multiline: false,
      flowPlainAllowed: false,
      blockPlainAllowed: true,
      singleQuotedAllowed: true,
      blockAllowed: false
    }
  }
  let flowIndicators = value.startsWith('---') || value.startsWith('...')
  let blockIndicators = flowIndicators
  cps.forEach((cp, i) => {
    const found = indicator(
      String.fromCodePoint(cp),
      i === 0,
      i === 0 || isBlankz(cps[i - 1]),
      isBlankz(cps[i + 1])
    )
    flowIndicators ||= found.flow
    blockIndicators ||= found.block
  })
  const first = cps[0]
  const last = cps[cps.length - 1]
  const neighbours = cps.slice(1).map((cp, i) => [cps[i], cp] as const)
  const lineBreaks = cps.some(isBreak)
  // go-yaml sets emitter.unicode, so only non-printable characters are special.
  const specialCharacters = cps.some(cp => !isPrintable(cp))
  const breakSpace = neighbours.some(([before, cp]) => isBreak(before) && cp === 0x20)
  const spaceBreak = neighbours.some(([before, cp]) => before === 0x20 && isBreak(cp))
  const spaceOrBreakAtEdge = first === 0x20 || isBreak(first) || last === 0x20 || isBreak(last)
  const noPlain = spaceOrBreakAtEdge || breakSpace || spaceBreak || specialCharacters || lineBreaks
  return {
    multiline: lineBreaks,
    flowPlainAllowed: !noPlain && !flowIndicators,
    blockPlainAllowed: !noPlain && !blockIndicators,
    singleQuotedAllowed: !breakSpace && !spaceBreak && !specialCharacters,
    blockAllowed: last !== 0x20 && !spaceBreak && !specialCharacters
  }
}

type Style = 'plain' | 'single' | 'double' | 'literal'

/** Go's strconv.FormatFloat(f, 'g', -1, 64), as go-yaml prints floats. */
export function goFormatFloat(n: number): string {
  if (Number.isNaN(n)) return '.nan'
  if (n === Infinity) return '.inf'
  if (n === -Infinity) return '-.inf'
  if (Object.is(n, -0)) return '-0'
  // shortest precision: %e when the decimal exponent is < -4 or >= 6 (strconv's rule)
  const [mant, e] = n.toExponential().split('e') as [string, string]
  const eNum = Number(e)
  if (eNum < -4 || eNum >= 6) {
    const abs = Math.abs(eNum)
    return `${mant}e${eNum < 0 ? '-' : '+'}${abs < 10 ? '0' : ''}${abs}`
  }
  return String(n)
}

class Emitter {
  out = ''
  private column = 0
  private indent = -1
  private readonly indents: number[] = []
  private whitespace = true
  private indention = true
  private flowLevel = 0

  private put(text: string): void {
    this.out += text
    this.column += [...text].length
  }

  private putBreak(): void {
    this.out += '\n'
    this.column = 0
  }

  private increaseIndent(flow: boolean, indentless: boolean): void {
    this.indents.push(this.indent)
    if (this.indent < 0) this.indent = flow ? BEST_INDENT : 0
    else if (!indentless) this.indent += BEST_INDENT
  }

  private popIndent(): void {
    this.indent = this.indents.pop() ?? -1
  }

  private writeIndent(): void {
    const indent = Math.max(this.indent, 0)
    if (!this.indention || this.column > indent || (this.column === indent && !this.whitespace)) {
      this.putBreak()
    }
    while (this.column < indent) this.put(' ')
    this.whitespace = true
    this.indention = true
  }

  private writeIndicator(
    indicator: string,
    needWhitespace: boolean,
    isWhitespace: boolean,
    isIndention: boolean
  ): void {
    if (needWhitespace && !this.whitespace) this.put(' ')
    this.put(indicator)
    this.whitespace = isWhitespace
    this.indention = this.indention && isIndention
  }

  emitDocument(value: GoYamlValue): string {
    this.emitNode(value, { mappingContext: false, simpleKey: false })
    // document end: finish the last line
    this.writeIndent()
    return this.out
  }

  private emitNode(value: GoYamlValue, ctx: { mappingContext: boolean; simpleKey: boolean }): void {
    if (Array.isArray(value)) {
      const items = value as readonly GoYamlValue[]
      if (items.length === 0 || this.flowLevel > 0) this.emitFlowEmpty('[', ']')
      else this.emitBlockSequence(items, ctx.mappingContext)
      return
    }
    if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value as { [key: string]: GoYamlValue })
      if (entries.length === 0 || this.flowLevel > 0) this.emitFlowEmpty('{', '}')
      else this.emitBlockMapping(entries)
      return
    }
    if (value === null) {
      this.emitScalar('null', 'plain', ctx.simpleKey)
      return
    }
    if (typeof value === 'boolean') {
      this.emitScalar(value ? 'true' : 'false', 'plain', ctx.simpleKey)
      return
    }
    if (typeof value === 'number') {
      const text =
        Number.isInteger(value) && Math.abs(value) < 1e21 ? value.toFixed(0) : goFormatFloat(value)
      this.emitScalar(text, 'plain', ctx.simpleKey)
      return
    }
    this.emitString(value as string, ctx.simpleKey)
  }

  private emitFlowEmpty(open: string, close: string): void {
    this.writeIndicator(open, true, true, false)
    this.writeIndicator(close, false, false, false)
  }

  private emitBlockSequence(items: readonly GoYamlValue[], mappingContext: boolean): void {
    this.increaseIndent(false, mappingContext && !this.indention)
    for (const item of items) {
      this.writeIndent()
      this.writeIndicator('-', true, false, true)
      this.emitNode(item, { mappingContext: false, simpleKey: false })
    }
    this.popIndent()
  }

  private emitBlockMapping(entries: [string, GoYamlValue][]): void {
    entries.sort(([a], [b]) => compareGoYamlKeys(a, b))
    this.increaseIndent(false, false)
    for (const [key, value] of entries) {
      this.writeIndent()
      // libyaml: a key longer than 128 bytes or spanning lines is not a simple key
      const simple = Buffer.byteLength(key) <= 128 && !analyzeScalar(key).multiline
      if (simple) {
        this.emitString(key, true)
        this.writeIndicator(':', false, false, false)
      } else {
        this.writeIndicator('?', true, false, true)
        this.emitString(key, false)
        this.writeIndent()
        this.writeIndicator(':', true, false, true)
      }
      this.emitNode(value, { mappingContext: true, simpleKey: false })
    }
    this.popIndent()
  }

  private emitString(s: string, simpleKey: boolean): void {
    // encode.go stringv: quote what would not read back as a string; literal for newlines
    const canUsePlain = !resolvesToNonString(s) && !base60Float.test(s)
    let style: Style
    if (s.includes('\n')) style = 'literal'
    else if (canUsePlain) style = 'plain'
    else style = 'double'
    this.emitScalar(s, style, simpleKey)
  }

  private emitScalar(value: string, requested: Style, simpleKey: boolean): void {
    const a = analyzeScalar(value)
    let style = requested
    if (simpleKey && a.multiline) style = 'double'
    if (style === 'plain') {
      if (
        (this.flowLevel > 0 && !a.flowPlainAllowed) ||
        (this.flowLevel === 0 && !a.blockPlainAllowed)
      ) {
        style = 'single'
      }
      if (value.length === 0 && (this.flowLevel > 0 || simpleKey)) style = 'single'
    }
    if (style === 'single' && !a.singleQuotedAllowed) style = 'double'
    if (style === 'literal' && (!a.blockAllowed || this.flowLevel > 0 || simpleKey)) {
      style = 'double'
    }
    this.increaseIndent(true, false)
    const allowBreaks = !simpleKey
    switch (style) {
      case 'plain':
        this.writePlain(value, allowBreaks)
        break
      case 'single':
        this.writeQuoted(value, "'", allowBreaks)
        break
      case 'double':
        this.writeQuoted(value, '"', allowBreaks)
        break
      case 'literal':
        this.writeLiteral(value)
        break
    }
    this.popIndent()
  }

  /** A space of a scalar, or a line break instead once the line is long: true when it broke. */
  private writeSpace(mayBreak: boolean): boolean {
    if (mayBreak && this.column > BEST_WIDTH) {
      this.writeIndent()
      return true
    }
    this.put(' ')
    return false
  }

  /**
   * The characters of a plain or quoted scalar (libyaml's write_plain, write_single_quoted and
   * write_double_quoted): a long line breaks at a single space, never at the ends of a quoted
   * one; double quotes escape what they must, single quotes double a quote.
   */
  private writeChars(
    value: string,
    style: 'plain' | 'single' | 'double',
    allowBreaks: boolean
  ): void {
    const chars = [...value]
    let spaces = false
    chars.forEach((ch, i) => {
      const cp = ch.codePointAt(0) ?? 0
      if (style === 'double' && needsDoubleQuotedEscape(cp)) {
        this.put('\\')
        this.put(doubleQuotedEscape(cp))
        spaces = false
      } else if (ch === ' ') {
        const nextIsSpace = chars[i + 1] === ' '
        const inner = style === 'plain' || (i !== 0 && i !== chars.length - 1)
        // a double-quoted line may break before a second space: the escape keeps that space
        const mayBreak = allowBreaks && !spaces && inner && (style === 'double' || !nextIsSpace)
        if (this.writeSpace(mayBreak) && nextIsSpace) this.put('\\')
        spaces = true
      } else {
        if (style === 'single' && ch === "'") this.put("'")
        this.put(ch)
        if (style !== 'double') this.indention = false
        spaces = false
      }
    })
  }

  private writePlain(value: string, allowBreaks: boolean): void {
    if (!this.whitespace) this.put(' ')
    this.writeChars(value, 'plain', allowBreaks)
    this.whitespace = false
    this.indention = false
  }

  private writeQuoted(value: string, quote: "'" | '"', allowBreaks: boolean): void {
    this.writeIndicator(quote, true, false, false)
    this.writeChars(value, quote === '"' ? 'double' : 'single', allowBreaks)
    this.writeIndicator(quote, false, false, false)
  }

  private writeLiteral(value: string): void {
    this.writeIndicator('|', true, false, false)
    const cps = [...value].map(ch => ch.codePointAt(0) ?? 0)
    if (cps[0] === 0x20 || isBreak(cps[0])) {
      this.writeIndicator(String(BEST_INDENT), false, false, false)
    }
    const last = cps[cps.length - 1]
    if (cps.length === 0 || !isBreak(last)) {
      this.writeIndicator('-', false, false, false)
    } else if (cps.length === 1 || isBreak(cps[cps.length - 2])) {
      this.writeIndicator('+', false, false, false)
    }
    this.putBreak()
    this.indention = true
    this.whitespace = true
    let breaks = true
    for (const cp of cps) {
      if (isBreak(cp)) {
        this.out += cp === 0x0a ? '\n' : String.fromCodePoint(cp)
        this.column = 0
        this.indention = true
        breaks = true
      } else {
        if (breaks) this.writeIndent()
        this.put(String.fromCodePoint(cp))
        this.indention = false
        breaks = false
      }
    }
  }
}

function needsDoubleQuotedEscape(cp: number): boolean {
  return !isPrintable(cp) || cp === 0xfeff || isBreak(cp) || cp === 0x22 || cp === 0x5c
}

function doubleQuotedEscape(cp: number): string {
  const named: Record<number, string> = {
    0x00: '0',
    0x07: 'a',
    0x08: 'b',
    0x09: 't',
    0x0a: 'n',
    0x0b: 'v',
    0x0c: 'f',
    0x0d: 'r',
    0x1b: 'e',
    0x22: '"',
    0x5c: '\\',
    0x85: 'N',
    0xa0: '_',
    0x2028: 'L',
    0x2029: 'P'
  }
  const n = named[cp]
  if (n !== undefined) return n
  const hex = cp.toString(16).toUpperCase()
  if (cp <= 0xff) return 'x' + hex.padStart(2, '0')
  if (cp <= 0xffff) return 'u' + hex.padStart(4, '0')
  return 'U' + hex.padStart(8, '0')
}

/** Serialises a JSON-shaped value exactly as sigs.k8s.io/yaml.Marshal (go-yaml v2) does. */
export function goYamlMarshal(value: GoYamlValue): string {
  return new Emitter().emitDocument(value)
}
