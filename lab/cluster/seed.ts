// Seeds the sandbox like a real cluster with a chosen Istio version installed by Helm/istioctl:
// istio-system, istiod (or pilot + citadel before 1.5), the mesh and injector ConfigMaps, webhooks
// with revision labels, the east-west gateway, istio-ca-root-cert in every namespace (as istiod
// publishes it), and an app namespace with an echo app and a sleep pod.
import { stringify } from 'yaml'
import { compareVersions } from './resources.ts'
import { SERVICE_CIDR, type KubeObject, type ObjectStore } from './store.ts'

export interface SeedOptions {
  istioVersion: string
  /** '' or undefined = the default revision */
  revision?: string
  istioNamespace: string
  clusterID: string
  trustDomain: string
  meshId?: string
  network?: string
  /** the gateway's load-balancer address; 'none' = no east-west gateway */
  eastWestGateway: { ip: string } | { hostname: string } | 'none'
  /** the Istio root certificate published as istio-ca-root-cert */
  rootCertPem: string
  /** namespace of the echo app and the sleep pod (default 'sample') */
  appNamespace?: string
  /** echo Service ClusterIP, pod IP and service port */
  echo?: { serviceIp?: string; podIp?: string; port?: number; targetPort?: number }
  /** sleep pod IP (default 198.18.1.11) */
  sleepPodIp?: string
  /** executables the sleep pod "has" (default: whatever the namespace/host has) */
  sleepExecutables?: string[]
  /** before 1.5: Helm's meshExpansion (gateway ports 15011/8060, meshexpansion-gateway); default true from 1.0 */
  meshExpansion?: boolean
  /** 1.3/1.4: the multi-network install (istiocoredns, istio-multicluster-ingressgateway); default: network set */
  multiNetwork?: boolean
  /** the kube-apiserver static pod in kube-system, as kubeadm runs it (default true) */
  apiserverPod?: boolean
}

const fieldManagerHelm = 'helm'

function labelsFor(rev: string): Record<string, string> {
  return { 'istio.io/rev': rev === '' ? 'default' : rev }
}

/** Publishes istio-ca-root-cert and the default ServiceAccount into every new namespace. */
export function installNamespaceHooks(store: ObjectStore, rootCertPem: string): () => void {
  const publish = (ns: string): void => {
    if (!store.get('serviceaccounts', ns, 'default')) {
      store.put(
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: ns } },
        { manager: 'kube-controller-manager' }
      )
    }
    if (!store.get('configmaps', ns, 'istio-ca-root-cert')) {
      store.put(
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name: 'istio-ca-root-cert',
            namespace: ns,
            labels: { 'istio.io/config': 'true' }
          },
          data: { 'root-cert.pem': rootCertPem }
        },
        { manager: 'pilot-discovery' }
      )
    }
  }
  for (const ns of store.list('namespaces')) publish(ns.metadata?.name ?? '')
  return store.onChange(event => {
    if (
      event.type === 'ADDED' &&
      event.resource.plural === 'namespaces' &&
      event.resource.group === ''
    ) {
      publish(event.object.metadata?.name ?? '')
    }
  })
}

function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }
}

function service(
  name: string,
  ns: string,
  spec: Record<string, unknown>,
  labels: Record<string, string> = {},
  status?: Record<string, unknown>
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, labels },
    spec,
    ...(status ? { status } : {})
  }
}

function endpoints(
  name: string,
  ns: string,
  ip: string,
  ports: Array<{ name: string; port: number }>,
  podName: string
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name, namespace: ns },
    subsets: [
      {
        addresses: [{ ip, targetRef: { kind: 'Pod', name: podName, namespace: ns } }],
        ports: ports.map(p => ({ ...p, protocol: 'TCP' }))
      }
    ]
  }
}

