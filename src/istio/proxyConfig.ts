// MeshConfig / ProxyConfig handling with the semantics istioctl gets from protobuf JSON:
// - input keys may be the proto names (snake_case) or the JSON names (lowerCamelCase); when
//   both are present the JSON name wins; unknown fields are dropped;
// - applying a document over a message replaces each field present wholesale (no deep merge
//   of nested messages or maps); null leaves a field as it was;
// - output is proto-JSON: lowerCamelCase, fields at their zero value omitted (except wrapper
//   types, set messages and set oneof members), enums by name, durations as "1.500s",
//   64-bit integers as strings.
// Only the messages that occur in a ProxyConfig are described; anything else (newer fields
// such as proxyHeaders) passes through with its keys camelCased.

import { parseDocument } from 'yaml'
import type { GoYamlValue } from './goYaml.ts'

type Scalar =
  | 'string'
  | 'bool'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'double'
  | 'duration'
  | 'boolValue'
  | 'int32Value'
  | 'uint32Value'
  | 'int64Value'
  | 'doubleValue'
  | 'stringValue'
  | 'opaque'

export type FieldType =
  | Scalar
  | { readonly enum: Readonly<Record<string, number>> }
  | { readonly message: () => MessageSchema }
  | { readonly map: FieldType }
  | { readonly repeated: FieldType }

export interface FieldSpec {
  /** proto field name (snake_case) */
  readonly name: string
  readonly type: FieldType
  /** member of a oneof: emitted even at its zero value once set */
  readonly oneof?: boolean
}

export type MessageSchema = readonly FieldSpec[]

/** A parsed value: JSON-shaped, with message fields keyed by their JSON name. */
export type ProtoValue = GoYamlValue

/** A message whose fields are keyed by JSON name; zero values kept until output. */
export type ProtoMessage = Record<string, ProtoValue>

export class ProtoJsonError extends Error {
  override name = 'ProtoJsonError'
}

/** protoc's JSON name: underscores dropped, the following letter upper-cased. */
export function jsonName(protoName: string): string {
  return protoName.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())
}

// ---- schemas (istio/api mesh/v1alpha1/proxy.proto, networking/v1alpha3)

const clientTlsMode = { DISABLE: 0, SIMPLE: 1, MUTUAL: 2, ISTIO_MUTUAL: 3 }

const httpHeader: MessageSchema = [
  { name: 'name', type: 'string' },
  { name: 'value', type: 'string' }
]

export const readinessProbeSchema: MessageSchema = [
  { name: 'initial_delay_seconds', type: 'int32' },
  { name: 'timeout_seconds', type: 'int32' },
  { name: 'period_seconds', type: 'int32' },
  { name: 'success_threshold', type: 'int32' },
  { name: 'failure_threshold', type: 'int32' },
  {
    name: 'http_get',
    oneof: true,
    type: {
      message: () => [
        { name: 'path', type: 'string' },
        { name: 'port', type: 'uint32' },
        { name: 'host', type: 'string' },
        { name: 'scheme', type: 'string' },
        { name: 'http_headers', type: { repeated: { message: () => httpHeader } } }
      ]
    }
  },
  {
    name: 'tcp_socket',
    oneof: true,
    type: {
      message: () => [
        { name: 'host', type: 'string' },
        { name: 'port', type: 'uint32' }
      ]
    }
  },
  {
    name: 'exec',
    oneof: true,
    type: { message: () => [{ name: 'command', type: { repeated: 'string' } }] }
  },
  {
    name: 'grpc',
    oneof: true,
    type: {
      message: () => [
        { name: 'port', type: 'uint32' },
        { name: 'service', type: 'string' }
      ]
    }
  }
]

const clientTlsSettings: MessageSchema = [
  { name: 'mode', type: { enum: clientTlsMode } },
  { name: 'client_certificate', type: 'string' },
  { name: 'private_key', type: 'string' },
  { name: 'ca_certificates', type: 'string' },
  { name: 'credential_name', type: 'string' },
  { name: 'subject_alt_names', type: { repeated: 'string' } },
  { name: 'sni', type: 'string' },
  { name: 'insecure_skip_verify', type: 'boolValue' },
  { name: 'ca_crl', type: 'string' }
]

const tcpKeepalive: MessageSchema = [
  { name: 'probes', type: 'uint32' },
  { name: 'time', type: 'duration' },
  { name: 'interval', type: 'duration' }
]

