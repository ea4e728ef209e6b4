// Golden tests of the older generations' renderers (src/istio/legacy): each case directory
// under __tests__/golden/legacy/<generation>/<case>/ holds input.json and one .golden file
// per file the renderer produces, compared byte for byte; a golden file no renderer output
// matches fails too. REFRESH_GOLDEN=1 rewrites the goldens; review the diff before committing.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import {
  allocateGlobalAddresses,
  certFilesFromSecret,
  clusterServiceHostsLines,
  controlPlaneHostsLine,
  ensureCorefileGlobalStub,
  globalHost,
  globalHostsLines,
  planDeregister,
  planRegister,
  renderGlobalServiceEntry,
  renderHostServiceEntry,
  renderKubeDnsStub,
  renderKubedns,
  renderMeshExpansionClusterEnv,
  renderScriptsClusterEnv,
  renderSelectorlessService,
  renderLegacyVmFiles,
  renderSidecarEnv,
  type CertSecretView,
  type EndpointsView,
  type GlobalServiceInput,
  type HostServiceInput,
  type KubednsInput,
  type LegacyVmFilesInput,
  type MeshExpansionClusterEnvInput,
  type RegisterRequest,
  type RegistryPlan,
  type ScriptsClusterEnvInput,
  type ServiceView,
  type SidecarEnvInput
} from '../../src/istio/legacy/index.ts'

const goldenRoot = fileURLToPath(new URL('../golden/legacy/', import.meta.url))
const refresh = process.env.REFRESH_GOLDEN === '1'

type Input = Record<string, unknown>
type Render = (input: Input) => Record<string, string>

interface Case {
  readonly generation: 'scripts-0.8' | 'meshexpansion-1.1' | 'multinetwork-1.4'
  readonly name: string
  readonly why: string
  readonly render: Render
}

// Inputs are the renderers' own input types, stored as JSON.
const as = <T>(v: unknown): T => v as T

const clusterEnv: Render = i => ({
  'cluster.env': renderScriptsClusterEnv(as<ScriptsClusterEnvInput>(i))
})
const kubedns: Render = i => ({ kubedns: renderKubedns(as<KubednsInput>(i)) })
const sidecarEnv: Render = i => ({ 'sidecar.env': renderSidecarEnv(as<SidecarEnvInput>(i)) })
const certs: Render = i => {
  const files = certFilesFromSecret(as<CertSecretView>(i['secret']), {
    rootOnly: i['rootOnly'] === true
  })
  const out: Record<string, string> = {
    files: files.map(f => `${f.path} ${f.mode.toString(8)} ${f.owner}\n`).join('')
  }
  for (const f of files) out[f.name] = f.content
  return out
}
const planText = (plan: RegistryPlan): string => stringify(plan, { lineWidth: 0 })
type Existing = { service?: ServiceView; endpoints?: EndpointsView }
const register: Render = i => ({
  'plan.yaml': planText(
    planRegister(as<Existing>(i['existing']), as<RegisterRequest>(i['register']))
  )
})
const deregister: Render = i => ({
  'plan.yaml': planText(
    planDeregister(
      as<Existing>(i['existing']),
      as<{ service: string; namespace: string; address: string }>(i['deregister'])
    )
  )
})
const meshEnv: Render = i => ({
  'cluster.env': renderMeshExpansionClusterEnv(as<MeshExpansionClusterEnvInput>(i))
})
const hostService: Render = i => ({
  'serviceentry.yaml': renderHostServiceEntry(as<HostServiceInput>(i)),
  'service.yaml': renderSelectorlessService(as<HostServiceInput>(i))
})
const multiNetwork: Render = i => {
  const services = as<GlobalServiceInput[]>(i['services'])
  const gateways = as<string[]>(i['gateways'])
  const alloc = allocateGlobalAddresses(
    services.map(globalHost),
    as<Record<string, string>>(i['previous']),
    as<string[]>(i['usedElsewhere'])
  )
  return {
    'allocation.json': JSON.stringify(alloc, null, 2) + '\n',
    hosts: globalHostsLines(alloc.allocations),
    'serviceentries.yaml': services
      .map(s => renderGlobalServiceEntry(s, alloc.allocations[globalHost(s)] as string, gateways))
      .join('---\n')
  }
}
const corefile: Render = i => {
  const r = ensureCorefileGlobalStub(
    i['corefile'] as string,
    i['istiocoredns'] as string,
    i['plugin'] as 'proxy' | 'forward'
  )
  return { Corefile: r.corefile }
}

// Every file one VM gets (empty ones are not written): the composition the engine ships.
const vmFiles: Render = i => {
  const files: Record<string, string> = {}
  for (const [name, text] of Object.entries(renderLegacyVmFiles(as<LegacyVmFilesInput>(i))))
    if (text) files[name] = text
  return files
}

