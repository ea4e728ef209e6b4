// Validation on write: object names and labels as Kubernetes checks them, Istio objects against
// Istio's CRD schemas (@kubernetes-models/istio, generated from the 1.18 CRDs; v1 has the same schema
// as v1beta1) plus the few CEL rules later CRDs added.
import { DestinationRule as DestinationRuleA3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/DestinationRule'
import { Gateway as GatewayA3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/Gateway'
import { ServiceEntry as ServiceEntryA3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/ServiceEntry'
import { Sidecar as SidecarA3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/Sidecar'
import { VirtualService as VirtualServiceA3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/VirtualService'
import { WorkloadEntry as WorkloadEntryA3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/WorkloadEntry'
import { WorkloadGroup as WorkloadGroupA3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/WorkloadGroup'
import { DestinationRule } from '@kubernetes-models/istio/networking.istio.io/v1beta1/DestinationRule'
import { Gateway } from '@kubernetes-models/istio/networking.istio.io/v1beta1/Gateway'
import { ServiceEntry } from '@kubernetes-models/istio/networking.istio.io/v1beta1/ServiceEntry'
import { Sidecar } from '@kubernetes-models/istio/networking.istio.io/v1beta1/Sidecar'
import { VirtualService } from '@kubernetes-models/istio/networking.istio.io/v1beta1/VirtualService'
import { WorkloadEntry } from '@kubernetes-models/istio/networking.istio.io/v1beta1/WorkloadEntry'
import { WorkloadGroup } from '@kubernetes-models/istio/networking.istio.io/v1beta1/WorkloadGroup'
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1beta1/AuthorizationPolicy'
import { PeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1beta1/PeerAuthentication'
import { isObject, type Obj } from './fields.ts'
import type { ResourceType } from './resources.ts'
import type { StatusCause } from './status.ts'

interface Validatable {
  validate(): void
}
type ModelClass = new (data: Obj) => Validatable

const models: Record<string, ModelClass> = {
  'networking.istio.io/v1beta1/WorkloadGroup': WorkloadGroup as unknown as ModelClass,
  'networking.istio.io/v1beta1/WorkloadEntry': WorkloadEntry as unknown as ModelClass,
  'networking.istio.io/v1beta1/ServiceEntry': ServiceEntry as unknown as ModelClass,
  'networking.istio.io/v1beta1/Gateway': Gateway as unknown as ModelClass,
  'networking.istio.io/v1beta1/VirtualService': VirtualService as unknown as ModelClass,
  'networking.istio.io/v1beta1/DestinationRule': DestinationRule as unknown as ModelClass,
  'networking.istio.io/v1beta1/Sidecar': Sidecar as unknown as ModelClass,
  'networking.istio.io/v1alpha3/WorkloadGroup': WorkloadGroupA3 as unknown as ModelClass,
  'networking.istio.io/v1alpha3/WorkloadEntry': WorkloadEntryA3 as unknown as ModelClass,
  'networking.istio.io/v1alpha3/ServiceEntry': ServiceEntryA3 as unknown as ModelClass,
  'networking.istio.io/v1alpha3/Gateway': GatewayA3 as unknown as ModelClass,
  'networking.istio.io/v1alpha3/VirtualService': VirtualServiceA3 as unknown as ModelClass,
  'networking.istio.io/v1alpha3/DestinationRule': DestinationRuleA3 as unknown as ModelClass,
  'networking.istio.io/v1alpha3/Sidecar': SidecarA3 as unknown as ModelClass,
  'security.istio.io/v1beta1/PeerAuthentication': PeerAuthentication as unknown as ModelClass,
  'security.istio.io/v1beta1/AuthorizationPolicy': AuthorizationPolicy as unknown as ModelClass
}

interface AjvError {
  instancePath?: string
  message?: string
  keyword?: string
  params?: { allowedValues?: unknown[]; type?: string; missingProperty?: string }
}

function valueAt(obj: unknown, pointer: string): unknown {
  let cur = obj
  for (const part of pointer.split('/').filter(p => p !== '')) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~')
    if (Array.isArray(cur)) cur = cur[Number(key)]
    else if (isObject(cur)) cur = cur[key]
    else return undefined
  }
  return cur
}

/** Causes worded like the API server's OpenAPI validation. */
function ajvCauses(error: unknown, object: Obj): StatusCause[] {
  const errors = isObject(error) && Array.isArray(error.errors) ? (error.errors as AjvError[]) : []
  if (errors.length === 0)
    return [{ field: '<nil>', message: String(error instanceof Error ? error.message : error) }]
  return errors.map(e => {
    const pointer = e.instancePath ?? ''
    const field = pointer
      .replace(/^\//, '')
      .replace(/\//g, '.')
      .replace(/\.(\d+)(?=\.|$)/g, '[$1]')
    const value = valueAt(object, pointer)
    if (e.keyword === 'enum') {
      const allowed = (e.params?.allowedValues ?? []).map(v => JSON.stringify(v)).join(', ')
      return {
        reason: 'FieldValueNotSupported',
        field,
        message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed}`
      }
    }
    if (e.keyword === 'required') {
      const missing = [field, e.params?.missingProperty].filter(Boolean).join('.')
      return { reason: 'FieldValueRequired', field: missing, message: 'Required value' }
    }
    if (e.keyword === 'type') {
      return {
        reason: 'FieldValueInvalid',
        field,
        message: `Invalid value: ${JSON.stringify(typeof value)}: ${field} in body must be of type ${e.params?.type ?? 'unknown'}: ${JSON.stringify(Array.isArray(value) ? 'array' : typeof value)}`
      }
    }
    return {
      reason: 'FieldValueInvalid',
      field,
      message: `Invalid value: ${JSON.stringify(value)}: ${field} in body ${e.message ?? 'is invalid'}`
    }
  })
}

function portCauses(ports: unknown, field: string): StatusCause[] {
  const out: StatusCause[] = []
  const check = (value: unknown, f: string): void => {
    if (typeof value === 'number' && (value < 1 || value > 65535)) {
      out.push({
        reason: 'FieldValueInvalid',
        field: f,
        message: `Invalid value: ${value}: port number must be in the range 1..65535`
      })
    }
  }
  if (isObject(ports)) for (const [k, v] of Object.entries(ports)) check(v, `${field}.${k}`)
  return out
}

/** Rules Istio's newer CRDs express in CEL (x-kubernetes-validations). */
function istioRules(kind: string, spec: Obj): StatusCause[] {
  const causes: StatusCause[] = []
  if (kind === 'WorkloadEntry') {
    if (
      (spec.address === undefined || spec.address === '') &&
      (spec.network === undefined || spec.network === '')
    ) {
      causes.push({
        reason: 'FieldValueInvalid',
        field: 'spec',
        message: 'Invalid value: "object": Address is required'
      })
    }
    causes.push(...portCauses(spec.ports, 'spec.ports'))
  }
  if (kind === 'WorkloadGroup' && isObject(spec.template)) {
    causes.push(...portCauses((spec.template as Obj).ports, 'spec.template.ports'))
    if (
      typeof (spec.template as Obj).address === 'string' &&
      (spec.template as Obj).address !== ''
    ) {
      causes.push({
        reason: 'FieldValueForbidden',
        field: 'spec.template',
        message: 'Invalid value: "object": address may not be set'
      })
    }
  }
  if (kind === 'ServiceEntry') {
    if (!Array.isArray(spec.hosts) || spec.hosts.length === 0) {
      causes.push({ reason: 'FieldValueRequired', field: 'spec.hosts', message: 'Required value' })
    }
    if (spec.workloadSelector !== undefined && spec.endpoints !== undefined) {
      causes.push({
        reason: 'FieldValueInvalid',
        field: 'spec',
        message: 'Invalid value: "object": only one of WorkloadSelector or Endpoints can be set'
      })
    }
    if (Array.isArray(spec.ports)) {
      spec.ports.forEach((p, i) => {
        if (isObject(p)) {
          const number = p.number
          if (typeof number === 'number' && (number < 1 || number > 65535)) {
            causes.push({
              reason: 'FieldValueInvalid',
              field: `spec.ports[${i}].number`,
              message: `Invalid value: ${number}: port number must be in the range 1..65535`
            })
          }
        }
      })
    }
  }
  return causes
}

export function validateIstio(type: ResourceType, version: string, object: Obj): StatusCause[] {
  const schemaVersion = version === 'v1' ? 'v1beta1' : version
  const model = models[`${type.group}/${schemaVersion}/${type.kind}`]
  const causes: StatusCause[] = []
  if (model) {
    try {
      new model({
        ...object,
        apiVersion: `${type.group}/${schemaVersion}`,
        kind: type.kind
      }).validate()
    } catch (error) {
      causes.push(...ajvCauses(error, object))
    }
  }
  if (causes.length === 0 && isObject(object.spec))
    causes.push(...istioRules(type.kind, object.spec))
  return causes
}

const subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/
const qualifiedKey = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/

/** Kubernetes' generic checks: the name's format, labels, annotations and string-only data. */
export function validateGeneric(type: ResourceType, object: Obj): StatusCause[] {
  const causes: StatusCause[] = []
  const meta = (isObject(object.metadata) ? object.metadata : {}) as Obj
  const name = meta.name
  // Namespaces and Services are DNS labels; most other kinds DNS subdomains
  const dnsLabel = type.group === '' && (type.plural === 'namespaces' || type.plural === 'services')
  if (type.group === 'rbac.authorization.k8s.io') {
    // RBAC names are path segment names (path.ValidatePathSegmentName): `system:discovery` is valid
    if (typeof name === 'string') {
      const bad =
        name === '.' || name === '..'
          ? `may not be '${name}'`
          : ['/', '%'].find(c => name.includes(c))
      if (bad !== undefined)
        causes.push({
          reason: 'FieldValueInvalid',
          field: 'metadata.name',
          message: `Invalid value: "${name}": ${bad.startsWith('may') ? bad : `may not contain '${bad}'`}`
        })
    }
  } else if (
    typeof name === 'string' &&
    (name.length > (dnsLabel ? 63 : 253) || !(dnsLabel ? label : subdomain).test(name))
  ) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'metadata.name',
      message: dnsLabel
        ? `Invalid value: "${name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`
        : `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`
    })
  }
  if (meta.labels !== undefined) {
    if (!isObject(meta.labels))
      causes.push({
        reason: 'FieldValueInvalid',
        field: 'metadata.labels',
        message: 'Invalid value: labels must be a map of strings'
      })
    else
      for (const [k, v] of Object.entries(meta.labels)) {
        if (!qualifiedKey.test(k))
          causes.push({
            reason: 'FieldValueInvalid',
            field: 'metadata.labels',
            message: `Invalid value: "${k}": name part must consist of alphanumeric characters, '-', '_' or '.'`
          })
        if (typeof v !== 'string' || v.length > 63 || !labelValue.test(v)) {
          causes.push({
            reason: 'FieldValueInvalid',
            field: `metadata.labels`,
            message: `Invalid value: ${JSON.stringify(v)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`
          })
        }
      }
  }
  if (meta.annotations !== undefined && isObject(meta.annotations)) {
    for (const [k, v] of Object.entries(meta.annotations)) {
      if (typeof v !== 'string')
        causes.push({
          reason: 'FieldValueInvalid',
          field: `metadata.annotations.${k}`,
          message: 'Invalid value: annotation values must be strings'
        })
    }
  }
  if (type.group === '' && (type.plural === 'configmaps' || type.plural === 'secrets')) {
    for (const field of ['data', 'stringData']) {
      const data = object[field]
      if (data === undefined || data === null) continue
      if (!isObject(data)) {
        causes.push({
          reason: 'FieldValueInvalid',
          field,
          message: 'Invalid value: must be a map of strings'
        })
        continue
      }
      for (const [k, v] of Object.entries(data)) {
        if (typeof v !== 'string')
          causes.push({
            reason: 'FieldValueInvalid',
            field: `${field}[${k}]`,
            message: `Invalid value: ${JSON.stringify(v)}: must be a string`
          })
      }
    }
  }
  return causes
}

function ipv4ToNumber(ip: string): number | undefined {
  const parts = ip.split('.')
  if (parts.length !== 4 || parts.some(p => !/^\d{1,3}$/.test(p) || Number(p) > 255))
    return undefined
  return parts.reduce((n, p) => n * 256 + Number(p), 0)
}

/** Whether `ip` (IPv4) lies in `cidr` (IPv4); false for anything else. */
export function ipv4InCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/')
  const address = ipv4ToNumber(ip)
  const network = ipv4ToNumber(base ?? '')
  const bits = Number(bitsText)
  if (address === undefined || network === undefined || !(bits >= 0 && bits <= 32)) return false
  const size = 2 ** (32 - bits)
  return Math.floor(address / size) === Math.floor(network / size)
}

/**
 * The allocator's check of a requested Service clusterIP, worded as kube-apiserver words it (also
 * for dry-run creates, which is what `kubectl create --dry-run=server` relies on to show the range).
 */
export function validateServiceClusterIp(object: Obj, serviceCidr: string): StatusCause[] {
  const spec = isObject(object.spec) ? object.spec : {}
  const ip = spec.clusterIP
  if (typeof ip !== 'string' || ip === '' || ip === 'None') return []
  if (ipv4InCidr(ip, serviceCidr)) return []
  return [
    {
      reason: 'FieldValueInvalid',
      field: 'spec.clusterIP',
      message: `Invalid value: "${ip}": provided IP is not in the valid range. The range of valid IPs is ${serviceCidr}`
    }
  ]
}
