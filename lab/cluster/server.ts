// The HTTP side of the sandbox API: routing like kube-apiserver, authentication (admin token, user
// tokens, ServiceAccount JWTs), the deny list, faults, the request log, discovery, CRUD with
// preconditions, server-side apply, patches, TokenRequest/TokenReview and watches. What kubectl
// needs besides lives in its own files, wired in here: OpenAPI documents (openapi.ts), Tables
// (table.ts), protobuf bodies (protobuf.ts), strategic merge patch (strategic.ts), strict field
// validation (fieldValidation.ts) and impersonation (impersonation.ts).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { parse as parseYaml } from 'yaml'
import {
  clone,
  isObject,
  jsonPatch,
  mergePatch,
  serverSideApply,
  trackUpdate,
  type Obj
} from './fields.ts'
import type { DenyList, Faults, RequestInfo, RequestLog } from './observe.ts'
import { apiVersionOf, findType, type ResourceType } from './resources.ts'
import {
  checkFieldSelector,
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorError
} from './selectors.ts'
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  failureStatus,
  invalid,
  methodNotAllowed,
  notFound,
  successStatus,
  unsupportedMediaType,
  type StatusBody
} from './status.ts'
import {
  SERVICE_CIDR,
  timestamp,
  type KubeObject,
  type ObjectStore,
  type StoreEvent
} from './store.ts'
import { apiAudience, type TokenAuthority, type TokenReviewResult } from './tokens.ts'
import { parseServiceProxyPath, serveServiceProxy, type IstiodDebug } from './serviceProxy.ts'
import { decodeObject, decodeSelfReview } from './protobuf.ts'
import {
  authorize,
  forbiddenError,
  selfSubjectAccessReview,
  selfSubjectRulesReview,
  validateRbac,
  type Attributes,
  type AuthorizationMode
} from './rbac.ts'
import {
  definitionName,
  OPENAPI_V2_PROTOBUF,
  OPENAPI_V2_PROTOBUF_RESPONSE,
  openApiV2Document,
  openApiV2Protobuf,
  openApiV3Document,
  openApiV3Index
} from './openapi.ts'
import { impersonate } from './impersonation.ts'
import { strategicMergePatch } from './strategic.ts'
import { strictDecodingError, unknownFields } from './fieldValidation.ts'
import { toTable, wantsTable, type IncludeObject } from './table.ts'
import { validateGeneric, validateIstio, validateServiceClusterIp } from './validate.ts'

export interface UserInfo {
  username: string
  groups: string[]
  uid?: string
}

export interface ParsedRequest extends RequestInfo {
  type?: ResourceType
  version: string
  subresource?: string
  /** the path names a collection (list/create/deletecollection) */
  collection: boolean
  query: URLSearchParams
  /** /api, /apis, /version… */
  nonResource: boolean
}

export interface ServerContext {
  store: ObjectStore
  tokens: TokenAuthority
  requestLog: RequestLog
  faults: Faults
  denyList: DenyList
  /**
   * AlwaysAllow (the default: every authenticated user may do anything, the deny list aside) or
   * RBAC (the Role/ClusterRole/bindings in the store decide, as --authorization-mode=RBAC);
   * system:masters is allowed everything in both (lab/cluster/rbac.ts)
   */
  authorizationMode: AuthorizationMode
  /** bearer token → user (the admin token and tokens from issueUserToken) */
  users: Map<string, UserInfo>
  kubernetesVersion: string
  /** host:port clients reach the server on */
  serverAddress: string
  /** open watches end when the server closes */
  watches: Set<() => void>
  /** istiod's debug endpoints behind the service proxy (serviceProxy.ts) */
  istiodDebug?: IstiodDebug
  /** istiod (1.11+) answers its debug handlers only on localhost: the service proxy gets 401 */
  istiodDebugAuth?: boolean
  /** a validating webhook without dry-run support: every dry-run write is refused in its name */
  dryRunRefusedBy?: string
}

const maxBody = 10 * 1024 * 1024

export function parseRequest(
  ctx: ServerContext,
  method: string,
  rawUrl: string,
  userAgent: string | undefined
): ParsedRequest {
  let url: URL
  try {
    url = new URL(rawUrl, 'https://sandbox.invalid')
  } catch {
    url = new URL('/invalid-request-target', 'https://sandbox.invalid')
  }
  const segments = url.pathname
    .split('/')
    .filter(s => s !== '')
    .map(segment => {
      // a malformed escape stays as sent (and then names no resource): never throw here
      try {
        return decodeURIComponent(segment)
      } catch {
        return segment
      }
    })
  const base: ParsedRequest = {
    method,
    path: url.pathname + url.search,
    verb: method === 'GET' ? 'get' : method.toLowerCase(),
    resource: '',
    group: '',
    version: '',
    namespace: undefined,
    name: undefined,
    userAgent,
    collection: false,
    query: url.searchParams,
    nonResource: true
  }
  let rest: string[]
  if (segments[0] === 'api' && segments.length >= 2) {
    base.version = segments[1] ?? ''
    rest = segments.slice(2)
  } else if (segments[0] === 'apis' && segments.length >= 3) {
    base.group = segments[1] ?? ''
    base.version = segments[2] ?? ''
    rest = segments.slice(3)
  } else return base
  if (rest.length === 0) return base
  let namespace: string | undefined
  if (
    rest[0] === 'namespaces' &&
    rest.length >= 3 &&
    !(rest.length === 3 && ['status', 'finalize'].includes(rest[2] ?? ''))
  ) {
    namespace = rest[1]
    rest = rest.slice(2)
  }
  const [plural, name, subresource] = rest as [string, string | undefined, string | undefined]
  base.nonResource = false
  base.namespace = namespace
  base.name = name
  base.subresource = subresource
  base.resource = subresource ? `${plural}/${subresource}` : plural
  base.type = findType(ctx.store.types, base.group, plural)
  base.collection = name === undefined
  const watch = ['true', '1'].includes(url.searchParams.get('watch') ?? '')
  switch (method) {
    case 'GET':
      base.verb = base.collection ? (watch ? 'watch' : 'list') : 'get'
      break
    case 'POST':
      base.verb = 'create'
      break
    case 'PUT':
      base.verb = 'update'
      break
    case 'PATCH':
      base.verb = 'patch'
      break
    case 'DELETE':
      base.verb = base.collection ? 'deletecollection' : 'delete'
      break
  }
  if (subresource === 'exec') base.verb = 'create'
  return base
}

