// Label and field selectors with Kubernetes' syntax: `a=b,c!=d,e,!f,g in (x,y),h notin (z)`.

export type LabelRequirement =
  | { key: string; op: 'exists' | 'notexists' }
  | { key: string; op: 'in' | 'notin'; values: string[] }

export class SelectorError extends Error {}

/** Splits at commas that are not inside parentheses. */
function splitTerms(selector: string): string[] {
  const terms: string[] = []
  let depth = 0
  let current = ''
  for (const ch of selector) {
    if (ch === '(') depth++
    if (ch === ')') depth--
    if (ch === ',' && depth === 0) {
      terms.push(current)
      current = ''
    } else current += ch
  }
  terms.push(current)
  return terms.map(t => t.trim()).filter(t => t !== '')
}

const keyPattern = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/

function checkKey(key: string, selector: string): string {
  if (!keyPattern.test(key))
    throw new SelectorError(
      `unable to parse requirement: invalid label key "${key}" in "${selector}"`
    )
  return key
}

export function parseLabelSelector(selector: string | undefined): LabelRequirement[] {
  if (selector === undefined || selector.trim() === '') return []
  return splitTerms(selector).map(term => {
    let m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term)
    if (m) {
      const values = (m[3] ?? '')
        .split(',')
        .map(v => v.trim())
        .filter(v => v !== '')
      return { key: checkKey(m[1] ?? '', selector), op: m[2] as 'in' | 'notin', values }
    }
    m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term)
    if (m) {
      const key = checkKey(m[1] ?? '', selector)
      return { key, op: m[2] === '!=' ? 'notin' : 'in', values: [m[3] ?? ''] }
    }
    m = /^!\s*(\S+)$/.exec(term)
    if (m) return { key: checkKey(m[1] ?? '', selector), op: 'notexists' }
    if (/^\S+$/.test(term)) return { key: checkKey(term, selector), op: 'exists' }
    throw new SelectorError(`unable to parse requirement: "${term}"`)
  })
}

export function matchesLabels(
  labels: Record<string, string> | undefined,
  requirements: LabelRequirement[]
): boolean {
  const l = labels ?? {}
  return requirements.every(r => {
    const has = Object.hasOwn(l, r.key)
    switch (r.op) {
      case 'exists':
        return has
      case 'notexists':
        return !has
      case 'in':
        return has && r.values.includes(l[r.key] ?? '')
      case 'notin':
        return !has || !r.values.includes(l[r.key] ?? '')
    }
    return false
  })
}

export interface FieldRequirement {
  field: string
  equal: boolean
  value: string
}

export function parseFieldSelector(selector: string | undefined): FieldRequirement[] {
  if (selector === undefined || selector.trim() === '') return []
  return splitTerms(selector).map(term => {
    const m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term)
    if (!m) throw new SelectorError(`invalid selector: '${selector}'; can't understand '${term}'`)
    return { field: m[1] ?? '', equal: m[2] !== '!=', value: m[3] ?? '' }
  })
}

const supportedFields = new Set([
  'metadata.name',
  'metadata.namespace',
  'status.phase',
  'spec.nodeName',
  'type',
  'status.podIP'
])

export function checkFieldSelector(requirements: FieldRequirement[], kind: string): void {
  for (const r of requirements) {
    if (!supportedFields.has(r.field)) {
      throw new SelectorError(
        `"${r.field}" is not a known field selector: only "metadata.name", "metadata.namespace" (kind ${kind})`
      )
    }
  }
}

function fieldValue(obj: Record<string, unknown>, path: string): string {
  let cur: unknown = obj
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return ''
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur === undefined || cur === null ? '' : String(cur)
}

export function matchesFields(
  obj: Record<string, unknown>,
  requirements: FieldRequirement[]
): boolean {
  return requirements.every(r => (fieldValue(obj, r.field) === r.value) === r.equal)
}