const cases: Case[] = [
  {
    generation: 'scripts-0.8',
    name: 'vm-files-0.8',
    why:
      'What machineSetup copied for 0.8: cluster.env with both auth keys, kubedns at the ILBs, ' +
      'sidecar.env with the inbound ports, the istio.<sa> PEM files, no hosts lines, no token.',
    render: vmFiles
  },
  {
    generation: 'meshexpansion-1.1',
    name: 'vm-files-1.1',
    why:
      'The 1.1 doc: cluster.env (MUTUAL_TLS, CIDR, inbound ports), the gateway hosts line and ' +
      'a ClusterIP line per cluster service, the PEM files.',
    render: vmFiles
  },
  {
    generation: 'multinetwork-1.4',
    name: 'vm-files-1.4',
    why:
      'The 1.3/1.4 doc: as 1.1, the .global addresses captured (127.255.0.0/16), their hosts ' +
      'lines instead of ClusterIPs.',
    render: vmFiles
  },
  // scripts-0.8
  {
    generation: 'scripts-0.8',
    name: 'cluster-env-0.2',
    why: '0.2/0.3 generateClusterEnv: the Service CIDR only (seed 000, the 10.63.240.0/20 example).',
    render: clusterEnv
  },
  {
    generation: 'scripts-0.8',
    name: 'cluster-env-0.8-both-keys',
    why:
      '0.4–0.8 with defaults: istio-system, MUTUAL_TLS, and both auth keys because the 0.8 ' +
      'package reads ISTIO_CP_AUTH while the 0.8 script wrote CONTROL_PLANE_AUTH_POLICY.',
    render: clusterEnv
  },
  {
    generation: 'scripts-0.8',
    name: 'cluster-env-0.8-as-written',
    why: 'bothAuthKeys false: exactly what the 0.4–0.8 script wrote (the old key only).',
    render: clusterEnv
  },
  {
    generation: 'scripts-0.8',
    name: 'cluster-env-1.0-none',
    why: '1.0+ key ISTIO_CP_AUTH only, NONE, another system namespace, a dual-stack CIDR list.',
    render: clusterEnv
  },
  {
    generation: 'scripts-0.8',
    name: 'kubedns-draft',
    why: 'The 2017 draft: byte for byte the kubedns of seed 003 (with the mixer-server alias).',
    render: kubedns
  },
  {
    generation: 'scripts-0.8',
    name: 'kubedns-0.2',
    why: '0.2–0.7: mixer, pilot, CA bare, then again with the .istio-system suffix.',
    render: kubedns
  },
  {
    generation: 'scripts-0.8',
    name: 'kubedns-0.8',
    why: '0.8–1.5: policy and telemetry at the mixer ILB, pilot, citadel, the istio-ca alias; bare then suffixed.',
    render: kubedns
  },
  {
    generation: 'scripts-0.8',
    name: 'kubedns-1.6',
    why: '1.6/1.7: pilot and istiod.istio-system.svc at the ingress gateway.',
    render: kubedns
  },
  {
    generation: 'scripts-0.8',
    name: 'sidecar-env-seed',
    why: 'Seed 000\'s `echo "ISTIO_INBOUND_PORTS=27017,3306,8080" > sidecar.env`, byte for byte.',
    render: sidecarEnv
  },
  {
    generation: 'scripts-0.8',
    name: 'sidecar-env-all',
    why: '`*` captures every inbound port; ISTIO_SVC_IP for a multi-NIC host; duplicate exclude ports dropped.',
    render: sidecarEnv
  },
  {
    generation: 'scripts-0.8',
    name: 'certs-all',
    why: 'machineSetup: the three PEM keys of istio.default decoded to /etc/certs, key.pem 0600.',
    render: certs
  },
  {
    generation: 'scripts-0.8',
    name: 'certs-root-only',
    why: 'gceMachineSetup (0.6+): root-cert.pem only.',
    render: certs
  },
  {
    generation: 'scripts-0.8',
    name: 'register-new',
    why:
      '`istioctl -n onprem register mysql <ip> 3306` with nothing there: a selector-less Service ' +
      '(port named mysql by default) and Endpoints, both labelled as ours, the SA annotation.',
    render: register
  },
  {
    generation: 'scripts-0.8',
    name: 'register-second-address',
    why: 'A second host for the same ports joins the existing subset; the Service is not touched.',
    render: register
  },
  {
    generation: 'scripts-0.8',
    name: 'register-twice',
    why: 'Registering an address again changes nothing (istioctl listed it twice).',
    render: register
  },
  {
    generation: 'scripts-0.8',
    name: 'register-other-ports',
    why:
      'Another port set goes into a new subset; the existing Service lacks port 9000, which is ' +
      'reported, not silently patched.',
    render: register
  },
  {
    generation: 'scripts-0.8',
    name: 'deregister-one-of-two',
    why: 'Removing one of two addresses updates the Endpoints.',
    render: deregister
  },
  {
    generation: 'scripts-0.8',
    name: 'deregister-last',
    why: 'Removing the last address deletes the Endpoints and Service register created (#6839).',
    render: deregister
  },
  {
    generation: 'scripts-0.8',
    name: 'deregister-unknown-address',
    why: 'An address that is not registered is reported as unknown-address with no operation.',
    render: deregister
  },
  {
    generation: 'scripts-0.8',
    name: 'deregister-last-foreign',
    why: 'The last address of objects someone else made: emptied, never deleted.',
    render: deregister
  },
  // meshexpansion-1.1
  {
    generation: 'meshexpansion-1.1',
    name: 'cluster-env-seed',
    why: "Seed 001's cluster.env (ISTIO_CP_AUTH then ISTIO_SERVICE_CIDR), without its blank line.",
    render: meshEnv
  },
  {
    generation: 'meshexpansion-1.1',
    name: 'cluster-env-inbound',
    why: 'Seed 001 with the optional `ISTIO_INBOUND_PORTS=3306,8080` appended.',
    render: meshEnv
  },
  {
    generation: 'meshexpansion-1.1',
    name: 'hosts',
    why:
      'The control-plane line at the gateway (seed 001: 35.232.112.158) and a cluster service ' +
      'line (productpage at its clusterIP).',
    render: i => ({
      hosts:
        controlPlaneHostsLine(i['gateway'] as string) +
        clusterServiceHostsLines(
          as<{ name: string; namespace: string; clusterIP: string }[]>(i['services'])
        )
    })
  },
  {
    generation: 'meshexpansion-1.1',
    name: 'host-service',
    why: "Seed 001's vmhttp ServiceEntry (STATIC, http 8080, labels app/version) and its selector-less Service.",
    render: hostService
  },
  {
    generation: 'meshexpansion-1.1',
    name: 'host-service-two-hosts',
    why: 'Two hosts, three ports: protocols from the name prefix (mysql, tcp-, grpc-), labels only where given.',
    render: hostService
  },
  // multinetwork-1.4
  {
    generation: 'multinetwork-1.4',
    name: 'httpbin-seed',
    why:
      "Seed 002's httpbin.bar.global: the previous 127.255.0.3 kept, the endpoint at the " +
      'gateway with http1 → 15443, the VM hosts line `127.255.0.3 httpbin.bar.global`.',
    render: multiNetwork
  },
  {
    generation: 'multinetwork-1.4',
    name: 'allocate-new-and-collisions',
    why:
      '127.255.0.3 is now used elsewhere, so both hosts that held it move; a new host gets its ' +
      'hashed slot; a host no longer wanted is released; addresses outside 127.255/16 in the used ' +
      'list are ignored; two gateways give two endpoints.',
    render: multiNetwork
  },
  {
    generation: 'multinetwork-1.4',
    name: 'kube-dns-stub',
    why: 'kube-dns stubDomains: global → the istiocoredns ClusterIP, other stub domains kept.',
    render: i => ({
      'configmap.yaml': renderKubeDnsStub(i['istiocoredns'] as string, i['existing'] as string)
    })
  },
  {
    generation: 'multinetwork-1.4',
    name: 'corefile-add-proxy',
    why: "Seed 002's Corefile gains the `global:53` block in the doc's `proxy` form.",
    render: corefile
  },
  {
    generation: 'multinetwork-1.4',
    name: 'corefile-replace-forward',
    why: 'An existing global:53 block is replaced (forward, new IP); the blocks around it are kept.',
    render: corefile
  }
]