/** Who sent the request: admin/user tokens, then ServiceAccount JWTs for the API audience. */
export function authenticate(
  ctx: ServerContext,
  authorization: string | undefined
): UserInfo | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')
  if (!m) return undefined
  const token = m[1] ?? ''
  const known = ctx.users.get(token)
  if (known) return known
  const review = reviewToken(ctx, token, [apiAudience])
  if (!review.authenticated || !review.user) return undefined
  return { username: review.user.username, groups: review.user.groups, uid: review.user.uid }
}

export function reviewToken(
  ctx: ServerContext,
  token: string,
  audiences: string[]
): TokenReviewResult {
  return ctx.tokens.review(
    token,
    audiences,
    (ns, name) => ctx.store.get('serviceaccounts', ns, name)?.metadata?.uid,
    Date.now(),
    (ns, name) => {
      const secret = ctx.store.get('secrets', ns, name)
      const data = secret && isObject(secret.data) ? secret.data : {}
      return typeof data.token === 'string'
        ? Buffer.from(data.token, 'base64').toString('utf8')
        : undefined
    }
  )
}

export function forbidden(user: UserInfo, info: ParsedRequest, reason = ''): ApiError {
  return forbiddenError(attributesOf(user, info), reason)
}

/**
 * The authorizer's view of a request (apiserver's RequestInfo): a namespace's own path is in that
 * namespace; a list or watch narrowed by `fieldSelector=metadata.name=<n>` names `<n>`.
 */
export function attributesOf(user: UserInfo, info: ParsedRequest): Attributes {
  const plural = info.type?.plural ?? info.resource.split('/')[0] ?? ''
  let namespace = info.namespace ?? ''
  if (!info.nonResource && info.group === '' && plural === 'namespaces' && info.name)
    namespace = info.name
  let name = info.name ?? ''
  if (name === '' && (info.verb === 'list' || info.verb === 'watch')) {
    const m = /^metadata\.name==?([^,]+)$/.exec(info.query.get('fieldSelector') ?? '')
    if (m?.[1] && !m[1].includes('/') && m[1] !== '.' && m[1] !== '..') name = m[1]
  }
  return {
    user: { username: user.username, groups: user.groups },
    verb: info.verb,
    resourceRequest: !info.nonResource,
    group: info.group,
    resource: plural,
    subresource: info.subresource ?? '',
    namespace,
    name,
    path: new URL(info.path, 'https://x').pathname
  }
}

/**
 * Throws the 403 kube-apiserver would send: the deny list (tests' switch, for resource requests)
 * first, then system:masters and the authorization mode (lab/cluster/rbac.ts).
 */
export function authorizeRequest(ctx: ServerContext, user: UserInfo, info: ParsedRequest): void {
  if (!info.nonResource && ctx.denyList.denies(user.username, info.verb, info.resource))
    throw forbidden(user, info)
  const decision = authorize(ctx.store, ctx.authorizationMode, attributesOf(user, info))
  if (!decision.allowed) throw forbiddenError(attributesOf(user, info), decision.reason)
}

export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized')
}

export function faultError(status: number, retryAfterSeconds = 1): ApiError {
  const reasons: Record<number, [string, string]> = {
    429: [
      'TooManyRequests',
      'the server has received too many requests and has asked us to try again later'
    ],
    500: ['InternalError', 'Internal error occurred: injected fault'],
    502: ['InternalError', 'bad gateway (injected fault)'],
    503: ['ServiceUnavailable', 'the server is currently unable to handle the request'],
    504: [
      'Timeout',
      'the server was unable to return a response in the time allotted, but may still be processing the request'
    ],
    409: [
      'Conflict',
      'Operation cannot be fulfilled: the object has been modified (injected fault)'
    ],
    404: ['NotFound', 'the server could not find the requested resource (injected fault)'],
    401: ['Unauthorized', 'Unauthorized'],
    403: ['Forbidden', 'forbidden (injected fault)']
  }
  const [reason, message] = reasons[status] ?? ['InternalError', `injected fault: HTTP ${status}`]
  const retry = status === 429 || status === 503
  return new ApiError(
    status,
    reason,
    message,
    retry ? { retryAfterSeconds } : undefined,
    retry ? { 'Retry-After': String(retryAfterSeconds) } : {}
  )
}

export function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBody) {
        reject(new ApiError(413, 'RequestEntityTooLarge', 'the request body is too large'))
        req.destroy()
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function send(
  res: ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string> = {}
): void {
  const text = JSON.stringify(body)
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-cache, private',
    ...headers
  })
  res.end(text)
}

function parseBody(raw: Buffer, contentType: string): unknown {
  const text = raw.toString('utf8')
  if (text.trim() === '') return undefined
  try {
    if (contentType.includes('yaml')) return parseYaml(text) as unknown
    return JSON.parse(text) as unknown
  } catch (error) {
    throw badRequest(
      `error decoding the request body: ${error instanceof Error ? error.message : String(error)}`
    )
  }
}

