// ClusterClient over @kubernetes/client-node: every request retried within bounds and every
// failure translated (errors.ts). The library is loaded lazily: it costs ~0.3 s of start-up.
import type {
  KubeConfig,
  KubernetesObject,
  KubernetesObjectApi as KubernetesObjectApiType,
  V1APIResource
} from '@kubernetes/client-node'
import pLimit from 'p-limit'
import { translateError, type Operation } from './errors.ts'
import { resourceInfo, pluralOf } from './resources.ts'
import { REQUEST_TIMEOUT_MS, withRetry, type RetryClock, type RetryPolicy } from './retry.ts'
import {
  FIELD_MANAGER,
  refOf,
  type ClusterClient,
  type KubeObject,
  type ListOptions,
  type ObjectRef,
  type ServedResource,
  type TokenOptions
} from './types.ts'

export interface ClientOptions {
  readonly retry?: RetryPolicy
  readonly clock?: RetryClock
  /** a line per retry, for the log (never request or response data) */
  readonly log?: (line: string) => void
  /** give up waiting for one answer after this long; it counts as a retryable failure (default 30 s) */
  readonly requestTimeoutMs?: number
}

/** Rejects with an ETIMEDOUT error when `promise` has not settled after `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'ETIMEDOUT' }))
    }, ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

type ClientNode = typeof import('@kubernetes/client-node')

let loaded: Promise<ClientNode> | undefined
/** The library, imported once on first use. */
export function loadClientNode(): Promise<ClientNode> {
  loaded ??= import('@kubernetes/client-node')
  return loaded
}

/** The object API, which can also read one API version's resource list (discovery). */
type ObjectApi = KubernetesObjectApiType & {
  resourcesOf(apiVersion: string): Promise<V1APIResource[]>
}

function objectApiClass(
  k8s: ClientNode
): new (...args: ConstructorParameters<typeof k8s.KubernetesObjectApi>) => ObjectApi {
  // Known kinds are resolved from a table: no discovery request per API version.
  return class extends k8s.KubernetesObjectApi {
    /** GET /api/v1 or /apis/<group>/<version>, kept in the library's cache for later lists */
    async resourcesOf(apiVersion: string): Promise<V1APIResource[]> {
      // no kind has an empty name: the list is fetched (and cached), nothing is found in it
      await super.resource(apiVersion, '')
      return this.apiVersionResourceCache[apiVersion]?.resources ?? []
    }

    protected override async resource(
      apiVersion: string,
      kind: string,
      ...rest: unknown[]
    ): Promise<V1APIResource | undefined> {
      const info = resourceInfo(kind)
      if (info)
        return { kind, name: info.plural, namespaced: info.namespaced, singularName: '', verbs: [] }
      return super.resource(apiVersion, kind, ...(rest as []))
    }
  }
}

function plain(object: unknown): KubeObject {
  // client-node turns timestamps into Date objects; the rest of the code wants JSON values
  return JSON.parse(JSON.stringify(object)) as KubeObject
}