const remoteService: MessageSchema = [
  { name: 'address', type: 'string' },
  { name: 'tls_settings', type: { message: () => clientTlsSettings } },
  { name: 'tcp_keepalive', type: { message: () => tcpKeepalive } }
]

const addressOnly: MessageSchema = [{ name: 'address', type: 'string' }]

const customTag: MessageSchema = [
  { name: 'literal', oneof: true, type: { message: () => [{ name: 'value', type: 'string' }] } },
  {
    name: 'environment',
    oneof: true,
    type: {
      message: () => [
        { name: 'name', type: 'string' },
        { name: 'default_value', type: 'string' }
      ]
    }
  },
  {
    name: 'header',
    oneof: true,
    type: {
      message: () => [
        { name: 'name', type: 'string' },
        { name: 'default_value', type: 'string' }
      ]
    }
  }
]

const tracing: MessageSchema = [
  { name: 'zipkin', oneof: true, type: { message: () => addressOnly } },
  {
    name: 'lightstep',
    oneof: true,
    type: {
      message: () => [
        { name: 'address', type: 'string' },
        { name: 'access_token', type: 'string' }
      ]
    }
  },
  { name: 'datadog', oneof: true, type: { message: () => addressOnly } },
  {
    name: 'stackdriver',
    oneof: true,
    type: {
      message: () => [
        { name: 'debug', type: 'bool' },
        { name: 'max_number_of_attributes', type: 'int64Value' },
        { name: 'max_number_of_annotations', type: 'int64Value' },
        { name: 'max_number_of_message_events', type: 'int64Value' }
      ]
    }
  },
  {
    name: 'open_census_agent',
    oneof: true,
    type: {
      message: () => [
        { name: 'address', type: 'string' },
        {
          name: 'context',
          type: {
            repeated: {
              enum: {
                UNSPECIFIED: 0,
                W3C_TRACE_CONTEXT: 1,
                GRPC_BIN: 2,
                CLOUD_TRACE_CONTEXT: 3,
                B3: 4
              }
            }
          }
        }
      ]
    }
  },
  { name: 'custom_tags', type: { map: { message: () => customTag } } },
  { name: 'max_path_tag_length', type: 'uint32' },
  { name: 'sampling', type: 'double' },
  { name: 'tls_settings', type: { message: () => clientTlsSettings } }
]

const topology: MessageSchema = [
  { name: 'num_trusted_proxies', type: 'uint32' },
  {
    name: 'forward_client_cert_details',
    type: {
      enum: {
        UNDEFINED: 0,
        SANITIZE: 1,
        FORWARD_ONLY: 2,
        APPEND_FORWARD: 3,
        SANITIZE_SET: 4,
        ALWAYS_FORWARD_ONLY: 5
      }
    }
  },
  { name: 'proxy_protocol', type: 'opaque' }
]

const cryptoProvider: MessageSchema = [
  { name: 'poll_delay', type: 'duration' },
  { name: 'fallback', type: 'boolValue' }
]

