// Server-side field validation (`?fieldValidation=Strict`, which kubectl 1.27+ sends with
// validation on, the default, once the OpenAPI document shows the parameter): fields the kind's
// schema does not declare are refused, as kube-apiserver refuses them, instead of being kept.
// Upstream: KEP-2885; the messages are the strict decoder's (`strict decoding error: unknown field
// "spec.foo"`, staging/src/k8s.io/apimachinery/pkg/runtime/serializer/json and
// k8s.io/apiserver/pkg/endpoints/handlers/create.go, update.go, patch.go) and, for server-side
// apply, structured-merge-diff's (`.spec.foo: field not declared in schema`).
// The schemas are lab/cluster/openapi.ts's: a field under `x-kubernetes-preserve-unknown-fields`
// or an object schema without properties is free-form (the built-in kinds' schemas describe
// only what the lab uses, so those parts accept anything: a stand-in's leniency).
import { resolveSchema as resolve } from './coreSchemas.ts'
import { isObject, type Obj } from './fields.ts'
import { kindSchema } from './openapi.ts'
import type { ResourceType } from './resources.ts'

function walk(value: unknown, schema: Obj | undefined, path: string, out: string[]): void {
  const s = resolve(schema)
  if (!s || s['x-kubernetes-preserve-unknown-fields'] === true) return
  if (Array.isArray(value)) {
    const items = isObject(s.items) ? s.items : undefined
    value.forEach((v, i) => walk(v, items, `${path}[${i}]`, out))
    return
  }
  if (!isObject(value)) return
  const props = isObject(s.properties) ? s.properties : undefined
  const additional = s.additionalProperties
  for (const [key, v] of Object.entries(value)) {
    if (key.startsWith('$')) continue // strategic merge patch directives
    const p = path === '' ? key : `${path}.${key}`
    const declared = props?.[key]
    if (isObject(declared)) walk(v, declared, p, out)
    else if (isObject(additional)) walk(v, additional, p, out)
    else if (props !== undefined && additional !== true) out.push(p)
  }
}

/** The paths (`spec.foo`) of fields the kind's schema does not declare; status is not looked at. */
export function unknownFields(type: ResourceType, version: string, obj: Obj): string[] {
  const out: string[] = []
  const rest = { ...obj }
  delete rest.status
  walk(rest, kindSchema(type, version), '', out)
  return out
}

/** `unknown field "a", unknown field "b"`, as the strict decoder lists them. */
export function strictDecodingError(paths: string[]): string {
  return `strict decoding error: ${paths.map(p => `unknown field "${p}"`).join(', ')}`
}
