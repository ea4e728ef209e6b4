// The older generations end to end: for each, the lab seeds a cluster of that era (pilot and
// Citadel, istio.<sa> Secrets signed by the lab CA, the ILBs or the meshExpansion gateway, for
// 1.4 istiocoredns), the product detects the generation, onboards a VM with that era's files,
// registers it that era's way, and the checks prove traffic through the sidecar both ways. A
// second apply writes nothing; cleanup leaves no object, no file and no gateway port behind.
// Apply and cleanup run as a ServiceAccount bound to exactly what `mesh-expansion rbac
// --generation <that generation>` prints (issue #16), with the sandbox API enforcing RBAC
// (lab/cluster/rbac.ts, as plugin/pkg/auth/authorizer/rbac/rbac.go): the older generations' own
// grants (Citadel's secrets, the gateway Service's ports, CoreDNS) are proven by these runs.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { labTestOptions } from '../helpers/lab.ts'
import { bindServiceAccount } from '../helpers/serviceAccount.ts'
import {
  LAB_SIDECAR_PACKAGE,
  startLabEnvironment,
  type LabEnvironment,
  type LabGeneration
} from '../../lab/environment.ts'
import { runInVm } from '../../lab/vms/index.ts'
import { parseDescription, type Description } from '../../src/config/index.ts'
import { connect } from '../../src/cluster/connection.ts'
import { apply, cleanup, type EngineOptions } from '../../src/engine/run.ts'
import { renderRbac } from '../../src/commands/rbac.ts'
import type { RunReport } from '../../src/engine/report.ts'

const OWNER = 'gen-e2e'

function description(
  env: LabEnvironment,
  generation: LabGeneration,
  legacy: string,
  url: string
): Description {
  const vm = env.vms[0]
  if (!vm) throw new Error('no VM')
  const parsed = parseDescription(
    `cluster:
  generation: auto
  legacy:
${legacy}
workloadGroups:
  - name: echo-vm
    namespace: vm
    serviceAccount: echo-vm
    labels: {app: echo-vm, version: v1}
    ports: {http-echo: 8080}
    sidecar: {package: ${LAB_SIDECAR_PACKAGE}}
vms:
  - name: vm-1
    host: ${vm.address}
ssh:
  user: ${vm.user}
checks:
  - name: vm to the cluster
    from: vm/vm-1
    url: ${url}
    expect: {headers: {server: envoy}}
  - name: the cluster to vm
    from: pod/sample/app=sleep-mesh
    to: vm/vm-1
    port: 8080
    expect: {headers: {server: envoy}}
`,
    `${generation}.yaml`
  )
  if (!parsed.ok) throw new Error(parsed.errors.map(e => `${e.path}: ${e.message}`).join('; '))
  return parsed.description
}

function engineOptions(env: LabEnvironment, lines: string[]): EngineOptions {
  return {
    owner: OWNER,
    env: env.secrets,
    log: line => lines.push(line),
    warn: line => lines.push(`warning: ${line}`),
    onSecret: () => undefined
  }
}

async function inVm(
  env: LabEnvironment,
  command: string
): Promise<{ code: number; stdout: string }> {
  const vm = env.vms[0]
  if (!vm) throw new Error('no VM')
  const r = await runInVm(vm, command, { timeoutMs: 30_000 })
  return { code: r.code, stdout: r.stdout }
}

function explain(report: RunReport, lines: string[]): string {
  return [...report.problems, ...lines.slice(-30)].join('\n')
}

interface Case {
  generation: LabGeneration
  legacy: string
  url: string
  /** the cluster before the run: the gateway without its meshExpansion ports */
  meshExpansionPorts?: false
  /** kubeadm's CoreDNS ConfigMap, which the .global stub goes into */
  coreDns?: true
  /** requests only this generation's grants allow: the ServiceAccount must have made each */
  legacyRequests: string[]
  /** what the VM must hold after apply */
  onVm: (env: LabEnvironment) => Promise<void>
  /** what the cluster must hold after apply */
  inCluster: (env: LabEnvironment) => void
}

