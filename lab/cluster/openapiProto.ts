// `/openapi/v2` as protobuf (`Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`),
// which kubectl before 1.27 parses for client-side validation, `explain` and its dry-run check
// (client-go discovery OpenAPISchema: proto.Unmarshal, no JSON fallback). The messages and field
// numbers are gnostic's openapiv2/OpenAPIv2.proto (github.com/google/gnostic-models); vendor
// extensions and defaults travel as `Any{yaml}` (JSON is YAML). As kube-apiserver publishes v2
// (apiextensions-apiserver pkg/controller/openapi/v2 ToStructuralOpenAPIV2), what Swagger 2.0
// cannot say is dropped (oneOf, anyOf, not, nullable) and an object that keeps unknown fields
// loses its properties, so that older kubectl's validator accepts any field there.
import { isObject, type Obj } from './fields.ts'

class Writer {
  private readonly parts: Buffer[] = []
  private varint(n: number): void {
    const bytes: number[] = []
    let v = Math.floor(n)
    while (v > 127) {
      bytes.push((v % 128) | 128)
      v = Math.floor(v / 128)
    }
    bytes.push(v)
    this.parts.push(Buffer.from(bytes))
  }
  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire)
  }
  bytes(field: number, b: Buffer): void {
    this.tag(field, 2)
    this.varint(b.length)
    this.parts.push(b)
  }
  string(field: number, s: unknown): void {
    if (typeof s === 'string' && s !== '') this.bytes(field, Buffer.from(s, 'utf8'))
  }
  strings(field: number, list: unknown): void {
    if (Array.isArray(list)) for (const s of list) if (typeof s === 'string') this.string(field, s)
  }
  bool(field: number, b: unknown): void {
    if (b === true) {
      this.tag(field, 0)
      this.varint(1)
    }
  }
  int(field: number, n: unknown): void {
    if (typeof n === 'number' && Number.isInteger(n) && n > 0) {
      this.tag(field, 0)
      this.varint(n)
    }
  }
  double(field: number, n: unknown): void {
    if (typeof n !== 'number') return
    this.tag(field, 1)
    const b = Buffer.alloc(8)
    b.writeDoubleLE(n)
    this.parts.push(b)
  }
  message(field: number, w: Writer): void {
    this.bytes(field, w.done())
  }
  done(): Buffer {
    return Buffer.concat(this.parts)
  }
}

/** Any{yaml} */
function any(value: unknown): Writer {
  const w = new Writer()
  w.string(2, JSON.stringify(value))
  return w
}

function vendorExtensions(w: Writer, field: number, o: Obj): void {
  for (const [k, v] of Object.entries(o)) {
    if (!k.startsWith('x-')) continue
    const named = new Writer()
    named.string(1, k)
    named.message(2, any(v))
    w.message(field, named)
  }
}

function schema(s: Obj): Writer {
  const w = new Writer()
  const free = s['x-kubernetes-preserve-unknown-fields'] === true
  w.string(1, s.$ref)
  w.string(2, s.format)
  w.string(3, s.title)
  w.string(4, s.description)
  if (s.default !== undefined) w.message(5, any(s.default))
  w.double(6, s.multipleOf)
  w.double(7, s.maximum)
  w.bool(8, s.exclusiveMaximum)
  w.double(9, s.minimum)
  w.bool(10, s.exclusiveMinimum)
  w.int(11, s.maxLength)
  w.int(12, s.minLength)
  w.string(13, s.pattern)
  w.int(14, s.maxItems)
  w.int(15, s.minItems)
  w.bool(16, s.uniqueItems)
  w.int(17, s.maxProperties)
  w.int(18, s.minProperties)
  if (!free) w.strings(19, s.required)
  if (Array.isArray(s.enum)) for (const e of s.enum) w.message(20, any(e))
  if (!free && isObject(s.additionalProperties)) {
    const a = new Writer()
    a.message(1, schema(s.additionalProperties))
    w.message(21, a)
  } else if (!free && typeof s.additionalProperties === 'boolean') {
    const a = new Writer()
    a.bool(2, s.additionalProperties)
    w.message(21, a)
  }
  const types = typeof s.type === 'string' ? [s.type] : Array.isArray(s.type) ? s.type : []
  if (types.length > 0) {
    const t = new Writer()
    t.strings(1, types)
    w.message(22, t)
  }
  const items = isObject(s.items) ? [s.items] : Array.isArray(s.items) ? s.items : []
  if (items.length > 0) {
    const it = new Writer()
    for (const i of items) if (isObject(i)) it.message(1, schema(i))
    w.message(23, it)
  }
  if (Array.isArray(s.allOf)) for (const a of s.allOf) if (isObject(a)) w.message(24, schema(a))
  if (!free && isObject(s.properties)) {
    const p = new Writer()
    for (const [name, value] of Object.entries(s.properties)) {
      if (!isObject(value)) continue
      const named = new Writer()
      named.string(1, name)
      named.message(2, schema(value))
      p.message(1, named)
    }
    w.message(25, p)
  }
  vendorExtensions(w, 31, s)
  return w
}

