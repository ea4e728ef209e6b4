// Protobuf request bodies, which kubectl sends as `application/vnd.kubernetes.protobuf` for
// built-in kinds, decoded to their JSON form: the two self reviews (`auth can-i`, `auth can-i
// --list`) and the kinds `kubectl create namespace|serviceaccount|token|configmap|secret|role|
// rolebinding|clusterrole|clusterrolebinding` send. kubectl (1.32) does not fall back to JSON on a
// 415, so these are decoded; any other protobuf body is refused with 415 (decodeObject).
// Upstream: the envelope is the `k8s\0` magic followed by a runtime.Unknown message
// (staging/src/k8s.io/apimachinery/pkg/runtime/serializer/protobuf/protobuf.go, protoEncodingPrefix;
// staging/src/k8s.io/apimachinery/pkg/runtime/generated.proto: Unknown{typeMeta=1, raw=2,
// contentEncoding=3, contentType=4}, TypeMeta{apiVersion=1, kind=2}); the messages and field
// numbers are staging/src/k8s.io/api/authorization/v1/generated.proto (SelfSubjectAccessReview
// {metadata=1, spec=2}, SelfSubjectAccessReviewSpec{resourceAttributes=1, nonResourceAttributes=2},
// ResourceAttributes{namespace=1, verb=2, group=3, version=4, resource=5, subresource=6, name=7},
// NonResourceAttributes{path=1, verb=2}, SelfSubjectRulesReview{metadata=1, spec=2},
// SelfSubjectRulesReviewSpec{namespace=1}); the other kinds' field numbers are those of
// staging/src/k8s.io/api/{core,authentication,rbac}/v1/generated.proto and
// staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto (ObjectMeta, OwnerReference).
import type { Obj } from './fields.ts'
import { ApiError, badRequest } from './status.ts'

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00])

/** Fields of one message: number → the values (strings as Buffers; varints as numbers). */
type Fields = Map<number, Array<Buffer | number>>

