// Field ownership (metadata.managedFields, FieldsV1), server-side apply, merge patch (RFC 7386) and
// JSON patch (RFC 6902). Associative lists (Service ports, containers, env, webhooks...) are
// merged and owned item by item; all other lists are atomic, as in Kubernetes' schemas.
import { ApiError } from './status.ts'

export type Obj = Record<string, unknown>
export type Path = string[]

export interface ManagedFieldsEntry {
  manager: string
  operation: 'Apply' | 'Update'
  apiVersion: string
  time: string
  fieldsType: 'FieldsV1'
  fieldsV1: Obj
  subresource?: string
}

export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T)
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical)
  if (isObject(v)) {
    const out: Obj = {}
    for (const k of Object.keys(v).sort()) if (v[k] !== undefined) out[k] = canonical(v[k])
    return out
  }
  return v
}

export function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b))
}

/** Fields the server manages itself; never owned by a field manager. */
const systemMetadata = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'managedFields',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'generateName'
])

/**
 * Associative lists of built-in kinds (items keyed by fields, with the API's defaults), as
 * Kubernetes' schemas declare them; every other list is atomic. Istio's CRD lists are atomic.
 */
const workloadKinds = new Set([
  'Pod',
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'ReplicaSet',
  'Job'
])
const keyDefaults: Record<string, unknown> = { protocol: 'TCP' }

function listKeys(kind: string, path: Path): string[] | undefined {
  const plain = path.filter(p => !isItem(p))
  const last = plain[plain.length - 1] ?? ''
  if (kind === 'Service' && plain.join('.') === 'spec.ports') return ['port', 'protocol']
  if (kind.endsWith('WebhookConfiguration') && plain.join('.') === 'webhooks') return ['name']
  if (workloadKinds.has(kind)) {
    if (
      [
        'containers',
        'initContainers',
        'ephemeralContainers',
        'volumes',
        'env',
        'imagePullSecrets'
      ].includes(last)
    ) {
      return ['name']
    }
    if (last === 'volumeMounts') return ['mountPath']
    if (last === 'ports' && /containers$/i.test(plain[plain.length - 2] ?? ''))
      return ['containerPort', 'protocol']
  }
  return undefined
}

/** A list item's path part, `k:{"name":"x"}` as in FieldsV1. */
export const isItem = (part: string): boolean => part.startsWith('k:{')

function itemPart(item: unknown, keys: string[]): string | undefined {
  if (!isObject(item)) return undefined
  const o: Obj = {}
  for (const k of keys) {
    const v = item[k] ?? keyDefaults[k]
    if (v === undefined || v === null) return undefined
    o[k] = v
  }
  return 'k:' + JSON.stringify(canonical(o))
}

function matchesItem(item: unknown, part: string): boolean {
  if (!isObject(item)) return false
  const wanted = JSON.parse(part.slice(2)) as Obj
  return Object.entries(wanted).every(([k, v]) => (item[k] ?? keyDefaults[k]) === v)
}

function keyedList(kind: string, path: Path, list: unknown[]): string[] | undefined {
  const keys = listKeys(kind, path)
  if (!keys) return undefined
  const parts = list.map(item => itemPart(item, keys))
  if (parts.some(p => p === undefined) || new Set(parts).size !== parts.length) return undefined
  return parts as string[]
}

/** Leaf paths of an object as field managers own them (atomic lists and empty maps are leaves). */
export function trackedPaths(obj: Obj): Path[] {
  const kind = String(obj.kind ?? '')
  const out: Path[] = []
  const walk = (v: unknown, path: Path): void => {
    if (isObject(v) && Object.keys(v).length > 0) {
      for (const [k, child] of Object.entries(v)) {
        if (child === undefined) continue
        if (path.length === 0 && (k === 'apiVersion' || k === 'kind' || k === 'status')) continue
        if (path.length === 1 && path[0] === 'metadata' && systemMetadata.has(k)) continue
        walk(child, [...path, k])
      }
      return
    }
    const parts = Array.isArray(v) && v.length > 0 ? keyedList(kind, path, v) : undefined
    if (Array.isArray(v) && parts) {
      v.forEach((item, i) => {
        const itemPath = [...path, parts[i] ?? '']
        out.push(itemPath)
        for (const [k, child] of Object.entries(item as Obj))
          if (child !== undefined) walk(child, [...itemPath, k])
      })
    } else if (path.length > 0) out.push(path)
  }
  walk(obj, [])
  return out.filter(p => !(p.length === 1 && p[0] === 'metadata'))
}

