// Strategic merge patch (`application/strategic-merge-patch+json`) for the built-in kinds, which
// kubectl sends for `patch` (default type) and client-side `apply` of built-in kinds. Lists whose
// schema says `x-kubernetes-patch-strategy: merge` merge item by item on their
// `x-kubernetes-patch-merge-key` (Service ports by port, containers by name) or, for lists of
// scalars, as a set; every other list is replaced; maps merge as in a merge patch, null deletes.
// Directives: `$patch: replace|delete|merge` (maps and list items), `$setElementOrder/<list>`,
// `$deleteFromPrimitiveList/<list>` and `$retainKeys`.
// Upstream: staging/src/k8s.io/apimachinery/pkg/util/strategicpatch/patch.go (StrategicMergePatch,
// mergeMap, mergeSlice, normalizeElementOrder) with the patch metadata of the Go types; custom
// resources refuse it with 415 (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go).
// Stand-in: the patch metadata comes from lab/cluster/coreSchemas.ts, so a field not described
// there merges like a merge patch; server-only list items keep their place after the ordered ones.
import { coreSchemas, resolveSchema as resolve } from './coreSchemas.ts'
import { clone, deepEqual, isObject, type Obj } from './fields.ts'
import { badRequest } from './status.ts'

function property(schema: Obj | undefined, key: string): Obj | undefined {
  const s = resolve(schema)
  const props = s && isObject(s.properties) ? s.properties : undefined
  const p = props?.[key]
  return isObject(p) ? p : undefined
}

function itemSchema(schema: Obj | undefined): Obj | undefined {
  const s = resolve(schema)
  return s && isObject(s.items) ? resolve(s.items) : undefined
}

const DELETE = Symbol('delete')

/** A patch value without its directives (what a new item or replaced value stores). */
function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip)
  if (!isObject(v)) return v
  const out: Obj = {}
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = strip(x)
  return out
}

function mergeMap(original: Obj, patch: Obj, schema: Obj | undefined): Obj | typeof DELETE {
  const directive = patch.$patch
  if (directive === 'delete') return DELETE
  if (directive === 'replace') return strip(patch) as Obj
  if (directive !== undefined && directive !== 'merge')
    throw badRequest(`Unknown patch type: ${String(directive)}`)
  const result = clone(original)
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith('$setElementOrder/')) continue
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const name = key.slice('$deleteFromPrimitiveList/'.length)
      const remove = Array.isArray(value) ? value : []
      const current = result[name]
      if (Array.isArray(current))
        result[name] = current.filter(x => !remove.some(r => deepEqual(r, x)))
      continue
    }
    if (value === null) {
      delete result[key]
      continue
    }
    const fieldSchema = property(schema, key)
    const current = result[key]
    if (isObject(value)) {
      const merged = mergeMap(isObject(current) ? current : {}, value, fieldSchema)
      if (merged === DELETE) delete result[key]
      else result[key] = merged
    } else if (Array.isArray(value)) {
      result[key] = mergeList(
        Array.isArray(current) ? current : [],
        value,
        fieldSchema,
        patch[`$setElementOrder/${key}`]
      )
    } else result[key] = value
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = patch.$retainKeys.map(String)
    for (const k of Object.keys(result)) if (!keep.includes(k)) delete result[k]
  }
  return result
}

function mergeList(
  original: unknown[],
  patch: unknown[],
  schema: Obj | undefined,
  order: unknown
): unknown[] {
  const s = resolve(schema)
  const strategy = String(s?.['x-kubernetes-patch-strategy'] ?? '')
  if (!strategy.split(',').includes('merge')) return strip(patch) as unknown[]
  const key = s?.['x-kubernetes-patch-merge-key']
  if (typeof key !== 'string') {
    // a set of scalars: the union, in order
    const out = [...original]
    for (const v of patch) if (!out.some(x => deepEqual(x, v))) out.push(v)
    return ordered(out, order, undefined)
  }
  if (patch.some(p => isObject(p) && p.$patch === 'replace'))
    return strip(patch.filter(p => !(isObject(p) && p.$patch === 'replace'))) as unknown[]
  const items = itemSchema(schema)
  let out = [...original]
  for (const p of patch) {
    if (!isObject(p)) throw badRequest(`the list ${key} wants objects with the merge key "${key}"`)
    const at = out.findIndex(o => isObject(o) && deepEqual(o[key], p[key]))
    if (p.$patch === 'delete') {
      out = out.filter(o => !(isObject(o) && deepEqual(o[key], p[key])))
      continue
    }
    if (at < 0) out.push(strip(p))
    else {
      const merged = mergeMap(out[at] as Obj, p, items)
      if (merged === DELETE) out.splice(at, 1)
      else out[at] = merged
    }
  }
  return ordered(out, order, key)
}

/** `$setElementOrder`: the listed items in its order, then the others in their place. */
function ordered(list: unknown[], order: unknown, key: string | undefined): unknown[] {
  if (!Array.isArray(order)) return list
  const id = (v: unknown): unknown => (key !== undefined && isObject(v) ? v[key] : v)
  const wanted = order.map(o => (key !== undefined && isObject(o) ? o[key] : o))
  const rank = (v: unknown): number => wanted.findIndex(w => deepEqual(w, id(v)))
  const inOrder = list.filter(v => rank(v) >= 0).sort((a, b) => rank(a) - rank(b))
  return [...inOrder, ...list.filter(v => rank(v) < 0)]
}

/** Applies a strategic merge patch to `live`, a built-in object described by `definition`. */
export function strategicMergePatch(live: Obj, patch: unknown, definition: string): Obj {
  if (!isObject(patch)) throw badRequest('the strategic merge patch must be a JSON object')
  const merged = mergeMap(live, patch, coreSchemas[definition])
  if (merged === DELETE) throw badRequest('a strategic merge patch may not delete the object')
  return merged
}
