// Golden tests: `mesh-expansion configure` run in-process on each case of __tests__/golden,
// the files it writes compared byte for byte with the .golden files beside the inputs.
// Each case's `args` holds the command line (one argument per line, paths relative to the
// case). REFRESH_GOLDEN=1 rewrites the goldens; review the diff before committing.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { configure } from '../../src/commands/configure.ts'

const goldenRoot = fileURLToPath(new URL('../golden/', import.meta.url))
const refresh = process.env.REFRESH_GOLDEN === '1'

/** Why each case exists; `upstream` names the istio/istio test data a case mirrors. */
const cases: { name: string; why: string; upstream?: string }[] = [
  {
    name: 'upstream-ipv4',
    upstream: 'istioctl/pkg/workload/testdata/vmconfig/ipv4',
    why:
      'A revision (rev-1): discoveryAddress and CA_ADDR point at istiod-rev-1; the mesh proxyMetadata ' +
      'is merged with the spec-level annotation (annotation wins); --capture-dns overrides the ' +
      'mesh "false"; the probe becomes readinessProbe. Byte-identical to upstream, except that one ' +
      'stored revision of the upstream golden also lists IDENTITY_PATH_PREFIX, which neither its ' +
      'inputs nor the command code produce.'
  },
  {
    name: 'upstream-ipv6',
    upstream: 'istioctl/pkg/workload/testdata/vmconfig/ipv6',
    why: 'IPv6 --internalIP / --ingressIP: ISTIO_SVC_IP and the hosts line carry IPv6 addresses.'
  },
  {
    name: 'upstream-nil-proxy-metadata',
    upstream: 'istioctl/pkg/workload/testdata/vmconfig-nil-proxy-metadata',
    why:
      'A mesh config of `defaultConfig: {}` (proxyMetadata nil) and no revision; no --ingressIP, ' +
      'so hosts is empty and a warning says to pass --ingressIP.'
  },
  {
    name: 'no-revision',
    why:
      'A default install (Helm mesh config): no CA_ADDR, TRUST_DOMAIN from the mesh, ' +
      'canonical name/revision from the app/version labels, one port.'
  },
  {
    name: 'revision-default',
    why: '--revision default is the same as no revision (isRevisioned is false for "default").'
  },
  {
    name: 'external-ip',
    why:
      '--externalIP (with --flag=value syntax) sets ISTIO_SVC_IP and ' +
      'REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION; no --internalIP.'
  },
  {
    name: 'autoregister',
    why: '--autoregister adds ISTIO_META_AUTO_REGISTER_GROUP; no --internalIP: no ISTIO_SVC_IP line.'
  },
  {
    name: 'capture-dns-false',
    why: '--capture-dns=false with nothing inherited: ISTIO_META_DNS_CAPTURE is absent.'
  },
  {
    name: 'capture-dns-false-inherited',
    why: '--capture-dns=false leaves the value the mesh config gave (istioctl only ever writes "true").'
  },
  {
    name: 'annotations-both-levels',
    why:
      'proxy.istio.io/config on metadata.annotations (applied first) and on ' +
      'spec.metadata.annotations (second): each field replaces the previous value wholesale ' +
      '(tracing from the object level is replaced, not merged), proxyMetadata of mesh + both ' +
      'annotations is merged (spec wins), statusPort 15030 joins ISTIO_LOCAL_EXCLUDE_PORTS.'
  },
  {
    name: 'template-labels',
    why:
      'Labels in spec.template override spec.metadata labels, with the stdout notice; the ' +
      'canonical name comes from app.kubernetes.io/name before app.'
  },
  {
    name: 'ports',
    why:
      'Several ports: ISTIO_META_POD_PORTS sorted by name; ISTIO_INBOUND_PORTS in our stable ' +
      'order (by port name), duplicates kept; a quoted port number is accepted as protobuf JSON does.'
  },
  {
    name: 'probe',
    why: 'An httpGet probe with headers and thresholds becomes readinessProbe, camelCase, zeros omitted.'
  },
  {
    name: 'snake-case-mesh',
    why:
      'A mesh config written with snake_case keys: mesh.yaml has camelCase, durations normalised ' +
      '(1m30s → 90s, 500ms → 0.500s), enums by name, zero scalars dropped but wrapper zeros kept ' +
      '(concurrency: 0, holdApplicationUntilProxyStarts: false), unknown fields dropped, ' +
      'statusPort 15021 adds nothing to the exclude ports.'
  },
  {
    name: 'hostname-gateway',
    why: 'A gateway known only by hostname: hosts is empty and a warning asks for --ingressIP.'
  },
  {
    name: 'quoting',
    why:
      'The shellescape quirk in cluster.env and go-yaml quoting in mesh.yaml: single quotes, ' +
      'YAML-1.1 look-alikes ("yes", "0755") double-quoted, `|-`/`|` literals, a tab escaped, a ' +
      "long value folded at column 80, Go's HTML-safe JSON escapes in ISTIO_METAJSON_LABELS."
  },
  {
    name: 'network-mesh-id',
    why:
      'A revision (-r canary) with a discoveryAddress already in the mesh config (kept), ' +
      'defaultConfig.meshId → ISTIO_META_MESH_ID, template.network → ISTIO_META_NETWORK, IPv6.'
  },
  {
    name: 'revision-other-namespace',
    why: 'A revision in another istio namespace (-i istio-control): names follow the namespace.'
  },
  {
    name: 'default-mesh-offline',
    why:
      'Offline without --mesh-config and --clusterID: the mesh config of a default install is ' +
      'used and ISTIO_META_CLUSTER_ID is empty, each with a warning.'
  }
]