/** A ClusterClient for the current context of `kc`. */
export async function createClusterClient(
  kc: KubeConfig,
  options: ClientOptions = {}
): Promise<ClusterClient> {
  const k8s = await loadClientNode()
  const ObjectApi = objectApiClass(k8s)
  const objects = kc.makeApiClient(ObjectApi)
  const core = kc.makeApiClient(k8s.CoreV1Api)
  const apis = kc.makeApiClient(k8s.ApisApi)
  const versionApi = kc.makeApiClient(k8s.VersionApi)
  const authorization = kc.makeApiClient(k8s.AuthorizationV1Api)
  const server = kc.getCurrentCluster()?.server ?? '(no server)'
  const user = kc.getCurrentUser()?.name ?? '(no user)'
  const context = { server, user }
  let groups: Promise<Map<string, string[]>> | undefined
  const servedGroups = (): Promise<Map<string, string[]>> => {
    groups ??= run({ verb: 'get', resource: '/apis' }, async () => {
      const list = await apis.getAPIVersions()
      const map = new Map<string, string[]>()
      for (const g of list.groups) {
        const preferred = g.preferredVersion?.version
        const versions = g.versions.map(v => v.version)
        map.set(
          g.name,
          preferred ? [preferred, ...versions.filter(v => v !== preferred)] : versions
        )
      }
      return map
    })
    return groups.catch((error: unknown) => {
      groups = undefined
      throw error
    })
  }

  const run = async <T>(
    operation: Operation,
    fn: () => Promise<T>,
    conflicts = false
  ): Promise<T> => {
    try {
      const timeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS
      return await withRetry(() => within(fn(), timeoutMs), {
        ...(options.retry ? { policy: options.retry } : {}),
        ...(options.clock ? { clock: options.clock } : {}),
        conflicts,
        onRetry: (attempt, delay, error) => {
          const reason = translateError(error, context, operation).message
          options.log?.(
            `retrying ${operation.verb} ${operation.resource} in ${delay} ms (attempt ${attempt} failed: ${reason})`
          )
        }
      })
    } catch (error) {
      throw translateError(error, context, operation)
    }
  }

  const opOf = (
    verb: string,
    ref: { kind: string; name?: string; namespace?: string }
  ): Operation => ({
    verb,
    resource: pluralOf(ref.kind),
    ...(ref.namespace !== undefined ? { namespace: ref.namespace } : {}),
    ...(ref.name !== undefined ? { name: ref.name } : {})
  })

  const header = (ref: ObjectRef): KubernetesObject => ({
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: {
      name: ref.name,
      ...(ref.namespace !== undefined ? { namespace: ref.namespace } : {})
    }
  })

  return {
    server,
    user,
    version: () =>
      run(
        { verb: 'get', resource: '/version' },
        async () => (await versionApi.getCode()).gitVersion
      ),

    get: ref =>
      run(opOf('get', ref), async () => {
        try {
          return plain(
            await objects.read(header(ref) as KubernetesObject & { metadata: { name: string } })
          )
        } catch (error) {
          if (error instanceof k8s.ApiException && error.code === 404) return null
          throw error
        }
      }),

    list: (apiVersion: string, kind: string, listOptions: ListOptions = {}) =>
      run(
        opOf('list', {
          kind,
          ...(listOptions.namespace !== undefined ? { namespace: listOptions.namespace } : {})
        }),
        async () => {
          const result = await objects.list(
            apiVersion,
            kind,
            listOptions.namespace,
            undefined,
            undefined,
            undefined,
            undefined,
            listOptions.labelSelector
          )
          // list items carry no apiVersion/kind
          return result.items.map(item => ({ ...plain(item), apiVersion, kind }))
        }
      ),

    apply: (object, applyOptions = {}) =>
      run(
        opOf('patch', {
          kind: object.kind,
          name: object.metadata.name,
          ...(object.metadata.namespace !== undefined
            ? { namespace: object.metadata.namespace }
            : {})
        }),
        async () =>
          plain(
            await objects.patch(
              object as KubernetesObject,
              undefined,
              undefined,
              FIELD_MANAGER,
              applyOptions.force === true,
              k8s.PatchStrategy.ServerSideApply
            )
          ),
        // a forced apply is idempotent; without force a 409 is a field of someone else's
        applyOptions.force === true
      ),

    replace: object =>
      run(opOf('update', refOf(object)), async () =>
        plain(
          await objects.replace(object as KubernetesObject, undefined, undefined, FIELD_MANAGER)
        )
      ),

    dryRunCreate: object =>
      run(
        opOf('create', {
          kind: object.kind,
          ...(object.metadata.name ? { name: object.metadata.name } : {}),
          ...(object.metadata.namespace !== undefined
            ? { namespace: object.metadata.namespace }
            : {})
        }),
        async () =>
          plain(await objects.create(object as KubernetesObject, undefined, 'All', FIELD_MANAGER))
      ),

    delete: ref =>
      run(opOf('delete', ref), async () => {
        try {
          await objects.delete(header(ref))
          return true
        } catch (error) {
          if (error instanceof k8s.ApiException && error.code === 404) return false
          throw error
        }
      }),

    createToken: (namespace: string, serviceAccount: string, tokenOptions: TokenOptions) =>
      run(
        { verb: 'create', resource: 'serviceaccounts/token', namespace, name: serviceAccount },
        async () => {
          const answer = await core.createNamespacedServiceAccountToken({
            name: serviceAccount,
            namespace,
            body: {
              spec: {
                audiences: [...tokenOptions.audiences],
                expirationSeconds: tokenOptions.expirationSeconds
              }
            }
          })
          const token = answer.status?.token
          if (!token) throw new Error('the TokenRequest answer holds no token')
          return token
        }
      ),

    canI: question =>
      run({ verb: 'create', resource: 'selfsubjectaccessreviews' }, async () => {
        const review = await authorization.createSelfSubjectAccessReview({
          body: { spec: { resourceAttributes: { ...question } } }
        })
        const reason = review.status?.reason ?? review.status?.evaluationError
        return { allowed: review.status?.allowed === true, ...(reason ? { reason } : {}) }
      }),

    servedVersions: async (group: string) => (await servedGroups()).get(group) ?? [],

    namespacedResources: async () => {
      const apiVersions = ['v1']
      for (const [group, versions] of await servedGroups())
        for (const v of versions) apiVersions.push(`${group}/${v}`)
      const limit = pLimit(16)
      const lists = await Promise.all(
        apiVersions.map(apiVersion =>
          limit(() =>
            run(
              { verb: 'get', resource: apiVersion === 'v1' ? '/api/v1' : `/apis/${apiVersion}` },
              () => objects.resourcesOf(apiVersion)
            )
          )
        )
      )
      // one entry per group and resource: the first version seen is the preferred one
      const seen = new Set<string>()
      const out: ServedResource[] = []
      apiVersions.forEach((apiVersion, i) => {
        const group = apiVersion.includes('/')
          ? apiVersion.slice(0, apiVersion.lastIndexOf('/'))
          : ''
        for (const r of lists[i] ?? []) {
          if (!r.namespaced || r.name.includes('/') || !r.verbs.includes('list')) continue
          const key = `${r.group ?? group}/${r.name}`
          if (seen.has(key)) continue
          seen.add(key)
          out.push({ apiVersion, kind: r.kind, plural: r.name })
        }
      })
      return out
    }
  }
}
