// The checks of src/verify against the lab: a VM made ready with the product's files (src/istio
// renderVmFiles), the sidecar stand-in and an echo app, checked over the product's SSH
// transport, with pods exec'd through the sandbox API and istiod's connections read through
// the API's service proxy. Then one thing broken at a time; exactly the expected check fails
// with the expected diagnosis.
//
// "A pod in the mesh" in the lab: the lab has no pod sidecars, so the pod `sleep-mesh` execs in
// the network namespace of a second lab VM onboarded with the pod's identity (sample/sleep):
// its requests to the group's service host leave through that sidecar with Istio mTLS, and the
// VM's sidecar names the identity in x-forwarded-client-cert and counts the request.
// "A pod without the mesh": the seeded `sleep` pod, whose commands run in the cluster namespace
// where no sidecar captures anything (its spec lists an istio-proxy container, its traffic
// does not pass one): plaintext, so the VM's sidecar adds no x-forwarded-client-cert.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { KubeConfig } from '@kubernetes/client-node'
import { labTestOptions } from '../helpers/lab.ts'
import { until } from '../helpers/wait.ts'
import {
  debugConnections,
  echoScriptPath,
  executablesAnnotation,
  netnsAnnotation,
  startSandboxCluster,
  type SandboxCluster
} from '../../lab/cluster/index.ts'
import { buildSidecarDeb } from '../../lab/mesh/deb.ts'
import { startLabIstiod, type LabIstiod } from '../../lab/mesh/index.ts'
import {
  BRIDGE_ADDRESS,
  CLUSTER_NETNS,
  GATEWAY_ADDRESS,
  addClusterAddress,
  downLab,
  runInVm,
  upLab,
  type LabVm
} from '../../lab/vms/index.ts'
import { parseDescription, type Description } from '../../src/config/index.ts'
import { createClusterClient } from '../../src/cluster/client.ts'
import type { ClusterClient } from '../../src/cluster/types.ts'
import { connectSsh, type SshTransport } from '../../src/host/index.ts'
import { parseWorkloadGroupYaml, renderVmFiles } from '../../src/istio/index.ts'
import {
  asUser,
  runChecks,
  STRICT_POLICY_NAME,
  verifyDeps,
  type CheckResult,
  type HostShell,
  type VerifyDeps
} from '../../src/verify/index.ts'

const ECHO_COMMAND =
  'systemd-run --unit=mx-echo python3 /opt/echo.py --host 0.0.0.0 --port 8080 --name vm-1'

async function inVm(vm: LabVm, command: string, input?: string | Buffer): Promise<string> {
  const r = await runInVm(vm, command, {
    timeoutMs: 60_000,
    ...(input !== undefined ? { input } : {})
  })
  assert.equal(r.code, 0, `${vm.name}: ${command}: ${r.stderr}`)
  return r.stdout
}

function summary(results: CheckResult[]): string {
  return results.map(r => `${r.status} ${r.name}: ${r.diagnosis ?? ''}`).join('\n')
}