function requireObject(body: unknown): Obj {
  if (!isObject(body)) throw badRequest('the request body must be a JSON object')
  return body
}

/** Serves one request; logs it, applies faults, authenticates and authorises. */
export async function handleRequest(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse
): Promise<void> {
  const started = Date.now()
  const info = parseRequest(ctx, req.method ?? 'GET', req.url ?? '/', req.headers['user-agent'])
  let user: UserInfo | undefined
  let faultNote: string | undefined
  const log = (status: number): void => {
    ctx.requestLog.add({
      method: info.method,
      path: info.path,
      verb: info.verb,
      resource: info.resource,
      group: info.group,
      namespace: info.namespace,
      name: info.name,
      userAgent: info.userAgent,
      status,
      time: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      user: user?.username,
      ...(faultNote ? { fault: faultNote } : {})
    })
  }
  try {
    const fault = ctx.faults.take(info)
    if (fault) {
      faultNote = JSON.stringify({ status: fault.status, delayMs: fault.delayMs, drop: fault.drop })
      if (fault.delayMs) await sleep(fault.delayMs)
      if (fault.drop) {
        log(0)
        req.socket.destroy()
        return
      }
      if (fault.status) throw faultError(fault.status, fault.retryAfterSeconds)
    }
    const path = new URL(req.url ?? '/', 'https://x').pathname
    if (['/healthz', '/livez', '/readyz'].includes(path)) {
      res.writeHead(200, { 'Content-Type': 'text/plain' })
      res.end('ok')
      log(200)
      return
    }
    user = authenticate(ctx, req.headers.authorization)
    if (!user) throw unauthorized()
    // `kubectl --as`: the rest of the request acts as the impersonated user
    user = impersonate(ctx.store, ctx.authorizationMode, user, req.headers)
    authorizeRequest(ctx, user, info)
    if (info.verb === 'watch' && info.type) {
      await serveWatch(ctx, info, req, res)
      log(200)
      return
    }
    const raw = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(info.method)
      ? await readBody(req)
      : Buffer.alloc(0)
    const contentType = String(req.headers['content-type'] ?? 'application/json').toLowerCase()
    const result = await dispatch(ctx, info, user, raw, contentType, req.headers.accept)
    if (result.raw) {
      res.writeHead(result.code, {
        'Content-Type': result.raw.contentType,
        'Content-Length': String(result.raw.data.length)
      })
      res.end(result.raw.data)
    } else send(res, result.code, result.body)
    log(result.code)
  } catch (error) {
    const apiError =
      error instanceof ApiError
        ? error
        : error instanceof SelectorError
          ? badRequest(error.message)
          : new ApiError(
              500,
              'InternalError',
              `Internal error occurred: ${error instanceof Error ? error.message : String(error)}`
            )
    if (!res.headersSent) send(res, apiError.code, apiError.toStatus(), apiError.headers)
    else res.destroy()
    log(apiError.code)
  }
}

interface Result {
  code: number
  body: unknown
  /** a body that is not JSON (the protobuf OpenAPI v2 document) */
  raw?: { contentType: string; data: Buffer }
}

