// The bootstrap certificates of the generations before istiod: the Secret istio.<sa> Citadel
// writes a moment after a service account appears (setupMeshEx.sh machineCerts read it).
import { certFilesFromSecret, certSecretName } from '../../istio/legacy/scripts.ts'
import { errorMessage } from '../../util/errors.ts'
import { ClusterError } from '../errors.ts'
import type { ClusterClient } from '../types.ts'

export interface LegacyCerts {
  rootCert: string
  certChain: string
  key: string
  /** the Secret's name */
  secret: string
}

export interface PollOptions {
  readonly timeoutMs: number
  /** between probes (default 1 s; never past the deadline) */
  readonly intervalMs?: number
}

/**
 * Calls `probe` until it returns a value or `timeoutMs` has passed (at least one probe, at most
 * timeoutMs / intervalMs + 2); undefined when time ran out.
 */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined>,
  options: PollOptions
): Promise<T | undefined> {
  const interval = Math.max(1, options.intervalMs ?? 1000)
  const started = Date.now()
  const attempts = Math.ceil(Math.max(0, options.timeoutMs) / interval) + 2
  for (let attempt = 0; attempt < attempts; attempt++) {
    const value = await probe()
    if (value !== undefined) return value
    const left = options.timeoutMs - (Date.now() - started)
    if (left <= 0) break
    await new Promise(resolve => setTimeout(resolve, Math.min(interval, left)))
  }
  return undefined
}

export const DEFAULT_CERT_TIMEOUT_MS = 30_000

/** Waits (bounded) for Secret <prefix><sa> and decodes its three PEM files. */
export async function legacyCertificates(
  client: ClusterClient,
  options: {
    namespace: string
    serviceAccount: string
    prefix?: string
    timeoutMs?: number
    onSecret?: (value: string) => void
  }
): Promise<LegacyCerts> {
  const name = certSecretName(options.serviceAccount, options.prefix ?? 'istio.')
  const timeoutMs = options.timeoutMs ?? DEFAULT_CERT_TIMEOUT_MS
  const ref = { apiVersion: 'v1', kind: 'Secret', name, namespace: options.namespace }
  const secret = await pollUntil(async () => (await client.get(ref)) ?? undefined, {
    timeoutMs,
    intervalMs: Math.min(1000, Math.max(50, timeoutMs / 10))
  })
  if (secret === undefined) {
    throw new ClusterError(
      'not-found',
      `secret ${name} did not appear in namespace ${options.namespace} within ${timeoutMs} ms: ` +
        `Citadel writes it for service account ${options.serviceAccount}; is Citadel ` +
        `(istio-citadel) running, and does the service account exist?`,
      404
    )
  }
  let files: ReturnType<typeof certFilesFromSecret>
  try {
    files = certFilesFromSecret(secret as Parameters<typeof certFilesFromSecret>[0])
  } catch (error) {
    throw new ClusterError(
      'invalid',
      `${errorMessage(error)} (Citadel writes root-cert.pem, ` +
        'cert-chain.pem and key.pem into it)',
      0
    )
  }
  const content = (file: string): string => files.find(f => f.name === file)?.content ?? ''
  const key = content('key.pem')
  // masked before anyone else sees it
  options.onSecret?.(key)
  return {
    rootCert: content('root-cert.pem'),
    certChain: content('cert-chain.pem'),
    key,
    secret: name
  }
}