function deployment(
  name: string,
  ns: string,
  labels: Record<string, string>,
  containers: Array<Record<string, unknown>>,
  serviceAccount: string
): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { serviceAccountName: serviceAccount, containers } }
    },
    status: {
      replicas: 1,
      readyReplicas: 1,
      availableReplicas: 1,
      updatedReplicas: 1,
      observedGeneration: 1,
      // the deployment controller's conditions of a rolled-out Deployment (`kubectl wait
      // --for=condition=Available`): pkg/controller/deployment/util/deployment_util.go
      conditions: [
        {
          type: 'Available',
          status: 'True',
          reason: 'MinimumReplicasAvailable',
          message: 'Deployment has minimum availability.'
        },
        {
          type: 'Progressing',
          status: 'True',
          reason: 'NewReplicaSetAvailable',
          message: `ReplicaSet "${name}" has successfully progressed.`
        }
      ]
    }
  }
}

function pod(
  name: string,
  ns: string,
  labels: Record<string, string>,
  containers: Array<Record<string, unknown>>,
  ip: string,
  serviceAccount: string,
  annotations: Record<string, string> = {}
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels, annotations },
    spec: { serviceAccountName: serviceAccount, containers, nodeName: 'sandbox-node' },
    status: {
      phase: 'Running',
      podIP: ip,
      podIPs: [{ ip }],
      hostIP: '198.18.0.10',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: containers.map(c => ({
        name: c.name,
        ready: true,
        started: true,
        image: c.image,
        restartCount: 0,
        state: { running: {} }
      }))
    }
  }
}

/** The mesh config as Helm renders it into ConfigMap istio[-rev]. */
export function meshConfigYaml(o: SeedOptions): string {
  const rev = o.revision ?? ''
  const modern = compareVersions(o.istioVersion, '1.5') >= 0
  const discovery = modern
    ? `istiod${rev ? `-${rev}` : ''}.${o.istioNamespace}.svc:15012`
    : `istio-pilot.${o.istioNamespace}:15011`
  const mesh: Record<string, unknown> = {
    defaultConfig: {
      discoveryAddress: discovery,
      ...(modern ? {} : { controlPlaneAuthPolicy: 'MUTUAL_TLS' }),
      ...(o.meshId ? { meshId: o.meshId } : {}),
      proxyMetadata: {},
      tracing: { zipkin: { address: `zipkin.${o.istioNamespace}:9411` } }
    },
    enablePrometheusMerge: true,
    rootNamespace: o.istioNamespace,
    trustDomain: o.trustDomain
  }
  return stringify(mesh)
}

export function sidecarInjectorValues(o: SeedOptions): Record<string, unknown> {
  return {
    global: {
      hub: 'docker.io/istio',
      tag: o.istioVersion,
      istioNamespace: o.istioNamespace,
      meshID: o.meshId ?? '',
      multiCluster: { clusterName: o.clusterID, enabled: false },
      network: o.network ?? '',
      proxy: { image: 'proxyv2', statusPort: 15020, clusterDomain: 'cluster.local' },
      caAddress: '',
      pilotCertProvider: 'istiod'
    },
    revision: o.revision ?? '',
    istio_cni: { enabled: false },
    sidecarInjectorWebhook: {
      defaultTemplates: [],
      enableNamespacesByDefault: false,
      rewriteAppHTTPProbe: true
    }
  }
}

