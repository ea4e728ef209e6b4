// Token review for the istiod stand-in: the TokenReviewer interface istiod calls, a client of
// the Kubernetes TokenReview API (what real istiod does), and a small in-memory token authority
// for tests that run without the sandbox cluster.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { request } from 'node:https'

/** The `status` of an authentication.k8s.io/v1 TokenReview. */
export interface TokenReviewStatus {
  authenticated: boolean
  user?: { username: string; uid?: string; groups?: string[] }
  audiences?: string[]
  error?: string
}

/** Reviews a bearer token for the given audiences, as the Kubernetes TokenReview API does. */
export type TokenReviewer = (token: string, audiences: string[]) => Promise<TokenReviewStatus>

export interface TokenReviewApiOptions {
  /** API server URL, e.g. https://198.18.0.1:6443 */
  server: string
  /** CA that signed the API server's certificate (PEM). */
  caPem: string
  /** istiod's own credentials for the API. */
  bearerToken: string
  timeoutMs?: number
}

/** A TokenReviewer that POSTs a TokenReview to a Kubernetes API server. */
export function tokenReviewerForApi(options: TokenReviewApiOptions): TokenReviewer {
  return (token, audiences) =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify({
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences }
      })
      const url = new URL('/apis/authentication.k8s.io/v1/tokenreviews', options.server)
      const req = request(
        url,
        {
          method: 'POST',
          ca: options.caPem,
          timeout: options.timeoutMs ?? 10_000,
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${options.bearerToken}`,
            'content-length': Buffer.byteLength(body)
          }
        },
        res => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            if (res.statusCode !== 201 && res.statusCode !== 200) {
              reject(
                new Error(`TokenReview failed with HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
              )
              return
            }
            try {
              const parsed = JSON.parse(text) as { status?: TokenReviewStatus }
              resolve(
                parsed.status ?? { authenticated: false, error: 'TokenReview without status' }
              )
            } catch (error) {
              reject(new Error(`TokenReview answer is not JSON: ${String(error)}`))
            }
          })
        }
      )
      req.on('timeout', () => req.destroy(new Error('TokenReview timed out')))
      req.on('error', reject)
      req.end(body)
    })
}

export interface MintRequest {
  namespace: string
  serviceAccount: string
  audiences?: string[]
  /** Seconds from now; negative gives a token that has already expired. Default 3600. */
  expirationSeconds?: number
}

export interface LocalTokenAuthority {
  mint(request: MintRequest): string
  reviewer: TokenReviewer
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url')
}

/** JWT-shaped service-account tokens (HS256) and a reviewer with Kubernetes' answers. */
export function createLocalTokenAuthority(): LocalTokenAuthority {
  const secret = randomBytes(32)
  const sign = (input: string): string =>
    createHmac('sha256', secret).update(input).digest('base64url')

  return {
    mint({ namespace, serviceAccount, audiences = ['istio-ca'], expirationSeconds = 3600 }) {
      const now = Math.floor(Date.now() / 1000)
      const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))
      const payload = b64url(
        JSON.stringify({
          iss: 'https://kubernetes.default.svc.cluster.local',
          sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
          aud: audiences,
          iat: now,
          nbf: now,
          exp: now + expirationSeconds,
          'kubernetes.io': { namespace, serviceaccount: { name: serviceAccount } }
        })
      )
      return `${header}.${payload}.${sign(`${header}.${payload}`)}`
    },
    async reviewer(token, audiences) {
      const parts = token.split('.')
      if (parts.length !== 3) return { authenticated: false, error: 'invalid bearer token' }
      const expected = Buffer.from(sign(`${parts[0]}.${parts[1]}`))
      const given = Buffer.from(parts[2] ?? '')
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
        return {
          authenticated: false,
          error: 'invalid bearer token, square/go-jose: error in cryptographic primitive'
        }
      }
      const claims = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as {
        sub: string
        aud: string[]
        exp: number
      }
      if (claims.exp <= Math.floor(Date.now() / 1000)) {
        return { authenticated: false, error: 'invalid bearer token, Token has expired.' }
      }
      const matching =
        audiences.length === 0 ? claims.aud : claims.aud.filter(a => audiences.includes(a))
      if (matching.length === 0) {
        return {
          authenticated: false,
          error: `invalid bearer token, token audiences ${JSON.stringify(claims.aud)} is invalid for the target audiences ${JSON.stringify(audiences)}`
        }
      }
      const [, , namespace = ''] = claims.sub.split(':')
      return {
        authenticated: true,
        user: {
          username: claims.sub,
          groups: [
            'system:serviceaccounts',
            `system:serviceaccounts:${namespace}`,
            'system:authenticated'
          ]
        },
        audiences: matching
      }
    }
  }
}
