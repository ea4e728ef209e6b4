// Identity for a host: a TokenRequest (audience istio-ca) minted just before shipping, handed to
// `onSecret` before anything else sees it, and the mesh root certificate.
import { ClusterError } from './errors.ts'
import type { ClusterClient } from './types.ts'

export const ISTIO_CA_AUDIENCE = 'istio-ca'
export const DEFAULT_TOKEN_SECONDS = 3600

export interface MintOptions {
  /** token lifetime (default one hour) */
  readonly seconds?: number
  readonly audiences?: readonly string[]
  /** called with the token as soon as it exists (the Action masks it) */
  readonly onSecret?: (value: string) => void
}

/** A service account token for the VM's first certificate request. */
export async function mintToken(
  client: ClusterClient,
  namespace: string,
  serviceAccount: string,
  options: MintOptions = {}
): Promise<string> {
  let token: string
  try {
    token = await client.createToken(namespace, serviceAccount, {
      audiences: options.audiences ?? [ISTIO_CA_AUDIENCE],
      expirationSeconds: options.seconds ?? DEFAULT_TOKEN_SECONDS
    })
  } catch (error) {
    if (error instanceof ClusterError && error.kind === 'not-found') {
      throw new ClusterError(
        'not-found',
        `could not create a token under service account ${serviceAccount} in namespace ${namespace}: the service account does not exist`,
        404,
        error.operation
      )
    }
    throw error
  }
  options.onSecret?.(token)
  return token
}

export const ROOT_CERT_CONFIGMAP = 'istio-ca-root-cert'

/** root-cert.pem of ConfigMap istio-ca-root-cert in the workload namespace, byte for byte. */
export async function rootCert(client: ClusterClient, namespace: string): Promise<string> {
  const map = await client.get({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    name: ROOT_CERT_CONFIGMAP,
    namespace
  })
  const data = map?.data as Record<string, unknown> | undefined
  const pem = data?.['root-cert.pem']
  if (map === null) {
    throw new ClusterError(
      'not-found',
      `configmap ${ROOT_CERT_CONFIGMAP} was not found in namespace ${namespace}: istiod publishes it into every namespace; is istiod running?`,
      404
    )
  }
  if (typeof pem !== 'string' || pem === '') {
    throw new ClusterError(
      'not-found',
      `configmap ${ROOT_CERT_CONFIGMAP} in namespace ${namespace} has no root-cert.pem`,
      404
    )
  }
  return pem
}