export const proxyConfigSchema: MessageSchema = [
  { name: 'config_path', type: 'string' },
  { name: 'binary_path', type: 'string' },
  { name: 'service_cluster', type: 'string', oneof: true },
  {
    name: 'tracing_service_name',
    oneof: true,
    type: {
      enum: { APP_LABEL_AND_NAMESPACE: 0, CANONICAL_NAME_ONLY: 1, CANONICAL_NAME_AND_NAMESPACE: 2 }
    }
  },
  { name: 'drain_duration', type: 'duration' },
  { name: 'parent_shutdown_duration', type: 'duration' },
  { name: 'discovery_address', type: 'string' },
  { name: 'discovery_refresh_delay', type: 'duration' },
  { name: 'zipkin_address', type: 'string' },
  { name: 'statsd_udp_address', type: 'string' },
  { name: 'envoy_metrics_service_address', type: 'string' },
  { name: 'proxy_admin_port', type: 'int32' },
  { name: 'availability_zone', type: 'string' },
  {
    name: 'control_plane_auth_policy',
    type: { enum: { NONE: 0, MUTUAL_TLS: 1, INHERIT: 1000 } }
  },
  { name: 'custom_config_file', type: 'string' },
  { name: 'stat_name_length', type: 'int32' },
  { name: 'concurrency', type: 'int32Value' },
  { name: 'proxy_bootstrap_template_path', type: 'string' },
  { name: 'interception_mode', type: { enum: { REDIRECT: 0, TPROXY: 1, NONE: 2 } } },
  { name: 'tracing', type: { message: () => tracing } },
  {
    name: 'sds',
    type: {
      message: () => [
        { name: 'enabled', type: 'bool' },
        { name: 'k8s_sa_jwt_path', type: 'string' }
      ]
    }
  },
  { name: 'envoy_access_log_service', type: { message: () => remoteService } },
  { name: 'envoy_metrics_service', type: { message: () => remoteService } },
  { name: 'proxy_metadata', type: { map: 'string' } },
  { name: 'runtime_values', type: { map: 'string' } },
  { name: 'status_port', type: 'int32' },
  { name: 'extra_stat_tags', type: { repeated: 'string' } },
  { name: 'gateway_topology', type: { message: () => topology } },
  { name: 'termination_drain_duration', type: 'duration' },
  { name: 'mesh_id', type: 'string' },
  { name: 'readiness_probe', type: { message: () => readinessProbeSchema } },
  {
    name: 'proxy_stats_matcher',
    type: {
      message: () => [
        { name: 'inclusion_prefixes', type: { repeated: 'string' } },
        { name: 'inclusion_suffixes', type: { repeated: 'string' } },
        { name: 'inclusion_regexps', type: { repeated: 'string' } }
      ]
    }
  },
  { name: 'hold_application_until_proxy_starts', type: 'boolValue' },
  { name: 'ca_certificates_pem', type: { repeated: 'string' } },
  { name: 'image', type: { message: () => [{ name: 'image_type', type: 'string' }] } },
  {
    name: 'private_key_provider',
    type: {
      message: () => [
        { name: 'cryptomb', oneof: true, type: { message: () => cryptoProvider } },
        { name: 'qat', oneof: true, type: { message: () => cryptoProvider } }
      ]
    }
  },
  { name: 'proxy_headers', type: 'opaque' },
  { name: 'file_flush_interval', type: 'duration' },
  { name: 'file_flush_min_size_kb', type: 'uint32' },
  { name: 'ca_certificates', type: 'opaque' }
]

/** The MeshConfig fields the VM files use. Other fields are ignored, as they do not reach the VM. */
export const meshConfigSchema: MessageSchema = [
  { name: 'default_config', type: { message: () => proxyConfigSchema } },
  { name: 'trust_domain', type: 'string' }
]