/** istiod[-rev] of a modern install: its ServiceAccount, Deployment, pod, Service and Endpoints. */
function seedIstiod(put: Put, o: SeedOptions, podIp: string): void {
  const rev = o.revision ?? ''
  const suffix = rev ? `-${rev}` : ''
  const ns = o.istioNamespace
  const istiodLabels = { app: 'istiod', istio: 'pilot', ...labelsFor(rev) }
  const image = `docker.io/istio/pilot:${o.istioVersion}`
  const env = [
    { name: 'REVISION', value: rev === '' ? 'default' : rev },
    { name: 'CLUSTER_ID', value: o.clusterID },
    { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
    { name: 'ISTIOD_ADDR', value: `istiod${suffix}.${ns}.svc:15012` }
  ]
  put({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: `istiod${suffix}`, namespace: ns }
  })
  put(
    deployment(
      `istiod${suffix}`,
      ns,
      istiodLabels,
      [
        {
          name: 'discovery',
          image,
          env,
          ports: [
            { containerPort: 8080 },
            { containerPort: 15010 },
            { containerPort: 15012 },
            { containerPort: 15017 }
          ]
        }
      ],
      `istiod${suffix}`
    )
  )
  put(
    pod(
      `istiod${suffix}-5d8f7c9b4-x2v7k`,
      ns,
      istiodLabels,
      [{ name: 'discovery', image }],
      podIp,
      `istiod${suffix}`,
      // the distroless image: the only executable is pilot-discovery (exec.ts answers its
      // `request` subcommand from istiod's debug endpoint)
      { 'lab.mesh-expansion.dev/executables': 'pilot-discovery' }
    ),
    'kube-controller-manager'
  )
  put(
    service(
      `istiod${suffix}`,
      ns,
      {
        clusterIP: rev ? undefined : '198.19.0.2',
        selector: istiodLabels,
        ports: [
          { name: 'grpc-xds', port: 15010, targetPort: 15010 },
          { name: 'https-dns', port: 15012, targetPort: 15012 },
          { name: 'https-webhook', port: 443, targetPort: 15017 },
          { name: 'http-monitoring', port: 15014, targetPort: 15014 }
        ]
      },
      { app: 'istiod', istio: 'pilot', ...labelsFor(rev) }
    )
  )
  put(
    endpoints(
      `istiod${suffix}`,
      ns,
      podIp,
      [
        { name: 'grpc-xds', port: 15010 },
        { name: 'https-dns', port: 15012 },
        { name: 'https-webhook', port: 15017 }
      ],
      `istiod${suffix}-5d8f7c9b4-x2v7k`
    ),
    'kube-controller-manager'
  )
}
/** ConfigMaps istio[-rev] and istio-sidecar-injector[-rev], the revision's injection webhook and,
 * for the cluster's own revision (`tagDefault`), the default tag's. */
function seedRevisionConfig(put: Put, o: SeedOptions, tagDefault: boolean): void {
  const rev = o.revision ?? ''
  const suffix = rev ? `-${rev}` : ''
  const ns = o.istioNamespace
  const modern = compareVersions(o.istioVersion, '1.5') >= 0
  put({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: `istio${suffix}`,
      namespace: ns,
      labels: { ...labelsFor(rev), release: 'istio' }
    },
    data: { mesh: meshConfigYaml(o), meshNetworks: 'networks: {}\n' }
  })
  if (compareVersions(o.istioVersion, '1.0') >= 0) {
    // the injector's values key appeared in 1.3; before 1.5 the webhook served from istio-sidecar-injector
    const injectorService = modern ? `istiod${suffix}` : 'istio-sidecar-injector'
    put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: `istio-sidecar-injector${suffix}`,
        namespace: ns,
        labels: { ...labelsFor(rev), release: 'istio' }
      },
      data: {
        ...(compareVersions(o.istioVersion, '1.3') >= 0
          ? { values: JSON.stringify(sidecarInjectorValues(o), null, 2) }
          : {}),
        config: stringify({
          defaultTemplates: ['sidecar'],
          policy: 'enabled',
          alwaysInjectSelector: [],
          neverInjectSelector: [],
          injectedAnnotations: {},
          templates: { sidecar: '# the sandbox does not inject\n' }
        })
      }
    })
    const webhook = (name: string, labels: Record<string, string>): KubeObject => ({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name, labels: { app: 'sidecar-injector', ...labels } },
      webhooks: [
        {
          name: 'rev.namespace.sidecar-injector.istio.io',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          clientConfig: {
            service: { name: injectorService, namespace: ns, path: '/inject', port: 443 }
          },
          namespaceSelector: {
            matchExpressions: [
              { key: 'istio.io/rev', operator: 'In', values: [rev === '' ? 'default' : rev] }
            ]
          }
        }
      ]
    })
    put(webhook(`istio-sidecar-injector${suffix}`, labelsFor(rev)))
    if (tagDefault && compareVersions(o.istioVersion, '1.10') >= 0) {
      const tagName =
        ns === 'istio-system' ? 'istio-revision-tag-default' : `istio-revision-tag-default-${ns}`
      put(webhook(tagName, { ...labelsFor(rev), 'istio.io/tag': 'default' }))
    }
  }
}

