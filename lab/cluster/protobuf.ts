// Protobuf request bodies of the two self reviews, which kubectl (`auth can-i`, `auth can-i
// --list`) sends as `application/vnd.kubernetes.protobuf`, decoded to their JSON form. Only these
// kinds: other protobuf bodies are not decoded here (issue #16 asks for 415 or decoding).
// Upstream: the envelope is the `k8s\0` magic followed by a runtime.Unknown message
// (staging/src/k8s.io/apimachinery/pkg/runtime/serializer/protobuf/protobuf.go, protoEncodingPrefix;
// staging/src/k8s.io/apimachinery/pkg/runtime/generated.proto: Unknown{typeMeta=1, raw=2,
// contentEncoding=3, contentType=4}, TypeMeta{apiVersion=1, kind=2}); the messages and field
// numbers are staging/src/k8s.io/api/authorization/v1/generated.proto (SelfSubjectAccessReview
// {metadata=1, spec=2}, SelfSubjectAccessReviewSpec{resourceAttributes=1, nonResourceAttributes=2},
// ResourceAttributes{namespace=1, verb=2, group=3, version=4, resource=5, subresource=6, name=7},
// NonResourceAttributes{path=1, verb=2}, SelfSubjectRulesReview{metadata=1, spec=2},
// SelfSubjectRulesReviewSpec{namespace=1}).
import type { Obj } from './fields.ts'
import { badRequest } from './status.ts'

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00])

/** Fields of one message: number → the values (strings as Buffers; varints as numbers). */
function fields(buf: Buffer): Map<number, Array<Buffer | number>> {
  const out = new Map<number, Array<Buffer | number>>()
  let i = 0
  const varint = (): number => {
    let result = 0
    let shift = 0
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint')
      const byte = buf[i++] ?? 0
      result += (byte & 0x7f) * 2 ** shift
      if ((byte & 0x80) === 0) return result
      shift += 7
      if (shift > 63) throw new Error('varint too long')
    }
  }
  while (i < buf.length) {
    const key = varint()
    const field = Math.floor(key / 8)
    const wire = key & 7
    let value: Buffer | number
    if (wire === 0) value = varint()
    else if (wire === 2) {
      const length = varint()
      if (i + length > buf.length) throw new Error('truncated field')
      value = buf.subarray(i, i + length)
      i += length
    } else if (wire === 1) {
      value = buf.subarray(i, i + 8)
      i += 8
    } else if (wire === 5) {
      value = buf.subarray(i, i + 4)
      i += 4
    } else throw new Error(`unsupported wire type ${wire}`)
    out.set(field, [...(out.get(field) ?? []), value])
  }
  return out
}

const bytes = (m: Map<number, Array<Buffer | number>>, n: number): Buffer | undefined => {
  const v = m.get(n)?.at(-1)
  return Buffer.isBuffer(v) ? v : undefined
}
const text = (m: Map<number, Array<Buffer | number>>, n: number): string | undefined =>
  bytes(m, n)?.toString('utf8')

function strings(m: Map<number, Array<Buffer | number>>, names: Record<number, string>): Obj {
  const out: Obj = {}
  for (const [n, name] of Object.entries(names)) {
    const v = text(m, Number(n))
    if (v !== undefined) out[name] = v
  }
  return out
}

/**
 * The JSON form of a protobuf SelfSubjectAccessReview or SelfSubjectRulesReview body; throws a
 * 400 (as the server's decoder would) when it is not one.
 */
export function decodeSelfReview(raw: Buffer, kind: string): Obj {
  try {
    if (!raw.subarray(0, 4).equals(MAGIC))
      throw new Error(
        'provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]'
      )
    const unknown = fields(raw.subarray(4))
    const typeMeta = fields(bytes(unknown, 1) ?? Buffer.alloc(0))
    const sentKind = text(typeMeta, 2) ?? ''
    if (sentKind !== '' && sentKind !== kind)
      throw new Error(`the body is a ${sentKind}, not a ${kind}`)
    const message = fields(bytes(unknown, 2) ?? Buffer.alloc(0))
    const spec = fields(bytes(message, 2) ?? Buffer.alloc(0))
    const base: Obj = {
      kind,
      apiVersion: text(typeMeta, 1) ?? 'authorization.k8s.io/v1',
      metadata: {}
    }
    if (kind === 'SelfSubjectRulesReview') {
      return { ...base, spec: strings(spec, { 1: 'namespace' }) }
    }
    const ra = bytes(spec, 1)
    const nra = bytes(spec, 2)
    return {
      ...base,
      spec: {
        ...(ra
          ? {
              resourceAttributes: strings(fields(ra), {
                1: 'namespace',
                2: 'verb',
                3: 'group',
                4: 'version',
                5: 'resource',
                6: 'subresource',
                7: 'name'
              })
            }
          : {}),
        ...(nra ? { nonResourceAttributes: strings(fields(nra), { 1: 'path', 2: 'verb' }) } : {})
      }
    }
  } catch (error) {
    throw badRequest(
      `error decoding the request body: ${error instanceof Error ? error.message : String(error)}`
    )
  }
}
