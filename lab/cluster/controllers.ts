// Controllers of the sandbox that Kubernetes itself runs: the token controller, which fills
// Secrets of type kubernetes.io/service-account-token (legacy, Secret-based account tokens).
import { isObject } from './fields.ts'
import type { ObjectStore } from './store.ts'
import type { TokenAuthority } from './tokens.ts'

export function installTokenController(
  store: ObjectStore,
  tokens: TokenAuthority,
  apiCaPem: string
): () => void {
  const b64 = (s: string): string => Buffer.from(s).toString('base64')
  return store.onChange(event => {
    const r = event.resource
    if (event.type === 'DELETED' || r.group !== '' || r.plural !== 'secrets') return
    const secret = event.object
    if (secret.type !== 'kubernetes.io/service-account-token') return
    const data = isObject(secret.data) ? secret.data : {}
    if (typeof data.token === 'string' && data.token !== '') return
    const ns = secret.metadata?.namespace ?? ''
    const saName = secret.metadata?.annotations?.['kubernetes.io/service-account.name']
    if (!saName) return
    const sa = store.get('serviceaccounts', ns, saName)
    if (!sa?.metadata?.uid) return
    const token = tokens.mintLegacy({
      namespace: ns,
      serviceAccount: saName,
      serviceAccountUid: sa.metadata.uid,
      secretName: secret.metadata?.name ?? ''
    })
    store.put(
      {
        ...secret,
        metadata: {
          ...secret.metadata,
          annotations: {
            ...(secret.metadata?.annotations ?? {}),
            'kubernetes.io/service-account.uid': sa.metadata.uid
          }
        },
        data: { ...data, token: b64(token), 'ca.crt': b64(apiCaPem), namespace: b64(ns) }
      },
      { manager: 'kube-controller-manager' }
    )
  })
}
