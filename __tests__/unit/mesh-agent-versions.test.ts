// What the sidecar stand-in does differently per Istio version, as upstream's agent and package
// do (lab/mesh/FIDELITY.md): the credentials its CA request carries (a still-valid workload
// certificate, the token), the iptables subcommands, and the clean command of istio-start.sh.
// The package's files are made for a version by versionedSource, as buildSidecarDeb makes them.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { sidecarSourceDir, versionedSource } from '../../lab/mesh/deb.ts'
import { createLabCa, type LabCa } from '../../lab/pki.ts'

// the interpreter itself (not a shim that needs PATH): the agent runs with an empty PATH
const PYTHON = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], {
  encoding: 'utf8'
}).stdout.trim()
const source = (name: string): string => readFileSync(join(sidecarSourceDir(), name), 'utf8')

// Runs the agent of `version` in `dir` (its working directory, the VM's `/`) and calls
// ca_credentials with PROV_CERT = ./etc/certs: what would authenticate the CA request.
const CREDENTIALS = `
import importlib.util, json, sys, types
spec = importlib.util.spec_from_file_location('agent', sys.argv[1])
agent = importlib.util.module_from_spec(spec)
spec.loader.exec_module(agent)
try:
    cert, headers = agent.ca_credentials(types.SimpleNamespace(prov_cert='./etc/certs'))
    print(json.dumps({'cert': cert is not None, 'token': 'authorization' in headers}))
except agent.AgentError as error:
    print(json.dumps({'error': str(error)}))
`

