// Networks as Service Mesh Manager does them, on a modern cluster: a WorkloadGroup on a network
// other than the control plane's (so istiod is reached through the east-west gateway), the
// host's mesh address found the way an operator expects, and the preflight that refuses a host
// whose sidecar ports are taken.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { labTestOptions } from '../helpers/lab.ts'
import { LAB_SIDECAR_PACKAGE, startLabEnvironment } from '../../lab/environment.ts'
import { GATEWAY_ADDRESS, runInVm } from '../../lab/vms/index.ts'
import { parseDescription } from '../../src/config/index.ts'
import { connect } from '../../src/cluster/connection.ts'
import { apply, cleanup, type EngineOptions } from '../../src/engine/run.ts'
import { askOver } from '../../src/host/connections.ts'
import { hostTarget, sshSecretsFrom } from '../../src/host/targets.ts'

describe('Service-Mesh-Manager-style networks', labTestOptions(), () => {
  test('a VM on its own network joins through the gateway; its primary address is asked of it; a taken port fails preflight', async () => {
    const env = await startLabEnvironment({ vms: 2, meshedPod: true, network: 'network1' })
    const connection = await connect({ kubeconfigPath: env.kubeconfigPath })
    try {
      const [vm1, vm2] = env.vms
      assert.ok(vm1 && vm2)
      const parsed = parseDescription(
        `workloadGroups:
  - name: echo-vm
    namespace: vm
    ports: {http-echo: 8080}
    network: vm-network
    sidecar: {package: ${LAB_SIDECAR_PACKAGE}}
vms:
  - {name: vm-1, host: ${vm1.address}}
  - {name: vm-2, host: ${vm2.address}}
ssh: {user: ${vm1.user}}
checks:
  - {name: vm to the cluster, from: vm/vm-1, url: 'http://echo.sample.svc.cluster.local/', expect: {headers: {server: envoy}}}
  - {name: the cluster to vm, from: pod/sample/app=sleep-mesh, to: vm/vm-1, port: 8080, expect: {headers: {server: envoy}}}
`,
        'smm.yaml'
      )
      if (!parsed.ok) throw new Error(parsed.errors.map(e => e.message).join('; '))
      const d = parsed.description

      // the primary address, asked over the host's own connection, is the one the mesh reaches
      const transport = await hostTarget(
        d.vms[0]!,
        d.ssh,
        sshSecretsFrom(d.ssh, env.secrets),
        () => undefined
      ).connect()
      try {
        const ask = askOver(() => transport)
        assert.equal(await ask(d.vms[0]!, 'host-primary'), vm1.address)
      } finally {
        await transport.close()
      }

      // something else holds the sidecar's readiness port on vm-2: preflight refuses the host
      const holder = await runInVm(
        vm2,
        'systemd-run --unit=mx-squatter python3 -m http.server 15021 --bind 0.0.0.0 && sleep 1',
        { timeoutMs: 20_000 }
      )
      assert.equal(holder.code, 0, holder.stderr)

      const lines: string[] = []
      const options: EngineOptions = {
        owner: 'smm-e2e',
        env: env.secrets,
        log: line => lines.push(line),
        warn: line => lines.push(`warning: ${line}`),
        onSecret: () => undefined
      }
      const report = await apply(d, connection, options)
      const byHost = new Map(report.hosts.map(h => [h.host, h]))
      assert.equal(byHost.get('vm-1')?.ready, true, report.problems.join('\n'))
      assert.equal(byHost.get('vm-2')?.status, 'failed')
      assert.equal(byHost.get('vm-2')?.error?.phase, 'preflight')
      assert.match(
        byHost.get('vm-2')?.error?.message ?? '',
        /TCP port 15021, which the sidecar needs, is taken by/
      )
      const passed = report.checks.filter(c => c.status === 'pass').map(c => c.name)
      assert.ok(passed.includes('vm to the cluster'), report.problems.join('\n'))
      assert.ok(passed.includes('the cluster to vm'), report.problems.join('\n'))

      // the group's network is the VM's, and istiod is reached at the east-west gateway
      const group = env.cluster.store.get(
        'workloadgroups.networking.istio.io',
        'vm',
        'echo-vm'
      ) as {
        spec?: { template?: { network?: string } }
      } | null
      assert.equal(group?.spec?.template?.network, 'vm-network')
      const files = await runInVm(vm1, 'cat /var/lib/istio/envoy/cluster.env /etc/hosts', {
        timeoutMs: 20_000
      })
      assert.match(files.stdout, /^ISTIO_META_NETWORK='vm-network'$/m)
      assert.match(
        files.stdout,
        new RegExp(`^${GATEWAY_ADDRESS.replace(/\./g, '\\.')}\\s+istiod\\.istio-system\\.svc$`, 'm')
      )
      const proxy = await env.istiod.waitForProxy(p => p.ip === vm1.address, 10_000)
      assert.equal(proxy.network, 'vm-network')

      await runInVm(vm2, 'systemctl stop mx-squatter', { timeoutMs: 20_000 })
      const gone = await cleanup(d, connection, { ...options, log: () => undefined })
      assert.ok(gone.ok, gone.problems.join('\n'))
    } finally {
      await connection.close()
      await env.close()
    }
  })
})
