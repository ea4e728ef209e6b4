// ServiceAccount tokens as Kubernetes mints them for TokenRequest: ES256 JWTs with iss, sub
// `system:serviceaccount:<ns>:<sa>`, aud, exp, iat, nbf, jti and the kubernetes.io claim; and the
// TokenReview logic (signature, expiry, audiences, the ServiceAccount still existing).
import {
  createHash,
  generateKeyPairSync,
  randomUUID,
  sign,
  verify,
  type KeyObject
} from 'node:crypto'

export const defaultIssuer = 'https://kubernetes.default.svc.cluster.local'
/** The API server's own audience: tokens for it authenticate API requests. */
export const apiAudience = 'https://kubernetes.default.svc.cluster.local'

export interface ServiceAccountClaims {
  iss: string
  sub: string
  aud: string[]
  exp: number
  iat: number
  nbf: number
  jti: string
  'kubernetes.io': {
    namespace: string
    serviceaccount: { name: string; uid: string }
    pod?: { name: string; uid: string }
  }
}

/** The issuer of legacy Secret-based tokens. */
export const legacyIssuer = 'kubernetes/serviceaccount'

interface LegacyClaims {
  iss: string
  sub: string
  'kubernetes.io/serviceaccount/namespace': string
  'kubernetes.io/serviceaccount/secret.name': string
  'kubernetes.io/serviceaccount/service-account.name': string
  'kubernetes.io/serviceaccount/service-account.uid': string
}

export interface TokenReviewResult {
  authenticated: boolean
  user?: { username: string; uid: string; groups: string[]; extra?: Record<string, string[]> }
  audiences?: string[]
  error?: string
}

const b64 = (data: Buffer | string): string => Buffer.from(data).toString('base64url')

export class TokenAuthority {
  readonly issuer: string
  private readonly privateKey: KeyObject
  private readonly publicKey: KeyObject
  private readonly kid: string

  constructor(issuer = defaultIssuer) {
    this.issuer = issuer
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    this.privateKey = pair.privateKey
    this.publicKey = pair.publicKey
    this.kid = createHash('sha256')
      .update(pair.publicKey.export({ type: 'spki', format: 'der' }))
      .digest('base64url')
      .slice(0, 43)
  }

  /** The public key as a JWK, e.g. for a JWKS endpoint. */
  jwk(): Record<string, unknown> {
    return { ...this.publicKey.export({ format: 'jwk' }), kid: this.kid, alg: 'ES256', use: 'sig' }
  }