const key = (p: Path): string => JSON.stringify(p)
const unkey = (k: string): Path => JSON.parse(k) as Path

export function toFieldsV1(paths: Iterable<Path>): Obj {
  const root: Obj = {}
  for (const path of paths) {
    let node = root
    for (const part of path) {
      const k = isItem(part) ? part : `f:${part}`
      if (!isObject(node[k])) node[k] = {}
      node = node[k] as Obj
    }
    if (isItem(path[path.length - 1] ?? '')) node['.'] = {}
  }
  return root
}

export function fromFieldsV1(fields: unknown): Path[] {
  const out: Path[] = []
  const walk = (node: unknown, path: Path): void => {
    const children = isObject(node)
      ? Object.keys(node).filter(k => k.startsWith('f:') || isItem(k))
      : []
    if (path.length > 0 && (children.length === 0 || (isObject(node) && '.' in node)))
      out.push(path)
    for (const k of children) walk((node as Obj)[k], [...path, isItem(k) ? k : k.slice(2)])
  }
  walk(fields, [])
  return out
}

function child(container: unknown, part: string): unknown {
  if (isItem(part))
    return Array.isArray(container) ? container.find(item => matchesItem(item, part)) : undefined
  return isObject(container) ? container[part] : undefined
}

function hasChild(container: unknown, part: string): boolean {
  if (isItem(part))
    return Array.isArray(container) && container.some(item => matchesItem(item, part))
  return isObject(container) && Object.hasOwn(container, part)
}

function removeChild(container: unknown, part: string): void {
  if (isItem(part)) {
    if (!Array.isArray(container)) return
    const i = container.findIndex(item => matchesItem(item, part))
    if (i >= 0) container.splice(i, 1)
  } else if (isObject(container)) delete container[part]
}

export function getAt(obj: unknown, path: Path): unknown {
  let cur = obj
  for (const part of path) {
    cur = child(cur, part)
    if (cur === undefined) return undefined
  }
  return cur
}

function hasAt(obj: unknown, path: Path): boolean {
  let cur = obj
  for (const part of path) {
    if (!hasChild(cur, part)) return false
    cur = child(cur, part)
  }
  return true
}

/** Deletes a field and the maps it leaves empty (never metadata, list items or the object). */
function deleteAt(obj: Obj, path: Path): void {
  const chain: unknown[] = [obj]
  let cur: unknown = obj
  for (const part of path.slice(0, -1)) {
    cur = child(cur, part)
    if (cur === undefined) return
    chain.push(cur)
  }
  removeChild(cur, path[path.length - 1] ?? '')
  for (let i = path.length - 2; i >= 0; i--) {
    const node = chain[i + 1]
    if (!isObject(node) || Object.keys(node).length > 0) break
    if (i === 0 && path[0] === 'metadata') break
    if (isItem(path[i] ?? '')) break
    removeChild(chain[i], path[i] ?? '')
  }
}