describe('verify checks against the lab', labTestOptions(), () => {
  let cluster: SandboxCluster | undefined
  let istiod: LabIstiod | undefined
  let ssh: SshTransport | undefined
  let vm: LabVm
  let podVm: LabVm
  let client: ClusterClient
  let kc: KubeConfig
  let workdir = ''
  let echoIp = ''

  /** The meshed pod: its commands run in the second VM's network namespace. */
  function meshedPod(executables?: string[]): void {
    assert.ok(cluster)
    cluster.store.put({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'sleep-mesh-0',
        namespace: 'sample',
        labels: { app: 'sleep-mesh' },
        annotations: {
          [netnsAnnotation]: podVm.netns,
          'sidecar.istio.io/status': '{}',
          ...(executables ? { [executablesAnnotation]: executables.join(',') } : {})
        }
      },
      spec: {
        serviceAccountName: 'sleep',
        containers: [
          { name: 'sleep', image: 'curlimages/curl' },
          { name: 'istio-proxy', image: 'proxyv2' }
        ]
      },
      status: { phase: 'Running', podIP: podVm.address }
    })
  }

  /** Renders the product's files for a workload and starts its sidecar in `target`. */
  async function onboard(
    target: LabVm,
    group: { name: string; namespace: string; serviceAccount: string; port: number },
    deb: string
  ): Promise<void> {
    assert.ok(cluster)
    const workloadGroup = parseWorkloadGroupYaml(`apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata:
  name: ${group.name}
  namespace: ${group.namespace}
spec:
  metadata:
    labels:
      app: ${group.name}
  template:
    serviceAccount: ${group.serviceAccount}
    ports:
      http: ${group.port}
`)
    const mesh = (cluster.store.get('configmaps', 'istio-system', 'istio')?.['data'] ??
      {}) as Record<string, string>
    const root = (cluster.store.get('configmaps', group.namespace, 'istio-ca-root-cert')?.[
      'data'
    ] ?? {}) as Record<string, string>
    const token = await client.createToken(group.namespace, group.serviceAccount, {
      audiences: ['istio-ca'],
      expirationSeconds: 3600
    })
    const { files } = renderVmFiles({
      workloadGroup,
      meshConfig: mesh['mesh'] ?? '',
      clusterID: 'Kubernetes',
      ingress: GATEWAY_ADDRESS,
      rootCert: root['root-cert.pem'] ?? '',
      token
    })
    // no name server of its own (see manual-steps): DNS capture redirects what the kernel routes
    await inVm(
      target,
      `printf 'nameserver ${BRIDGE_ADDRESS}\\noptions timeout:1 attempts:1\\n' > /etc/resolv.conf`
    )
    await inVm(target, 'cat > /root/istio-sidecar.deb', await readFile(deb))
    await inVm(target, 'dpkg -i /root/istio-sidecar.deb >/dev/null')
    const put = async (path: string, content: string): Promise<void> => {
      await inVm(target, `mkdir -p "$(dirname ${path})" && cat > ${path}`, content)
    }
    await put('/etc/certs/root-cert.pem', files['root-cert.pem'])
    await put('/var/run/secrets/tokens/istio-token', files['istio-token'])
    await put('/var/lib/istio/envoy/cluster.env', files['cluster.env'])
    await put('/etc/istio/config/mesh', files['mesh.yaml'])
    await inVm(target, `cat >> /etc/hosts`, files.hosts)
    await inVm(target, 'cp /var/lib/istio/envoy/cluster.env /root/cluster.env.orig')
    await inVm(
      target,
      'mkdir -p /etc/istio/proxy && chown -R istio-proxy /var/lib/istio /etc/certs /etc/istio/proxy /etc/istio/config /var/run/secrets && systemctl start istio'
    )
  }

  async function ready(target: LabVm): Promise<void> {
    await until(`${target.name} ready`, 30_000, async () => {
      const r = await runInVm(
        target,
        'curl -s -o /dev/null -w "%{http_code}" 127.0.0.1:15021/healthz/ready'
      )
      return r.stdout === '200'
    })
    await istiod!.waitForProxy(p => p.ip === target.address, 15_000)
  }

  before(async () => {
    workdir = await mkdtemp(join(tmpdir(), 'mx-verify-'))
    const lab = await upLab({ vms: 2 })
    assert.ok(lab.vms[0] && lab.vms[1], 'the lab has fewer than 2 VMs')
    vm = lab.vms[0]
    podVm = lab.vms[1]
    cluster = await startSandboxCluster({
      host: BRIDGE_ADDRESS,
      port: 6443,
      podNetns: CLUSTER_NETNS,
      istiodDebug: path =>
        path === '/debug/connections' && istiod
          ? debugConnections(istiod.connectedProxies())
          : undefined
    })
    kc = new KubeConfig()
    kc.loadFromString(cluster.kubeconfig)
    client = await createClusterClient(kc)
    const echo = cluster.store.get('services', 'sample', 'echo') as { spec: { clusterIP: string } }
    echoIp = echo.spec.clusterIP
    await addClusterAddress(echoIp)
    istiod = await startLabIstiod({
      cluster,
      host: GATEWAY_ADDRESS,
      heartbeatSeconds: 1,
      graceSeconds: 2
    })

    await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'vm' } })
    await client.apply({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'vm-app', namespace: 'vm' }
    })
    // what the product registers for the group (default service: a ServiceEntry): a pod → VM
    // check calls its host, which the pod's sidecar routes to this endpoint with mTLS
    await client.apply({
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'vm-app', namespace: 'vm' },
      spec: {
        hosts: ['vm-app.vm.svc.cluster.local'],
        location: 'MESH_INTERNAL',
        ports: [{ name: 'http', number: 8080, protocol: 'HTTP', targetPort: 8080 }],
        resolution: 'STATIC',
        workloadSelector: { labels: { app: 'vm-app' } }
      }
    })
    await client.apply({
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadEntry',
      metadata: { name: 'vm-app-endpoint', namespace: 'vm' },
      spec: { address: vm.address, serviceAccount: 'vm-app', labels: { app: 'vm-app' } }
    })
    meshedPod()

    const deb = await buildSidecarDeb(workdir, { version: cluster.istioVersion })
    await onboard(
      vm,
      { name: 'vm-app', namespace: 'vm', serviceAccount: 'vm-app', port: 8080 },
      deb
    )
    await onboard(
      podVm,
      { name: 'sleep-mesh', namespace: 'sample', serviceAccount: 'sleep', port: 9999 },
      deb
    )
    // the app on the VM: the lab's echo, answering with the request headers it got
    await inVm(vm, 'cat > /opt/echo.py', await readFile(echoScriptPath))
    await inVm(vm, ECHO_COMMAND)
    await ready(vm)
    await ready(podVm)

    ssh = await connectSsh({
      host: vm.sshHost,
      port: vm.sshPort,
      user: vm.user,
      privateKey: vm.privateKey,
      hostKeys: { kind: 'fingerprints', fingerprints: [vm.hostKeyFingerprint] }
    })
  })

  after(async () => {
    await ssh?.close()
    await istiod?.close()
    await cluster?.close()
    await downLab()
    if (workdir) await rm(workdir, { recursive: true, force: true })
  })

  function description(caller: 'sleep-mesh' | 'sleep', user = vm.user, probe = false): Description {
    const parsed = parseDescription(
      `workloadGroups:
  - name: vm-app
    namespace: vm
    ports: {http: 8080}
${probe ? '    probe: {httpGet: {port: 8080}}\n' : ''}vms:
  - name: vm-1
    host: ${vm.address}
    user: ${user}
    address: ${vm.address}
checks:
  - name: vm-1 to echo by its cluster name
    from: vm/vm-1
    url: http://echo.sample.svc.cluster.local/
    timeout: 3
    attempts: 2
  - name: ${caller} pod to vm-1
    from: pod/sample/app=${caller}
    to: vm/vm-1
    timeout: 3
    attempts: 2
`,
      'verify-lab.yaml'
    )
    assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.errors))
    return parsed.description
  }

  /** Runs the checks of `description(caller)` the way the engine would (verifyDeps). */
  function check(
    caller: 'sleep-mesh' | 'sleep',
    extra: Partial<VerifyDeps> = {},
    d = description(caller)
  ): Promise<CheckResult[]> {
    assert.ok(ssh)
    const deps = verifyDeps({
      description: d,
      transports: new Map([['vm-1', ssh]]),
      addresses: new Map([['vm-1', vm.address]]),
      kubeConfig: kc,
      client,
      istioNamespace: 'istio-system',
      revision: '',
      networkingVersion: 'v1'
    })
    return runChecks(d, {
      ...deps,
      builtin: { attempts: 3, timeoutSeconds: 3 },
      retryDelayMs: 300,
      ...extra
    })
  }

  /** Changes cluster.env and restarts the sidecar; `restore` puts the original back. */
  async function withClusterEnv(lines: string, body: () => Promise<void>): Promise<void> {
    await inVm(
      vm,
      `printf '%s\\n' '${lines}' >> /var/lib/istio/envoy/cluster.env && systemctl restart istio`
    )
    try {
      await ready(vm)
      await body()
    } finally {
      await inVm(
        vm,
        'cp /root/cluster.env.orig /var/lib/istio/envoy/cluster.env && systemctl restart istio'
      )
      await ready(vm)
    }
  }

  test('all in the mesh: every check passes, with the caller identity as evidence; STRICT removed', async t => {
    const results = await check('sleep-mesh', { strictMtls: true, strictSettleMs: 100 })
    t.diagnostic(summary(results))
    assert.deepEqual(
      results.map(r => [r.kind, r.status]),
      [
        ['sidecar-ready', 'pass'],
        ['istiod-connection', 'pass'],
        ['host-to-cluster', 'pass'],
        ['cluster-to-host', 'pass'],
        ['strict-mtls', 'pass']
      ],
      summary(results)
    )
    const toEcho = results[2]
    assert.equal(toEcho?.evidence.headers?.['server'], 'envoy')
    assert.equal(toEcho?.evidence.resolved, echoIp)
    // the VM's own sidecar named the VM's identity to the echo
    assert.ok(
      toEcho?.evidence.notes?.includes('caller identity spiffe://cluster.local/ns/vm/sa/vm-app'),
      JSON.stringify(toEcho?.evidence)
    )
    assert.match(toEcho?.evidence.where ?? '', new RegExp(`as ${vm.user}$`))
    const fromPod = results[3]
    assert.ok(
      fromPod?.evidence.notes?.includes(
        'caller identity spiffe://cluster.local/ns/sample/sa/sleep'
      ),
      JSON.stringify(fromPod?.evidence)
    )
    assert.equal(
      cluster!.store.get('peerauthentications.security.istio.io', 'vm', STRICT_POLICY_NAME),
      undefined
    )
  })

  test('a wrong ISTIO_SERVICE_CIDR: only vm → cluster fails, resolved but not intercepted', async t => {
    await withClusterEnv("ISTIO_SERVICE_CIDR='198.18.254.0/24'", async () => {
      const results = await check('sleep-mesh')
      t.diagnostic(summary(results))
      assert.deepEqual(
        results.map(r => r.status),
        ['pass', 'pass', 'fail', 'pass'],
        summary(results)
      )
      assert.match(
        results[2]?.diagnosis ?? '',
        /^resolved to 198\.19\.\d+\.\d+ but not intercepted: no `server: envoy` \(`server: echo\/1 [^`]*`, status 200\); check ISTIO_SERVICE_CIDR/
      )
    })
  })

  test('no hosts entry and DNS capture off: only vm → cluster fails, the name does not resolve', async t => {
    assert.doesNotMatch(await inVm(vm, 'cat /etc/hosts'), /echo\.sample/)
    await withClusterEnv("ISTIO_META_DNS_CAPTURE='false'", async () => {
      const results = await check('sleep-mesh')
      t.diagnostic(summary(results))
      assert.deepEqual(
        results.map(r => r.status),
        ['pass', 'pass', 'fail', 'pass'],
        summary(results)
      )
      assert.match(
        results[2]?.diagnosis ?? '',
        /^"echo\.sample\.svc\.cluster\.local" does not resolve on vm\/vm-1: no hosts entry and no answer from the sidecar's DNS capture/
      )
    })
  })

  test('a pod without the mesh: only pod → vm fails, the caller has no identity', async t => {
    const results = await check('sleep')
    t.diagnostic(summary(results))
    assert.deepEqual(
      results.map(r => r.status),
      ['pass', 'pass', 'pass', 'fail'],
      summary(results)
    )
    assert.match(
      results[3]?.diagnosis ?? '',
      // plaintext from outside the mesh: the VM's sidecar adds no XFCC (only for mTLS peers)
      /^the calling pod is not in the mesh: the VM's sidecar saw the caller without an identity \(no x-forwarded-client-cert\), not spiffe:\/\/…\/ns\/sample\/sa\/sleep/
    )
  })

  test('the sidecar stopped: readiness fails with the service state, the rest is skipped', async t => {
    await inVm(vm, 'systemctl stop istio')
    try {
      const results = await check('sleep-mesh')
      t.diagnostic(summary(results))
      assert.deepEqual(
        results.map(r => r.status),
        ['fail', 'skip', 'skip', 'skip'],
        summary(results)
      )
      assert.match(
        results[0]?.diagnosis ?? '',
        /^sidecar not ready: the istio service is inactive on vm-1; start it with `systemctl start istio`/
      )
      assert.match(results[2]?.diagnosis ?? '', /^not run: the sidecar of vm\/vm-1 is not ready/)
    } finally {
      await inVm(vm, 'systemctl start istio')
      await ready(vm)
    }
  })

  for (const [executables, tool] of [
    [['sh', 'wget'], 'wget'],
    [['python3'], 'python3']
  ] as const) {
    test(`a pod that has only ${executables.join(' and ')}: the request is made with ${tool}`, async t => {
      meshedPod([...executables])
      try {
        const results = await check('sleep-mesh')
        t.diagnostic(summary(results))
        assert.deepEqual(
          results.map(r => r.status),
          ['pass', 'pass', 'pass', 'pass'],
          summary(results)
        )
        assert.equal(results[3]?.evidence.tool, tool)
        assert.ok(
          results[3]?.evidence.notes?.includes(
            'caller identity spiffe://cluster.local/ns/sample/sa/sleep'
          )
        )
      } finally {
        meshedPod()
      }
    })
  }

  test('no hosts entry for istiod: readiness fails and names the missing entry', async t => {
    await inVm(
      vm,
      "cp /etc/hosts /root/hosts.orig && sed -i '/istiod/d' /etc/hosts && systemctl restart istio"
    )
    try {
      // the agent logs the lookup failure at once, then retries with backoff
      await until('no such host in istio.log', 20_000, async () =>
        /no such host/.test(await inVm(vm, 'cat /var/log/istio/istio.log'))
      )
      const results = await check('sleep-mesh')
      t.diagnostic(summary(results))
      assert.deepEqual(
        results.map(r => r.status),
        ['fail', 'skip', 'skip', 'skip'],
        summary(results)
      )
      assert.match(
        results[0]?.diagnosis ?? '',
        /^sidecar not ready: 503 not ready: .*; istiod's name "istiod\.istio-system\.svc" does not resolve on the VM: its hosts entry is missing$/
      )
    } finally {
      await inVm(vm, 'cp /root/hosts.orig /etc/hosts && systemctl restart istio')
      await ready(vm)
    }
  })

  test('logged in as root: the request to the cluster runs as nobody, and passes', async t => {
    // a shell as root on the VM (nsenter), in place of an SSH login as root
    const rootShell: HostShell = {
      async run(command, options) {
        const r = await runInVm(vm, asUser(command, options.user, 'root'), {
          timeoutMs: options.timeoutMs
        })
        return { code: r.code, stdout: r.stdout, stderr: r.stderr }
      }
    }
    const d = description('sleep-mesh', 'root')
    const results = await runChecks(d, {
      host: name => (name === 'vm-1' ? rootShell : undefined),
      vmAddress: name => (name === 'vm-1' ? vm.address : undefined),
      builtin: { attempts: 3, timeoutSeconds: 3 },
      retryDelayMs: 300,
      ...(({ pods, controlPlane }) => ({ pods, controlPlane }))(
        verifyDeps({
          description: d,
          transports: new Map(),
          addresses: new Map(),
          kubeConfig: kc,
          client,
          istioNamespace: 'istio-system',
          revision: '',
          networkingVersion: 'v1'
        })
      )
    })
    t.diagnostic(summary(results))
    assert.deepEqual(
      results.map(r => r.status),
      ['pass', 'pass', 'pass', 'pass'],
      summary(results)
    )
    assert.equal(results[2]?.evidence.where, 'vm/vm-1 as nobody')
  })

  test('WorkloadEntry health: Healthy with the app up; unhealthy (and the app check fails) with it down', async t => {
    assert.ok(cluster)
    await client.apply({
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadEntry',
      metadata: {
        name: 'vm-1',
        namespace: 'vm',
        annotations: { 'proxy.istio.io/health-checks-enabled': 'true' }
      },
      spec: { address: vm.address, serviceAccount: 'vm-app', labels: { app: 'vm-app' } }
    })
    // the group's probe in the mesh config, and the entry the proxy reports for
    const workloadGroup = parseWorkloadGroupYaml(`apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata:
  name: vm-app
  namespace: vm
spec:
  metadata:
    labels:
      app: vm-app
  template:
    serviceAccount: vm-app
    ports:
      http: 8080
  probe:
    periodSeconds: 1
    failureThreshold: 1
    httpGet:
      port: 8080
`)
    const mesh = (cluster.store.get('configmaps', 'istio-system', 'istio')?.['data'] ??
      {}) as Record<string, string>
    const { files } = renderVmFiles({
      workloadGroup,
      meshConfig: mesh['mesh'] ?? '',
      clusterID: 'Kubernetes',
      ingress: GATEWAY_ADDRESS,
      rootCert: '',
      token: '',
      extraProxyMetadata: { ISTIO_META_WORKLOAD_ENTRY: 'vm-1' }
    })
    const health = async (): Promise<string> => {
      const entry = cluster!.store.get('workloadentries.networking.istio.io', 'vm', 'vm-1') as {
        status?: { conditions?: Array<{ type: string; status: string }> }
      }
      return entry.status?.conditions?.find(c => c.type === 'Healthy')?.status ?? ''
    }
    await inVm(vm, 'cp /etc/istio/config/mesh /root/mesh.orig')
    await inVm(vm, 'cat > /etc/istio/config/mesh && systemctl restart istio', files['mesh.yaml'])
    try {
      await ready(vm)
      await until('Healthy=True', 20_000, async () => (await health()) === 'True')
      const d = description('sleep-mesh', vm.user, true)
      const up = await check('sleep-mesh', {}, d)
      t.diagnostic(summary(up))
      assert.deepEqual(
        up.map(r => [r.kind, r.status]),
        [
          ['sidecar-ready', 'pass'],
          ['istiod-connection', 'pass'],
          ['workload-entry-health', 'pass'],
          ['host-to-cluster', 'pass'],
          ['cluster-to-host', 'pass']
        ],
        summary(up)
      )
      await inVm(vm, 'systemctl stop mx-echo')
      await until('Healthy=False', 20_000, async () => (await health()) === 'False')
      const down = await check('sleep-mesh', {}, d)
      t.diagnostic(summary(down))
      assert.deepEqual(
        down.map(r => r.status),
        ['pass', 'pass', 'fail', 'pass', 'fail'],
        summary(down)
      )
      assert.match(
        down[2]?.diagnosis ?? '',
        /^WorkloadEntry vm\/vm-1 is unhealthy \(.*refused.*\): the group's probe fails on vm-1/
      )
      assert.match(
        down[4]?.diagnosis ?? '',
        /^the VM's sidecar answered 503 but the app behind port 8080 did not/
      )
    } finally {
      await runInVm(vm, `systemctl reset-failed mx-echo; ${ECHO_COMMAND}`)
      await inVm(vm, 'cp /root/mesh.orig /etc/istio/config/mesh && systemctl restart istio')
      await ready(vm)
      await client.delete({
        apiVersion: 'networking.istio.io/v1',
        kind: 'WorkloadEntry',
        namespace: 'vm',
        name: 'vm-1'
      })
    }
  })
})
