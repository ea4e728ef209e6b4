// The sandbox Kubernetes API on loopback, driven only through @kubernetes/client-node.
import {
  ApiException,
  AppsV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  Exec,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
  type V1Status
} from '@kubernetes/client-node'
import { WebSocketHandler } from '@kubernetes/client-node/dist/web-socket-handler.js'
import assert from 'node:assert/strict'
import { PassThrough, Readable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { parse as parseYaml } from 'yaml'
import WebSocket from 'ws'
import { startSandboxCluster, type SandboxCluster } from '../../lab/cluster/index.ts'

interface StatusLike {
  kind?: string
  status?: string
  reason?: string
  message?: string
  code?: number
  details?: {
    name?: string
    kind?: string
    group?: string
    causes?: Array<{ reason?: string; field?: string; message?: string }>
  }
}

/** Runs `fn`, expects an ApiException, returns its HTTP code and Status body. */
async function apiError(
  fn: () => Promise<unknown>
): Promise<{ code: number; status: StatusLike; headers: Record<string, string> }> {
  try {
    await fn()
  } catch (error) {
    assert.ok(error instanceof ApiException, `expected an ApiException, got ${String(error)}`)
    const raw: unknown = error.body
    const status = (
      typeof raw === 'string' && raw !== '' ? JSON.parse(raw) : (raw ?? {})
    ) as StatusLike
    return { code: error.code, status, headers: error.headers }
  }
  assert.fail('the call succeeded but should have failed')
}

function clients(kubeconfig: string): {
  kc: KubeConfig
  core: CoreV1Api
  apps: AppsV1Api
  custom: CustomObjectsApi
  objects: KubernetesObjectApi
  authn: AuthenticationV1Api
} {
  const kc = new KubeConfig()
  kc.loadFromString(kubeconfig)
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    objects: KubernetesObjectApi.makeApiClient(kc),
    authn: kc.makeApiClient(AuthenticationV1Api)
  }
}

async function runExec(
  kc: KubeConfig,
  namespace: string,
  pod: string,
  container: string,
  command: string[],
  stdinText?: string,
  handler?: WebSocketHandler
): Promise<{ stdout: string; stderr: string; status: V1Status }> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (d: Buffer) => (out += d.toString()))
  stderr.on('data', (d: Buffer) => (err += d.toString()))
  const exec = new Exec(kc, handler)
  const status = await new Promise<V1Status>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('exec did not finish in 10 s')), 10_000)
    exec
      .exec(
        namespace,
        pod,
        container,
        command,
        stdout,
        stderr,
        stdinText === undefined ? null : Readable.from([Buffer.from(stdinText)]),
        false,
        s => {
          clearTimeout(timer)
          resolve(s)
        }
      )
      .catch((e: unknown) => {
        clearTimeout(timer)
        const message =
          typeof e === 'object' && e !== null && 'message' in e ? String(e.message) : String(e)
        reject(new Error(message))
      })
  })
  return { stdout: out, stderr: err, status }
}

