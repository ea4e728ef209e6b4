// The API's OpenAPI documents, as kube-apiserver serves them, for kubectl: `/openapi/v3` (the
// index: one `serverRelativeURL` with a content hash per group-version), `/openapi/v3/<gv path>`
// (paths and components.schemas of one group-version) and `/openapi/v2` (everything in one
// Swagger 2.0 document). kubectl reads them to decide whether the server validates fields itself
// (a PATCH operation of the kind carrying the `fieldValidation` parameter: kubectl's
// query_param_verifier_v3.go), for `explain`, and for the strategic-merge keys of client-side apply.
// Upstream: staging/src/k8s.io/kube-openapi/pkg/handler3 (the v3 index and documents, hashes,
// `Cache-Control`), pkg/handler (v2), staging/src/k8s.io/apiserver/pkg/endpoints/openapi and
// installer.go (operation ids, `x-kubernetes-action`, `x-kubernetes-group-version-kind`, the query
// parameters of each verb), apiextensions-apiserver's pkg/controller/openapi/builder (a CRD's
// schema named `<reversed group>.<version>.<Kind>`, e.g. io.istio.networking.v1.WorkloadEntry).
// Schemas: the Istio kinds' are the published CRDs' (lab/cluster/crds/istio.json, from Istio
// 1.30.3); the built-in kinds' are lab/cluster/coreSchemas.ts. `/openapi/v2` answers in
// protobuf to a client asking for it (kubectl; lab/cluster/openapiProto.ts), else in JSON.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { builtInDefinitionName, coreSchemas, looseKind } from './coreSchemas.ts'
import { clone, isObject, type Obj } from './fields.ts'
import { encodeOpenApiV2 } from './openapiProto.ts'
import type { ResourceType } from './resources.ts'

export interface PrinterColumn {
  name: string
  type: string
  jsonPath: string
  description?: string
  format?: string
  priority?: number
}

interface IstioCrd {
  group: string
  versions: string[]
  schema: Obj
  additionalPrinterColumns: PrinterColumn[]
}

const crdFile = JSON.parse(readFileSync(new URL('./crds/istio.json', import.meta.url), 'utf8')) as {
  kinds: Record<string, IstioCrd>
}

/** The published CRD of an Istio kind (schema and printer columns), if the lab carries it. */
export function istioCrd(kind: string): IstioCrd | undefined {
  return crdFile.kinds[kind]
}

/** `io.istio.networking.v1.WorkloadEntry`, or `io.k8s.api.core.v1.Pod` for built-in kinds. */
export function definitionName(type: ResourceType, version: string, kind = type.kind): string {
  if (type.group === '' || type.group.endsWith('k8s.io') || type.group === 'apps')
    return builtInDefinitionName(type.group, version, kind)
  return `${type.group.split('.').reverse().join('.')}.${version}.${kind}`
}