async function dispatch(
  ctx: ServerContext,
  info: ParsedRequest,
  user: UserInfo,
  raw: Buffer,
  contentType: string,
  accept: string | undefined
): Promise<Result> {
  if (info.nonResource) return discovery(ctx, info, accept)
  const type = info.type
  if (!type || !type.versions.includes(info.version)) {
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {})
  }
  if (
    type.namespaced &&
    info.namespace === undefined &&
    info.verb !== 'list' &&
    info.verb !== 'watch'
  ) {
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {})
  }
  if (!type.namespaced && info.namespace !== undefined) {
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {})
  }
  // kubectl sends built-in kinds as protobuf (lab/cluster/protobuf.ts); raw.length 0: no body
  const body = (): unknown =>
    contentType.includes('protobuf') && raw.length > 0
      ? info.subresource === 'token'
        ? decodeObject(raw, 'authentication.k8s.io', 'v1', 'TokenRequest')
        : decodeObject(raw, type.group, info.version, type.kind)
      : parseBody(raw, contentType)
  const q = info.query
  const dryRun = q.getAll('dryRun').includes('All')
  const manager = q.get('fieldManager') ?? fieldManagerFromAgent(info.userAgent)
  const apiVersion = apiVersionOf(type, info.version)
  if (dryRun && ctx.dryRunRefusedBy !== undefined && info.verb !== 'get' && info.verb !== 'list') {
    // what kube-apiserver answers when a webhook with side effects matches a dry-run request
    throw badRequest(`admission webhook "${ctx.dryRunRefusedBy}" does not support dry run`)
  }

  if (type.virtual) {
    if (info.method !== 'POST' || !info.collection)
      throw methodNotAllowed(`the server does not allow this method on the requested resource`)
    if (type.group === 'authorization.k8s.io') {
      // kubectl sends these two as protobuf (lab/cluster/protobuf.ts)
      const review = contentType.includes('protobuf')
        ? decodeSelfReview(raw, type.kind)
        : requireObject(body())
      if (type.plural === 'selfsubjectrulesreviews')
        return selfSubjectRulesReview(ctx.store, ctx.authorizationMode, user, review)
      return selfSubjectAccessReview(
        ctx.store,
        ctx.authorizationMode,
        user,
        review,
        a =>
          a.resourceRequest &&
          ctx.denyList.denies(
            user.username,
            a.verb,
            a.subresource ? `${a.resource}/${a.subresource}` : a.resource
          )
      )
    }
    return tokenReview(ctx, requireObject(body()))
  }
  if (info.subresource === 'token' && type.plural === 'serviceaccounts' && type.group === '') {
    if (info.method !== 'POST')
      throw methodNotAllowed('the server does not allow this method on the requested resource')
    return tokenRequest(ctx, info, (body() ?? {}) as unknown)
  }
  if (info.subresource === 'exec') {
    throw badRequest('Upgrade request required')
  }
  if (info.subresource === 'proxy' && type.plural === 'services' && type.group === '') {
    const proxied = parseServiceProxyPath(info.path)
    if (!proxied || info.method !== 'GET')
      throw methodNotAllowed('only GET through the service proxy')
    const service = ctx.store.get(
      'services',
      proxied.namespace,
      proxied.service.split(':')[0] ?? ''
    )
    return serveServiceProxy(proxied, service, ctx.istiodDebug, ctx.istiodDebugAuth)
  }
  if (info.subresource !== undefined && info.subresource !== 'status') {
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {})
  }

  switch (info.verb) {
    case 'list': {
      const labelSelector = q.get('labelSelector') ?? undefined
      const fieldSelector = q.get('fieldSelector') ?? undefined
      parseLabelSelector(labelSelector)
      checkFieldSelector(parseFieldSelector(fieldSelector), type.kind)
      const found = ctx.store.list(type, info.namespace, {
        ...(labelSelector !== undefined ? { labelSelector } : {}),
        ...(fieldSelector !== undefined ? { fieldSelector } : {})
      })
      const table = tableOf(type, info, accept, found, ctx.store.currentResourceVersion)
      if (table) return { code: 200, body: table }
      const items = found.map(o => listItem(o, type, info.version))
      return {
        code: 200,
        body: {
          apiVersion,
          kind: `${type.kind}List`,
          metadata: { resourceVersion: ctx.store.currentResourceVersion },
          items
        }
      }
    }
    case 'get': {
      const found = ctx.store.get(type, info.namespace, info.name ?? '')
      if (!found) throw notFound(type.group, type.plural, info.name ?? '')
      return {
        code: 200,
        body: tableOf(type, info, accept, [found]) ?? present(found, type, info.version)
      }
    }
    case 'create':
      return create(ctx, type, info, requireObject(body()), manager, dryRun)
    case 'update':
      return update(ctx, type, info, requireObject(body()), manager, dryRun)
    case 'patch':
      return patch(ctx, type, info, body(), contentType, manager, dryRun)
    case 'delete':
      return remove(ctx, type, info, body(), dryRun)
    case 'deletecollection': {
      const labelSelector = q.get('labelSelector') ?? undefined
      const items = ctx.store.list(
        type,
        info.namespace,
        labelSelector !== undefined ? { labelSelector } : {}
      )
      if (!dryRun)
        for (const o of items) ctx.store.remove(type, o.metadata?.namespace, o.metadata?.name ?? '')
      return {
        code: 200,
        body: {
          apiVersion,
          kind: `${type.kind}List`,
          metadata: { resourceVersion: ctx.store.currentResourceVersion },
          items: items.map(o => listItem(o, type, info.version))
        }
      }
    }
  }
  throw methodNotAllowed('the server does not allow this method on the requested resource')
}

/** The Table kubectl asks for with its Accept header (lab/cluster/table.ts), else undefined. */
function tableOf(
  type: ResourceType,
  info: ParsedRequest,
  accept: string | undefined,
  objects: KubeObject[],
  resourceVersion?: string
): Obj | undefined {
  const version = wantsTable(accept)
  if (!version) return undefined
  const include = info.query.get('includeObject') ?? 'Metadata'
  if (!['None', 'Metadata', 'Object'].includes(include))
    throw badRequest(
      `includeObject: Unsupported value: "${include}": supported values: "Metadata", "None", "Object"`
    )
  return toTable(type, objects, {
    version,
    includeObject: include as IncludeObject,
    ...(resourceVersion !== undefined ? { resourceVersion } : {}),
    present: o => present(o, type, info.version)
  })
}

/** Kubernetes names an unnamed updater after its user agent's program name. */
function fieldManagerFromAgent(userAgent: string | undefined): string {
  const name = (userAgent ?? '').split('/')[0]?.trim()
  return name === undefined || name === '' ? 'unknown' : name.slice(0, 128)
}

function present(obj: KubeObject, type: ResourceType, version: string): KubeObject {
  const out = clone(obj)
  // apiVersion and kind lead, as in the API's JSON
  const rest: Obj = { ...out }
  delete rest.apiVersion
  delete rest.kind
  return { apiVersion: apiVersionOf(type, version), kind: type.kind, ...rest }
}

/** Built-in kinds' list items carry no apiVersion/kind in Kubernetes' JSON; custom resources' do. */
function listItem(obj: KubeObject, type: ResourceType, version: string): KubeObject {
  const item = present(obj, type, version)
  if (!type.istio && type.custom !== true) {
    delete item.apiVersion
    delete item.kind
  }
  return item
}

function objectMeta(obj: Obj): NonNullable<KubeObject['metadata']> {
  if (!isObject(obj.metadata)) obj.metadata = {}
  return obj.metadata as NonNullable<KubeObject['metadata']>
}

const strict = (info: ParsedRequest): boolean => info.query.get('fieldValidation') === 'Strict'

/** `fieldValidation=Strict`: undeclared fields are a 400 (lab/cluster/fieldValidation.ts). */
function checkStrictDecoding(
  type: ResourceType,
  info: ParsedRequest,
  obj: Obj,
  whole = true
): void {
  if (!strict(info)) return
  const unknown = unknownFields(type, info.version, obj)
  if (unknown.length === 0) return
  const error = strictDecodingError(unknown)
  throw badRequest(
    whole
      ? `${type.kind} in version "${info.version}" cannot be handled as a ${type.kind}: ${error}`
      : error
  )
}