// ---- parsing (protobuf JSON → message with zero values kept)

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`
  return `${typeof value} ${String(value)}`
}

function fail(path: string, message: string): never {
  throw new ProtoJsonError(`${path}: ${message}`)
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** time.ParseDuration, returning nanoseconds as a bigint. */
export function parseGoDuration(text: string): bigint | undefined {
  const units: Record<string, bigint> = {
    ns: 1n,
    us: 1000n,
    µs: 1000n,
    μs: 1000n,
    ms: 1000000n,
    s: 1000000000n,
    m: 60000000000n,
    h: 3600000000000n
  }
  let s = text
  let negative = false
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s.startsWith('-')
    s = s.slice(1)
  }
  if (s === '0') return 0n
  if (s === '') return undefined
  let total = 0n
  const re = /^([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h)/u
  while (s.length > 0) {
    const m = re.exec(s)
    if (!m) return undefined
    const whole = m[1] ?? ''
    const frac = m[2] ?? ''
    if (whole === '' && frac === '') return undefined
    const unit = units[m[3] as string] as bigint
    let value = BigInt(whole || '0') * unit
    if (frac !== '') {
      // fractional part, truncated to whole nanoseconds like Go
      value += (BigInt(frac) * unit) / 10n ** BigInt(frac.length)
    }
    total += value
    s = s.slice(m[0].length)
  }
  return negative ? -total : total
}

/** protobuf JSON form of a Duration: seconds with 0, 3, 6 or 9 fractional digits. */
export function formatProtoDuration(nanos: bigint): string {
  const negative = nanos < 0n
  const abs = negative ? -nanos : nanos
  const seconds = abs / 1000000000n
  const frac = abs % 1000000000n
  let text = `${seconds}.${frac.toString().padStart(9, '0')}`
  if (text.endsWith('000')) text = text.slice(0, -3)
  if (text.endsWith('000')) text = text.slice(0, -3)
  if (text.endsWith('.000')) text = text.slice(0, -4)
  return `${negative ? '-' : ''}${text}s`
}

function parseInteger(value: unknown, path: string, min: bigint, max: bigint): bigint {
  let n: bigint | undefined
  if (typeof value === 'number' && Number.isInteger(value)) n = BigInt(value)
  else if (typeof value === 'string' && /^-?[0-9]+$/.test(value)) n = BigInt(value)
  if (n === undefined) fail(path, `expected an integer, got ${describe(value)}`)
  if (n < min || n > max) fail(path, `${n} is out of range`)
  return n
}

const I32 = [-(2n ** 31n), 2n ** 31n - 1n] as const
const U32 = [0n, 2n ** 32n - 1n] as const
const I64 = [-(2n ** 63n), 2n ** 63n - 1n] as const
const U64 = [0n, 2n ** 64n - 1n] as const

function parseScalar(type: Scalar, value: unknown, path: string): ProtoValue {
  switch (type) {
    case 'string':
    case 'stringValue':
      if (typeof value !== 'string')
        fail(path, `expected a string, got ${describe(value)}; quote it`)
      return value
    case 'bool':
    case 'boolValue':
      if (typeof value === 'boolean') return value
      if (value === 'true' || value === 'false') return value === 'true'
      return fail(path, `expected true or false, got ${describe(value)}`)
    case 'int32':
    case 'int32Value':
      return Number(parseInteger(value, path, I32[0], I32[1]))
    case 'uint32':
    case 'uint32Value':
      return Number(parseInteger(value, path, U32[0], U32[1]))
    case 'int64':
    case 'int64Value':
      return parseInteger(value, path, I64[0], I64[1]).toString()
    case 'uint64':
      return parseInteger(value, path, U64[0], U64[1]).toString()
    case 'double':
    case 'doubleValue':
      if (typeof value === 'number') return value
      if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) {
        return Number(value)
      }
      return fail(path, `expected a number, got ${describe(value)}`)
    case 'duration': {
      if (typeof value !== 'string')
        fail(path, `expected a duration such as "10s", got ${describe(value)}`)
      const nanos = parseGoDuration(value)
      if (nanos === undefined) fail(path, `invalid duration ${JSON.stringify(value)}`)
      return formatProtoDuration(nanos)
    }
    case 'opaque':
      return camelCaseKeys(value)
  }
}

function camelCaseKeys(value: unknown): ProtoValue {
  if (Array.isArray(value)) return value.map(camelCaseKeys)
  if (isPlainObject(value)) {
    const out: Record<string, ProtoValue> = {}
    for (const [k, v] of Object.entries(value)) if (v !== null) out[jsonName(k)] = camelCaseKeys(v)
    return out
  }
  return value as ProtoValue
}

// Inside lists and maps, JSON null decodes to the zero value (encoding/json leaves it unset).
function zeroValue(type: FieldType): ProtoValue {
  if (typeof type === 'string') {
    switch (type) {
      case 'string':
      case 'stringValue':
        return ''
      case 'bool':
      case 'boolValue':
        return false
      case 'int64':
      case 'uint64':
      case 'int64Value':
        return '0'
      case 'duration':
        return '0s'
      case 'opaque':
        return {}
      default:
        return 0
    }
  }
  if ('enum' in type) return Object.entries(type.enum).find(([, n]) => n === 0)?.[0] ?? 0
  if ('message' in type) return {}
  if ('map' in type) return {}
  return []
}

function parseField(type: FieldType, value: unknown, path: string): ProtoValue {
  if (value === null) return zeroValue(type)
  if (typeof type === 'string') return parseScalar(type, value, path)
  if ('enum' in type) {
    if (typeof value === 'string') {
      if (!(value in type.enum)) fail(path, `unknown value ${JSON.stringify(value)}`)
      return value
    }
    if (typeof value === 'number' && Number.isInteger(value)) {
      const name = Object.entries(type.enum).find(([, n]) => n === value)?.[0]
      return name ?? value
    }
    return fail(path, `expected an enum name, got ${describe(value)}`)
  }
  if ('message' in type) return parseMessage(type.message(), value, path)
  if ('map' in type) {
    if (!isPlainObject(value)) fail(path, `expected a mapping, got ${describe(value)}`)
    const out: Record<string, ProtoValue> = {}
    for (const [k, v] of Object.entries(value)) out[k] = parseField(type.map, v, `${path}.${k}`)
    return out
  }
  if (!Array.isArray(value)) fail(path, `expected a list, got ${describe(value)}`)
  return value.map((v, i) => parseField(type.repeated, v, `${path}[${i}]`))
}

/** Reads a protobuf-JSON object into a message: JSON names, unknown fields dropped. */
export function parseMessage(schema: MessageSchema, value: unknown, path: string): ProtoMessage {
  if (!isPlainObject(value)) fail(path, `expected a mapping, got ${describe(value)}`)
  const out: ProtoMessage = {}
  for (const field of schema) {
    const json = jsonName(field.name)
    // proto name first, the JSON name wins when both are given
    let raw: unknown = undefined
    if (Object.hasOwn(value, field.name)) raw = value[field.name]
    if (Object.hasOwn(value, json)) raw = value[json]
    if (raw === undefined || raw === null) continue
    out[json] = parseField(field.type, raw, path === '' ? json : `${path}.${json}`)
  }
  return out
}

/** Applies `update` over `base`: each field present replaces the old value wholesale. */
export function applyMessage(base: ProtoMessage, update: ProtoMessage): ProtoMessage {
  return { ...base, ...update }
}

// ---- output (protobuf JSON, zero values omitted)

function isZeroScalar(type: Scalar, value: ProtoValue): boolean {
  switch (type) {
    case 'string':
      return value === ''
    case 'bool':
      return value === false
    case 'int32':
    case 'uint32':
    case 'double':
      return value === 0
    case 'int64':
    case 'uint64':
      return value === '0'
    default:
      // wrappers, durations and passthrough values are messages: present means set
      return false
  }
}

function fieldToJson(type: FieldType, value: ProtoValue, oneof: boolean): ProtoValue | undefined {
  if (typeof type === 'string') {
    if (!oneof && isZeroScalar(type, value)) return undefined
    return value
  }
  if ('enum' in type) {
    if (!oneof && (value === 0 || type.enum[value as string] === 0)) return undefined
    return value
  }
  if ('message' in type) return messageToJson(type.message(), value as ProtoMessage)
  if ('map' in type) {
    const entries = Object.entries(value as Record<string, ProtoValue>)
    if (entries.length === 0) return undefined
    const out: Record<string, ProtoValue> = {}
    for (const [k, v] of entries) out[k] = fieldToJson(type.map, v, true) ?? zeroOf(type.map)
    return out
  }
  const items = value as ProtoValue[]
  if (items.length === 0) return undefined
  return items.map(v => fieldToJson(type.repeated, v, true) ?? zeroOf(type.repeated))
}

function zeroOf(type: FieldType): ProtoValue {
  return typeof type === 'string' && type === 'string' ? '' : 0
}

/** protobuf JSON of a message: JSON names, zero values omitted. */
export function messageToJson(
  schema: MessageSchema,
  message: ProtoMessage
): Record<string, ProtoValue> {
  const out: Record<string, ProtoValue> = {}
  for (const field of schema) {
    const json = jsonName(field.name)
    const value = message[json]
    if (value === undefined) continue
    const converted = fieldToJson(field.type, value, field.oneof === true)
    if (converted !== undefined) out[json] = converted
  }
  return out
}

/**
 * Parses YAML as sigs.k8s.io/yaml reads it (YAML 1.1 scalars: yes/no/on/off are booleans).
 * An empty document gives null, which applies as "no change".
 */
export function parseGoYamlDocument(text: string, what: string): unknown {
  const doc = parseDocument(text, {
    version: '1.1',
    uniqueKeys: false,
    prettyErrors: true,
    // go-yaml v2 leaves timestamps as strings and has no base-60 numbers
    customTags: tags =>
      tags.filter(
        t =>
          typeof t !== 'object' ||
          (t.tag !== 'tag:yaml.org,2002:timestamp' && (t as { format?: string }).format !== 'TIME')
      )
  })
  if (doc.errors.length > 0) {
    throw new ProtoJsonError(`${what}: invalid YAML: ${doc.errors[0]?.message ?? 'unknown error'}`)
  }
  return doc.toJS({ maxAliasCount: 100 }) ?? null
}