describe('legacy generations: golden files', () => {
  test('every case directory is listed here, and only once', () => {
    const listed = new Set(cases.map(c => `${c.generation}/${c.name}`))
    assert.equal(listed.size, cases.length)
    for (const gen of readdirSync(goldenRoot)) {
      for (const name of readdirSync(join(goldenRoot, gen))) {
        assert.ok(listed.has(`${gen}/${name}`), `${gen}/${name} has no entry in the test`)
      }
    }
  })
  for (const c of cases) {
    test(`${c.generation}/${c.name}: ${c.why}`, () => {
      const dir = join(goldenRoot, c.generation, c.name)
      const input = JSON.parse(readFileSync(join(dir, 'input.json'), 'utf8')) as Input
      const got = c.render(input)
      if (refresh)
        for (const [file, text] of Object.entries(got))
          writeFileSync(join(dir, `${file}.golden`), text)
      const goldens = readdirSync(dir)
        .filter(f => f.endsWith('.golden'))
        .map(f => f.slice(0, -'.golden'.length))
        .sort()
      assert.deepEqual(Object.keys(got).sort(), goldens, 'the files produced are the golden files')
      for (const [file, text] of Object.entries(got)) {
        const golden = join(dir, `${file}.golden`)
        assert.ok(existsSync(golden), golden)
        assert.equal(text, readFileSync(golden, 'utf8'), `${c.generation}/${c.name}/${file}`)
      }
    })
  }
})