function checkKind(type: ResourceType, obj: Obj): void {
  if (obj.kind !== undefined && obj.kind !== type.kind) {
    throw badRequest(
      `the kind of the body (${String(obj.kind)}) does not match the resource ${type.plural} (kind ${type.kind})`
    )
  }
}

function validate(type: ResourceType, version: string, obj: Obj): void {
  const causes = validateGeneric(type, obj)
  if (type.istio) causes.push(...validateIstio(type, version, obj))
  if (type.group === 'rbac.authorization.k8s.io') {
    for (const problem of validateRbac(type.kind, obj)) {
      const [field, ...rest] = problem.split(': ')
      causes.push({ reason: 'FieldValueInvalid', field, message: rest.join(': ') })
    }
  }
  if (causes.length > 0)
    throw invalid(type.kind, type.group, String(objectMeta(obj).name ?? ''), causes)
}

/** A new Service's requested clusterIP must lie in the service CIDR (the IP allocator's check). */
function checkNewService(type: ResourceType, obj: Obj): void {
  if (type.group !== '' || type.plural !== 'services') return
  const causes = validateServiceClusterIp(obj, SERVICE_CIDR)
  if (causes.length > 0)
    throw invalid(type.kind, type.group, String(objectMeta(obj).name ?? ''), causes)
}

function requireNamespace(
  ctx: ServerContext,
  type: ResourceType,
  namespace: string | undefined
): void {
  if (type.namespaced && !ctx.store.namespaceExists(namespace ?? ''))
    throw notFound('', 'namespaces', namespace ?? '')
}

function checkNamespaceMatch(obj: Obj, namespace: string | undefined, type: ResourceType): void {
  const m = objectMeta(obj)
  if (!type.namespaced) return
  if (m.namespace !== undefined && m.namespace !== '' && m.namespace !== namespace) {
    throw badRequest(
      'the namespace of the provided object does not match the namespace sent on the request'
    )
  }
  m.namespace = namespace
}

const systemFields = [
  'uid',
  'resourceVersion',
  'creationTimestamp',
  'generation',
  'managedFields',
  'selfLink',
  'deletionTimestamp'
]

function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789'
  let s = ''
  for (let i = 0; i < 5; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)]
  return s
}

function create(
  ctx: ServerContext,
  type: ResourceType,
  info: ParsedRequest,
  obj: Obj,
  manager: string,
  dryRun: boolean
): Result {
  checkKind(type, obj)
  checkNamespaceMatch(obj, info.namespace, type)
  const m = objectMeta(obj)
  if ((m.name === undefined || m.name === '') && typeof m.generateName === 'string') {
    m.name = `${m.generateName}${randomSuffix()}`
  }
  if (typeof m.name !== 'string' || m.name === '') {
    throw invalid(type.kind, type.group, '', [
      {
        reason: 'FieldValueRequired',
        field: 'metadata.name',
        message: 'Required value: name or generateName is required'
      }
    ])
  }
  for (const f of systemFields) delete m[f]
  // the status of kinds with a status subresource is not taken from a create
  if (!(type.group === '' && type.plural === 'namespaces')) delete obj.status
  obj.apiVersion = apiVersionOf(type, info.version)
  obj.kind = type.kind
  checkStrictDecoding(type, info, obj)
  validate(type, info.version, obj)
  checkNewService(type, obj)
  requireNamespace(ctx, type, info.namespace)
  if (ctx.store.get(type, info.namespace, m.name))
    throw alreadyExists(type.group, type.plural, m.name)
  trackUpdate(undefined, obj, manager, apiVersionOf(type, info.version), timestamp())
  const stored = ctx.store.write(type, obj, { dryRun })
  return { code: 201, body: present(stored, type, info.version) }
}

function checkPrecondition(type: ResourceType, live: KubeObject, wanted: unknown): void {
  if (typeof wanted === 'string' && wanted !== '' && wanted !== live.metadata?.resourceVersion) {
    throw conflict(type.group, type.plural, live.metadata?.name ?? '')
  }
}

function update(
  ctx: ServerContext,
  type: ResourceType,
  info: ParsedRequest,
  obj: Obj,
  manager: string,
  dryRun: boolean
): Result {
  checkKind(type, obj)
  checkNamespaceMatch(obj, info.namespace, type)
  checkStrictDecoding(type, info, obj)
  const m = objectMeta(obj)
  if (m.name !== info.name) {
    throw badRequest(
      `the name of the object (${String(m.name)}) does not match the name on the URL (${info.name ?? ''})`
    )
  }
  const live = ctx.store.get(type, info.namespace, info.name ?? '')
  if (!live) throw notFound(type.group, type.plural, info.name ?? '')
  // custom resources (the Istio kinds) allow no unconditional update, unlike built-in kinds
  if (type.istio && (typeof m.resourceVersion !== 'string' || m.resourceVersion === '')) {
    throw invalid(type.kind, type.group, info.name ?? '', [
      {
        reason: 'FieldValueInvalid',
        field: 'metadata.resourceVersion',
        message: 'Invalid value: 0x0: must be specified for an update'
      }
    ])
  }
  checkPrecondition(type, live, m.resourceVersion)
  let next: Obj
  if (info.subresource === 'status') {
    next = clone(live)
    next.status = obj.status
  } else {
    next = clone(obj)
    next.status = live.status
    const nm = objectMeta(next)
    for (const f of systemFields) delete nm[f]
    nm.managedFields = live.metadata?.managedFields
  }
  next.apiVersion = apiVersionOf(type, info.version)
  next.kind = type.kind
  validate(type, info.version, next)
  trackUpdate(live, next, manager, apiVersionOf(type, info.version), timestamp())
  const stored = ctx.store.write(type, next, { dryRun })
  return { code: 200, body: present(stored, type, info.version) }
}