describe('sidecar stand-in per Istio version', () => {
  let ca: LabCa
  let dir: string

  before(async () => {
    ca = await createLabCa()
    dir = mkdtempSync(join(tmpdir(), 'mx-agent-versions-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  function agentOf(version: string): string {
    const path = join(dir, `pilot-agent-${version}.py`)
    writeFileSync(path, versionedSource('pilot-agent.py', source('pilot-agent.py'), version))
    return path
  }

  async function credentials(
    version: string,
    vm: { token: boolean; certSeconds?: number }
  ): Promise<{ cert?: boolean; token?: boolean; error?: string }> {
    const root = mkdtempSync(join(dir, 'vm-'))
    mkdirSync(join(root, 'etc/certs'), { recursive: true })
    mkdirSync(join(root, 'var/run/secrets/tokens'), { recursive: true })
    if (vm.token) writeFileSync(join(root, 'var/run/secrets/tokens/istio-token'), 'a.b.c')
    if (vm.certSeconds !== undefined) {
      const issued = await ca.issue({
        commonName: 'vm-sa',
        uris: ['spiffe://cluster.local/ns/vm/sa/vm-sa'],
        validForSeconds: vm.certSeconds
      })
      writeFileSync(join(root, 'etc/certs/cert-chain.pem'), issued.certPem)
      writeFileSync(join(root, 'etc/certs/key.pem'), issued.keyPem)
    }
    const out = spawnSync('python3', ['-c', CREDENTIALS, agentOf(version)], {
      cwd: root,
      encoding: 'utf8',
      timeout: 20_000
    })
    assert.equal(out.status, 0, out.stderr)
    const lines = out.stdout.trim().split('\n')
    return JSON.parse(lines[lines.length - 1] ?? '{}') as {
      cert?: boolean
      token?: boolean
      error?: string
    }
  }

  test('an expired token with a valid workload certificate: the certificate goes along (every version)', async () => {
    for (const version of ['1.8.0', '1.12.0', '1.24.0', '1.30.3']) {
      const sent = await credentials(version, { token: true, certSeconds: 3600 })
      assert.equal(sent.cert, true, version)
      // 1.8 leaves the token out when the certificate loads (secretcache.go useCertToRotate)
      assert.equal(sent.token, version !== '1.8.0', version)
    }
  })

  test('an expired certificate: presented until 1.10, left out from 1.11 (token instead)', async () => {
    assert.deepEqual(await credentials('1.10.0', { token: true, certSeconds: -60 }), {
      cert: true,
      token: true
    })
    for (const version of ['1.11.0', '1.12.0', '1.24.0', '1.30.3']) {
      assert.deepEqual(
        await credentials(version, { token: true, certSeconds: -60 }),
        { cert: false, token: true },
        version
      )
    }
  })

  test('no token file: 1.8 cannot ask at all; from 1.9 the request goes without it', async () => {
    const old = await credentials('1.8.0', { token: false, certSeconds: 3600 })
    assert.match(
      old.error ?? '',
      /failed to get credential token: open .*istio-token: no such file/
    )
    for (const version of ['1.9.0', '1.12.0', '1.30.3']) {
      assert.deepEqual(
        await credentials(version, { token: false, certSeconds: 3600 }),
        { cert: true, token: false },
        version
      )
      assert.deepEqual(
        await credentials(version, { token: false }),
        { cert: false, token: false },
        version
      )
    }
  })

  // Settings of the agent of `version` in a VM whose mesh config has `proxyMetadata`, with `env`.
  const SETTINGS = `
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location('agent', sys.argv[1])
agent = importlib.util.module_from_spec(spec)
spec.loader.exec_module(agent)
env = json.loads(sys.argv[2])
settings = agent.Settings(env)
print(json.dumps({'metadata': settings.metadata, 'env': env, 'node': settings.node(),
                  'discovery': settings.discovery}))
`

  function settings(
    version: string,
    mesh: string,
    env: Record<string, string>
  ): {
    metadata: Record<string, unknown>
    env: Record<string, string>
    node: Record<string, string>
    discovery: string
  } {
    const root = mkdtempSync(join(dir, 'vm-'))
    mkdirSync(join(root, 'etc/istio/config'), { recursive: true })
    writeFileSync(join(root, 'etc/istio/config/mesh'), mesh)
    const out = spawnSync('python3', ['-c', SETTINGS, agentOf(version), JSON.stringify(env)], {
      cwd: root,
      encoding: 'utf8',
      timeout: 20_000
    })
    assert.equal(out.status, 0, out.stderr)
    const lines = out.stdout.trim().split('\n')
    return JSON.parse(lines[lines.length - 1] ?? '{}') as ReturnType<typeof settings>
  }

  test('node metadata: ISTIO_META_* and ISTIO_METAJSON_* of the environment; proxyMetadata keys from 1.16, below it; proxyMetadata is not environment', () => {
    const mesh = [
      'defaultConfig:',
      '  discoveryAddress: istiod.istio-system.svc:15012',
      '  proxyMetadata:',
      '    ISTIO_META_NETWORK: from-mesh',
      '    ISTIO_META_CLUSTER_ID: from-mesh',
      '    ISTIO_META_DNS_CAPTURE: "true"',
      ''
    ].join('\n')
    const env = {
      ISTIO_META_CLUSTER_ID: 'from-env',
      ISTIO_METAJSON_LABELS: '{"app": "db"}',
      POD_NAMESPACE: 'vm'
    }
    const current = settings('1.30.3', mesh, env)
    assert.equal(current.metadata['NETWORK'], 'from-mesh')
    assert.equal(current.metadata['CLUSTER_ID'], 'from-env')
    assert.equal(current.metadata['app'], 'db')
    assert.equal(current.node['network'], 'from-mesh')
    assert.equal(current.node['clusterId'], 'from-env')
    assert.equal(current.env['ISTIO_META_DNS_CAPTURE'], undefined)
    const old = settings('1.12.0', mesh, env)
    assert.equal(old.metadata['NETWORK'], undefined)
    assert.equal(old.node['network'], '')
    assert.equal(old.node['clusterId'], 'from-env')
  })

  test('PROXY_CONFIG applies over the mesh config: its discoveryAddress wins, proxyMetadata merges', () => {
    const mesh = [
      'defaultConfig:',
      '  discoveryAddress: istiod.istio-system.svc:15012',
      '  proxyMetadata:',
      '    ISTIO_META_NETWORK: from-mesh',
      ''
    ].join('\n')
    const applied = settings('1.30.3', mesh, {
      PROXY_CONFIG: [
        'discoveryAddress: istiod.istio-system.svc:31012',
        'proxyMetadata:',
        '  ISTIO_META_CLUSTER_ID: from-proxy-config',
        ''
      ].join('\n')
    })
    assert.equal(applied.discovery, 'istiod.istio-system.svc:31012')
    assert.equal(applied.metadata['NETWORK'], 'from-mesh')
    assert.equal(applied.metadata['CLUSTER_ID'], 'from-proxy-config')
  })

  function agent(version: string, args: string[]): { status: number | null; stderr: string } {
    // PATH without iptables: a subcommand that would touch iptables fails, a refused one never gets there
    const out = spawnSync(PYTHON, [agentOf(version), ...args], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { PATH: '/nonexistent', ISTIO_PROXY_UID: '1337' }
    })
    return { status: out.status, stderr: out.stderr }
  }

  test('pilot-agent istio-clean-iptables exists until 1.24 and is gone from 1.25', () => {
    const gone = agent('1.25.0', ['istio-clean-iptables'])
    assert.equal(gone.status, 1)
    assert.match(gone.stderr, /unknown command "istio-clean-iptables" for "pilot-agent"/)
    assert.equal(agent('1.30.3', ['istio-clean-iptables']).status, 1)
    for (const version of ['1.12.0', '1.23.0', '1.24.0']) {
      assert.doesNotMatch(agent(version, ['istio-clean-iptables']).stderr, /unknown command/)
    }
  })

  test('istio-iptables --cleanup-only exists from 1.24; before, an unknown flag', () => {
    const old = agent('1.23.0', ['istio-iptables', '--cleanup-only'])
    assert.equal(old.status, 1)
    assert.match(old.stderr, /unknown flag: --cleanup-only/)
    for (const version of ['1.24.0', '1.30.3']) {
      assert.doesNotMatch(agent(version, ['istio-iptables', '--cleanup-only']).stderr, /unknown/)
    }
  })

  test("istio-start.sh's clean command: istio-clean-iptables before 1.24, istio-iptables --cleanup-only from 1.24", () => {
    const script = (version: string): string =>
      versionedSource('istio-start.sh', source('istio-start.sh'), version)
    for (const version of ['1.10.0', '1.12.0', '1.23.0']) {
      assert.match(script(version), /^ISTIO_CLEAN_IPTABLES='istio-clean-iptables'$/m, version)
    }
    for (const version of ['1.24.0', '1.30.3']) {
      assert.match(
        script(version),
        /^ISTIO_CLEAN_IPTABLES='istio-iptables --cleanup-only'$/m,
        version
      )
      assert.doesNotMatch(script(version), /istio-clean-iptables'/, version)
    }
    assert.match(
      versionedSource('pilot-agent.py', source('pilot-agent.py'), '1.24.0'),
      /^VERSION = '1\.24\.0-lab'/m
    )
  })
})