/** `api/v1` or `apis/<group>/<version>`: the key of a group-version in the v3 index. */
export function groupVersionPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`
}

/** The schema of a kind as served: the Istio CRD's, else the built-in one (or a loose one). */
export function kindSchema(type: ResourceType, version: string): Obj {
  const crd = type.istio ? istioCrd(type.kind) : undefined
  if (crd) {
    const schema = clone(crd.schema)
    const props = isObject(schema.properties) ? schema.properties : {}
    // as the CRD builder does: metadata is ObjectMeta, apiVersion/kind described
    schema.properties = {
      apiVersion: {
        type: 'string',
        description: 'APIVersion defines the versioned schema of this representation of an object.'
      },
      kind: {
        type: 'string',
        description: 'Kind is a string value representing the REST resource this object represents.'
      },
      metadata: {
        allOf: [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' }],
        description: "Standard object's metadata."
      },
      ...props
    }
    schema['x-kubernetes-group-version-kind'] = [{ group: type.group, kind: type.kind, version }]
    return schema
  }
  return coreSchemas[definitionName(type, version)] ?? looseKind(type.group, version, type.kind)
}

const param = (name: string, description: string, where = 'query', type = 'string'): Obj => ({
  name,
  in: where,
  description,
  ...(where === 'path' ? { required: true } : {}),
  schema: { type, uniqueItems: true }
})
const dryRun = param(
  'dryRun',
  'When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed'
)
const fieldManager = param(
  'fieldManager',
  'fieldManager is a name associated with the actor or entity that is making these changes.'
)
const fieldValidation = param(
  'fieldValidation',
  'fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict'
)
const force = param('force', 'Force is going to "force" Apply requests.', 'query', 'boolean')
const pretty = param('pretty', "If 'true', then the output is pretty printed.")
const labelSelector = param(
  'labelSelector',
  'A selector to restrict the list of returned objects by their labels.'
)
const fieldSelector = param(
  'fieldSelector',
  'A selector to restrict the list of returned objects by their fields.'
)
const watch = param('watch', 'Watch for changes to the described resources.', 'query', 'boolean')
const resourceVersion = param(
  'resourceVersion',
  'resourceVersion sets a constraint on what resource versions a request may be served from.'
)
const timeoutSeconds = param(
  'timeoutSeconds',
  'Timeout for the list/watch call.',
  'query',
  'integer'
)

/** Paths and schemas of one group-version, as kube-apiserver's installer describes them. */
function groupVersionParts(
  types: ResourceType[],
  group: string,
  version: string
): { paths: Obj; schemas: Obj } {
  const paths: Obj = {}
  const schemas: Obj = {}
  const prefix = `/${groupVersionPath(group, version)}`
  const camel = (s: string): string =>
    s
      .split(/[.-]/)
      .map(w => (w === '' ? '' : w[0]?.toUpperCase() + w.slice(1)))
      .join('')
  const opGroup = group === '' ? 'core' : group.replace(/\.k8s\.io$/, '')
  const tag = `${camel(opGroup)}${camel(version)}`.replace(/^./, c => c.toLowerCase())
  for (const type of types) {
    if (type.group !== group || !type.versions.includes(version)) continue
    const def = definitionName(type, version)
    schemas[def] = kindSchema(type, version)
    const gvk = { group, kind: type.kind, version }
    const body = (d: string): Obj => ({
      content: { '*/*': { schema: { $ref: `#/components/schemas/${d}` } } },
      required: true
    })
    const ok = (d: string): Obj => ({
      '200': {
        description: 'OK',
        content: { 'application/json': { schema: { $ref: `#/components/schemas/${d}` } } }
      },
      '401': { description: 'Unauthorized' }
    })
    const op = (
      action: string,
      verb: string,
      d: string,
      parameters: Obj[],
      withBody: boolean
    ): Obj => ({
      tags: [tag],
      description: `${verb} ${type.kind}`,
      operationId: `${verb}${camel(tag)}${type.namespaced ? 'Namespaced' : ''}${type.kind}`,
      parameters,
      ...(withBody ? { requestBody: body(d) } : {}),
      responses: ok(d),
      'x-kubernetes-action': action,
      'x-kubernetes-group-version-kind': gvk
    })
    const writes = [dryRun, fieldManager, fieldValidation]
    const ns = type.namespaced ? '/namespaces/{namespace}' : ''
    const nsParam = type.namespaced
      ? [param('namespace', 'object name and auth scope, such as for teams and projects', 'path')]
      : []
    if (type.virtual) {
      paths[`${prefix}/${type.plural}`] = {
        post: op('post', 'create', def, writes, true),
        parameters: [pretty]
      }
      continue
    }
    const listOps = [labelSelector, fieldSelector, resourceVersion, timeoutSeconds, watch]
    paths[`${prefix}${ns}/${type.plural}`] = {
      get: op('list', 'list', def, listOps, false),
      post: op('post', 'create', def, writes, true),
      ...(type.verbs.includes('deletecollection')
        ? {
            delete: op(
              'deletecollection',
              'deleteCollection',
              def,
              [dryRun, labelSelector, fieldSelector],
              false
            )
          }
        : {}),
      parameters: [...nsParam, pretty]
    }
    if (type.namespaced)
      paths[`${prefix}/${type.plural}`] = {
        get: op('list', 'list', def, listOps, false),
        parameters: [pretty]
      }
    const item = {
      get: op('get', 'read', def, [], false),
      put: op('put', 'replace', def, writes, true),
      patch: op('patch', 'patch', def, [...writes, force], true),
      delete: op('delete', 'delete', def, [dryRun], false),
      parameters: [param('name', `name of the ${type.kind}`, 'path'), ...nsParam, pretty]
    }
    paths[`${prefix}${ns}/${type.plural}/{name}`] = item
    for (const sub of type.subresources ?? []) {
      if (sub.name === 'exec') continue
      const subDef = sub.group
        ? definitionName({ ...type, group: sub.group }, sub.version ?? version, sub.kind)
        : def
      if (sub.group && !schemas[subDef])
        schemas[subDef] =
          coreSchemas[subDef] ?? looseKind(sub.group, sub.version ?? version, sub.kind)
      const subGvk = { group: sub.group ?? group, kind: sub.kind, version: sub.version ?? version }
      const entry: Obj = { parameters: item.parameters }
      for (const verb of sub.verbs) {
        const o = (action: string, name: string, params: Obj[], withBody: boolean): Obj => ({
          ...op(action, name, subDef, params, withBody),
          operationId: `${name}${camel(tag)}${type.namespaced ? 'Namespaced' : ''}${type.kind}${camel(sub.name)}`,
          'x-kubernetes-group-version-kind': subGvk
        })
        if (verb === 'get') entry.get = o('get', 'read', [], false)
        if (verb === 'update') entry.put = o('put', 'replace', writes, true)
        if (verb === 'patch') entry.patch = o('patch', 'patch', [...writes, force], true)
        if (verb === 'create') entry.post = o('post', 'create', writes, true)
      }
      paths[`${prefix}${ns}/${type.plural}/{name}/${sub.name}`] = entry
    }
  }
  return { paths, schemas }
}