function patch(
  ctx: ServerContext,
  type: ResourceType,
  info: ParsedRequest,
  body: unknown,
  contentType: string,
  manager: string,
  dryRun: boolean
): Result {
  const media = contentType.split(';')[0]?.trim() ?? ''
  const name = info.name ?? ''
  const live = ctx.store.get(type, info.namespace, name)
  const apiVersion = apiVersionOf(type, info.version)
  const force = ['true', '1'].includes(info.query.get('force') ?? '')
  if (media === 'application/apply-patch+yaml') {
    const fieldManager = info.query.get('fieldManager')
    if (!fieldManager)
      throw badRequest('PATCH, application/apply-patch+yaml requires fieldManager parameter')
    const config = requireObject(body)
    if (config.apiVersion === undefined || config.kind === undefined) {
      throw badRequest('apiVersion and kind are required in an apply configuration')
    }
    if (config.apiVersion !== apiVersion) {
      throw badRequest(
        `the apiVersion of the apply configuration (${String(config.apiVersion)}) does not match the request (${apiVersion})`
      )
    }
    checkKind(type, config)
    checkNamespaceMatch(config, info.namespace, type)
    if (strict(info)) {
      const unknown = unknownFields(type, info.version, config)
      if (unknown.length > 0)
        throw badRequest(
          `failed to create typed patch object (${info.namespace ? `${info.namespace}/` : ''}${name}; ${type.group}/${info.version}, Kind=${type.kind}): .${unknown[0] ?? ''}: field not declared in schema`
        )
    }
    const cm = objectMeta(config)
    if (cm.name !== name)
      throw badRequest(
        `the name of the object (${String(cm.name)}) does not match the name on the URL (${name})`
      )
    if (live) checkPrecondition(type, live, cm.resourceVersion)
    else requireNamespace(ctx, type, info.namespace)
    if (info.subresource === 'status' && !live) throw notFound(type.group, type.plural, name)
    const applyConfig =
      info.subresource === 'status'
        ? {
            apiVersion: config.apiVersion,
            kind: config.kind,
            metadata: { name },
            status: config.status
          }
        : config
    let next = serverSideApply(live, applyConfig, fieldManager, force, apiVersion, timestamp())
    if (info.subresource === 'status' && live) {
      next = { ...next, status: mergePatch(live.status, config.status) }
    }
    next.apiVersion = apiVersion
    next.kind = type.kind
    if (type.plural === 'namespaces' && !live) next.status = undefined
    validate(type, info.version, next)
    if (!live) checkNewService(type, next)
    const stored = ctx.store.write(type, next as KubeObject, { dryRun })
    return { code: live ? 200 : 201, body: present(stored, type, info.version) }
  }
  if (force) throw badRequest('force must be unset for non-apply patch requests')
  if (!live) throw notFound(type.group, type.plural, name)
  let next: unknown
  if (media === 'application/merge-patch+json') {
    const p = requireObject(body)
    checkStrictDecoding(type, info, p, false)
    if (isObject(p.metadata)) checkPrecondition(type, live, p.metadata.resourceVersion)
    next = mergePatch(live, p)
  } else if (media === 'application/strategic-merge-patch+json') {
    // built-in kinds only, as kube-apiserver: custom resources have no patch strategies (415)
    if (type.istio || type.custom) throw unsupportedMediaType(false)
    const p = requireObject(body)
    checkStrictDecoding(type, info, p, false)
    if (isObject(p.metadata)) checkPrecondition(type, live, p.metadata.resourceVersion)
    next = strategicMergePatch(live, p, definitionName(type, info.version))
  } else if (media === 'application/json-patch+json') {
    next = jsonPatch(live, body)
    if (isObject(next)) checkStrictDecoding(type, info, next, false)
  } else throw unsupportedMediaType(!type.istio && !type.custom)
  const n = requireObject(next)
  const nm = objectMeta(n)
  if (nm.name !== name || (type.namespaced && nm.namespace !== info.namespace)) {
    throw badRequest('a patch may not change metadata.name or metadata.namespace')
  }
  if (info.subresource === 'status') {
    const only = clone(live) as Obj
    only.status = n.status
    next = only
  } else n.status = live.status
  const result = next as Obj
  const rm = objectMeta(result)
  rm.uid = live.metadata?.uid
  rm.resourceVersion = live.metadata?.resourceVersion
  rm.managedFields = live.metadata?.managedFields
  result.apiVersion = apiVersion
  result.kind = type.kind
  validate(type, info.version, result)
  trackUpdate(live, result, manager, apiVersion, timestamp())
  const stored = ctx.store.write(type, result as KubeObject, { dryRun })
  return { code: 200, body: present(stored, type, info.version) }
}