/**
 * Another revision beside the seeded one, as `istioctl install --revision <rev>` adds it: istiod-<rev>
 * (its own pod IP) with its ConfigMaps and injection webhook; the default tag stays where it was.
 */
export function seedRevision(store: ObjectStore, o: SeedOptions & { revision: string }): void {
  const put: Put = (obj, manager = fieldManagerHelm) => {
    store.put(obj, { manager })
  }
  seedIstiod(put, o, '198.18.1.3')
  seedRevisionConfig(put, o, false)
}

export function seedIstio(store: ObjectStore, o: SeedOptions): void {
  const put = (obj: KubeObject, manager = fieldManagerHelm): void => {
    store.put(obj, { manager })
  }
  const rev = o.revision ?? ''
  const ns = o.istioNamespace
  const app = o.appNamespace ?? 'sample'
  const modern = compareVersions(o.istioVersion, '1.5') >= 0
  installNamespaceHooks(store, o.rootCertPem)

  for (const n of ['default', 'kube-system', 'kube-public'])
    if (!store.namespaceExists(n)) put(namespace(n), 'kube-apiserver')
  put(namespace(ns, o.network ? { 'topology.istio.io/network': o.network } : {}))
  put(
    service(
      'kubernetes',
      'default',
      {
        clusterIP: '198.19.0.1',
        ports: [{ name: 'https', port: 443, targetPort: 6443, protocol: 'TCP' }]
      },
      { component: 'apiserver', provider: 'kubernetes' }
    ),
    'kube-apiserver'
  )
  seedClusterBasics(store, put, o)

  if (modern) {
    seedIstiod(put, o, '198.18.1.2')
  } else {
    // before 1.5: separate pilot and citadel (mesh expansion generations)
    const pilotLabels = { app: 'pilot', istio: 'pilot' }
    put({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'istio-pilot-service-account', namespace: ns }
    })
    put(
      deployment(
        'istio-pilot',
        ns,
        pilotLabels,
        [
          { name: 'discovery', image: `docker.io/istio/pilot:${o.istioVersion}` },
          { name: 'istio-proxy', image: `docker.io/istio/proxyv2:${o.istioVersion}` }
        ],
        'istio-pilot-service-account'
      )
    )
    put(
      service(
        'istio-pilot',
        ns,
        {
          selector: pilotLabels,
          ports: [
            { name: 'grpc-xds', port: 15010 },
            { name: 'https-xds', port: 15011 },
            { name: 'http-legacy-discovery', port: 8080 },
            { name: 'http-monitoring', port: 15014 }
          ]
        },
        pilotLabels
      )
    )
    const citadelLabels = { app: 'security', istio: 'citadel' }
    put(
      deployment(
        'istio-citadel',
        ns,
        citadelLabels,
        [{ name: 'citadel', image: `docker.io/istio/citadel:${o.istioVersion}` }],
        'istio-citadel-service-account'
      )
    )
    put(
      service(
        'istio-citadel',
        ns,
        {
          selector: citadelLabels,
          ports: [
            { name: 'grpc-citadel', port: 8060 },
            { name: 'http-monitoring', port: 15014 }
          ]
        },
        citadelLabels
      )
    )
  }

  seedRevisionConfig(put, o, true)

  if (!modern) seedLegacyMeshExpansion(put, o)
  if (o.eastWestGateway !== 'none' && modern) {
    const gwLabels = {
      app: 'istio-eastwestgateway',
      istio: 'eastwestgateway',
      ...(o.network ? { 'topology.istio.io/network': o.network } : {})
    }
    const lb =
      'ip' in o.eastWestGateway
        ? { ip: o.eastWestGateway.ip }
        : { hostname: o.eastWestGateway.hostname }
    put(
      deployment(
        'istio-eastwestgateway',
        ns,
        gwLabels,
        [{ name: 'istio-proxy', image: `docker.io/istio/proxyv2:${o.istioVersion}` }],
        'istio-eastwestgateway-service-account'
      )
    )
    put(
      service(
        'istio-eastwestgateway',
        ns,
        {
          type: 'LoadBalancer',
          clusterIP: '198.19.0.3',
          selector: gwLabels,
          ports: [
            { name: 'status-port', port: 15021, targetPort: 15021 },
            { name: 'tls', port: 15443, targetPort: 15443 },
            { name: 'tls-istiod', port: 15012, targetPort: 15012 },
            { name: 'tls-webhook', port: 15017, targetPort: 15017 }
          ]
        },
        gwLabels,
        { loadBalancer: { ingress: [lb] } }
      )
    )
  }

  // the app namespace: echo (answers with the request headers) and sleep (for checks from a pod)
  put(namespace(app, rev ? { 'istio.io/rev': rev } : { 'istio-injection': 'enabled' }))
  const echoPort = o.echo?.port ?? 80
  const echoTarget = o.echo?.targetPort ?? 8080
  const echoPodIp = o.echo?.podIp ?? '198.18.1.10'
  const proxy = { name: 'istio-proxy', image: `docker.io/istio/proxyv2:${o.istioVersion}` }
  put({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'echo', namespace: app } })
  put({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sleep', namespace: app } })
  put(
    deployment(
      'echo',
      app,
      { app: 'echo', version: 'v1' },
      [{ name: 'echo', image: 'sandbox/echo:1', ports: [{ containerPort: echoTarget }] }],
      'echo'
    )
  )
  put(
    service(
      'echo',
      app,
      {
        clusterIP: o.echo?.serviceIp ?? '198.19.0.10',
        selector: { app: 'echo' },
        ports: [{ name: 'http', port: echoPort, targetPort: echoTarget }]
      },
      { app: 'echo', service: 'echo' }
    )
  )
  put(
    pod(
      'echo-7f9c6d5b8-q4w2e',
      app,
      { app: 'echo', version: 'v1' },
      [{ name: 'echo', image: 'sandbox/echo:1' }, proxy],
      echoPodIp,
      'echo',
      { 'kubectl.kubernetes.io/default-container': 'echo' }
    ),
    'kube-controller-manager'
  )
  put(
    endpoints('echo', app, echoPodIp, [{ name: 'http', port: echoTarget }], 'echo-7f9c6d5b8-q4w2e'),
    'kube-controller-manager'
  )
  put(
    deployment(
      'sleep',
      app,
      { app: 'sleep' },
      [{ name: 'sleep', image: 'curlimages/curl', command: ['/bin/sleep', 'infinity'] }],
      'sleep'
    )
  )
  put(
    pod(
      'sleep-6b8f4c7d9-m3n5p',
      app,
      { app: 'sleep' },
      [{ name: 'sleep', image: 'curlimages/curl' }, proxy],
      o.sleepPodIp ?? '198.18.1.11',
      'sleep',
      {
        'kubectl.kubernetes.io/default-container': 'sleep',
        ...(o.sleepExecutables
          ? { 'lab.mesh-expansion.dev/executables': o.sleepExecutables.join(',') }
          : {})
      }
    ),
    'kube-controller-manager'
  )
}

type Put = (obj: KubeObject, manager?: string) => void

/**
 * What kube-apiserver and kubeadm leave in every cluster that tells the service CIDR: the
 * `kubernetes` ServiceCIDR (only where the API serves that kind) and the apiserver's static pod
 * with --service-cluster-ip-range in its command.
 */
function seedClusterBasics(store: ObjectStore, put: Put, o: SeedOptions): void {
  const cidrType = store.types.find(
    t => t.group === 'networking.k8s.io' && t.kind === 'ServiceCIDR'
  )
  if (cidrType) {
    put(
      {
        apiVersion: `networking.k8s.io/${cidrType.versions[0] ?? 'v1'}`,
        kind: 'ServiceCIDR',
        metadata: { name: 'kubernetes' },
        spec: { cidrs: [SERVICE_CIDR] },
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: '',
              message: 'Kubernetes Service CIDR is ready',
              lastTransitionTime: '2026-01-01T00:00:00Z'
            }
          ]
        }
      },
      'kube-apiserver'
    )
  }
  if (o.apiserverPod === false) return
  const labels = { component: 'kube-apiserver', tier: 'control-plane' }
  const command = [
    'kube-apiserver',
    '--advertise-address=198.18.0.1',
    '--allow-privileged=true',
    '--authorization-mode=Node,RBAC',
    '--client-ca-file=/etc/kubernetes/pki/ca.crt',
    '--enable-admission-plugins=NodeRestriction',
    '--secure-port=6443',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    '--tls-cert-file=/etc/kubernetes/pki/apiserver.crt'
  ]
  put(
    pod(
      'kube-apiserver-sandbox-node',
      'kube-system',
      labels,
      [{ name: 'kube-apiserver', image: 'registry.k8s.io/kube-apiserver:v1.33.0', command }],
      '198.18.0.10',
      'default',
      { 'kubernetes.io/config.source': 'file' }
    ),
    'kubelet'
  )
}