/** Every schema reachable through `$ref` from `roots`, from the core definitions. */
function withReferenced(schemas: Obj): Obj {
  const out: Obj = { ...schemas }
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit)
    else if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) {
        if (k === '$ref' && typeof x === 'string') {
          const name = x.replace('#/components/schemas/', '')
          const found = coreSchemas[name]
          if (out[name] === undefined && found) {
            out[name] = found
            visit(found)
          }
        } else visit(x)
      }
    }
  }
  visit(schemas)
  return out
}

// the documents depend only on the served types (fixed per server) and the version: built once
const cache = new WeakMap<ResourceType[], Map<string, Obj | undefined>>()
function cached(types: ResourceType[], key: string, build: () => Obj | undefined): Obj | undefined {
  let forTypes = cache.get(types)
  if (!forTypes) cache.set(types, (forTypes = new Map()))
  if (!forTypes.has(key)) forTypes.set(key, build())
  return forTypes.get(key)
}

/** The OpenAPI v3 document of one group-version, or undefined when it is not served. */
export function openApiV3Document(
  types: ResourceType[],
  group: string,
  version: string,
  kubernetesVersion: string
): Obj | undefined {
  return cached(types, `v3|${group}|${version}|${kubernetesVersion}`, () =>
    buildV3Document(types, group, version, kubernetesVersion)
  )
}

function buildV3Document(
  types: ResourceType[],
  group: string,
  version: string,
  kubernetesVersion: string
): Obj | undefined {
  if (!types.some(t => t.group === group && t.versions.includes(version))) return undefined
  const { paths, schemas } = groupVersionParts(types, group, version)
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: kubernetesVersion },
    paths,
    components: {
      schemas: withReferenced(schemas),
      securitySchemes: {
        BearerToken: {
          type: 'apiKey',
          description: 'Bearer Token authentication',
          name: 'authorization',
          in: 'header'
        }
      }
    }
  }
}

/** The content hash kube-openapi puts in `serverRelativeURL` (upper-case hex of SHA-512). */
export function documentHash(doc: Obj): string {
  return createHash('sha512').update(JSON.stringify(doc)).digest('hex').toUpperCase()
}

/** The v3 index: `{paths: {"api/v1": {serverRelativeURL: "/openapi/v3/api/v1?hash=…"}, …}}`. */
export function openApiV3Index(types: ResourceType[], kubernetesVersion: string): Obj {
  return (
    cached(types, `index|${kubernetesVersion}`, () => buildV3Index(types, kubernetesVersion)) ?? {}
  )
}