function fields(buf: Buffer): Fields {
  const out: Fields = new Map()
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

const bytes = (m: Fields, n: number): Buffer | undefined => {
  const v = m.get(n)?.at(-1)
  return Buffer.isBuffer(v) ? v : undefined
}
const text = (m: Fields, n: number): string | undefined => bytes(m, n)?.toString('utf8')

function strings(m: Fields, names: Record<number, string>): Obj {
  const out: Obj = {}
  for (const [n, name] of Object.entries(names)) {
    const v = text(m, Number(n))
    if (v !== undefined) out[name] = v
  }
  return out
}

/** A body that does not decode: 400, as the server's decoder answers. */
function decodingFailed(error: unknown): ApiError {
  return badRequest(
    `error decoding the request body: ${error instanceof Error ? error.message : String(error)}`
  )
}

/**
 * The runtime.Unknown envelope every protobuf body comes in (magic `k8s\0`, TypeMeta, raw
 * message): its TypeMeta fields and the raw message; throws when it is not one or names another
 * kind.
 */
function envelope(raw: Buffer, kind: string): { typeMeta: Fields; raw: Buffer } {
  if (!raw.subarray(0, 4).equals(MAGIC))
    throw new Error(
      'provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]'
    )
  const unknown = fields(raw.subarray(4))
  const typeMeta = fields(bytes(unknown, 1) ?? Buffer.alloc(0))
  const sentKind = text(typeMeta, 2) ?? ''
  if (sentKind !== '' && sentKind !== kind)
    throw new Error(`the body is a ${sentKind}, not a ${kind}`)
  return { typeMeta, raw: bytes(unknown, 2) ?? Buffer.alloc(0) }
}

/**
 * The JSON form of a protobuf SelfSubjectAccessReview or SelfSubjectRulesReview body; throws a
 * 400 (as the server's decoder would) when it is not one.
 */
export function decodeSelfReview(raw: Buffer, kind: string): Obj {
  try {
    const { typeMeta, raw: body } = envelope(raw, kind)
    const message = fields(body)
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
    throw decodingFailed(error)
  }
}

/** How one field decodes: a scalar, a nested message, or a map<string, …> (entries key=1, value=2). */
type FieldKind = 'string' | 'bytes' | 'int' | 'bool' | Message | { map: 'string' | 'bytes' }
/** A message: field number → [JSON name, kind, repeated]. */
interface Message {
  fields: Record<number, [string, FieldKind, boolean?]>
}

const ownerReference: Message = {
  fields: {
    1: ['kind', 'string'],
    3: ['name', 'string'],
    4: ['uid', 'string'],
    5: ['apiVersion', 'string'],
    6: ['controller', 'bool'],
    7: ['blockOwnerDeletion', 'bool']
  }
}
// server-set fields (uid, resourceVersion, timestamps, managedFields) are dropped: create ignores them
const objectMeta: Message = {
  fields: {
    1: ['name', 'string'],
    2: ['generateName', 'string'],
    3: ['namespace', 'string'],
    6: ['resourceVersion', 'string'],
    11: ['labels', { map: 'string' }],
    12: ['annotations', { map: 'string' }],
    13: ['ownerReferences', ownerReference, true],
    14: ['finalizers', 'string', true]
  }
}
const policyRule: Message = {
  fields: {
    1: ['verbs', 'string', true],
    2: ['apiGroups', 'string', true],
    3: ['resources', 'string', true],
    4: ['resourceNames', 'string', true],
    5: ['nonResourceURLs', 'string', true]
  }
}
const binding: Message = {
  fields: {
    1: ['metadata', objectMeta],
    2: [
      'subjects',
      {
        fields: {
          1: ['kind', 'string'],
          2: ['apiGroup', 'string'],
          3: ['name', 'string'],
          4: ['namespace', 'string']
        }
      },
      true
    ],
    3: [
      'roleRef',
      { fields: { 1: ['apiGroup', 'string'], 2: ['kind', 'string'], 3: ['name', 'string'] } }
    ]
  }
}
const reference: Message = {
  fields: {
    1: ['kind', 'string'],
    2: ['namespace', 'string'],
    3: ['name', 'string'],
    4: ['uid', 'string'],
    5: ['apiVersion', 'string']
  }
}

/** The kinds decoded, by `<group>/<Kind>`; a subresource's body by its own kind. */
const messages: Record<string, Message> = {
  '/Namespace': {
    fields: {
      1: ['metadata', objectMeta],
      2: ['spec', { fields: { 1: ['finalizers', 'string', true] } }]
    }
  },
  '/ServiceAccount': {
    fields: {
      1: ['metadata', objectMeta],
      2: ['secrets', reference, true],
      3: ['imagePullSecrets', { fields: { 1: ['name', 'string'] } }, true],
      4: ['automountServiceAccountToken', 'bool']
    }
  },
  '/ConfigMap': {
    fields: {
      1: ['metadata', objectMeta],
      2: ['data', { map: 'string' }],
      3: ['binaryData', { map: 'bytes' }],
      4: ['immutable', 'bool']
    }
  },
  '/Secret': {
    fields: {
      1: ['metadata', objectMeta],
      2: ['data', { map: 'bytes' }],
      3: ['type', 'string'],
      4: ['stringData', { map: 'string' }],
      5: ['immutable', 'bool']
    }
  },
  'authentication.k8s.io/TokenRequest': {
    fields: {
      1: ['metadata', objectMeta],
      2: [
        'spec',
        {
          fields: {
            1: ['audiences', 'string', true],
            3: [
              'boundObjectRef',
              {
                fields: {
                  1: ['kind', 'string'],
                  2: ['apiVersion', 'string'],
                  3: ['name', 'string'],
                  4: ['uid', 'string']
                }
              }
            ],
            4: ['expirationSeconds', 'int']
          }
        }
      ]
    }
  },
  'rbac.authorization.k8s.io/Role': {
    fields: { 1: ['metadata', objectMeta], 2: ['rules', policyRule, true] }
  },
  'rbac.authorization.k8s.io/ClusterRole': {
    fields: { 1: ['metadata', objectMeta], 2: ['rules', policyRule, true] }
  },
  'rbac.authorization.k8s.io/RoleBinding': binding,
  'rbac.authorization.k8s.io/ClusterRoleBinding': binding
}

/** Decodes one message; proto3-style empty values (kubectl's encoder writes "" and 0) are left out. */
function decodeMessage(buf: Buffer, message: Message): Obj {
  const raw = fields(buf)
  const out: Obj = {}
  for (const [n, [name, kind, repeated]] of Object.entries(message.fields)) {
    const values = raw.get(Number(n)) ?? []
    const one = (v: Buffer | number): unknown => {
      if (kind === 'int') return typeof v === 'number' ? v : undefined
      if (kind === 'bool') return typeof v === 'number' ? v !== 0 : undefined
      if (!Buffer.isBuffer(v)) return undefined
      if (kind === 'string') return v.toString('utf8')
      if (kind === 'bytes') return v.toString('base64')
      if ('map' in kind) return undefined
      return decodeMessage(v, kind)
    }
    if (typeof kind === 'object' && 'map' in kind) {
      const map: Record<string, string> = {}
      for (const entry of values) {
        if (!Buffer.isBuffer(entry)) continue
        const e = fields(entry)
        const value = bytes(e, 2) ?? Buffer.alloc(0)
        map[text(e, 1) ?? ''] =
          kind.map === 'bytes' ? value.toString('base64') : value.toString('utf8')
      }
      if (Object.keys(map).length > 0) out[name] = map
    } else if (repeated) {
      const list = values.map(one).filter(v => v !== undefined)
      if (list.length > 0) out[name] = list
    } else {
      const last = values.at(-1)
      const v = last === undefined ? undefined : one(last)
      if (v !== undefined && v !== '' && !(kind === 'int' && v === 0)) out[name] = v
    }
  }
  return out
}

/**
 * The JSON form of a protobuf object body for `group`/`kind` (the resource's, or the
 * subresource's: TokenRequest). A kind not decoded here is a 415, worded as kube-apiserver words
 * an unknown body format (apimachinery's errors.NewUnsupportedMediaType via
 * staging/src/k8s.io/apiserver/pkg/endpoints/handlers/rest.go); a malformed body is a 400.
 */
export function decodeObject(raw: Buffer, group: string, version: string, kind: string): Obj {
  const message = messages[`${group}/${kind}`]
  if (!message) throw protobufUnsupported()
  try {
    const { typeMeta, raw: body } = envelope(raw, kind)
    const apiVersion = text(typeMeta, 1) || (group === '' ? version : `${group}/${version}`)
    return { apiVersion, kind, ...decodeMessage(body, message) }
  } catch (error) {
    throw decodingFailed(error)
  }
}

/** 415 for a protobuf body of a kind not decoded here (custom resources have no protobuf at all). */
export function protobufUnsupported(): ApiError {
  return new ApiError(
    415,
    'UnsupportedMediaType',
    'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml'
  )
}