/**
 * 0.x (the ILB era): the Services of that release's install/kubernetes/mesh-expansion.yaml, each
 * with its load-balancer IP: istio-pilot-ilb, mixer-ilb and the CA ILB (istio-ca-ilb before 0.8,
 * citadel-ilb from 0.8) in the Istio namespace, dns-ilb in kube-system.
 */
function seedMeshExpansionIlbs(put: Put, o: SeedOptions): void {
  if (o.eastWestGateway === 'none') return
  const ns = o.istioNamespace
  const v = o.istioVersion
  const lb =
    'ip' in o.eastWestGateway
      ? { ip: o.eastWestGateway.ip }
      : { hostname: o.eastWestGateway.hostname }
  const tcp = (name: string | undefined, port: number): Record<string, unknown> => ({
    ...(name ? { name } : {}),
    port,
    protocol: 'TCP'
  })
  const since = (version: string): boolean => compareVersions(v, version) >= 0
  const pilotPorts = since('0.8')
    ? [
        tcp(undefined, 15005),
        tcp(undefined, 8080),
        tcp('grpc-pilot', 15010),
        tcp('tls-grpc-pilot', 15011)
      ]
    : since('0.7')
      ? [tcp('https-pilot', 15005), tcp('http-pilot', 8080)]
      : since('0.6')
        ? [tcp('https-pilot', 15003), tcp('http-pilot', 8080)]
        : since('0.5')
          ? [tcp(undefined, 15003), tcp(undefined, 8080)]
          : since('0.4')
            ? [tcp(undefined, 15003)]
            : [tcp(undefined, 8080)]
  const ca = since('0.8')
    ? { name: 'citadel-ilb', selector: { istio: 'citadel' } }
    : { name: 'istio-ca-ilb', selector: { istio: 'istio-ca' } }
  const ilbs: Array<[string, string, Record<string, string>, Array<Record<string, unknown>>]> = [
    ['istio-pilot-ilb', ns, { istio: 'pilot' }, pilotPorts],
    ['dns-ilb', 'kube-system', { 'k8s-app': 'kube-dns' }, [{ port: 53, protocol: 'UDP' }]],
    [
      'mixer-ilb',
      ns,
      since('0.8') ? { istio: 'mixer', 'istio-mixer-type': 'telemetry' } : { istio: 'mixer' },
      [tcp(undefined, since('0.4') ? 15004 : 9091)]
    ],
    [ca.name, ns, ca.selector, [tcp(undefined, 8060)]]
  ]
  for (const [name, namespace, selector, ports] of ilbs) {
    put(
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name,
          namespace,
          labels: { istio: name },
          annotations: { 'cloud.google.com/load-balancer-type': 'internal' }
        },
        spec: { type: 'LoadBalancer', selector, ports },
        status: { loadBalancer: { ingress: [lb] } }
      },
      'kubectl-client-side-apply'
    )
  }
}

