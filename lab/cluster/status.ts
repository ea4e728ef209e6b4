// Kubernetes Status bodies and the error that carries one through the request handlers.

export interface StatusCause {
  reason?: string
  message?: string
  field?: string
}

export interface StatusDetails {
  name?: string
  group?: string
  kind?: string
  uid?: string
  causes?: StatusCause[]
  retryAfterSeconds?: number
}

export interface StatusBody {
  kind: 'Status'
  apiVersion: 'v1'
  metadata: Record<string, never>
  status: 'Success' | 'Failure'
  message?: string
  reason?: string
  details?: StatusDetails
  code: number
}

export class ApiError extends Error {
  readonly code: number
  readonly reason: string
  readonly details: StatusDetails | undefined
  readonly headers: Record<string, string>

  constructor(
    code: number,
    reason: string,
    message: string,
    details?: StatusDetails,
    headers: Record<string, string> = {}
  ) {
    super(message)
    this.code = code
    this.reason = reason
    this.details = details
    this.headers = headers
  }

  toStatus(): StatusBody {
    return failureStatus(this.code, this.reason, this.message, this.details)
  }
}

export function failureStatus(
  code: number,
  reason: string,
  message: string,
  details?: StatusDetails
): StatusBody {
  const body: StatusBody = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code
  }
  if (details !== undefined) body.details = details
  return body
}

export function successStatus(details?: StatusDetails): StatusBody {
  const body: StatusBody = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    code: 200
  }
  if (details !== undefined) body.details = details
  return body
}

/** `configmaps` or `workloadentries.networking.istio.io`, as messages name a resource. */
export function resourceLabel(group: string, plural: string): string {
  return group === '' ? plural : `${plural}.${group}`
}

function details(group: string, plural: string, name: string): StatusDetails {
  return group === '' ? { name, kind: plural } : { name, group, kind: plural }
}

export function notFound(group: string, plural: string, name: string): ApiError {
  return new ApiError(
    404,
    'NotFound',
    `${resourceLabel(group, plural)} "${name}" not found`,
    details(group, plural, name)
  )
}

export function alreadyExists(group: string, plural: string, name: string): ApiError {
  return new ApiError(
    409,
    'AlreadyExists',
    `${resourceLabel(group, plural)} "${name}" already exists`,
    details(group, plural, name)
  )
}

export function conflict(group: string, plural: string, name: string): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${resourceLabel(group, plural)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    details(group, plural, name)
  )
}

export function invalid(
  kind: string,
  group: string,
  name: string,
  causes: StatusCause[]
): ApiError {
  const list = causes.map(c => `${c.field ?? ''}: ${c.message ?? ''}`)
  const summary = list.length === 1 ? (list[0] ?? '') : `[${list.join(', ')}]`
  const qualified = group === '' ? kind : `${kind}.${group}`
  return new ApiError(422, 'Invalid', `${qualified} "${name}" is invalid: ${summary}`, {
    name,
    ...(group === '' ? {} : { group }),
    kind,
    causes: causes.map(c => ({
      reason: c.reason ?? 'FieldValueInvalid',
      message: c.message ?? '',
      field: c.field ?? ''
    }))
  })
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message)
}

export function methodNotAllowed(message: string): ApiError {
  return new ApiError(405, 'MethodNotAllowed', message)
}

/**
 * 415 for a patch type the resource does not take, worded as apimachinery's
 * negotiation.NewUnsupportedMediaTypeError (apiserver pkg/endpoints/handlers/patch.go); custom
 * resources take no strategic merge patch.
 */
export function unsupportedMediaType(strategic: boolean): ApiError {
  const accepted = [
    'application/json-patch+json',
    'application/merge-patch+json',
    ...(strategic ? ['application/strategic-merge-patch+json'] : []),
    'application/apply-patch+yaml'
  ]
  return new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`
  )
}