function buildV3Index(types: ResourceType[], kubernetesVersion: string): Obj {
  const paths: Obj = {}
  const gvs = new Set(types.flatMap(t => t.versions.map(v => `${t.group}|${v}`)))
  for (const gv of [...gvs].sort()) {
    const [group = '', version = ''] = gv.split('|')
    const doc = openApiV3Document(types, group, version, kubernetesVersion)
    if (!doc) continue
    const path = groupVersionPath(group, version)
    paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${documentHash(doc)}` }
  }
  return { paths }
}

/** v3 schema/operation → Swagger 2.0: `#/definitions/` refs, body parameters, flat query parameters. */
function toV2(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toV2)
  if (!isObject(v)) return v
  const out: Obj = {}
  // Swagger 2.0 has no siblings of $ref: `allOf: [{$ref}]` becomes the $ref itself
  const only = Array.isArray(v.allOf) && v.allOf.length === 1 ? v.allOf[0] : undefined
  if (isObject(only) && typeof only.$ref === 'string') {
    const rest: Obj = { ...v, $ref: only.$ref }
    delete rest.allOf
    delete rest.default
    return toV2(rest)
  }
  for (const [k, x] of Object.entries(v)) {
    if (k === '$ref' && typeof x === 'string')
      out[k] = x.replace('#/components/schemas/', '#/definitions/')
    else if (k === 'schema' && isObject(x) && typeof x.type === 'string' && 'in' in v)
      Object.assign(out, { type: x.type, uniqueItems: true })
    else if (k === 'requestBody' && isObject(x)) {
      const content = isObject(x.content) ? x.content : {}
      const first = Object.values(content)[0]
      out.__body = toV2(isObject(first) ? first.schema : {})
    } else if (k === 'content' && isObject(x) && 'description' in v) {
      const first = Object.values(x)[0]
      out.schema = toV2(isObject(first) ? first.schema : {})
    } else out[k] = toV2(x)
  }
  if (out.__body !== undefined) {
    out.parameters = [
      { name: 'body', in: 'body', required: true, schema: out.__body },
      ...(Array.isArray(out.parameters) ? out.parameters : [])
    ]
    delete out.__body
  }
  return out
}

export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf'
/** kube-openapi answers with `.v1.0`: Go's mime parser refuses the `@` of the Accept form */
export const OPENAPI_V2_PROTOBUF_RESPONSE =
  'application/com.github.proto-openapi.spec.v2.v1.0+protobuf'

const protoCache = new WeakMap<ResourceType[], Map<string, Buffer>>()
/** The v2 document in gnostic's protobuf encoding (kubectl's preferred form). */
export function openApiV2Protobuf(types: ResourceType[], kubernetesVersion: string): Buffer {
  let forTypes = protoCache.get(types)
  if (!forTypes) protoCache.set(types, (forTypes = new Map()))
  let data = forTypes.get(kubernetesVersion)
  if (!data) {
    data = encodeOpenApiV2(openApiV2Document(types, kubernetesVersion))
    forTypes.set(kubernetesVersion, data)
  }
  return data
}

/** The Swagger 2.0 document of everything served. */
export function openApiV2Document(types: ResourceType[], kubernetesVersion: string): Obj {
  return (
    cached(types, `v2|${kubernetesVersion}`, () => buildV2Document(types, kubernetesVersion)) ?? {}
  )
}

function buildV2Document(types: ResourceType[], kubernetesVersion: string): Obj {
  const paths: Obj = {}
  let definitions: Obj = {}
  const gvs = new Set(types.flatMap(t => t.versions.map(v => `${t.group}|${v}`)))
  for (const gv of gvs) {
    const [group = '', version = ''] = gv.split('|')
    const parts = groupVersionParts(types, group, version)
    Object.assign(paths, parts.paths)
    definitions = { ...definitions, ...parts.schemas }
  }
  return {
    swagger: '2.0',
    info: { title: 'Kubernetes', version: kubernetesVersion },
    paths: toV2(paths),
    definitions: toV2(withReferenced(definitions)),
    securityDefinitions: {
      BearerToken: {
        type: 'apiKey',
        description: 'Bearer Token authentication',
        name: 'authorization',
        in: 'header'
      }
    },
    security: [{ BearerToken: [] }]
  }
}