describe('sandbox cluster API (loopback)', () => {
  let cluster: SandboxCluster
  let c: ReturnType<typeof clients>

  before(async () => {
    cluster = await startSandboxCluster({
      // the API's behaviour, not its authorization: any authenticated user may act (as with
      // --authorization-mode=AlwaysAllow), the deny list aside; RBAC: sandbox-rbac.test.ts
      authorization: 'AlwaysAllow',
      istioVersion: '1.30.3',
      clusterID: 'cluster1',
      network: 'net1',
      meshId: 'mesh1'
    })
    c = clients(cluster.kubeconfig)
  })
  after(async () => {
    await cluster.close()
  })

  test('the kubeconfig verifies TLS with the lab CA and authenticates', async () => {
    const kc = parseYaml(cluster.kubeconfig) as {
      clusters: Array<{ cluster: Record<string, unknown> }>
    }
    assert.equal(kc.clusters[0]?.cluster['insecure-skip-tls-verify'], undefined)
    assert.ok(kc.clusters[0]?.cluster['certificate-authority-data'])
    const list = await c.core.listNamespace()
    assert.ok(list.items.some(n => n.metadata?.name === 'istio-system'))
    // a kubeconfig trusting another CA must fail the TLS handshake
    const other = clients(
      cluster.kubeconfig.replace(
        /certificate-authority-data: .*/,
        `certificate-authority-data: ${Buffer.from((await import('../../lab/pki.ts').then(m => m.createLabCa())).certPem).toString('base64')}`
      )
    )
    await assert.rejects(() => other.core.listNamespace())
  })

  test('seeded like an Istio install', async () => {
    const deploy = await c.apps.readNamespacedDeployment({
      name: 'istiod',
      namespace: 'istio-system'
    })
    assert.equal(deploy.spec?.template.spec?.containers[0]?.image, 'docker.io/istio/pilot:1.30.3')
    assert.equal(deploy.metadata?.labels?.app, 'istiod')
    const mesh = await c.core.readNamespacedConfigMap({ name: 'istio', namespace: 'istio-system' })
    const meshConfig = parseYaml(mesh.data?.mesh ?? '') as {
      defaultConfig: { discoveryAddress: string; meshId: string }
      trustDomain: string
    }
    assert.equal(meshConfig.defaultConfig.discoveryAddress, 'istiod.istio-system.svc:15012')
    assert.equal(meshConfig.defaultConfig.meshId, 'mesh1')
    assert.equal(meshConfig.trustDomain, 'cluster.local')
    const injector = await c.core.readNamespacedConfigMap({
      name: 'istio-sidecar-injector',
      namespace: 'istio-system'
    })
    const values = JSON.parse(injector.data?.values ?? '{}') as {
      global: { multiCluster: { clusterName: string }; network: string }
    }
    assert.equal(values.global.multiCluster.clusterName, 'cluster1')
    assert.equal(values.global.network, 'net1')
    const ns = await c.core.readNamespace({ name: 'istio-system' })
    assert.equal(ns.metadata?.labels?.['topology.istio.io/network'], 'net1')
    const gw = await c.core.readNamespacedService({
      name: 'istio-eastwestgateway',
      namespace: 'istio-system'
    })
    assert.equal(gw.status?.loadBalancer?.ingress?.[0]?.ip, '198.18.0.2')
    assert.deepEqual(
      gw.spec?.ports?.map(p => p.port),
      [15021, 15443, 15012, 15017]
    )
    const tag = (await c.objects.read({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'istio-revision-tag-default' }
    })) as KubernetesObject
    assert.equal(tag.metadata?.labels?.['istio.io/rev'], 'default')
    const sleep = await c.core.listNamespacedPod({
      namespace: 'sample',
      labelSelector: 'app=sleep'
    })
    assert.equal(sleep.items.length, 1)
    assert.match(sleep.items[0]?.status?.podIP ?? '', /^198\.18\.1\./)
    const echo = await c.core.readNamespacedService({ name: 'echo', namespace: 'sample' })
    assert.match(echo.spec?.clusterIP ?? '', /^198\.19\./)
  })

  test('istio-ca-root-cert is published into namespaces created later, with a default ServiceAccount', async () => {
    await c.core.createNamespace({ body: { metadata: { name: 'later' } } })
    const cm = await c.core.readNamespacedConfigMap({
      name: 'istio-ca-root-cert',
      namespace: 'later'
    })
    assert.equal(cm.data?.['root-cert.pem'], cluster.ca.certPem)
    await c.core.readNamespacedServiceAccount({ name: 'default', namespace: 'later' })
    await c.core.deleteNamespace({ name: 'later' })
    const gone = await apiError(() =>
      c.core.readNamespacedConfigMap({ name: 'istio-ca-root-cert', namespace: 'later' })
    )
    assert.equal(gone.code, 404)
  })

  test('CoreV1Api CRUD, label selectors, Status bodies', async () => {
    await c.core.createNamespace({ body: { metadata: { name: 'crud' } } })
    for (const [name, labels] of [
      ['a', { app: 'x', tier: 'web' }],
      ['b', { app: 'x', tier: 'db' }],
      ['c', { app: 'y' }]
    ] as const) {
      await c.core.createNamespacedConfigMap({
        namespace: 'crud',
        body: { metadata: { name, labels }, data: { k: name } }
      })
    }
    const names = async (labelSelector: string): Promise<string[]> =>
      (await c.core.listNamespacedConfigMap({ namespace: 'crud', labelSelector })).items.map(
        i => i.metadata?.name ?? ''
      )
    assert.deepEqual(await names('app=x'), ['a', 'b'])
    assert.deepEqual(await names('app=x,tier!=db'), ['a'])
    assert.deepEqual(await names('tier'), ['a', 'b'])
    assert.deepEqual(await names('!tier,app'), ['c'])
    assert.deepEqual(await names('tier in (db,cache)'), ['b'])
    // notin also matches objects without the label, as in Kubernetes
    assert.deepEqual(await names('app notin (x)'), ['c', 'istio-ca-root-cert'])
    const byName = await c.core.listNamespacedConfigMap({
      namespace: 'crud',
      fieldSelector: 'metadata.name=b'
    })
    assert.deepEqual(
      byName.items.map(i => i.metadata?.name),
      ['b']
    )

    const dup = await apiError(() =>
      c.core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'a' } } })
    )
    assert.equal(dup.code, 409)
    assert.equal(dup.status.reason, 'AlreadyExists')
    assert.equal(dup.status.message, 'configmaps "a" already exists')
    assert.equal(dup.status.kind, 'Status')

    const missing = await apiError(() =>
      c.core.readNamespacedConfigMap({ name: 'nope', namespace: 'crud' })
    )
    assert.equal(missing.code, 404)
    assert.deepEqual(
      {
        reason: missing.status.reason,
        message: missing.status.message,
        details: missing.status.details,
        status: missing.status.status
      },
      {
        reason: 'NotFound',
        message: 'configmaps "nope" not found',
        details: { name: 'nope', kind: 'configmaps' },
        status: 'Failure'
      }
    )
    const noNs = await apiError(() =>
      c.core.createNamespacedConfigMap({ namespace: 'ghost', body: { metadata: { name: 'a' } } })
    )
    assert.equal(noNs.code, 404)
    assert.equal(noNs.status.message, 'namespaces "ghost" not found')

    const a = await c.core.readNamespacedConfigMap({ name: 'a', namespace: 'crud' })
    a.data = { k: 'changed' }
    const updated = await c.core.replaceNamespacedConfigMap({
      name: 'a',
      namespace: 'crud',
      body: a
    })
    assert.equal(updated.data?.k, 'changed')
    assert.ok(Number(updated.metadata?.resourceVersion) > Number(a.metadata?.resourceVersion))

    // the old resourceVersion is stale now
    const stale = await apiError(() =>
      c.core.replaceNamespacedConfigMap({ name: 'a', namespace: 'crud', body: a })
    )
    assert.equal(stale.code, 409)
    assert.equal(stale.status.reason, 'Conflict')
    assert.match(stale.status.message ?? '', /the object has been modified/)

    const bad = await apiError(() =>
      c.core.createNamespacedConfigMap({
        namespace: 'crud',
        body: { metadata: { name: 'Bad_Name' } }
      })
    )
    assert.equal(bad.code, 422)
    assert.equal(bad.status.reason, 'Invalid')

    await c.core.deleteNamespacedConfigMap({ name: 'c', namespace: 'crud' })
    assert.deepEqual(await names('app'), ['a', 'b'])
    await c.core.deleteNamespace({ name: 'crud' })
    assert.equal(
      (await apiError(() => c.core.readNamespacedConfigMap({ name: 'a', namespace: 'crud' }))).code,
      404
    )
  })

  test('concurrent updates with the same resourceVersion: exactly one wins', async () => {
    await c.core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'race' }, data: { n: '0' } }
    })
    const base = await c.core.readNamespacedConfigMap({ name: 'race', namespace: 'default' })
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        c.core.replaceNamespacedConfigMap({
          name: 'race',
          namespace: 'default',
          body: { ...base, data: { n: String(i + 1) } }
        })
      )
    )
    assert.equal(results.filter(r => r.status === 'fulfilled').length, 1)
    for (const r of results) {
      if (r.status === 'rejected') assert.equal((r.reason as ApiException<unknown>).code, 409)
    }
    await c.core.deleteNamespacedConfigMap({ name: 'race', namespace: 'default' })
  })

  test('merge patch and JSON patch', async () => {
    await c.core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'patchme', labels: { a: '1', b: '2' } }, data: { x: '1' } }
    })
    const merged = await c.core.patchNamespacedConfigMap(
      {
        name: 'patchme',
        namespace: 'default',
        body: { metadata: { labels: { b: null, c: '3' } }, data: { y: '2' } }
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
    )
    assert.deepEqual(merged.metadata?.labels, { a: '1', c: '3' })
    assert.deepEqual(merged.data, { x: '1', y: '2' })
    const patched = await c.core.patchNamespacedConfigMap({
      name: 'patchme',
      namespace: 'default',
      body: [
        { op: 'replace', path: '/data/x', value: 'one' },
        { op: 'remove', path: '/data/y' }
      ]
    })
    assert.deepEqual(patched.data, { x: 'one' })
    const failed = await apiError(() =>
      c.core.patchNamespacedConfigMap({
        name: 'patchme',
        namespace: 'default',
        body: [{ op: 'test', path: '/data/x', value: 'two' }]
      })
    )
    assert.equal(failed.code, 422)
  })

  test('server-side apply through KubernetesObjectApi: create, no-op, conflict, force, removal', async () => {
    const desired = (
      data: Record<string, string>
    ): KubernetesObject & { data: Record<string, string> } => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'applied', namespace: 'default', labels: { owner: 'mx' } },
      data
    })
    const created = await c.objects.patch(
      desired({ a: '1', b: '2' }),
      undefined,
      undefined,
      'mesh-expansion',
      undefined,
      PatchStrategy.ServerSideApply
    )
    const rv = created.metadata?.resourceVersion
    assert.ok(rv)
    const managed = created.metadata?.managedFields?.find(m => m.manager === 'mesh-expansion')
    assert.equal(managed?.operation, 'Apply')

    const again = await c.objects.patch(
      desired({ a: '1', b: '2' }),
      undefined,
      undefined,
      'mesh-expansion',
      undefined,
      PatchStrategy.ServerSideApply
    )
    assert.equal(
      again.metadata?.resourceVersion,
      rv,
      'an identical apply must not bump resourceVersion'
    )

    // another manager takes field a with a different value
    await c.core.patchNamespacedConfigMap(
      {
        name: 'applied',
        namespace: 'default',
        fieldManager: 'kubectl-edit',
        body: { data: { a: 'edited' } }
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
    )
    const conflict = await apiError(() =>
      c.objects.patch(
        desired({ a: '1', b: '2' }),
        undefined,
        undefined,
        'mesh-expansion',
        undefined,
        PatchStrategy.ServerSideApply
      )
    )
    assert.equal(conflict.code, 409)
    assert.equal(conflict.status.reason, 'Conflict')
    assert.match(conflict.status.message ?? '', /conflict with "kubectl-edit"/)
    assert.match(conflict.status.message ?? '', /\.data\.a/)

    const forced = await c.objects.patch(
      desired({ a: '1', b: '2' }),
      undefined,
      undefined,
      'mesh-expansion',
      true,
      PatchStrategy.ServerSideApply
    )
    const cm = forced as KubernetesObject & { data: Record<string, string> }
    assert.equal(cm.data.a, '1')
    assert.equal(
      forced.metadata?.managedFields?.some(m => m.manager === 'kubectl-edit'),
      false
    )

    // a field the manager stops applying is removed
    const shrunk = (await c.objects.patch(
      desired({ a: '1' }),
      undefined,
      undefined,
      'mesh-expansion',
      undefined,
      PatchStrategy.ServerSideApply
    )) as KubernetesObject & { data: Record<string, string> }
    assert.deepEqual(shrunk.data, { a: '1' })

    // dry run stores nothing
    const dry = (await c.objects.patch(
      desired({ a: 'dry' }),
      undefined,
      'All',
      'mesh-expansion',
      undefined,
      PatchStrategy.ServerSideApply
    )) as KubernetesObject & { data: Record<string, string> }
    assert.equal(dry.data.a, 'dry')
    const read = (await c.objects.read({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'applied', namespace: 'default' }
    })) as KubernetesObject & { data: Record<string, string> }
    assert.equal(read.data.a, '1')

    const noManager = await apiError(() =>
      c.objects.patch(
        desired({ a: '1' }),
        undefined,
        undefined,
        undefined,
        undefined,
        PatchStrategy.ServerSideApply
      )
    )
    assert.equal(noManager.code, 400)

    const list = await c.objects.list(
      'v1',
      'ConfigMap',
      'default',
      undefined,
      undefined,
      undefined,
      undefined,
      'owner=mx'
    )
    assert.deepEqual(
      list.items.map(i => i.metadata?.name),
      ['applied']
    )
    assert.equal(
      list.items[0]?.kind,
      undefined,
      'built-in list items carry no kind, as in Kubernetes'
    )
    await c.objects.delete({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'applied', namespace: 'default' }
    })
    assert.equal(
      (
        await apiError(() =>
          c.objects.read({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: 'applied', namespace: 'default' }
          })
        )
      ).code,
      404
    )
  })

  test('a namespace made by server-side apply gets the root cert and a default ServiceAccount', async () => {
    const ns = await c.objects.patch(
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'applied-ns', labels: { 'istio.io/rev': 'default' } }
      },
      undefined,
      undefined,
      'mesh-expansion',
      true,
      PatchStrategy.ServerSideApply
    )
    assert.equal((ns as KubernetesObject & { status?: { phase?: string } }).status?.phase, 'Active')
    const labels: Record<string, string> | undefined = ns.metadata?.labels
    assert.equal(labels?.['kubernetes.io/metadata.name'], 'applied-ns')
    const cm = await c.core.readNamespacedConfigMap({
      name: 'istio-ca-root-cert',
      namespace: 'applied-ns'
    })
    assert.equal(cm.data?.['root-cert.pem'], cluster.ca.certPem)
    await c.core.readNamespacedServiceAccount({ name: 'default', namespace: 'applied-ns' })
    await c.objects.delete({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'applied-ns' }
    })
  })

  test('Istio kinds through CustomObjectsApi and KubernetesObjectApi; 422 on schema violations', async () => {
    await c.core.createNamespace({ body: { metadata: { name: 'vm' } } })
    const wg = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadGroup',
      metadata: {
        name: 'mysql',
        namespace: 'vm',
        labels: { 'app.kubernetes.io/managed-by': 'mesh-expansion' }
      },
      spec: {
        metadata: { labels: { app: 'mysql' } },
        template: { serviceAccount: 'mysql', ports: { 'tcp-mysql': 3306 } }
      }
    }
    await c.custom.createNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1',
      namespace: 'vm',
      plural: 'workloadgroups',
      body: wg
    })
    const got = (await c.custom.getNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1beta1',
      namespace: 'vm',
      plural: 'workloadgroups',
      name: 'mysql'
    })) as { apiVersion: string; spec: unknown }
    assert.equal(
      got.apiVersion,
      'networking.istio.io/v1beta1',
      'served in every version from one storage'
    )
    assert.deepEqual(got.spec, wg.spec)

    const we = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadEntry',
      metadata: { name: 'mysql-1', namespace: 'vm' },
      spec: {
        address: '198.18.2.2',
        labels: { app: 'mysql' },
        serviceAccount: 'mysql',
        ports: { 'tcp-mysql': 3306 }
      }
    }
    const applied = await c.objects.patch(
      we,
      undefined,
      undefined,
      'mesh-expansion',
      undefined,
      PatchStrategy.ServerSideApply
    )
    assert.equal(applied.kind, 'WorkloadEntry')
    const listed = (await c.custom.listNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1',
      namespace: 'vm',
      plural: 'workloadentries',
      labelSelector: ''
    })) as { items: unknown[] }
    assert.equal((listed.items[0] as { kind?: string } | undefined)?.kind, 'WorkloadEntry')
    assert.equal(listed.items.length, 1)

    const noRv = await apiError(() =>
      c.custom.replaceNamespacedCustomObject({
        group: 'networking.istio.io',
        version: 'v1',
        namespace: 'vm',
        plural: 'workloadgroups',
        name: 'mysql',
        body: wg
      })
    )
    assert.equal(noRv.code, 422, 'custom resources need a resourceVersion to update')
    assert.match(
      noRv.status.message ?? '',
      /metadata\.resourceVersion: Invalid value: 0x0: must be specified for an update/
    )
    const invalid = await apiError(() =>
      c.custom.createNamespacedCustomObject({
        group: 'networking.istio.io',
        version: 'v1',
        namespace: 'vm',
        plural: 'workloadentries',
        body: {
          ...we,
          metadata: { name: 'bad', namespace: 'vm' },
          spec: { address: '198.18.2.3', ports: { http: 'eighty' } }
        }
      })
    )
    assert.equal(invalid.code, 422)
    assert.equal(invalid.status.reason, 'Invalid')
    assert.match(
      invalid.status.message ?? '',
      /WorkloadEntry\.networking\.istio\.io "bad" is invalid: spec\.ports\.http/
    )
    const noAddress = await apiError(() =>
      c.objects.create({
        ...we,
        metadata: { name: 'noaddr', namespace: 'vm' },
        spec: { ports: { http: 80 } }
      } as KubernetesObject)
    )
    assert.equal(noAddress.code, 422)

    for (const [apiVersion, kind, spec] of [
      [
        'networking.istio.io/v1',
        'ServiceEntry',
        {
          hosts: ['mysql.vm.svc.cluster.local'],
          ports: [{ number: 3306, name: 'tcp', protocol: 'TCP' }],
          resolution: 'STATIC',
          workloadSelector: { labels: { app: 'mysql' } }
        }
      ],
      [
        'networking.istio.io/v1',
        'Gateway',
        {
          selector: { istio: 'eastwestgateway' },
          servers: [
            {
              port: { name: 'tls-istiod', number: 15012, protocol: 'tls' },
              tls: { mode: 'PASSTHROUGH' },
              hosts: ['*']
            }
          ]
        }
      ],
      [
        'networking.istio.io/v1',
        'VirtualService',
        {
          hosts: ['*'],
          gateways: ['istiod-gateway'],
          tls: [
            {
              match: [{ port: 15012, sniHosts: ['*'] }],
              route: [
                {
                  destination: {
                    host: 'istiod.istio-system.svc.cluster.local',
                    port: { number: 15012 }
                  }
                }
              ]
            }
          ]
        }
      ],
      ['security.istio.io/v1', 'PeerAuthentication', { mtls: { mode: 'STRICT' } }]
    ] as const) {
      const obj = {
        apiVersion,
        kind,
        metadata: { name: `x-${kind.toLowerCase()}`, namespace: 'vm' },
        spec
      } as KubernetesObject
      const made = await c.objects.create(obj)
      assert.equal(made.kind, kind)
      await c.objects.delete(obj)
    }
    const badSe = await apiError(() =>
      c.objects.create({
        apiVersion: 'networking.istio.io/v1',
        kind: 'ServiceEntry',
        metadata: { name: 'bad', namespace: 'vm' },
        spec: { hosts: 'not-a-list' }
      } as KubernetesObject)
    )
    assert.equal(badSe.code, 422)
  })

  test('only v1beta1 for an older Istio', async () => {
    const old = await startSandboxCluster({ istioVersion: '1.12.9', echo: false })
    try {
      const { objects, core } = clients(old.kubeconfig)
      await assert.rejects(
        () =>
          objects.read({
            apiVersion: 'networking.istio.io/v1',
            kind: 'WorkloadEntry',
            metadata: { name: 'x', namespace: 'default' }
          }),
        /HTTP-Code: 404/
      )
      await objects.create({
        apiVersion: 'networking.istio.io/v1beta1',
        kind: 'WorkloadEntry',
        metadata: { name: 'x', namespace: 'default' },
        spec: { address: '198.18.2.9' }
      } as KubernetesObject)
      const mesh = await core.readNamespacedConfigMap({ name: 'istio', namespace: 'istio-system' })
      assert.match(mesh.data?.mesh ?? '', /istiod\.istio-system\.svc:15012/)
    } finally {
      await old.close()
    }
  })

  test('legacy installs: pilot + citadel, meshExpansion gateway, istio.<sa> secrets, istiocoredns', async () => {
    const legacy = await startSandboxCluster({
      istioVersion: '1.4.6',
      network: 'net-a',
      echo: false
    })
    try {
      const { apps, core, objects } = clients(legacy.kubeconfig)
      const names = (await apps.listNamespacedDeployment({ namespace: 'istio-system' })).items.map(
        d => d.metadata?.name
      )
      assert.deepEqual(names, [
        'istio-citadel',
        'istio-ingressgateway',
        'istio-pilot',
        'istiocoredns'
      ])
      const gw = await core.readNamespacedService({
        name: 'istio-ingressgateway',
        namespace: 'istio-system'
      })
      assert.equal(gw.status?.loadBalancer?.ingress?.[0]?.ip, '198.18.0.2')
      assert.ok(gw.spec?.ports?.some(p => p.port === 15011 && p.name === 'tcp-pilot-grpc-tls'))
      await objects.read({
        apiVersion: 'networking.istio.io/v1alpha3',
        kind: 'Gateway',
        metadata: { name: 'meshexpansion-gateway', namespace: 'istio-system' }
      })
      const mesh = await core.readNamespacedConfigMap({ name: 'istio', namespace: 'istio-system' })
      assert.match(mesh.data?.mesh ?? '', /discoveryAddress: istio-pilot\.istio-system:15011/)

      const secret = await core.readNamespacedSecret({
        name: 'istio.default',
        namespace: 'default'
      })
      assert.equal(secret.type, 'istio.io/key-and-cert')
      assert.equal(
        Buffer.from(secret.data?.['root-cert.pem'] ?? '', 'base64').toString(),
        legacy.ca.certPem
      )
      const { X509Certificate } = await import('node:crypto')
      const chain = new X509Certificate(
        Buffer.from(secret.data?.['cert-chain.pem'] ?? '', 'base64')
      )
      assert.match(
        chain.subjectAltName ?? '',
        /spiffe:\/\/cluster\.local\/ns\/default\/sa\/default/
      )

      await core.createNamespace({ body: { metadata: { name: 'vm' } } })
      await core.createNamespacedServiceAccount({
        namespace: 'vm',
        body: { metadata: { name: 'mysql' } }
      })
      await legacy.settled()
      await core.readNamespacedSecret({ name: 'istio.mysql', namespace: 'vm' })
    } finally {
      await legacy.close()
    }
    const ancient = await startSandboxCluster({ istioVersion: '0.8.0', echo: false })
    try {
      const { apps } = clients(ancient.kubeconfig)
      const names = (await apps.listNamespacedDeployment({ namespace: 'istio-system' })).items.map(
        d => d.metadata?.name
      )
      assert.deepEqual(names, ['istio-citadel', 'istio-pilot'])
    } finally {
      await ancient.close()
    }
  })

  test('TokenRequest → TokenReview: audience, expiry, tampering, deleted ServiceAccount', async () => {
    await c.core.createNamespacedServiceAccount({
      namespace: 'vm',
      body: { metadata: { name: 'mysql' } }
    })
    const tr = await c.core.createNamespacedServiceAccountToken({
      name: 'mysql',
      namespace: 'vm',
      body: { spec: { audiences: ['istio-ca'], expirationSeconds: 3600 } }
    })
    const token = tr.status?.token ?? ''
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/)
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
      sub: string
      aud: string[]
      exp: number
      iat: number
    }
    assert.equal(claims.sub, 'system:serviceaccount:vm:mysql')
    assert.deepEqual(claims.aud, ['istio-ca'])
    assert.equal(claims.exp - claims.iat, 3600)

    const review = async (
      t: string,
      audiences: string[]
    ): Promise<{ authenticated?: boolean; user?: { username?: string }; error?: string }> =>
      (await c.authn.createTokenReview({ body: { spec: { token: t, audiences } } })).status ?? {}
    const ok = await review(token, ['istio-ca'])
    assert.equal(ok.authenticated, true)
    assert.equal(ok.user?.username, 'system:serviceaccount:vm:mysql')
    assert.equal((await review(token, ['other'])).authenticated, false)
    const parts = token.split('.')
    const forged = Buffer.from(
      JSON.stringify({ ...claims, sub: 'system:serviceaccount:istio-system:istiod' })
    ).toString('base64url')
    assert.equal(
      (await review(`${parts[0]}.${forged}.${parts[2]}`, ['istio-ca'])).authenticated,
      false
    )
    const expired = cluster.mintServiceAccountToken({
      namespace: 'vm',
      serviceAccount: 'mysql',
      audiences: ['istio-ca'],
      expirationSeconds: -10
    })
    const expiredReview = await review(expired, ['istio-ca'])
    assert.equal(expiredReview.authenticated, false)
    assert.match(expiredReview.error ?? '', /expired/)
    assert.equal(
      cluster.reviewToken(token, ['istio-ca']).authenticated,
      true,
      'in-process review agrees'
    )

    const missingSa = await apiError(() =>
      c.core.createNamespacedServiceAccountToken({
        name: 'nobody',
        namespace: 'vm',
        body: { spec: { audiences: ['istio-ca'] } }
      })
    )
    assert.equal(missingSa.code, 404)
    const tooShort = await apiError(() =>
      c.core.createNamespacedServiceAccountToken({
        name: 'mysql',
        namespace: 'vm',
        body: { spec: { audiences: ['istio-ca'], expirationSeconds: 60 } }
      })
    )
    assert.equal(tooShort.code, 422)

    // a token for the API audience authenticates API requests as the ServiceAccount
    const apiToken =
      (
        await c.core.createNamespacedServiceAccountToken({
          name: 'mysql',
          namespace: 'vm',
          body: { spec: {} }
        })
      ).status?.token ?? ''
    const asSa = clients(cluster.kubeconfigFor(apiToken))
    await asSa.core.readNamespace({ name: 'vm' })
    assert.equal(
      cluster.requestLog.filter({ verb: 'get', resource: 'namespaces', name: 'vm' }).at(-1)?.user,
      'system:serviceaccount:vm:mysql'
    )

    await c.core.deleteNamespacedServiceAccount({ name: 'mysql', namespace: 'vm' })
    assert.equal(
      (await review(token, ['istio-ca'])).authenticated,
      false,
      'a deleted ServiceAccount invalidates its tokens'
    )
    assert.ok(
      !JSON.stringify(cluster.requestLog.entries).includes(token),
      'tokens never reach the request log'
    )
  })

  test('legacy Secret-based ServiceAccount tokens: filled by the token controller, API audience only', async () => {
    await c.core.createNamespace({ body: { metadata: { name: 'legacy-sa' } } })
    await c.core.createNamespacedServiceAccount({
      namespace: 'legacy-sa',
      body: { metadata: { name: 'app' } }
    })
    await c.core.createNamespacedSecret({
      namespace: 'legacy-sa',
      body: {
        metadata: {
          name: 'app-token',
          annotations: { 'kubernetes.io/service-account.name': 'app' }
        },
        type: 'kubernetes.io/service-account-token'
      }
    })
    const secret = await c.core.readNamespacedSecret({ name: 'app-token', namespace: 'legacy-sa' })
    const token = Buffer.from(secret.data?.token ?? '', 'base64').toString()
    assert.equal(
      Buffer.from(secret.data?.['ca.crt'] ?? '', 'base64').toString(),
      cluster.ca.certPem
    )
    const claims = JSON.parse(
      Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()
    ) as Record<string, unknown>
    assert.equal(claims.iss, 'kubernetes/serviceaccount')
    assert.equal(claims.exp, undefined)
    assert.equal(cluster.reviewToken(token).authenticated, true)
    assert.equal(cluster.reviewToken(token, ['istio-ca']).authenticated, false)
    const asApp = clients(cluster.kubeconfigFor(token))
    await asApp.core.readNamespace({ name: 'legacy-sa' })
    await c.core.deleteNamespacedSecret({ name: 'app-token', namespace: 'legacy-sa' })
    assert.equal(
      cluster.reviewToken(token).authenticated,
      false,
      'deleting the Secret revokes the token'
    )
    await c.core.deleteNamespace({ name: 'legacy-sa' })
  })

  test('401 without a valid token; 403 from the deny list names verb and resource', async () => {
    const anonymous = clients(cluster.kubeconfigFor('not-a-token'))
    const unauth = await apiError(() => anonymous.core.listNamespace())
    assert.equal(unauth.code, 401)

    const token = cluster.issueUserToken('alice')
    const alice = clients(cluster.kubeconfigFor(token, 'alice'))
    await alice.core.listNamespacedConfigMap({ namespace: 'default' })
    const undo = cluster.deny('alice', 'list', 'configmaps')
    const denied = await apiError(() =>
      alice.core.listNamespacedConfigMap({ namespace: 'default' })
    )
    assert.equal(denied.code, 403)
    assert.equal(denied.status.reason, 'Forbidden')
    assert.equal(
      denied.status.message,
      'configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" in the namespace "default"'
    )
    await alice.core.readNamespacedConfigMap({ name: 'istio-ca-root-cert', namespace: 'default' })
    cluster.deny('alice', 'create', 'workloadentries')
    const deniedWe = await apiError(() =>
      alice.objects.create({
        apiVersion: 'networking.istio.io/v1',
        kind: 'WorkloadEntry',
        metadata: { name: 'z', namespace: 'vm' },
        spec: { address: '198.18.2.4' }
      } as KubernetesObject)
    )
    assert.equal(deniedWe.code, 403)
    assert.match(
      deniedWe.status.message ?? '',
      /cannot create resource "workloadentries" in API group "networking.istio.io" in the namespace "vm"/
    )
    undo()
    await alice.core.listNamespacedConfigMap({ namespace: 'default' })
  })

  test('faults: 500, 429 with Retry-After, delay, drop; the request log counts', async () => {
    cluster.requestLog.clear()
    const fault = cluster.faults.add({
      match: { verb: 'get', resource: 'configmaps' },
      status: 500,
      times: 1
    })
    const e500 = await apiError(() =>
      c.core.readNamespacedConfigMap({ name: 'istio', namespace: 'istio-system' })
    )
    assert.equal(e500.code, 500)
    assert.equal(e500.status.reason, 'InternalError')
    assert.equal(fault.hits, 1)
    await c.core.readNamespacedConfigMap({ name: 'istio', namespace: 'istio-system' })

    cluster.faults.add({
      match: { path: /serviceaccounts/ },
      status: 429,
      retryAfterSeconds: 2,
      times: 1
    })
    const e429 = await apiError(() => c.core.listNamespacedServiceAccount({ namespace: 'default' }))
    assert.equal(e429.code, 429)
    assert.equal(e429.status.reason, 'TooManyRequests')
    assert.equal(e429.headers['retry-after'], '2')

    cluster.faults.add({ match: { verb: 'list', resource: 'pods' }, delayMs: 300, times: 1 })
    const t0 = Date.now()
    await c.core.listNamespacedPod({ namespace: 'sample' })
    assert.ok(Date.now() - t0 >= 290, 'the delay applies')

    cluster.faults.add({ match: { verb: 'list', resource: 'services' }, drop: true, times: 1 })
    await assert.rejects(() => c.core.listNamespacedService({ namespace: 'sample' }))
    await c.core.listNamespacedService({ namespace: 'sample' })

    assert.equal(cluster.requestLog.count({ verb: 'get', resource: 'configmaps' }), 2)
    assert.equal(cluster.requestLog.count({ resource: 'services', status: 0 }), 1)
    assert.deepEqual(cluster.requestLog.countByVerb({ resource: 'pods' }), { list: 1 })
    assert.equal(cluster.faults.rules.length, 0, 'rules with times retire')
  })

  test('pods/exec over WebSocket (v5 and v4): stdout, stderr, exit codes, stdin, errors', async () => {
    const ok = await runExec(c.kc, 'sample', 'sleep-6b8f4c7d9-m3n5p', 'sleep', [
      'sh',
      '-c',
      'echo out; echo err >&2'
    ])
    assert.equal(ok.stdout, 'out\n')
    assert.equal(ok.stderr, 'err\n')
    assert.equal(ok.status.status, 'Success')

    const failed = await runExec(c.kc, 'sample', 'sleep-6b8f4c7d9-m3n5p', 'sleep', [
      'sh',
      '-c',
      'exit 3'
    ])
    assert.equal(failed.status.status, 'Failure')
    assert.equal(failed.status.reason, 'NonZeroExitCode')
    assert.deepEqual(failed.status.details?.causes, [{ reason: 'ExitCode', message: '3' }])

    const withStdin = await runExec(
      c.kc,
      'sample',
      'sleep-6b8f4c7d9-m3n5p',
      'sleep',
      ['sh', '-c', 'tr a-z A-Z'],
      'hello mesh\n'
    )
    assert.equal(withStdin.stdout, 'HELLO MESH\n')
    assert.equal(withStdin.status.status, 'Success')

    const emptyCommand = await runExec(c.kc, 'sample', 'sleep-6b8f4c7d9-m3n5p', 'sleep', [''])
    assert.equal(
      emptyCommand.status.status,
      'Failure',
      'an empty program name fails like a runtime'
    )
    const directory = await runExec(c.kc, 'sample', 'sleep-6b8f4c7d9-m3n5p', 'sleep', ['/usr'])
    assert.equal(directory.status.status, 'Failure')
    const missingTool = await runExec(c.kc, 'sample', 'sleep-6b8f4c7d9-m3n5p', 'sleep', [
      'no-such-tool-here',
      '--version'
    ])
    assert.equal(missingTool.status.status, 'Failure')
    assert.match(missingTool.status.message ?? '', /executable file not found/)

    const v4 = new WebSocketHandler(
      c.kc,
      (uri, _protocols, opts) => new WebSocket(uri, ['v4.channel.k8s.io'], opts),
      { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }
    )
    const viaV4 = await runExec(
      c.kc,
      'sample',
      'sleep-6b8f4c7d9-m3n5p',
      'sleep',
      ['sh', '-c', 'echo four; exit 2'],
      undefined,
      v4
    )
    assert.equal(viaV4.stdout, 'four\n')
    assert.deepEqual(viaV4.status.details?.causes, [{ reason: 'ExitCode', message: '2' }])

    const denyExec = cluster.deny('admin', 'create', 'pods/exec')
    await assert.rejects(
      () => runExec(c.kc, 'sample', 'sleep-6b8f4c7d9-m3n5p', 'sleep', ['true']),
      /403/
    )
    denyExec()
    await assert.rejects(
      () =>
        runExec(
          clients(cluster.kubeconfigFor('wrong')).kc,
          'sample',
          'sleep-6b8f4c7d9-m3n5p',
          'sleep',
          ['true']
        ),
      /401/
    )
    await assert.rejects(() => runExec(c.kc, 'sample', 'no-such-pod', 'sleep', ['true']), /404/)
    await assert.rejects(
      () => runExec(c.kc, 'sample', 'sleep-6b8f4c7d9-m3n5p', 'wrong', ['true']),
      /400/
    )
    assert.equal(cluster.requestLog.count({ resource: 'pods/exec', status: 101 }), 7)
  })

  test('a pod that lacks an executable says so, like a container runtime', async () => {
    const pod = cluster.store.get('pods', 'sample', 'sleep-6b8f4c7d9-m3n5p')
    assert.ok(pod?.metadata)
    pod.metadata.annotations = {
      ...(pod.metadata.annotations ?? {}),
      'lab.mesh-expansion.dev/executables': 'sh,wget'
    }
    cluster.store.put(pod)
    const curl = await runExec(c.kc, 'sample', 'sleep-6b8f4c7d9-m3n5p', 'sleep', [
      'curl',
      '--version'
    ])
    assert.match(curl.status.message ?? '', /exec: "curl": executable file not found/)
    const sh = await runExec(c.kc, 'sample', 'sleep-6b8f4c7d9-m3n5p', 'sleep', [
      'sh',
      '-c',
      'echo yes'
    ])
    assert.equal(sh.stdout, 'yes\n')
  })

  test('the echo app answers with the request headers', async () => {
    assert.ok(cluster.echo)
    const res = await fetch(cluster.echo.url + 'some/path?q=1', {
      headers: { 'x-forwarded-client-cert': 'By=spiffe://cluster.local/ns/sample/sa/echo' }
    })
    const body = (await res.json()) as {
      method: string
      path: string
      headers: Record<string, string>
    }
    assert.equal(body.method, 'GET')
    assert.equal(body.path, '/some/path?q=1')
    assert.equal(
      body.headers['x-forwarded-client-cert'],
      'By=spiffe://cluster.local/ns/sample/sa/echo'
    )
  })

  test('watch streams changes until aborted', async () => {
    const { Watch } = await import('@kubernetes/client-node')
    const seen: string[] = []
    const gotThree = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no watch events in 5 s')), 5000)
      void new Watch(c.kc)
        .watch(
          '/api/v1/namespaces/default/configmaps',
          { labelSelector: 'watched=yes' },
          (type: string, obj: { metadata?: { name?: string } }) => {
            seen.push(`${type} ${obj.metadata?.name ?? ''}`)
            if (seen.length === 3) {
              clearTimeout(timer)
              resolve()
            }
          },
          () => undefined
        )
        .then(controller => {
          void gotThree.finally(() => controller.abort())
        })
    })
    await new Promise(r => setTimeout(r, 100))
    await c.core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'w', labels: { watched: 'yes' } } }
    })
    await c.core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'unwatched' } }
    })
    await c.core.patchNamespacedConfigMap({
      name: 'w',
      namespace: 'default',
      body: [{ op: 'add', path: '/data', value: { a: 'b' } }]
    })
    await c.core.deleteNamespacedConfigMap({ name: 'w', namespace: 'default' })
    await gotThree
    assert.deepEqual(seen, ['ADDED w', 'MODIFIED w', 'DELETED w'])
  })

  test('malformed requests get a Status, and the server keeps serving', async () => {
    const { request } = await import('node:https')
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${cluster.url}/api/v1/namespaces/%E0%A4%A/configmaps/x`,
        { ca: cluster.ca.certPem, headers: { authorization: `Bearer ${cluster.adminToken}` } },
        res => {
          res.resume()
          resolve(res.statusCode ?? 0)
        }
      )
      req.on('error', reject)
      req.end()
    })
    assert.equal(status, 404)
    const bad = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${cluster.url}/api/v1/namespaces/default/configmaps`,
        {
          method: 'POST',
          ca: cluster.ca.certPem,
          headers: {
            authorization: `Bearer ${cluster.adminToken}`,
            'content-type': 'application/json'
          }
        },
        res => {
          res.resume()
          resolve(res.statusCode ?? 0)
        }
      )
      req.on('error', reject)
      req.end('{not json')
    })
    assert.equal(bad, 400)
    await c.core.listNamespace()
  })

  test('watch from a resourceVersion replays what happened since; a too old one is 410 Gone', async () => {
    const { Watch } = await import('@kubernetes/client-node')
    const listed = await c.core.listNamespacedConfigMap({ namespace: 'default' })
    const rv = listed.metadata?.resourceVersion ?? ''
    await c.core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'between' } }
    })
    const first = (
      resourceVersion: string
    ): Promise<{ type: string; obj: { metadata?: { name?: string }; code?: number } }> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no watch event in 5 s')), 5000)
        let controller: AbortController | undefined
        let got: { type: string; obj: { metadata?: { name?: string }; code?: number } } | undefined
        void new Watch(c.kc)
          .watch(
            '/api/v1/namespaces/default/configmaps',
            { resourceVersion },
            (type: string, obj: { metadata?: { name?: string }; code?: number }) => {
              if (got) return
              got = { type, obj }
              clearTimeout(timer)
              controller?.abort()
              resolve(got)
            },
            () => undefined
          )
          .then(ctl => {
            controller = ctl
            if (got) ctl.abort()
          })
      })
    const replayed = await first(rv)
    assert.equal(replayed.type, 'ADDED')
    assert.equal(replayed.obj.metadata?.name, 'between')
    const gone = await first('1')
    assert.equal(gone.type, 'ERROR')
    assert.equal(gone.obj.code, 410)
    await c.core.deleteNamespacedConfigMap({ name: 'between', namespace: 'default' })
  })

  test('discovery and version', async () => {
    const res = await fetch(`${cluster.url}/version`, {
      headers: { authorization: `Bearer ${cluster.adminToken}` }
    }).catch(() => undefined)
    // fetch does not trust the lab CA: the point is that client-node does
    assert.equal(res, undefined)
    const { VersionApi, ApisApi } = await import('@kubernetes/client-node')
    const version = await c.kc.makeApiClient(VersionApi).getCode()
    assert.equal(version.gitVersion, 'v1.33.0')
    const groups = await c.kc.makeApiClient(ApisApi).getAPIVersions()
    const istio = groups.groups.find(g => g.name === 'networking.istio.io')
    assert.deepEqual(
      istio?.versions.map(v => v.version),
      ['v1', 'v1beta1', 'v1alpha3']
    )
    assert.equal(istio?.preferredVersion?.version, 'v1')
  })
})
