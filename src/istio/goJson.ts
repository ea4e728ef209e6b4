// The bits of Go's encoding/json and sort.Strings that the VM files depend on.

/** Go's string order (sort.Strings): bytewise on UTF-8, not UTF-16 code units. */
export function compareGoStrings(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** A string as Go's json.Marshal writes it, HTML-safe escaping included (<, >, & → \u00XX). */
export function goJsonString(value: string): string {
  let out = '"'
  for (const ch of value) {
    const cp = ch.codePointAt(0) ?? 0
    switch (ch) {
      case '"':
        out += '\\"'
        continue
      case '\\':
        out += '\\\\'
        continue
      case '\n':
        out += '\\n'
        continue
      case '\r':
        out += '\\r'
        continue
      case '\t':
        out += '\\t'
        continue
      case '\b':
        out += '\\b'
        continue
      case '\f':
        out += '\\f'
        continue
    }
    if (cp < 0x20 || ch === '<' || ch === '>' || ch === '&' || cp === 0x2028 || cp === 0x2029) {
      out += '\\u' + cp.toString(16).padStart(4, '0')
    } else if (cp >= 0xd800 && cp <= 0xdfff) {
      // a lone surrogate is invalid UTF-8 to Go: it writes the replacement character
      out += '\\ufffd'
    } else {
      out += ch
    }
  }
  return out + '"'
}

/** json.Marshal of a map[string]string: keys in Go string order, no spaces. */
export function goJsonStringMap(map: Readonly<Record<string, string>>): string {
  const keys = Object.keys(map).sort(compareGoStrings)
  return '{' + keys.map(k => `${goJsonString(k)}:${goJsonString(map[k] ?? '')}`).join(',') + '}'
}

/** fmt's %s of a map[string]string: `map[k1:v1 k2:v2]`, keys sorted. */
export function goFormatStringMap(map: Readonly<Record<string, string>>): string {
  const keys = Object.keys(map).sort(compareGoStrings)
  return 'map[' + keys.map(k => `${k}:${map[k] ?? ''}`).join(' ') + ']'
}

/** fmt's %q of a string, for the plain strings that occur in messages. */
export function goQuote(value: string): string {
  let out = '"'
  for (const ch of value) {
    const cp = ch.codePointAt(0) ?? 0
    if (ch === '"' || ch === '\\') out += '\\' + ch
    else if (ch === '\n') out += '\\n'
    else if (ch === '\t') out += '\\t'
    else if (ch === '\r') out += '\\r'
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0')
    else out += ch
  }
  return out + '"'
}