function remove(
  ctx: ServerContext,
  type: ResourceType,
  info: ParsedRequest,
  body: unknown,
  dryRun: boolean
): Result {
  const name = info.name ?? ''
  const live = ctx.store.get(type, info.namespace, name)
  if (!live) throw notFound(type.group, type.plural, name)
  if (isObject(body) && isObject(body.preconditions)) {
    checkPrecondition(type, live, body.preconditions.resourceVersion)
    const uid = body.preconditions.uid
    if (typeof uid === 'string' && uid !== live.metadata?.uid) {
      throw new ApiError(
        409,
        'Conflict',
        `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${live.metadata?.uid ?? ''}`,
        { name, kind: type.plural }
      )
    }
  }
  if (!dryRun) ctx.store.remove(type, info.namespace, name)
  if (type.group === '' && type.plural === 'namespaces') {
    const out = present(live, type, info.version)
    out.status = { phase: 'Terminating' }
    objectMeta(out).deletionTimestamp = timestamp()
    return { code: 200, body: out }
  }
  return {
    code: 200,
    body: successStatus({
      name,
      ...(type.group ? { group: type.group } : {}),
      kind: type.plural,
      uid: live.metadata?.uid ?? ''
    })
  }
}

function tokenRequest(ctx: ServerContext, info: ParsedRequest, body: unknown): Result {
  const ns = info.namespace ?? ''
  const name = info.name ?? ''
  const sa = ctx.store.get('serviceaccounts', ns, name)
  if (!sa) throw notFound('', 'serviceaccounts', name)
  const spec = (isObject(body) && isObject(body.spec) ? body.spec : {}) as Obj
  const audiences =
    Array.isArray(spec.audiences) && spec.audiences.length > 0
      ? spec.audiences.map(String)
      : [apiAudience]
  const expirationSeconds =
    spec.expirationSeconds === undefined || spec.expirationSeconds === null
      ? 3600
      : Number(spec.expirationSeconds)
  const causes = []
  if (!Number.isInteger(expirationSeconds) || expirationSeconds < 600) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'spec.expirationSeconds',
      message: `Invalid value: ${String(spec.expirationSeconds)}: may not specify a duration less than 10 minutes`
    })
  } else if (expirationSeconds > 2 ** 32) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'spec.expirationSeconds',
      message: `Invalid value: ${expirationSeconds}: may not specify a duration larger than 2^32 seconds`
    })
  }
  let pod: { name: string; uid: string } | undefined
  const ref = spec.boundObjectRef
  if (isObject(ref) && ref.kind === 'Pod') {
    const p = ctx.store.get('pods', ns, String(ref.name ?? ''))
    if (!p) throw notFound('', 'pods', String(ref.name ?? ''))
    pod = { name: p.metadata?.name ?? '', uid: p.metadata?.uid ?? '' }
  }
  if (causes.length > 0) throw invalid('TokenRequest', 'authentication.k8s.io', name, causes)
  const { token, claims } = ctx.tokens.mint({
    namespace: ns,
    serviceAccount: name,
    serviceAccountUid: sa.metadata?.uid ?? '',
    audiences,
    expirationSeconds,
    ...(pod ? { pod } : {})
  })
  return {
    code: 201,
    body: {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name, namespace: ns, creationTimestamp: timestamp() },
      spec: { audiences, expirationSeconds, boundObjectRef: isObject(ref) ? ref : null },
      status: { token, expirationTimestamp: timestamp(new Date(claims.exp * 1000)) }
    }
  }
}

function tokenReview(ctx: ServerContext, body: Obj): Result {
  const spec = (isObject(body.spec) ? body.spec : {}) as Obj
  const token = typeof spec.token === 'string' ? spec.token : ''
  const audiences = Array.isArray(spec.audiences) ? spec.audiences.map(String) : []
  const review =
    token === ''
      ? { authenticated: false, error: 'token is required' }
      : reviewToken(ctx, token, audiences)
  return {
    code: 201,
    body: {
      kind: 'TokenReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec,
      status: review.authenticated
        ? { authenticated: true, user: review.user, audiences: review.audiences }
        : { authenticated: false, user: {}, error: review.error }
    }
  }
}