/**
 * Before 1.5 (pilot + citadel): istio-ingressgateway with the mesh expansion ports and LB address,
 * meshexpansion-gateway with its VirtualServices (1.0+), and for 1.3/1.4 multi-network installs
 * istiocoredns and the multicluster gateway. 0.x installs get mesh-expansion.yaml's ILBs instead.
 */
function seedLegacyMeshExpansion(put: Put, o: SeedOptions): void {
  const ns = o.istioNamespace
  const v = o.istioVersion
  if (compareVersions(v, '1.0') < 0) {
    seedMeshExpansionIlbs(put, o)
    return
  }
  if (o.eastWestGateway === 'none') return
  const meshExpansion = o.meshExpansion ?? true
  const labels = { app: 'istio-ingressgateway', istio: 'ingressgateway' }
  const lb =
    'ip' in o.eastWestGateway
      ? { ip: o.eastWestGateway.ip }
      : { hostname: o.eastWestGateway.hostname }
  const ports = [
    { name: 'http2', port: 80, targetPort: 80 },
    { name: 'https', port: 443, targetPort: 443 },
    ...(compareVersions(v, '1.1') >= 0
      ? [
          { name: 'status-port', port: 15020, targetPort: 15020 },
          { name: 'tls', port: 15443, targetPort: 15443 }
        ]
      : []),
    ...(meshExpansion
      ? [
          { name: 'tcp-pilot-grpc-tls', port: 15011, targetPort: 15011 },
          // the 1.1 chart's meshExpansionPorts add mixer's port too
          ...(compareVersions(v, '1.1') >= 0
            ? [{ name: 'tcp-mixer-grpc-tls', port: 15004, targetPort: 15004 }]
            : []),
          { name: 'tcp-citadel-grpc-tls', port: 8060, targetPort: 8060 },
          { name: 'tcp-dns-tls', port: 853, targetPort: 853 }
        ]
      : [])
  ]
  put(
    deployment(
      'istio-ingressgateway',
      ns,
      labels,
      [{ name: 'istio-proxy', image: `docker.io/istio/proxyv2:${v}` }],
      'istio-ingressgateway-service-account'
    )
  )
  put(
    service(
      'istio-ingressgateway',
      ns,
      { type: 'LoadBalancer', clusterIP: '198.19.0.3', selector: labels, ports },
      labels,
      { loadBalancer: { ingress: [lb] } }
    )
  )
  if (meshExpansion) {
    const gw = (name: string, servers: unknown[]): KubeObject => ({
      apiVersion: 'networking.istio.io/v1alpha3',
      kind: 'Gateway',
      metadata: { name, namespace: ns },
      spec: { selector: { istio: 'ingressgateway' }, servers }
    })
    put(
      gw('meshexpansion-gateway', [
        { port: { name: 'tcp-pilot', number: 15011, protocol: 'TCP' }, hosts: ['*'] },
        { port: { name: 'tcp-citadel', number: 8060, protocol: 'TCP' }, hosts: ['*'] }
      ])
    )
    for (const [name, host, port] of [
      ['meshexpansion-vs-pilot', `istio-pilot.${ns}.svc.cluster.local`, 15011],
      ['meshexpansion-vs-citadel', `istio-citadel.${ns}.svc.cluster.local`, 8060]
    ] as const) {
      put({
        apiVersion: 'networking.istio.io/v1alpha3',
        kind: 'VirtualService',
        metadata: { name, namespace: ns },
        spec: {
          hosts: [host],
          gateways: ['meshexpansion-gateway'],
          tcp: [{ match: [{ port }], route: [{ destination: { host, port: { number: port } } }] }]
        }
      })
    }
  }
  const multiNetwork = o.multiNetwork ?? o.network !== undefined
  if (multiNetwork && compareVersions(v, '1.3') >= 0) {
    const dnsLabels = { app: 'istiocoredns' }
    put(
      deployment(
        'istiocoredns',
        ns,
        dnsLabels,
        [
          { name: 'coredns', image: 'coredns/coredns:1.6.2' },
          { name: 'istio-coredns-plugin', image: 'istio/coredns-plugin:0.2-istio-1.1' }
        ],
        'istiocoredns-service-account'
      )
    )
    put(
      service(
        'istiocoredns',
        ns,
        {
          clusterIP: '198.19.0.53',
          selector: dnsLabels,
          ports: [
            { name: 'dns', port: 53, protocol: 'UDP' },
            { name: 'dns-tcp', port: 53, protocol: 'TCP' }
          ]
        },
        dnsLabels
      )
    )
    put({
      apiVersion: 'networking.istio.io/v1alpha3',
      kind: 'Gateway',
      metadata: { name: 'istio-multicluster-ingressgateway', namespace: ns },
      spec: {
        selector: { istio: 'ingressgateway' },
        servers: [
          {
            hosts: ['*.global'],
            port: { name: 'tls', number: 15443, protocol: 'TLS' },
            tls: { mode: 'AUTO_PASSTHROUGH' }
          }
        ]
      }
    })
  }
}