/** what Helm's meshExpansion adds to the ingress gateway (src/istio/legacy/meshExpansion.ts) */
const MESH_EXPANSION_PORTS = [15011, 15004, 8060, 853]
const COREFILE = '.:53 {\n    errors\n    forward . /etc/resolv.conf\n}\n'

/** istio-ingressgateway's ports, when the generation has one. */
function gatewayPorts(env: LabEnvironment): number[] | undefined {
  const gateway = env.cluster.store.get('services', 'istio-system', 'istio-ingressgateway') as {
    spec?: { ports?: { port: number }[] }
  } | null
  return gateway ? (gateway.spec?.ports ?? []).map(p => p.port).sort((a, b) => a - b) : undefined
}

const serviceEntry = (env: LabEnvironment, ns: string, name: string): unknown =>
  env.cluster.store.get('serviceentries.networking.istio.io', ns, name)

const cases: Case[] = [
  {
    generation: 'scripts-0.8',
    legacy: '    controlPlaneAuth: MUTUAL_TLS',
    url: 'http://echo.sample.svc.cluster.local/',
    legacyRequests: [
      'GET /api/v1/namespaces/vm/secrets/istio.echo-vm',
      'GET /api/v1/namespaces/istio-system/services/istio-pilot-ilb',
      'GET /api/v1/namespaces/kube-system/services/dns-ilb'
    ],
    onVm: async env => {
      const env_ = await inVm(
        env,
        'cat /var/lib/istio/envoy/cluster.env /var/lib/istio/envoy/sidecar.env'
      )
      assert.match(env_.stdout, /^ISTIO_SERVICE_CIDR=198\.19\.0\.0\/16$/m)
      assert.match(env_.stdout, /^CONTROL_PLANE_AUTH_POLICY=MUTUAL_TLS$/m)
      assert.match(env_.stdout, /^ISTIO_CP_AUTH=MUTUAL_TLS$/m)
      assert.match(env_.stdout, /^ISTIO_INBOUND_PORTS=8080$/m)
      // names through dnsmasq: the control plane at its ILB, cluster services at the dns-ilb
      const pilot = await inVm(env, 'getent hosts istio-pilot.istio-system')
      assert.match(pilot.stdout, /^198\.18\.0\.2\s/)
      const echo = await inVm(env, 'getent hosts echo.sample.svc.cluster.local')
      assert.match(echo.stdout, /^198\.19\./)
      const token = await inVm(env, 'test -e /var/run/secrets/tokens/istio-token')
      assert.notEqual(token.code, 0, 'no token before 1.8')
    },
    inCluster: env => {
      const endpoints = env.cluster.store.get('endpoints', 'vm', 'echo-vm') as {
        subsets?: { addresses?: { ip: string }[] }[]
      } | null
      const ips = (endpoints?.subsets ?? []).flatMap(s => (s.addresses ?? []).map(a => a.ip))
      assert.deepEqual(ips, [env.vms[0]?.address], 'registered once, as istioctl register did')
      const svc = env.cluster.store.get('services', 'vm', 'echo-vm') as {
        spec?: { selector?: unknown }
      } | null
      assert.ok(svc, 'the selector-less Service')
      assert.equal(svc.spec?.selector, undefined)
    }
  },
  {
    generation: 'meshexpansion-1.1',
    legacy: '    services: [echo.sample]',
    url: 'http://echo.sample.svc.cluster.local/',
    legacyRequests: [
      'GET /api/v1/namespaces/vm/secrets/istio.echo-vm',
      'GET /api/v1/namespaces/istio-system/services/istio-ingressgateway'
    ],
    onVm: async env => {
      const hosts = await inVm(env, 'cat /etc/hosts')
      assert.match(
        hosts.stdout,
        /^198\.18\.0\.2 istio-citadel istio-pilot istio-pilot\.istio-system$/m
      )
      assert.match(hosts.stdout, /^198\.19\.\d+\.\d+ echo\.sample\.svc\.cluster\.local$/m)
      const certs = await inVm(
        env,
        'stat -c "%n %a %U" /etc/certs/key.pem /etc/certs/cert-chain.pem'
      )
      assert.match(certs.stdout, /key\.pem 600 istio-proxy/)
      assert.match(certs.stdout, /cert-chain\.pem 644 istio-proxy/)
    },
    inCluster: env => {
      const se = serviceEntry(env, 'vm', 'echo-vm') as {
        spec?: { resolution?: string; endpoints?: { address: string }[] }
      } | null
      assert.equal(se?.spec?.resolution, 'STATIC')
      assert.deepEqual(
        se?.spec?.endpoints?.map(e => e.address),
        [env.vms[0]?.address]
      )
      // and `istioctl register`, as the 1.1 doc paired them: the Service's Endpoints
      const endpoints = env.cluster.store.get('endpoints', 'vm', 'echo-vm') as {
        subsets?: { addresses?: { ip: string }[] }[]
      } | null
      assert.deepEqual(
        (endpoints?.subsets ?? []).flatMap(s => (s.addresses ?? []).map(a => a.ip)),
        [env.vms[0]?.address]
      )
    }
  },
  {
    generation: 'multinetwork-1.4',
    // the shared edits too: the gateway's ports and CoreDNS's .global stub, given back by cleanup
    legacy:
      '    services: [echo.sample]\n    fixGlobalDns: true\n    enableMeshExpansionPorts: true',
    url: 'http://echo.sample.global/',
    meshExpansionPorts: false,
    coreDns: true,
    legacyRequests: [
      'GET /api/v1/namespaces/vm/secrets/istio.echo-vm',
      'PATCH /api/v1/namespaces/istio-system/services/istio-ingressgateway',
      'PATCH /api/v1/namespaces/kube-system/configmaps/coredns'
    ],
    onVm: async env => {
      const hosts = await inVm(env, 'cat /etc/hosts')
      assert.match(hosts.stdout, /^127\.255\.\d+\.\d+ echo\.sample\.global$/m)
    },
    inCluster: env => {
      const entries = env.cluster.store
        .list('serviceentries.networking.istio.io')
        .filter(se =>
          ((se.spec as { hosts?: string[] }).hosts ?? []).includes('echo.sample.global')
        )
      assert.equal(entries.length, 1)
      const spec = entries[0]?.spec as {
        addresses?: string[]
        endpoints?: { ports?: Record<string, number> }[]
      }
      assert.match(spec.addresses?.[0] ?? '', /^127\.255\./)
      assert.ok(Object.values(spec.endpoints?.[0]?.ports ?? {}).every(p => p === 15443))
    }
  }
]

