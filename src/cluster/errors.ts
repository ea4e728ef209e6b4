// Errors of the cluster side: Kubernetes API failures translated into messages a person can act
// on (who was refused what, which server could not be reached), and the classification the retry
// loop uses. Nothing here prints a request or response body that could hold a token.
import { errorMessage } from '../util/errors.ts'

/** What a request was doing, for the error message. */
export interface Operation {
  /** Kubernetes verb: get, list, create, patch, delete */
  readonly verb: string
  /** plural resource, with a subresource: 'configmaps', 'serviceaccounts/token' */
  readonly resource: string
  readonly namespace?: string
  readonly name?: string
}

export type ClusterErrorKind =
  | 'unreachable'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'invalid'
  | 'server'
  | 'timeout'

export class ClusterError extends Error {
  override name = 'ClusterError'
  readonly kind: ClusterErrorKind
  /** HTTP status, 0 when there was no answer */
  readonly status: number
  readonly operation: Operation | undefined

  constructor(kind: ClusterErrorKind, message: string, status: number, operation?: Operation) {
    super(message)
    this.kind = kind
    this.status = status
    this.operation = operation
  }
}

/** The parts of an ApiException from @kubernetes/client-node this module reads. */
interface ApiExceptionLike {
  code: number
  body: unknown
  headers: Record<string, string>
}

export function isApiException(error: unknown): error is ApiExceptionLike & Error {
  return (
    error instanceof Error &&
    typeof (error as Partial<ApiExceptionLike>).code === 'number' &&
    'body' in error
  )
}

/** The Status object's message of an API answer, when the body is one. */
export function statusMessage(body: unknown): string | undefined {
  let value = body
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown
    } catch {
      return undefined
    }
  }
  if (typeof value === 'object' && value !== null && 'message' in value) {
    const message = (value as { message: unknown }).message
    return typeof message === 'string' ? message : undefined
  }
  return undefined
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID'
])

/** The innermost network error code (fetch wraps socket errors in `cause`). */
export function networkCode(error: unknown): string | undefined {
  let current: unknown = error
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

function causeText(error: unknown): string {
  const parts: string[] = []
  let current: unknown = error
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code
    const text = typeof code === 'string' && !current.message.includes(code) ? `${code} ` : ''
    parts.push(`${text}${current.message}`.trim())
    current = (current as { cause?: unknown }).cause
  }
  return parts.at(-1) ?? String(error)
}

/** Dropped connections and gateway answers: worth another attempt. */
export const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504])
const RETRYABLE_NETWORK = new Set([
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ETIMEDOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT'
])

export interface RetryDecision {
  retry: boolean
  /** the server's Retry-After, in milliseconds */
  retryAfterMs?: number
}

/** Whether a failed request may be sent again; `conflictRetries` for idempotent writes (apply). */
export function retryDecision(error: unknown, conflictRetries = false): RetryDecision {
  if (isApiException(error)) {
    const retry = RETRYABLE_STATUS.has(error.code) || (conflictRetries && error.code === 409)
    const header = error.headers['retry-after'] ?? error.headers['Retry-After']
    const seconds = header !== undefined ? Number(header) : NaN
    return Number.isFinite(seconds) && seconds >= 0
      ? { retry, retryAfterMs: seconds * 1000 }
      : { retry }
  }
  const code = networkCode(error)
  return { retry: code !== undefined && RETRYABLE_NETWORK.has(code) }
}

/** A user name from a Forbidden message: `... User "alice" cannot get ...`. */
function userFromMessage(message: string | undefined): string | undefined {
  return message ? /User "([^"]*)"/.exec(message)?.[1] : undefined
}

export interface ErrorContext {
  /** the API server URL */
  readonly server: string
  /** the kubeconfig user, used when the server does not name one */
  readonly user: string
}

function where(operation: Operation): string {
  const target = operation.name ? `${operation.resource} ${operation.name}` : operation.resource
  return operation.namespace ? `${target} in namespace ${operation.namespace}` : target
}

/** Turns any failure of a request into a ClusterError with an actionable message. */
export function translateError(
  error: unknown,
  context: ErrorContext,
  operation: Operation
): ClusterError {
  if (error instanceof ClusterError) return error
  if (isApiException(error)) {
    const message = statusMessage(error.body)
    const status = error.code
    if (status === 401) {
      return new ClusterError(
        'unauthorized',
        `unauthorized: the kubeconfig's credentials were refused by ${context.server}`,
        status,
        operation
      )
    }
    if (status === 403) {
      const user = userFromMessage(message) ?? context.user
      const resource = operation.resource
      const scope = operation.namespace
        ? ` in namespace ${operation.namespace}`
        : ' at the cluster scope'
      return new ClusterError(
        'forbidden',
        `forbidden: ${user} cannot ${operation.verb} ${resource}${scope}` +
          ` (grant the verb "${operation.verb}" on "${resource}" to the kubeconfig's identity)`,
        status,
        operation
      )
    }
    const kind: ClusterErrorKind =
      status === 404
        ? 'not-found'
        : status === 409
          ? 'conflict'
          : status === 400 || status === 422
            ? 'invalid'
            : 'server'
    return new ClusterError(
      kind,
      `${operation.verb} ${where(operation)}: HTTP ${status}${message ? `: ${message}` : ''}`,
      status,
      operation
    )
  }
  if (
    networkCode(error) !== undefined ||
    (error instanceof Error && /fetch failed/.test(error.message))
  ) {
    return new ClusterError(
      'unreachable',
      `cannot reach the Kubernetes API at ${context.server}: ${causeText(error)}`,
      0,
      operation
    )
  }
  return new ClusterError(
    'server',
    `${operation.verb} ${where(operation)}: ${errorMessage(error)}`,
    0,
    operation
  )
}