const compared = ['cluster.env', 'mesh.yaml', 'hosts', 'stdout', 'stderr'] as const

async function runCase(dir: string): Promise<Record<(typeof compared)[number], string>> {
  const out = mkdtempSync(join(tmpdir(), 'mx-golden-'))
  try {
    const args = readFileSync(join(dir, 'args'), 'utf8')
      .split('\n')
      .filter(a => a !== '')
    let stdout = ''
    let stderr = ''
    const code = await configure([...args, '-o', out], {
      cwd: dir,
      env: {},
      stdout: t => (stdout += t),
      stderr: t => (stderr += t)
    })
    assert.equal(code, 0, `configure failed: ${stderr}`)
    const read = (name: string): string => readFileSync(join(out, name), 'utf8')
    assert.equal(read('root-cert.pem'), 'fake-CA-cert', 'root-cert.pem is copied byte for byte')
    assert.equal(read('istio-token'), '', 'offline without --token: an empty token')
    assert.equal(statSync(join(out, 'istio-token')).mode & 0o777, 0o600)
    // the output directory is random: make messages comparable
    const clean = (t: string): string => t.replaceAll(out, '<out>')
    return {
      'cluster.env': read('cluster.env'),
      'mesh.yaml': read('mesh.yaml'),
      hosts: read('hosts'),
      stdout: clean(stdout),
      stderr: clean(stderr)
    }
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
}

describe('configure golden files', () => {
  test('every case directory is listed here', () => {
    const listed = new Set(cases.map(c => c.name))
    for (const c of cases) assert.ok(existsSync(join(goldenRoot, c.name, 'args')), c.name)
    assert.equal(listed.size, cases.length)
  })
  for (const c of cases) {
    test(`${c.name}: ${c.why}`, async () => {
      const dir = join(goldenRoot, c.name)
      const got = await runCase(dir)
      for (const file of compared) {
        const golden = join(dir, `${file}.golden`)
        if (refresh) writeFileSync(golden, got[file])
        assert.equal(got[file], readFileSync(golden, 'utf8'), `${c.name}/${file}`)
      }
    })
  }
})