for (const c of cases) {
  describe(`generation ${c.generation}: a VM end to end`, labTestOptions(), () => {
    test('detected, onboarded, registered, checked; re-run writes nothing; cleanup removes everything', async () => {
      const env = await startLabEnvironment({
        vms: 1,
        meshedPod: true,
        generation: c.generation
      })
      if (c.meshExpansionPorts === false) {
        // taken off once the lab's meshed pod is onboarded (its run does not add them)
        const gateway = env.cluster.store.get('services', 'istio-system', 'istio-ingressgateway')
        assert.ok(gateway)
        const spec = gateway.spec as { ports: { port: number }[] }
        const helm = spec.ports.filter(p => !MESH_EXPANSION_PORTS.includes(p.port))
        env.cluster.store.put({ ...gateway, spec: { ...spec, ports: helm } }, { manager: 'helm' })
      }
      if (c.coreDns)
        env.cluster.store.put(
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: 'coredns', namespace: 'kube-system' },
            data: { Corefile: COREFILE }
          },
          { manager: 'kubeadm' }
        )
      const gatewayPortsBefore = gatewayPorts(env)
      const d = description(env, c.generation, c.legacy, c.url)
      // what `mesh-expansion rbac --command apply,cleanup --generation <it>` prints
      const rbac = renderRbac(d, {
        subject: { kind: 'ServiceAccount', namespace: 'ci', name: 'mesh-bot' },
        commands: ['apply', 'cleanup'],
        generation: c.generation,
        name: 'mesh-expansion'
      })
      const sa = await bindServiceAccount(env.cluster, env.kubeconfigPath, rbac).catch(
        async (error: unknown) => {
          await env.close()
          throw error
        }
      )
      const connection = await connect({ kubeconfigPath: sa.kubeconfigPath })
      // requests the printed RBAC refused (their 403 messages are in the run's problems)
      const refused = (): string[] =>
        env.cluster.requestLog.entries
          .filter(e => e.user === sa.user && e.status === 403)
          .map(e => `${e.method} ${e.path}`)
      try {
        const lines: string[] = []
        const first = await apply(d, connection, engineOptions(env, lines))
        // kept for the end, so that the run's other assertions are made first
        const refusedToApply = refused()
        assert.equal(first.cluster?.generation, c.generation)
        assert.ok(first.ok, explain(first, lines))
        assert.ok(
          env.cluster.requestLog.entries.some(e => e.user === sa.user && e.method === 'PATCH'),
          'apply wrote as the ServiceAccount'
        )
        // pilot before 1.8 serves no /debug/connections: that check is skipped, not failed
        assert.deepEqual(
          first.checks.map(check => [check.name, check.status]),
          [
            ['vm/vm-1: sidecar ready', 'pass'],
            ['vm/vm-1: connected to istiod', 'skip'],
            ['vm to the cluster', 'pass'],
            ['the cluster to vm', 'pass']
          ],
          explain(first, lines)
        )
        assert.ok(!lines.some(line => /east-west gateway|cluster ID/.test(line)), lines.join('\n'))
        await c.onVm(env)
        c.inCluster(env)
        const made = env.cluster.requestLog.entries
          .filter(e => e.user === sa.user && e.status < 400)
          .map(e => `${e.method} ${e.path.split('?')[0] ?? ''}`)
        for (const request of c.legacyRequests)
          assert.ok(made.includes(request), `${request} as the ServiceAccount`)

        const again = await apply(d, connection, engineOptions(env, []))
        assert.ok(again.ok, again.problems.join('\n'))
        assert.equal(again.cluster?.writes, 0, 'a re-run writes nothing to the cluster')
        assert.equal(again.hosts[0]?.restarted, false, 'a re-run restarts no sidecar')

        const beforeCleanup = refused().length
        const gone = await cleanup(d, connection, engineOptions(env, []))
        assert.ok(gone.ok, gone.problems.join('\n'))
        const managed = ['namespaces', 'serviceaccounts', 'serviceentries', 'services', 'endpoints']
          .flatMap(resource => env.cluster.store.list(resource))
          .filter(o => o.metadata?.labels?.['mesh-expansion.io/owner'] === OWNER)
        assert.deepEqual(
          managed.map(o => `${o.kind}/${o.metadata?.name}`),
          []
        )
        // the gateway as the run found it: Helm's ports kept, the run's own given back
        assert.deepEqual(gatewayPorts(env), gatewayPortsBefore)
        if (gatewayPortsBefore?.includes(15011))
          assert.ok(gatewayPorts(env)?.includes(15011), "Helm's ports are kept")
        if (c.coreDns) {
          const dns = env.cluster.store.get('configmaps', 'kube-system', 'coredns') as {
            data?: { Corefile?: string }
          } | null
          assert.equal(dns?.data?.Corefile, COREFILE, 'CoreDNS as it was')
        }
        const files = await inVm(
          env,
          'ls /etc/certs/key.pem /etc/dnsmasq.d/kubedns 2>/dev/null; grep -c mesh-expansion /etc/hosts'
        )
        assert.doesNotMatch(files.stdout, /key\.pem|kubedns/)
        assert.match(files.stdout.trim(), /^0$/)
        // nothing the printed RBAC does not grant was asked (a 403 the run tolerated included)
        assert.deepEqual(
          { apply: refusedToApply, cleanup: refused().slice(beforeCleanup) },
          { apply: [], cleanup: [] },
          'requests refused to the ServiceAccount'
        )
      } finally {
        await connection.close()
        await sa.close()
        await env.close()
      }
    })
  })
}