  mint(request: {
    namespace: string
    serviceAccount: string
    serviceAccountUid: string
    audiences: string[]
    expirationSeconds: number
    pod?: { name: string; uid: string }
    now?: number
  }): { token: string; claims: ServiceAccountClaims } {
    const now = Math.floor((request.now ?? Date.now()) / 1000)
    const claims: ServiceAccountClaims = {
      aud: request.audiences,
      exp: now + request.expirationSeconds,
      iat: now,
      iss: this.issuer,
      jti: randomUUID(),
      'kubernetes.io': {
        namespace: request.namespace,
        serviceaccount: { name: request.serviceAccount, uid: request.serviceAccountUid },
        ...(request.pod ? { pod: request.pod } : {})
      },
      nbf: now,
      sub: `system:serviceaccount:${request.namespace}:${request.serviceAccount}`
    }
    const header = b64(JSON.stringify({ alg: 'ES256', kid: this.kid }))
    const payload = b64(JSON.stringify(claims))
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), {
      key: this.privateKey,
      dsaEncoding: 'ieee-p1363'
    })
    return { token: `${header}.${payload}.${b64(signature)}`, claims }
  }

  /**
   * Verifies a token's signature, issuer, time window and audiences. `audiences` empty = the API
   * server's audience. `serviceAccountUid` looks up the ServiceAccount (undefined = it is gone).
   */
  review(
    token: string,
    audiences: string[],
    serviceAccountUid: (namespace: string, name: string) => string | undefined,
    now = Date.now(),
    legacySecretToken?: (namespace: string, secretName: string) => string | undefined
  ): TokenReviewResult {
    const fail = (error: string): TokenReviewResult => ({ authenticated: false, error })
    const parts = token.split('.')
    if (parts.length !== 3) return fail('invalid bearer token: not a JWT')
    const [h, p, s] = parts as [string, string, string]
    let header: { alg?: string }
    let claims: ServiceAccountClaims
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: string }
      claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as ServiceAccountClaims
    } catch {
      return fail('invalid bearer token: malformed JWT')
    }
    if (header.alg !== 'ES256') return fail('invalid bearer token: unexpected signing algorithm')
    const valid = verify(
      'sha256',
      Buffer.from(`${h}.${p}`),
      { key: this.publicKey, dsaEncoding: 'ieee-p1363' },
      Buffer.from(s, 'base64url')
    )
    if (!valid)
      return fail('invalid bearer token: square/go-jose: error in cryptographic primitive')
    if (claims.iss === legacyIssuer) {
      return this.reviewLegacy(
        token,
        claims as unknown as LegacyClaims,
        audiences,
        serviceAccountUid,
        legacySecretToken
      )
    }
    if (claims.iss !== this.issuer) return fail('invalid bearer token: issuer is not trusted')
    const seconds = Math.floor(now / 1000)
    if (typeof claims.exp !== 'number' || seconds >= claims.exp)
      return fail('invalid bearer token: token has expired')
    if (typeof claims.nbf === 'number' && seconds < claims.nbf - 60)
      return fail('invalid bearer token: token not valid yet')
    const wanted = audiences.length > 0 ? audiences : [apiAudience]
    const tokenAudiences = Array.isArray(claims.aud) ? claims.aud : [String(claims.aud)]
    const matched = wanted.filter(a => tokenAudiences.includes(a))
    if (matched.length === 0)
      return fail('invalid bearer token: token audiences do not match the requested audiences')
    const k8s = claims['kubernetes.io']
    const ns = k8s?.namespace ?? ''
    const sa = k8s?.serviceaccount?.name ?? ''
    const uid = serviceAccountUid(ns, sa)
    if (uid === undefined)
      return fail(`invalid bearer token: service account ${ns}/${sa} has been deleted`)
    if (uid !== k8s.serviceaccount.uid) {
      return fail(
        `invalid bearer token: service account UID (${k8s.serviceaccount.uid}) does not match the current one (${uid})`
      )
    }
    const extra: Record<string, string[]> = {
      'authentication.kubernetes.io/credential-id': [`JTI=${claims.jti}`]
    }
    if (k8s.pod) {
      extra['authentication.kubernetes.io/pod-name'] = [k8s.pod.name]
      extra['authentication.kubernetes.io/pod-uid'] = [k8s.pod.uid]
    }
    return {
      authenticated: true,
      user: {
        username: claims.sub,
        uid,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
        extra
      },
      audiences: matched
    }
  }

  /**
   * A legacy (Secret-based) ServiceAccount token as the token controller writes into a Secret of
   * type kubernetes.io/service-account-token: no audience, no expiry.
   */
  mintLegacy(request: {
    namespace: string
    serviceAccount: string
    serviceAccountUid: string
    secretName: string
  }): string {
    const claims: LegacyClaims = {
      iss: legacyIssuer,
      'kubernetes.io/serviceaccount/namespace': request.namespace,
      'kubernetes.io/serviceaccount/secret.name': request.secretName,
      'kubernetes.io/serviceaccount/service-account.name': request.serviceAccount,
      'kubernetes.io/serviceaccount/service-account.uid': request.serviceAccountUid,
      sub: `system:serviceaccount:${request.namespace}:${request.serviceAccount}`
    }
    const header = b64(JSON.stringify({ alg: 'ES256', kid: this.kid }))
    const payload = b64(JSON.stringify(claims))
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), {
      key: this.privateKey,
      dsaEncoding: 'ieee-p1363'
    })
    return `${header}.${payload}.${b64(signature)}`
  }

  /** Legacy tokens are valid for the API server's audience only, while their Secret holds them. */
  private reviewLegacy(
    token: string,
    claims: LegacyClaims,
    audiences: string[],
    serviceAccountUid: (namespace: string, name: string) => string | undefined,
    legacySecretToken: ((namespace: string, secretName: string) => string | undefined) | undefined
  ): TokenReviewResult {
    const fail = (error: string): TokenReviewResult => ({ authenticated: false, error })
    const wanted = audiences.length > 0 ? audiences : [apiAudience]
    if (!wanted.includes(apiAudience)) {
      return fail('invalid bearer token: token audiences do not match the requested audiences')
    }
    const ns = claims['kubernetes.io/serviceaccount/namespace']
    const sa = claims['kubernetes.io/serviceaccount/service-account.name']
    const secret = claims['kubernetes.io/serviceaccount/secret.name']
    if (legacySecretToken?.(ns, secret) !== token) {
      return fail(`invalid bearer token: secret ${ns}/${secret} does not hold this token`)
    }
    const uid = serviceAccountUid(ns, sa)
    if (uid === undefined || uid !== claims['kubernetes.io/serviceaccount/service-account.uid']) {
      return fail(`invalid bearer token: service account ${ns}/${sa} has been deleted`)
    }
    return {
      authenticated: true,
      user: {
        username: claims.sub,
        uid,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated']
      },
      audiences: [apiAudience]
    }
  }
}