function discovery(ctx: ServerContext, info: ParsedRequest, accept: string | undefined): Result {
  const path = new URL(info.path, 'https://x').pathname.replace(/\/+$/, '')
  const types = ctx.store.types
  const groups = new Map<string, string[]>()
  for (const t of types) {
    if (t.group === '') continue
    const versions = groups.get(t.group) ?? []
    for (const v of t.versions) if (!versions.includes(v)) versions.push(v)
    groups.set(t.group, versions)
  }
  const group = (name: string, versions: string[]): Obj => ({
    name,
    versions: versions.map(v => ({ groupVersion: `${name}/${v}`, version: v })),
    preferredVersion: { groupVersion: `${name}/${versions[0] ?? ''}`, version: versions[0] ?? '' }
  })
  const resourceList = (g: string, v: string): Obj => ({
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: g === '' ? v : `${g}/${v}`,
    resources: types
      .filter(t => t.group === g && t.versions.includes(v))
      .flatMap(t => [
        {
          name: t.plural,
          singularName: t.singular,
          namespaced: t.namespaced,
          kind: t.kind,
          verbs: t.verbs,
          ...(t.shortNames && t.shortNames.length > 0 ? { shortNames: t.shortNames } : {}),
          ...(t.istio ? { categories: ['istio-io', t.group.split('.')[0] + '-istio-io'] } : {})
        },
        ...(t.subresources ?? []).map(s => ({
          name: `${t.plural}/${s.name}`,
          singularName: '',
          namespaced: t.namespaced,
          ...(s.group ? { group: s.group, version: s.version } : {}),
          kind: s.kind,
          verbs: s.verbs
        }))
      ])
  })
  const [major, minor] = ctx.kubernetesVersion.replace(/^v/, '').split('.')
  if (path === '/version') {
    return {
      code: 200,
      body: {
        major: major ?? '1',
        minor: minor ?? '0',
        emulationMajor: major ?? '1',
        emulationMinor: minor ?? '0',
        gitVersion: ctx.kubernetesVersion,
        gitCommit: '0000000000000000000000000000000000000000',
        gitTreeState: 'clean',
        buildDate: '2026-01-01T00:00:00Z',
        goVersion: 'go1.24.4',
        compiler: 'gc',
        platform: 'linux/amd64'
      }
    }
  }
  if (path === '/api') {
    return {
      code: 200,
      body: {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: ctx.serverAddress }]
      }
    }
  }
  if (path === '/api/v1') return { code: 200, body: resourceList('', 'v1') }
  // OpenAPI documents (lab/cluster/openapi.ts)
  if (path === '/openapi/v2') {
    // kubectl asks for protobuf (and before 1.27 parses nothing else): lab/cluster/openapiProto.ts
    if ((accept ?? '').includes(OPENAPI_V2_PROTOBUF))
      return {
        code: 200,
        body: undefined,
        raw: {
          contentType: OPENAPI_V2_PROTOBUF_RESPONSE,
          data: openApiV2Protobuf(types, ctx.kubernetesVersion)
        }
      }
    return { code: 200, body: openApiV2Document(types, ctx.kubernetesVersion) }
  }
  if (path === '/openapi/v3')
    return { code: 200, body: openApiV3Index(types, ctx.kubernetesVersion) }
  const gv = /^\/openapi\/v3\/(?:api\/([^/]+)|apis\/([^/]+)\/([^/]+))$/.exec(path)
  if (gv) {
    const doc = openApiV3Document(types, gv[2] ?? '', gv[1] ?? gv[3] ?? '', ctx.kubernetesVersion)
    if (doc) return { code: 200, body: doc }
  }
  if (path === '/apis') {
    return {
      code: 200,
      body: {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [...groups].map(([n, v]) => group(n, v))
      }
    }
  }
  const m = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(path)
  if (m) {
    const versions = groups.get(m[1] ?? '')
    if (versions && m[2] === undefined)
      return {
        code: 200,
        body: { kind: 'APIGroup', apiVersion: 'v1', ...group(m[1] ?? '', versions) }
      }
    if (versions && versions.includes(m[2] ?? ''))
      return { code: 200, body: resourceList(m[1] ?? '', m[2] ?? '') }
  }
  throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {})
}

/** A watch: newline-delimited events until timeoutSeconds, the client leaving or the server closing. */
async function serveWatch(
  ctx: ServerContext,
  info: ParsedRequest,
  req: IncomingMessage,
  res: ServerResponse
): Promise<void> {
  const type = info.type as ResourceType
  const labelSelector = info.query.get('labelSelector') ?? undefined
  const fieldSelector = info.query.get('fieldSelector') ?? undefined
  const labels = parseLabelSelector(labelSelector)
  checkFieldSelector(parseFieldSelector(fieldSelector), type.kind)
  const timeout = Math.min(Number(info.query.get('timeoutSeconds') ?? 1800) || 1800, 3600)
  const since = info.query.get('resourceVersion')
  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Transfer-Encoding': 'chunked',
    'Cache-Control': 'no-cache, private'
  })
  // the headers go out at once, as kube-apiserver's do: a client (kubectl wait) waits for them
  // before it counts the watch as started, also when no event is due yet
  res.flushHeaders()
  // `kubectl get -w` asks for Table events: each object as a one-row Table
  const write = (t: string, obj: KubeObject): void => {
    const object =
      tableOf(type, info, req.headers.accept, [obj]) ?? present(obj, type, info.version)
    res.write(JSON.stringify({ type: t, object }) + '\n')
  }
  const fields = parseFieldSelector(fieldSelector)
  const wanted = (event: StoreEvent): boolean => {
    if (event.resource !== type) return false
    const o = event.object
    if (
      type.namespaced &&
      info.namespace !== undefined &&
      o.metadata?.namespace !== info.namespace
    ) {
      return false
    }
    return matchesLabels(o.metadata?.labels, labels) && matchesFields(o, fields)
  }
  if (since === null || since === '' || since === '0') {
    for (const o of ctx.store.list(type, info.namespace, {
      ...(labelSelector !== undefined ? { labelSelector } : {}),
      ...(fieldSelector !== undefined ? { fieldSelector } : {})
    }))
      write('ADDED', o)
  } else {
    // replay what happened after the client's resourceVersion, or 410 Gone like etcd compaction
    const missed = ctx.store.eventsSince(Number(since))
    if (missed === undefined || Number.isNaN(Number(since))) {
      res.end(
        JSON.stringify({
          type: 'ERROR',
          object: failureStatus(
            410,
            'Expired',
            `too old resource version: ${since} (${ctx.store.currentResourceVersion})`
          )
        }) + '\n'
      )
      return
    }
    for (const e of missed) if (wanted(e)) write(e.type, e.object)
  }
  await new Promise<void>(resolve => {
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      unsubscribe()
      clearTimeout(timer)
      ctx.watches.delete(finish)
      res.end()
      resolve()
    }
    const unsubscribe = ctx.store.onChange((event: StoreEvent) => {
      if (wanted(event)) write(event.type, event.object)
    })
    const timer = setTimeout(finish, timeout * 1000)
    ctx.watches.add(finish)
    req.on('close', finish)
  })
}

/** Writes an HTTP error response on a raw socket (for refused WebSocket upgrades). */
export function refuseUpgrade(socket: Duplex, status: StatusBody | ApiError): void {
  const body = status instanceof ApiError ? status.toStatus() : status
  const text = JSON.stringify(body)
  const extra =
    status instanceof ApiError
      ? Object.entries(status.headers)
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('')
      : ''
  socket.end(
    `HTTP/1.1 ${body.code} ${STATUS_CODES[body.code] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n${extra}Connection: close\r\n\r\n${text}`
  )
}

export { failureStatus }