function parameter(p: Obj): Writer {
  const param = new Writer()
  if (p.in === 'body') {
    const body = new Writer()
    body.string(1, p.description)
    body.string(2, p.name)
    body.string(3, p.in)
    body.bool(4, p.required)
    if (isObject(p.schema)) body.message(5, schema(p.schema))
    param.message(1, body)
  } else {
    // query and path sub-schemas share their first fields (required, in, description, name);
    // then query has allow_empty_value (5) before type (6), path has type at 5
    const sub = new Writer()
    sub.bool(1, p.required)
    sub.string(2, p.in)
    sub.string(3, p.description)
    sub.string(4, p.name)
    sub.string(p.in === 'path' ? 5 : 6, p.type)
    sub.bool(p.in === 'path' ? 19 : 20, p.uniqueItems)
    const nonBody = new Writer()
    nonBody.message(p.in === 'path' ? 4 : 3, sub)
    param.message(2, nonBody)
  }
  const item = new Writer()
  item.message(1, param)
  return item
}

function operation(o: Obj): Writer {
  const w = new Writer()
  w.strings(1, o.tags)
  w.string(3, o.description)
  w.string(5, o.operationId)
  w.strings(6, o.produces)
  w.strings(7, o.consumes)
  if (Array.isArray(o.parameters))
    for (const p of o.parameters) if (isObject(p)) w.message(8, parameter(p))
  if (isObject(o.responses)) {
    const rs = new Writer()
    for (const [code, r] of Object.entries(o.responses)) {
      if (!isObject(r)) continue
      const resp = new Writer()
      resp.string(1, r.description)
      if (isObject(r.schema)) {
        const item = new Writer()
        item.message(1, schema(r.schema))
        resp.message(2, item)
      }
      const value = new Writer()
      value.message(1, resp)
      const named = new Writer()
      named.string(1, code)
      named.message(2, value)
      rs.message(1, named)
    }
    w.message(9, rs)
  }
  vendorExtensions(w, 13, o)
  return w
}

/** The gnostic protobuf encoding of a Swagger 2.0 document (lab/cluster/openapi.ts's v2). */
export function encodeOpenApiV2(doc: Obj): Buffer {
  const w = new Writer()
  w.string(1, doc.swagger)
  if (isObject(doc.info)) {
    const info = new Writer()
    info.string(1, doc.info.title)
    info.string(2, doc.info.version)
    w.message(2, info)
  }
  if (isObject(doc.paths)) {
    const paths = new Writer()
    for (const [path, item] of Object.entries(doc.paths)) {
      if (!isObject(item)) continue
      const pi = new Writer()
      const ops: Array<[string, number]> = [
        ['get', 2],
        ['put', 3],
        ['post', 4],
        ['delete', 5],
        ['patch', 8]
      ]
      for (const [verb, field] of ops) {
        const op = item[verb]
        if (isObject(op)) pi.message(field, operation(op))
      }
      if (Array.isArray(item.parameters))
        for (const p of item.parameters) if (isObject(p)) pi.message(9, parameter(p))
      const named = new Writer()
      named.string(1, path)
      named.message(2, pi)
      paths.message(2, named)
    }
    w.message(8, paths)
  }
  if (isObject(doc.definitions)) {
    const defs = new Writer()
    for (const [name, s] of Object.entries(doc.definitions)) {
      if (!isObject(s)) continue
      const named = new Writer()
      named.string(1, name)
      named.message(2, schema(s))
      defs.message(1, named)
    }
    w.message(9, defs)
  }
  return w.done()
}
