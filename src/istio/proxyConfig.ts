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

/** Runs `parse`; a ProtoJsonError it throws becomes the caller's own error, made by `as`. */
export function rethrowProtoJson<T>(parse: () => T, as: (message: string) => Error): T {
  try {
    return parse()
  } catch (error) {
    if (error instanceof ProtoJsonError) throw as(error.message)
    throw error
  }
}

/** protoc's JSON name: underscores dropped, the following letter upper-cased. */
export function jsonName(protoName: string): string {
  return protoName.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())
}

// ---- schemas (istio/api mesh/v1alpha1/proxy.proto, networking/v1alpha3)

// Shorthands, so that a message reads as the list of its fields.
const field = (name: string, type: FieldType): FieldSpec => ({ name, type })
/** A member of a oneof: emitted even at its zero value once set. */
const oneof = (name: string, type: FieldType): FieldSpec => ({ name, type, oneof: true })
const message = (...fields: FieldSpec[]): FieldType => ({ message: () => fields })
const repeated = (type: FieldType): FieldType => ({ repeated: type })
const map = (type: FieldType): FieldType => ({ map: type })
/** An enum whose values are numbered from 0 in the order given. */
const enumOf = (...names: string[]): FieldType => ({
  enum: Object.fromEntries(names.map((name, value) => [name, value]))
})
/** Fields of one type, in the order given. */
const fieldsOf = (type: FieldType, ...names: string[]): FieldSpec[] =>
  names.map(name => field(name, type))

const httpHeader = fieldsOf('string', 'name', 'value')

export const readinessProbeSchema: MessageSchema = [
  ...fieldsOf(
    'int32',
    'initial_delay_seconds',
    'timeout_seconds',
    'period_seconds',
    'success_threshold',
    'failure_threshold'
  ),
  oneof(
    'http_get',
    message(
      field('path', 'string'),
      field('port', 'uint32'),
      ...fieldsOf('string', 'host', 'scheme'),
      field('http_headers', repeated(message(...httpHeader)))
    )
  ),
  oneof('tcp_socket', message(field('host', 'string'), field('port', 'uint32'))),
  oneof('exec', message(field('command', repeated('string')))),
  oneof('grpc', message(field('port', 'uint32'), field('service', 'string')))
]

const clientTlsSettings: MessageSchema = [
  field('mode', enumOf('DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL')),
  ...fieldsOf('string', 'client_certificate', 'private_key', 'ca_certificates', 'credential_name'),
  field('subject_alt_names', repeated('string')),
  field('sni', 'string'),
  field('insecure_skip_verify', 'boolValue'),
  field('ca_crl', 'string')
]

const remoteService: MessageSchema = [
  field('address', 'string'),
  field('tls_settings', message(...clientTlsSettings)),
  field(
    'tcp_keepalive',
    message(field('probes', 'uint32'), ...fieldsOf('duration', 'time', 'interval'))
  )
]

const addressOnly = message(field('address', 'string'))
const nameWithDefault = message(...fieldsOf('string', 'name', 'default_value'))

const tracing: MessageSchema = [
  oneof('zipkin', addressOnly),
  oneof('lightstep', message(...fieldsOf('string', 'address', 'access_token'))),
  oneof('datadog', addressOnly),
  oneof(
    'stackdriver',
    message(
      field('debug', 'bool'),
      ...fieldsOf(
        'int64Value',
        'max_number_of_attributes',
        'max_number_of_annotations',
        'max_number_of_message_events'
      )
    )
  ),
  oneof(
    'open_census_agent',
    message(
      field('address', 'string'),
      field(
        'context',
        repeated(
          enumOf('UNSPECIFIED', 'W3C_TRACE_CONTEXT', 'GRPC_BIN', 'CLOUD_TRACE_CONTEXT', 'B3')
        )
      )
    )
  ),
  field(
    'custom_tags',
    map(
      message(
        oneof('literal', message(field('value', 'string'))),
        oneof('environment', nameWithDefault),
        oneof('header', nameWithDefault)
      )
    )
  ),
  field('max_path_tag_length', 'uint32'),
  field('sampling', 'double'),
  field('tls_settings', message(...clientTlsSettings))
]

const topology: MessageSchema = [
  field('num_trusted_proxies', 'uint32'),
  field(
    'forward_client_cert_details',
    enumOf(
      'UNDEFINED',
      'SANITIZE',
      'FORWARD_ONLY',
      'APPEND_FORWARD',
      'SANITIZE_SET',
      'ALWAYS_FORWARD_ONLY'
    )
  ),
  field('proxy_protocol', 'opaque')
]

const cryptoProvider = message(field('poll_delay', 'duration'), field('fallback', 'boolValue'))

export const proxyConfigSchema: MessageSchema = [
  ...fieldsOf('string', 'config_path', 'binary_path'),
  oneof('service_cluster', 'string'),
  oneof(
    'tracing_service_name',
    enumOf('APP_LABEL_AND_NAMESPACE', 'CANONICAL_NAME_ONLY', 'CANONICAL_NAME_AND_NAMESPACE')
  ),
  ...fieldsOf('duration', 'drain_duration', 'parent_shutdown_duration'),
  field('discovery_address', 'string'),
  field('discovery_refresh_delay', 'duration'),
  ...fieldsOf('string', 'zipkin_address', 'statsd_udp_address', 'envoy_metrics_service_address'),
  field('proxy_admin_port', 'int32'),
  field('availability_zone', 'string'),
  field('control_plane_auth_policy', { enum: { NONE: 0, MUTUAL_TLS: 1, INHERIT: 1000 } }),
  field('custom_config_file', 'string'),
  field('stat_name_length', 'int32'),
  field('concurrency', 'int32Value'),
  field('proxy_bootstrap_template_path', 'string'),
  field('interception_mode', enumOf('REDIRECT', 'TPROXY', 'NONE')),
  field('tracing', message(...tracing)),
  field('sds', message(field('enabled', 'bool'), field('k8s_sa_jwt_path', 'string'))),
  field('envoy_access_log_service', message(...remoteService)),
  field('envoy_metrics_service', message(...remoteService)),
  field('proxy_metadata', map('string')),
  field('runtime_values', map('string')),
  field('status_port', 'int32'),
  field('extra_stat_tags', repeated('string')),
  field('gateway_topology', message(...topology)),
  field('termination_drain_duration', 'duration'),
  field('mesh_id', 'string'),
  field('readiness_probe', message(...readinessProbeSchema)),
  field(
    'proxy_stats_matcher',
    message(
      ...fieldsOf(
        repeated('string'),
        'inclusion_prefixes',
        'inclusion_suffixes',
        'inclusion_regexps'
      )
    )
  ),
  field('hold_application_until_proxy_starts', 'boolValue'),
  field('ca_certificates_pem', repeated('string')),
  field('image', message(field('image_type', 'string'))),
  field(
    'private_key_provider',
    message(oneof('cryptomb', cryptoProvider), oneof('qat', cryptoProvider))
  ),
  field('proxy_headers', 'opaque'),
  field('file_flush_interval', 'duration'),
  field('file_flush_min_size_kb', 'uint32'),
  field('ca_certificates', 'opaque')
]

/** The MeshConfig fields the VM files use. Other fields are ignored, as they do not reach the VM. */
export const meshConfigSchema: MessageSchema = [
  field('default_config', message(...proxyConfigSchema)),
  field('trust_domain', 'string')
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
    const unit = units[m[3] ?? '']
    if (unit === undefined) return undefined
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