/** Maps merge key by key, associative lists item by item; atomic lists and scalars replace. */
function mergeInto(target: Obj, source: Obj, kind: string, path: Path = []): void {
  const top = path.length === 0
  for (const [k, v] of Object.entries(source)) {
    if (v === undefined) continue
    if (top && k === 'status') continue
    if (top && k === 'metadata' && isObject(v)) {
      if (!isObject(target.metadata)) target.metadata = {}
      const meta = target.metadata as Obj
      for (const [mk, mv] of Object.entries(v)) {
        if (systemMetadata.has(mk) || mv === undefined) continue
        if (isObject(mv) && isObject(meta[mk]))
          mergeInto(meta[mk] as Obj, mv, kind, ['metadata', mk])
        else meta[mk] = clone(mv)
      }
      continue
    }
    const here = [...path, k]
    const current = target[k]
    if (isObject(v) && isObject(current)) {
      mergeInto(current, v, kind, here)
      continue
    }
    const sourceParts = Array.isArray(v) ? keyedList(kind, here, v) : undefined
    const targetParts = Array.isArray(current) ? keyedList(kind, here, current) : undefined
    if (Array.isArray(v) && Array.isArray(current) && sourceParts && targetParts) {
      v.forEach((item, i) => {
        const part = sourceParts[i] ?? ''
        const existing = current.find(t => matchesItem(t, part))
        if (isObject(existing) && isObject(item)) mergeInto(existing, item, kind, [...here, part])
        else current.push(clone(item))
      })
      continue
    }
    target[k] = clone(v)
  }
}

interface Owner {
  entry: ManagedFieldsEntry
  paths: Set<string>
}

function readOwners(obj: Obj | undefined): Owner[] {
  const raw = isObject(obj?.metadata) ? (obj.metadata as Obj).managedFields : undefined
  if (!Array.isArray(raw)) return []
  return raw.filter(isObject).map(e => {
    const entry = e as unknown as ManagedFieldsEntry
    return { entry, paths: new Set(fromFieldsV1(entry.fieldsV1).map(key)) }
  })
}

function writeOwners(
  obj: Obj,
  owners: Owner[],
  changed: Set<Owner>,
  apiVersion: string,
  now: string
): void {
  const meta = (obj.metadata ?? {}) as Obj
  obj.metadata = meta
  const entries = owners
    .filter(o => o.paths.size > 0)
    .map(o => {
      const fresh = changed.has(o)
      return {
        ...o.entry,
        apiVersion: fresh ? apiVersion : o.entry.apiVersion,
        time: fresh ? now : o.entry.time,
        fieldsType: 'FieldsV1' as const,
        fieldsV1: toFieldsV1([...o.paths].sort().map(unkey))
      }
    })
  if (entries.length > 0) meta.managedFields = entries
  else delete meta.managedFields
}

function ownerFor(owners: Owner[], manager: string, operation: 'Apply' | 'Update'): Owner {
  let owner = owners.find(
    o => o.entry.manager === manager && o.entry.operation === operation && !o.entry.subresource
  )
  if (!owner) {
    owner = {
      entry: { manager, operation, apiVersion: '', time: '', fieldsType: 'FieldsV1', fieldsV1: {} },
      paths: new Set()
    }
    owners.push(owner)
  }
  return owner
}

/** `.spec.ports[port=80,protocol="TCP"].targetPort`, as Kubernetes names fields in conflicts. */
function fieldName(p: Path): string {
  let out = ''
  for (const part of p) {
    if (isItem(part)) {
      const keyObj = JSON.parse(part.slice(2)) as Obj
      out += `[${Object.entries(keyObj)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(',')}]`
    } else out += /^[A-Za-z0-9_]+$/.test(part) ? `.${part}` : `[${JSON.stringify(part)}]`
  }
  return out
}

/**
 * Server-side apply of `config` by `manager` over `live` (undefined = create). Returns the new object with
 * managedFields maintained. Throws a 409 Conflict naming managers and fields unless `force`.
 */
