// A WorkloadGroup as `istioctl x workload entry configure -f` reads it: plain YAML, the
// apiVersion not checked, the spec read with protobuf-JSON rules (snake_case accepted,
// unknown fields dropped), then defaults: missing spec.metadata/spec.template are empty and an
// empty template.serviceAccount is `default`.

import {
  parseGoYamlDocument,
  parseMessage,
  readinessProbeSchema,
  rethrowProtoJson,
  type MessageSchema,
  type ProtoMessage
} from './proxyConfig.ts'

export interface WorkloadEntryTemplate {
  readonly address: string
  readonly ports: Readonly<Record<string, number>>
  readonly labels: Readonly<Record<string, string>>
  readonly network: string
  readonly locality: string
  readonly weight: number
  readonly serviceAccount: string
}

export interface WorkloadGroup {
  readonly name: string
  readonly namespace: string
  /** metadata.annotations of the WorkloadGroup object itself */
  readonly annotations: Readonly<Record<string, string>>
  readonly labels: Readonly<Record<string, string>>
  readonly spec: {
    readonly metadata: {
      readonly labels: Readonly<Record<string, string>>
      readonly annotations: Readonly<Record<string, string>>
    }
    readonly template: WorkloadEntryTemplate
    /** spec.probe in protobuf-JSON form (JSON names), absent when the group has none */
    readonly probe?: ProtoMessage
  }
}

export class WorkloadGroupError extends Error {
  override name = 'WorkloadGroupError'
}

const stringMap = { map: 'string' } as const

const workloadGroupSpecSchema: MessageSchema = [
  {
    name: 'metadata',
    type: {
      message: () => [
        { name: 'labels', type: stringMap },
        { name: 'annotations', type: stringMap }
      ]
    }
  },
  {
    name: 'template',
    type: {
      message: () => [
        { name: 'address', type: 'string' },
        { name: 'ports', type: { map: 'uint32' } },
        { name: 'labels', type: stringMap },
        { name: 'network', type: 'string' },
        { name: 'locality', type: 'string' },
        { name: 'weight', type: 'uint32' },
        { name: 'service_account', type: 'string' }
      ]
    }
  },
  { name: 'probe', type: { message: () => readinessProbeSchema } }
]

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

// ObjectMeta is read by encoding/json: a label value must already be a string.
function objectMetaStringMap(value: unknown, path: string): Record<string, string> {
  if (value === undefined || value === null) return {}
  if (!isPlainObject(value)) throw new WorkloadGroupError(`${path}: expected a mapping`)
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw new WorkloadGroupError(
        `${path}.${k}: expected a string, got ${JSON.stringify(v)}; quote it`
      )
    }
    out[k] = v
  }
  return out
}

/** Builds the typed group from an already parsed object (e.g. from the API or a file). */
export function workloadGroupFromObject(object: unknown, source = 'WorkloadGroup'): WorkloadGroup {
  if (!isPlainObject(object)) throw new WorkloadGroupError(`${source}: expected a YAML mapping`)
  const metadata = object.metadata ?? {}
  if (!isPlainObject(metadata))
    throw new WorkloadGroupError(`${source}: metadata must be a mapping`)
  const name = metadata.name
  const namespace = metadata.namespace
  if (typeof name !== 'string' || name === '') {
    throw new WorkloadGroupError(`${source}: metadata.name is missing`)
  }
  if (typeof namespace !== 'string' || namespace === '') {
    throw new WorkloadGroupError(
      `${source}: metadata.namespace is missing (the namespace of the VM workloads; -n is not used with -f)`
    )
  }
  const spec = rethrowProtoJson(
    () => parseMessage(workloadGroupSpecSchema, object.spec ?? {}, 'spec'),
    message => new WorkloadGroupError(`${source}: ${message}`)
  )
  const specMeta = (spec.metadata ?? {}) as ProtoMessage
  const template = (spec.template ?? {}) as ProtoMessage
  const serviceAccount = (template.serviceAccount as string | undefined) ?? ''
  const group: WorkloadGroup = {
    name,
    namespace,
    annotations: objectMetaStringMap(metadata.annotations, 'metadata.annotations'),
    labels: objectMetaStringMap(metadata.labels, 'metadata.labels'),
    spec: {
      metadata: {
        labels: (specMeta.labels ?? {}) as Record<string, string>,
        annotations: (specMeta.annotations ?? {}) as Record<string, string>
      },
      template: {
        address: (template.address as string | undefined) ?? '',
        ports: (template.ports ?? {}) as Record<string, number>,
        labels: (template.labels ?? {}) as Record<string, string>,
        network: (template.network as string | undefined) ?? '',
        locality: (template.locality as string | undefined) ?? '',
        weight: (template.weight as number | undefined) ?? 0,
        serviceAccount: serviceAccount === '' ? 'default' : serviceAccount
      },
      ...(spec.probe !== undefined ? { probe: spec.probe as ProtoMessage } : {})
    }
  }
  return group
}

/** Parses a WorkloadGroup YAML file's text as istioctl's `-f` does. */
export function parseWorkloadGroupYaml(text: string, source = 'WorkloadGroup file'): WorkloadGroup {
  const parsed = rethrowProtoJson(
    () => parseGoYamlDocument(text, source),
    message => new WorkloadGroupError(message)
  )
  return workloadGroupFromObject(parsed, source)
}