/**
 * Citadel (before 1.5) writes a Secret istio.<sa> (root-cert.pem, cert-chain.pem, key.pem) for every
 * ServiceAccount, a moment after the account appears. `issue` signs a workload certificate.
 * Returns a function that waits until every pending secret is written, and one to stop.
 */
export function installCitadelHooks(
  store: ObjectStore,
  rootCertPem: string,
  issue: (spiffe: string) => Promise<{ certPem: string; keyPem: string }>,
  trustDomain = 'cluster.local'
): { settled(): Promise<void>; stop(): void } {
  const pending = new Set<Promise<void>>()
  const write = (ns: string, sa: string): void => {
    const job = issue(`spiffe://${trustDomain}/ns/${ns}/sa/${sa}`)
      .then(cert => {
        if (!store.get('serviceaccounts', ns, sa) || !store.namespaceExists(ns)) return
        const b64 = (s: string): string => Buffer.from(s).toString('base64')
        store.put(
          {
            apiVersion: 'v1',
            kind: 'Secret',
            type: 'istio.io/key-and-cert',
            metadata: {
              name: `istio.${sa}`,
              namespace: ns,
              annotations: { 'istio.io/service-account.name': sa }
            },
            data: {
              'root-cert.pem': b64(rootCertPem),
              'cert-chain.pem': b64(cert.certPem),
              'key.pem': b64(cert.keyPem)
            }
          },
          { manager: 'istio-citadel' }
        )
      })
      .catch(() => undefined)
      .finally(() => pending.delete(job))
    pending.add(job)
  }
  for (const sa of store.list('serviceaccounts'))
    write(sa.metadata?.namespace ?? '', sa.metadata?.name ?? '')
  const stop = store.onChange(event => {
    if (
      event.type === 'ADDED' &&
      event.resource.plural === 'serviceaccounts' &&
      event.resource.group === ''
    ) {
      write(event.object.metadata?.namespace ?? '', event.object.metadata?.name ?? '')
    }
  })
  return {
    settled: async () => {
      for (let i = 0; i < 100 && pending.size > 0; i++) await Promise.all([...pending])
    },
    stop
  }
}