export function serverSideApply(
  live: Obj | undefined,
  config: Obj,
  manager: string,
  force: boolean,
  apiVersion: string,
  now: string
): Obj {
  const configPaths = trackedPaths(config)
  const configKeys = new Set(configPaths.map(key))
  if (live === undefined) {
    const created: Obj = {}
    mergeInto(created, config, String(config.kind ?? ''))
    const meta = created.metadata as Obj
    const configMeta = config.metadata as Obj
    meta.name = configMeta.name
    if (configMeta.namespace !== undefined) meta.namespace = configMeta.namespace
    created.apiVersion = config.apiVersion
    created.kind = config.kind
    const owner: Owner = {
      entry: {
        manager,
        operation: 'Apply',
        apiVersion,
        time: now,
        fieldsType: 'FieldsV1',
        fieldsV1: {}
      },
      paths: configKeys
    }
    writeOwners(created, [owner], new Set([owner]), apiVersion, now)
    return created
  }
  const owners = readOwners(live)
  const mine = ownerFor(owners, manager, 'Apply')
  const conflicts = new Map<Owner, string[]>()
  for (const o of owners) {
    if (o === mine) continue
    for (const k of o.paths) {
      if (!configKeys.has(k)) continue
      const p = unkey(k)
      // a shared list item is no conflict by itself: its fields are compared one by one
      if (isItem(p[p.length - 1] ?? '')) continue
      if (!deepEqual(getAt(live, p), getAt(config, p))) {
        conflicts.set(o, [...(conflicts.get(o) ?? []), k])
      }
    }
  }
  if (conflicts.size > 0) {
    if (!force) throw conflictError(conflicts)
    for (const [o, ks] of conflicts) for (const k of ks) o.paths.delete(k)
  }
  const next = clone(live)
  for (const k of mine.paths) {
    if (configKeys.has(k)) continue
    if (owners.some(o => o !== mine && o.paths.has(k))) continue
    deleteAt(next, unkey(k))
  }
  mergeInto(next, config, String(config.kind ?? live.kind ?? ''))
  const before = [...mine.paths].sort().join('\n')
  mine.paths = configKeys
  const changed = new Set<Owner>(conflicts.keys())
  if (before !== [...configKeys].sort().join('\n') || !deepEqual(strip(next), strip(live)))
    changed.add(mine)
  writeOwners(next, owners, changed, apiVersion, now)
  return next
}

function conflictError(conflicts: Map<Owner, string[]>): ApiError {
  const items: Array<{ manager: string; apiVersion: string; field: string }> = []
  for (const [o, ks] of conflicts) {
    for (const k of ks.sort())
      items.push({
        manager: o.entry.manager,
        apiVersion: o.entry.apiVersion,
        field: fieldName(unkey(k))
      })
  }
  const first = items[0]
  let message: string
  if (items.length === 1 && first) {
    message = `Apply failed with 1 conflict: conflict with "${first.manager}" using ${first.apiVersion}: ${first.field}`
  } else {
    const lines = [...conflicts.keys()].map(
      o =>
        `conflicts with "${o.entry.manager}" using ${o.entry.apiVersion}:\n` +
        items
          .filter(i => i.manager === o.entry.manager)
          .map(i => `- ${i.field}`)
          .join('\n')
    )
    message = `Apply failed with ${items.length} conflicts: ${lines.join('\n')}`
  }
  return new ApiError(409, 'Conflict', message, {
    causes: items.map(i => ({
      reason: 'FieldManagerConflict',
      message: `conflict with "${i.manager}" using ${i.apiVersion}`,
      field: i.field
    }))
  })
}

/** The object without the fields the server changes on every write. */
export function strip(obj: Obj): Obj {
  const copy = clone(obj)
  if (isObject(copy.metadata)) {
    const meta = copy.metadata as Obj
    delete meta.managedFields
    delete meta.resourceVersion
    delete meta.generation
  }
  return copy
}

/** Records an update (create, PUT, merge or JSON patch) by `manager` in next's managedFields. */
export function trackUpdate(
  old: Obj | undefined,
  next: Obj,
  manager: string,
  apiVersion: string,
  now: string
): void {
  const owners = readOwners(old)
  const newPaths = trackedPaths(next).map(key)
  const newSet = new Set(newPaths)
  const oldSet = new Set(old ? trackedPaths(old).map(key) : [])
  // an existing list item changes through its fields; only a new item changes hands as a whole
  const changedPaths = newPaths.filter(k => {
    if (!oldSet.has(k)) return true
    const p = unkey(k)
    return !isItem(p[p.length - 1] ?? '') && !deepEqual(getAt(old, p), getAt(next, p))
  })
  const touched = new Set<Owner>()
  for (const o of owners) {
    for (const k of [...o.paths]) {
      // a path that is gone, or now written by this manager, is no longer the other owner's
      if (!newSet.has(k) && !hasAt(next, unkey(k))) {
        o.paths.delete(k)
        touched.add(o)
      }
    }
  }
  if (changedPaths.length > 0) {
    const mine = ownerFor(owners, manager, 'Update')
    for (const o of owners) {
      if (o === mine) continue
      for (const k of changedPaths) if (o.paths.delete(k)) touched.add(o)
    }
    for (const k of changedPaths) mine.paths.add(k)
    touched.add(mine)
  }
  writeOwners(next, owners, touched, apiVersion, now)
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch)
  const out: Obj = isObject(target) ? clone(target) : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else out[k] = mergePatch(out[k], v)
  }
  return out
}

function patchError(message: string): ApiError {
  return new ApiError(
    422,
    'Invalid',
    `the server rejected our request due to an error in our request: ${message}`
  )
}

function pointer(p: unknown): string[] {
  if (typeof p !== 'string' || (p !== '' && !p.startsWith('/')))
    throw patchError(`invalid JSON pointer ${String(p)}`)
  if (p === '') return []
  return p
    .slice(1)
    .split('/')
    .map(s => s.replace(/~1/g, '/').replace(/~0/g, '~'))
}

/** RFC 6902 JSON patch. */
export function jsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw patchError('a JSON patch must be an array of operations')
  let root = clone(doc)
  const parentOf = (path: string[]): { parent: unknown; last: string } => {
    const parent = path.slice(0, -1).reduce<unknown>((cur, part) => {
      if (Array.isArray(cur)) return cur[Number(part)]
      if (isObject(cur)) return cur[part]
      return undefined
    }, root)
    if (parent === undefined || parent === null || typeof parent !== 'object') {
      throw patchError(`path /${path.join('/')} does not exist`)
    }
    return { parent, last: path[path.length - 1] ?? '' }
  }
  const read = (path: string[]): unknown => {
    if (path.length === 0) return root
    const { parent, last } = parentOf(path)
    const v = Array.isArray(parent) ? parent[Number(last)] : (parent as Obj)[last]
    if (v === undefined) throw patchError(`path /${path.join('/')} does not exist`)
    return v
  }
  const remove = (path: string[]): unknown => {
    const v = read(path)
    const { parent, last } = parentOf(path)
    if (Array.isArray(parent)) parent.splice(Number(last), 1)
    else delete (parent as Obj)[last]
    return v
  }
  const add = (path: string[], value: unknown): void => {
    if (path.length === 0) {
      root = clone(value)
      return
    }
    const { parent, last } = parentOf(path)
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last)
      if (!Number.isInteger(i) || i < 0 || i > parent.length)
        throw patchError(`index ${last} out of range`)
      parent.splice(i, 0, clone(value))
    } else (parent as Obj)[last] = clone(value)
  }
  for (const op of ops) {
    if (!isObject(op)) throw patchError('a JSON patch operation must be an object')
    const path = pointer(op.path)
    switch (op.op) {
      case 'add':
        add(path, op.value)
        break
      case 'remove':
        remove(path)
        break
      case 'replace':
        read(path)
        if (path.length === 0) root = clone(op.value)
        else {
          const { parent, last } = parentOf(path)
          if (Array.isArray(parent)) parent[Number(last)] = clone(op.value)
          else (parent as Obj)[last] = clone(op.value)
        }
        break
      case 'move':
        add(path, remove(pointer(op.from)))
        break
      case 'copy':
        add(path, clone(read(pointer(op.from))))
        break
      case 'test':
        if (!deepEqual(read(path), op.value))
          throw patchError(`test operation at /${path.join('/')} failed`)
        break
      default:
        throw patchError(`unknown JSON patch operation ${String(op.op)}`)
    }
  }
  return root
}
