// The real kubectl drives the sandbox API (issue #16): everyday commands print what they print
// against kube-apiserver and exit as they exit there. No root and no VMs: the sandbox listens on
// loopback; kubectl is this machine's (PATH, else /usr/bin/kubectl), 1.20 (Debian bookworm's
// `kubernetes-client`, which lab/vms/host.ts installs when none is on PATH) or newer; a missing or
// older one fails the tests naming it. What depends on the version: 1.27+ leaves validation to the
// server (OpenAPI v3, `fieldValidation=Strict`), older kubectl validates against the protobuf
// OpenAPI v2 itself; `create token` exists from 1.24 (before: `create --raw` of the TokenRequest),
// `wait --for=jsonpath` from 1.23, and `explain` prints FIELD (1.27+) or RESOURCE.
//
// Stand-in behaviour the tests rely on, with its upstream (kubernetes/kubernetes v1.33 unless named):
// - Table columns: pkg/printers/internalversion/printers.go (namespaces, pods, services,
//   deployments, configmaps, serviceaccounts, endpoints, rolebindings); the Istio kinds' columns
//   are their CRDs' additionalPrinterColumns (istio/istio 1.30.3
//   manifests/charts/base/files/crd-all.gen.yaml), `string` values as jsonpath prints them
//   (apiextensions-apiserver pkg/registry/customresource/tableconvertor);
// - OpenAPI v3 with `fieldValidation` on each PATCH operation, so kubectl leaves validation to the
//   server (staging/src/k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go), whose strict
//   decoder refuses unknown fields (KEP-2885; apiserver pkg/endpoints/handlers/create.go);
// - strategic merge patch of built-in kinds, lists merged on their patch merge key (Service ports
//   by port: staging/src/k8s.io/api/core/v1/types.go; apimachinery pkg/util/strategicpatch), and
//   415 for custom resources (apiserver pkg/endpoints/handlers/patch.go);
// - protobuf bodies of `kubectl create namespace|serviceaccount|token|configmap` decoded
//   (staging/src/k8s.io/api/core/v1/generated.proto); other protobuf kinds 415, which kubectl
//   does not retry as JSON;
// - the 403 wording (apiserver pkg/endpoints/handlers/responsewriters/errors.go) and the rules the
//   SelfSubjectRulesReview lists (pkg/registry/authorization/selfsubjectrulesreview/rest.go, the
//   bootstrap roles of plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go), which kubectl
//   prints one row per group/resource/name (staging/src/k8s.io/kubectl/pkg/cmd/auth/cani.go with
//   pkg/apis/rbac/v1 BreakdownRule and CompactRules); `--as` as the impersonation filter checks it
//   (staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go).
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'
import { parseAllDocuments } from 'yaml'
import { renderRbac } from '../../src/commands/rbac.ts'
import {
  bootstrapClusterRoleBindings,
  bootstrapClusterRoles,
  type PolicyRule,
  type SandboxCluster
} from '../../lab/cluster/index.ts'
import { findTool } from '../../lab/vms/host.ts'
import { BASIC, describe_, sandbox } from './cluster-helpers.ts'

const KUBECTL = findTool('kubectl') ?? '/usr/bin/kubectl'
const MIN_MINOR = 20
/** the client's minor version, known once requireKubectl ran */
let minor = 0
const root = fileURLToPath(new URL('../..', import.meta.url))

interface Run {
  code: number
  stdout: string
  stderr: string
}

let home = ''

function kubectl(kubeconfig: string, args: string[], input?: string): Promise<Run> {
  return new Promise(resolve => {
    const child = execFile(
      KUBECTL,
      args,
      {
        // a HOME of its own: no discovery or OpenAPI cache from another sandbox
        env: { PATH: process.env.PATH ?? '', KUBECONFIG: kubeconfig, HOME: home },
        timeout: 60_000
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
        resolve({ code, stdout, stderr })
      }
    )
    child.stdin?.end(input ?? '')
  })
}

/**
 * A TokenRequest through kubectl: `create token` (1.24+), else `create --raw` of the request body,
 * its token (or the error) returned as `create token` prints it.
 */
async function createToken(
  kubeconfig: string,
  namespace: string,
  account: string,
  audience?: string,
  seconds?: number
): Promise<Run> {
  if (minor >= 24)
    return kubectl(kubeconfig, [
      'create',
      'token',
      account,
      '-n',
      namespace,
      ...(audience ? ['--audience', audience] : []),
      ...(seconds ? ['--duration', `${seconds}s`] : [])
    ])
  const body = JSON.stringify({
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: {
      audiences: audience ? [audience] : [],
      ...(seconds ? { expirationSeconds: seconds } : {})
    }
  })
  const run = await kubectl(
    kubeconfig,
    [
      'create',
      '--raw',
      `/api/v1/namespaces/${namespace}/serviceaccounts/${account}/token`,
      '-f',
      '-'
    ],
    body
  )
  if (run.code !== 0) return run
  const reply = JSON.parse(run.stdout) as { status?: { token?: string } }
  return { ...run, stdout: `${reply.status?.token ?? ''}\n` }
}

/** Fails (never skips) when kubectl is missing or too old, saying which and what is needed. */
async function requireKubectl(): Promise<void> {
  if (minor > 0) return
  if (!existsSync(KUBECTL))
    throw new Error(
      `kubectl is not installed (looked on PATH and at /usr/bin/kubectl): as root, npm test installs Debian's kubernetes-client (lab/vms/host.ts); these tests need kubectl 1.${MIN_MINOR} or newer`
    )
  const v = await kubectl('/dev/null', ['version', '--client', '-o', 'json'])
  minor = Number.parseInt(
    (JSON.parse(v.stdout || '{}') as { clientVersion?: { minor?: string } }).clientVersion?.minor ??
      '0',
    10
  )
  if (!(minor >= MIN_MINOR))
    throw new Error(
      `${KUBECTL} is kubectl 1.${minor}; these tests need 1.${MIN_MINOR} or newer: put a newer kubectl on PATH`
    )
}

/** Rows of a kubectl table: header cells and rows split on runs of 2+ spaces. */
function table(stdout: string): { header: string[]; rows: string[][] } {
  const lines = stdout.trimEnd().split('\n')
  const split = (l: string): string[] => l.trim().split(/\s{2,}/)
  return { header: split(lines[0] ?? ''), rows: lines.slice(1).map(split) }
}

const MANIFEST = `apiVersion: v1
kind: Namespace
metadata: {name: vm}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: mysql, namespace: vm}
---
apiVersion: v1
kind: Service
metadata: {name: mysql, namespace: vm, labels: {app: mysql}}
spec:
  selector: {app: mysql}
  ports: [{name: tcp-mysql, port: 3306}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: vm}
data: {mode: a}
---
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: mysql, namespace: vm}
spec:
  metadata: {labels: {app: mysql}}
  template: {serviceAccount: mysql, ports: {tcp-mysql: 3306}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: mysql-1, namespace: vm, labels: {app: mysql}}
spec: {address: 198.18.2.2, labels: {app: mysql}, serviceAccount: mysql}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: mysql, namespace: vm}
spec:
  hosts: [mysql.vm.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{name: tcp-mysql, number: 3306, protocol: TCP}]
  workloadSelector: {labels: {app: mysql}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istiod-gateway, namespace: istio-system}
spec:
  selector: {istio: eastwestgateway}
  servers: [{port: {name: tls-istiod, number: 15012, protocol: tls}, tls: {mode: PASSTHROUGH}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: istiod-vs, namespace: istio-system}
spec:
  hosts: ["*"]
  gateways: [istiod-gateway]
  tls: [{match: [{port: 15012, sniHosts: ["*"]}], route: [{destination: {host: istiod.istio-system.svc.cluster.local, port: {number: 15012}}}]}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: vm}
spec: {mtls: {mode: STRICT}}
`

describe('kubectl against the sandbox API', () => {
  let sb: SandboxCluster
  let dir = ''
  let admin = ''
  const k = (args: string[], input?: string): Promise<Run> => kubectl(admin, args, input)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubectl-test-'))
    home = dir
    await requireKubectl()
    sb = await sandbox({ authorization: 'RBAC' })
    admin = join(dir, 'admin.kubeconfig')
    await sb.writeKubeconfig(admin)
  })
  after(async () => {
    await sb?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('kubectl get prints the server-side Table columns of kube-apiserver and the CRDs', async () => {
    const ns = await k(['get', 'namespaces'])
    assert.equal(ns.code, 0, ns.stderr)
    const t = table(ns.stdout)
    // the client's own fallback (no Table) would print NAME and AGE only
    assert.deepEqual(t.header, ['NAME', 'STATUS', 'AGE'])
    assert.deepEqual(t.rows.find(r => r[0] === 'istio-system')?.slice(0, 2), [
      'istio-system',
      'Active'
    ])

    const pods = await k(['get', 'pods', '-A', '-o', 'wide'])
    assert.equal(pods.code, 0, pods.stderr)
    const p = table(pods.stdout)
    assert.deepEqual(p.header, [
      'NAMESPACE',
      'NAME',
      'READY',
      'STATUS',
      'RESTARTS',
      'AGE',
      'IP',
      'NODE',
      'NOMINATED NODE',
      'READINESS GATES'
    ])
    const sleep = p.rows.find(r => r[1]?.startsWith('sleep-'))
    assert.ok(sleep, pods.stdout)
    assert.deepEqual(
      [sleep[0], sleep[2], sleep[3], sleep[4], sleep[6], sleep[7], sleep[8], sleep[9]],
      ['sample', '2/2', 'Running', '0', '198.18.1.11', 'sandbox-node', '<none>', '<none>']
    )

    const svc = await k(['get', 'services', '-n', 'istio-system', '-o', 'wide'])
    assert.equal(svc.code, 0, svc.stderr)
    const s = table(svc.stdout)
    assert.deepEqual(s.header, [
      'NAME',
      'TYPE',
      'CLUSTER-IP',
      'EXTERNAL-IP',
      'PORT(S)',
      'AGE',
      'SELECTOR'
    ])
    const ewgw = s.rows.find(r => r[0] === 'istio-eastwestgateway')
    assert.deepEqual(ewgw?.slice(1, 5), [
      'LoadBalancer',
      ewgw?.[2],
      '198.18.0.2',
      '15021/TCP,15443/TCP,15012/TCP,15017/TCP'
    ])
    assert.match(ewgw?.[2] ?? '', /^198\.19\.\d+\.\d+$/)

    const deploy = await k(['get', 'deployments', '-n', 'istio-system', '-o', 'wide'])
    const d = table(deploy.stdout)
    assert.deepEqual(d.header, [
      'NAME',
      'READY',
      'UP-TO-DATE',
      'AVAILABLE',
      'AGE',
      'CONTAINERS',
      'IMAGES',
      'SELECTOR'
    ])
    const istiod = d.rows.find(r => r[0] === 'istiod')
    assert.deepEqual(
      [istiod?.[1], istiod?.[2], istiod?.[3], istiod?.[5], istiod?.[6], istiod?.[7]],
      [
        '1/1',
        '1',
        '1',
        'discovery',
        'docker.io/istio/pilot:1.30.3',
        'app=istiod,istio=pilot,istio.io/rev=default'
      ]
    )

    const several = await k(['get', 'configmaps,serviceaccounts,endpoints', '-n', 'istio-system'])
    assert.equal(several.code, 0, several.stderr)
    assert.match(several.stdout, /^NAME\s+DATA\s+AGE$/m)
    assert.match(several.stdout, /^configmap\/istio-ca-root-cert\s+1\s+\S+$/m)
    assert.match(several.stdout, /^NAME\s+SECRETS\s+AGE$/m)
    assert.match(several.stdout, /^serviceaccount\/istiod\s+0\s+\S+$/m)
    assert.match(several.stdout, /^NAME\s+ENDPOINTS\s+AGE$/m)
    assert.match(several.stdout, /^endpoints\/istiod\s+198\.18\.1\.2:\d+,198\.18\.1\.2:\d+,/m)

    // -l selects on the server; -o yaml is the object itself, not a Table
    const labelled = await k(['get', 'pods', '-A', '-l', 'app=sleep', '-o', 'name'])
    assert.deepEqual(labelled.stdout.trim().split('\n'), [sleep[1] ? `pod/${sleep[1]}` : ''])
    const yaml = await k(['get', 'pod', sleep[1] ?? '', '-n', 'sample', '-o', 'yaml'])
    assert.equal(yaml.code, 0, yaml.stderr)
    const pod = parseAllDocuments(yaml.stdout)[0]?.toJS() as Record<string, unknown>
    assert.equal(pod.kind, 'Pod')
    assert.equal(pod.apiVersion, 'v1')
  })

  test('kubectl apply (client-side and server-side), diff and explain use the OpenAPI documents', async () => {
    const file = join(dir, 'manifest.yaml')
    await writeFile(file, MANIFEST)
    const first = await k(['apply', '-f', file])
    assert.equal(first.code, 0, first.stderr)
    assert.deepEqual(first.stdout.trim().split('\n'), [
      'namespace/vm created',
      'serviceaccount/mysql created',
      'service/mysql created',
      'configmap/settings created',
      'workloadgroup.networking.istio.io/mysql created',
      'workloadentry.networking.istio.io/mysql-1 created',
      'serviceentry.networking.istio.io/mysql created',
      'gateway.networking.istio.io/istiod-gateway created',
      'virtualservice.networking.istio.io/istiod-vs created',
      'peerauthentication.security.istio.io/default created'
    ])
    // 1.27+: validation was the server's (fieldValidation=Strict); older: kubectl's, from /openapi/v2
    if (minor >= 27)
      assert.ok(
        sb.requestLog.entries.some(
          e => e.verb === 'create' && e.path.includes('fieldValidation=Strict')
        )
      )
    else assert.ok(sb.requestLog.entries.some(e => e.path.startsWith('/openapi/v2')))
    const again = await k(['apply', '-f', file])
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /^service\/mysql unchanged$/m)
    assert.match(again.stdout, /^workloadentry\.networking\.istio\.io\/mysql-1 unchanged$/m)
    const unchanged = await k(['diff', '-f', file])
    assert.equal(unchanged.code, 0, unchanged.stdout + unchanged.stderr)
    assert.equal(unchanged.stdout, '')

    // the Istio kinds' own columns
    const istio = await k(['get', 'workloadentries,serviceentries,peerauthentications', '-n', 'vm'])
    assert.match(istio.stdout, /^NAME\s+AGE\s+ADDRESS$/m)
    assert.match(
      istio.stdout,
      /^workloadentry\.networking\.istio\.io\/mysql-1\s+\S+\s+198\.18\.2\.2$/m
    )
    assert.match(istio.stdout, /^NAME\s+HOSTS\s+LOCATION\s+RESOLUTION\s+AGE$/m)
    assert.match(
      istio.stdout,
      /^serviceentry\.networking\.istio\.io\/mysql\s+\["mysql\.vm\.svc\.cluster\.local"\]\s+MESH_INTERNAL\s+STATIC\s+\S+$/m
    )
    assert.match(istio.stdout, /^NAME\s+MODE\s+AGE$/m)
    assert.match(istio.stdout, /^peerauthentication\.security\.istio\.io\/default\s+STRICT\s+\S+$/m)
    const vs = await k(['get', 'vs,gw,wg', '-A'])
    assert.match(vs.stdout, /^NAMESPACE\s+NAME\s+GATEWAYS\s+HOSTS\s+AGE$/m)
    assert.match(
      vs.stdout,
      /^istio-system\s+virtualservice\S*\/istiod-vs\s+\["istiod-gateway"\]\s+\["\*"\]\s+\S+$/m
    )
    // a CRD without printer columns gets Age
    assert.match(vs.stdout, /^istio-system\s+gateway\S*\/istiod-gateway\s+\S+$/m)

    // a second Service port: diff shows it, apply merges it on the port (strategic merge patch)
    await writeFile(
      file,
      MANIFEST.replace(
        'ports: [{name: tcp-mysql, port: 3306}]',
        'ports: [{name: tcp-mysql, port: 3306}, {name: http, port: 80}]'
      ).replace('data: {mode: a}', 'data: {mode: b}')
    )
    const diff = await k(['diff', '-f', file])
    assert.equal(diff.code, 1, diff.stderr)
    assert.match(diff.stdout, /^\+ {2}- name: http$/m)
    assert.match(diff.stdout, /^- {2}mode: a$/m)
    assert.match(diff.stdout, /^\+ {2}mode: b$/m)
    assert.doesNotMatch(diff.stdout, /setElementOrder/)
    const configured = await k(['apply', '-f', file])
    assert.equal(configured.code, 0, configured.stderr)
    assert.match(configured.stdout, /^service\/mysql configured$/m)
    assert.match(configured.stdout, /^configmap\/settings configured$/m)
    const ports = await k([
      'get',
      'svc',
      'mysql',
      '-n',
      'vm',
      '-o',
      'jsonpath={.spec.ports[*].port}'
    ])
    assert.equal(ports.stdout, '3306 80')

    const ssa = await k(['apply', '--server-side', '-f', file])
    assert.equal(ssa.code, 0, ssa.stderr)
    assert.match(ssa.stdout, /^workloadentry\.networking\.istio\.io\/mysql-1 serverside-applied$/m)

    // an undeclared field is refused: by the server's strict decoding (1.27+), else by kubectl
    // validating against the protobuf OpenAPI v2 document
    const bad = join(dir, 'bad.yaml')
    await writeFile(
      bad,
      'apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: bad, namespace: vm}\nspec: {address: 198.18.2.9, adress: x}\n'
    )
    const clientSide = `error: error validating "${bad}": error validating data: ValidationError(WorkloadEntry.spec): unknown field "adress" in io.istio.networking.v1.WorkloadEntry.spec; if you choose to ignore these errors, turn validation off with --validate=false`
    const refused = await k(['apply', '-f', bad])
    assert.equal(refused.code, 1)
    assert.equal(
      refused.stderr.trim(),
      minor >= 27
        ? `Error from server (BadRequest): error when creating "${bad}": WorkloadEntry in version "v1" cannot be handled as a WorkloadEntry: strict decoding error: unknown field "spec.adress"`
        : clientSide
    )
    const refusedSsa = await k(['apply', '--server-side', '-f', bad])
    assert.equal(refusedSsa.code, 1)
    if (minor >= 27) assert.match(refusedSsa.stderr, /\.spec\.adress: field not declared in schema/)
    else assert.equal(refusedSsa.stderr.trim(), clientSide)
    assert.equal(sb.store.get('workloadentries.networking.istio.io', 'vm', 'bad'), undefined)

    const explain = await k(['explain', 'workloadentries.spec'])
    assert.equal(explain.code, 0, explain.stderr)
    assert.match(explain.stdout, /^KIND:\s+WorkloadEntry$/m)
    assert.match(explain.stdout, /^(FIELD|RESOURCE): spec <Object>$/m)
    assert.match(explain.stdout, /^ {2,3}address\t<string>$/m)
    assert.match(explain.stdout, /^ {2,3}ports\t<map\[string\]integer>$/m)
    const sa = await k(['explain', 'serviceaccount'])
    assert.equal(sa.code, 0, sa.stderr)
    assert.match(sa.stdout, /^KIND:\s+ServiceAccount$/m)
    assert.match(sa.stdout, /^ {2,3}automountServiceAccountToken\t<boolean>$/m)
    assert.match(sa.stdout, /^ {2,3}metadata\t<(ObjectMeta|Object)>$/m)
    const missing = await k(['explain', 'workloadentries.spec.nothing'])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /field "nothing" does not exist/)
  })

  test('kubectl create sends protobuf: namespace, serviceaccount, token, configmap are decoded', async () => {
    const ns = await k(['create', 'namespace', 'made-by-kubectl'])
    assert.equal(ns.code, 0, ns.stderr)
    assert.equal(ns.stdout.trim(), 'namespace/made-by-kubectl created')
    const created = sb.store.get('namespaces', undefined, 'made-by-kubectl')
    assert.equal(created?.status && (created.status as { phase?: string }).phase, 'Active')
    const sa = await k(['create', 'serviceaccount', 'bot', '-n', 'made-by-kubectl'])
    assert.equal(sa.stdout.trim(), 'serviceaccount/bot created', sa.stderr)
    const cm = await k([
      'create',
      'configmap',
      'cfg',
      '-n',
      'made-by-kubectl',
      '--from-literal=key=value'
    ])
    assert.equal(cm.stdout.trim(), 'configmap/cfg created', cm.stderr)
    assert.deepEqual(sb.store.get('configmaps', 'made-by-kubectl', 'cfg')?.data, { key: 'value' })
    const token = await createToken(admin, 'made-by-kubectl', 'bot', 'istio-ca', 1200)
    assert.equal(token.code, 0, token.stderr)
    const claims = JSON.parse(
      Buffer.from(token.stdout.trim().split('.')[1] ?? '', 'base64url').toString('utf8')
    ) as { aud: string[]; sub: string; exp: number; iat: number }
    assert.deepEqual(claims.aud, ['istio-ca'])
    assert.equal(claims.sub, 'system:serviceaccount:made-by-kubectl:bot')
    assert.equal(claims.exp - claims.iat, 1200)
    assert.equal(sb.reviewToken(token.stdout.trim(), ['istio-ca']).authenticated, true)
    const noAccount = await createToken(admin, 'made-by-kubectl', 'nobody')
    assert.equal(noAccount.code, 1)
    assert.equal(
      noAccount.stderr.trim(),
      minor >= 24
        ? 'error: failed to create token: serviceaccounts "nobody" not found'
        : 'Error from server (NotFound): serviceaccounts "nobody" not found'
    )
    const exists = await k(['create', 'namespace', 'made-by-kubectl'])
    assert.equal(exists.code, 1)
    assert.equal(
      exists.stderr.trim(),
      'Error from server (AlreadyExists): namespaces "made-by-kubectl" already exists'
    )
    // a kind this server does not decode is a 415, which kubectl does not retry as JSON: kubectl
    // 1.32 sends Deployments as protobuf; 1.20 sent JSON, which is served
    const deploy = await k([
      'create',
      'deployment',
      'web',
      '--image=nginx',
      '-n',
      'made-by-kubectl'
    ])
    if (minor >= 32 || deploy.code !== 0) {
      assert.equal(deploy.code, 1)
      assert.match(
        deploy.stderr,
        /failed to create deployment: the body of the request was in an unknown format - accepted media types include: application\/json, application\/yaml/
      )
    } else {
      assert.equal(deploy.stdout.trim(), 'deployment.apps/web created')
      assert.ok(sb.store.get('deployments', 'made-by-kubectl', 'web'))
    }
  })

  test('kubectl label, patch (strategic, merge, json), wait and delete', async () => {
    await k(['create', 'namespace', 'edits'])
    await k(
      ['apply', '-f', '-'],
      MANIFEST.split('---\n')
        .slice(2, 3)
        .join('')
        .replace(/namespace: vm/g, 'namespace: edits')
    )
    const label = await k(['label', 'namespace', 'edits', 'team=a'])
    assert.equal(label.stdout.trim(), 'namespace/edits labeled', label.stderr)
    const selected = await k(['get', 'namespaces', '-l', 'team=a', '-o', 'name'])
    assert.equal(selected.stdout.trim(), 'namespace/edits')
    const clash = await k(['label', 'namespace', 'edits', 'team=b'])
    assert.equal(clash.code, 1)
    assert.equal(
      clash.stderr.trim(),
      "error: 'team' already has a value (a), and --overwrite is false"
    )
    const unlabel = await k(['label', 'namespace', 'edits', 'team-'])
    assert.equal(unlabel.code, 0, unlabel.stderr)
    // kubectl 1.20 said "labeled" for a removal too
    if (minor >= 27) assert.equal(unlabel.stdout.trim(), 'namespace/edits unlabeled')
    assert.equal(sb.store.get('namespaces', undefined, 'edits')?.metadata?.labels?.team, undefined)

    const strategic = await k([
      'patch',
      'service',
      'mysql',
      '-n',
      'edits',
      '-p',
      '{"spec":{"ports":[{"port":3306,"name":"mysql"},{"port":9090,"name":"metrics"}]}}'
    ])
    assert.equal(strategic.stdout.trim(), 'service/mysql patched', strategic.stderr)
    const names = await k([
      'get',
      'svc',
      'mysql',
      '-n',
      'edits',
      '-o',
      'jsonpath={.spec.ports[*].name}'
    ])
    assert.equal(names.stdout, 'mysql metrics')
    const merge = await k([
      'patch',
      'svc',
      'mysql',
      '-n',
      'edits',
      '--type=merge',
      '-p',
      '{"spec":{"ports":[{"port":80}]}}'
    ])
    assert.equal(merge.code, 0, merge.stderr)
    const replaced = await k([
      'get',
      'svc',
      'mysql',
      '-n',
      'edits',
      '-o',
      'jsonpath={.spec.ports[*].port}'
    ])
    assert.equal(replaced.stdout, '80', 'a merge patch replaces the list')
    const json = await k([
      'patch',
      'svc',
      'mysql',
      '-n',
      'edits',
      '--type=json',
      '-p',
      '[{"op":"add","path":"/metadata/labels/tier","value":"db"}]'
    ])
    assert.equal(json.code, 0, json.stderr)
    assert.equal(sb.store.get('services', 'edits', 'mysql')?.metadata?.labels?.tier, 'db')

    await k(
      ['apply', '-f', '-'],
      MANIFEST.split('---\n')
        .slice(5, 6)
        .join('')
        .replace(/namespace: vm/g, 'namespace: edits')
    )
    const crStrategic = await k([
      'patch',
      'we',
      'mysql-1',
      '-n',
      'edits',
      '-p',
      '{"spec":{"weight":2}}'
    ])
    assert.equal(crStrategic.code, 1)
    assert.match(
      crStrategic.stderr,
      /the body of the request was in an unknown format - accepted media types include: application\/json-patch\+json, application\/merge-patch\+json, application\/apply-patch\+yaml$/m
    )
    const crMerge = await k([
      'patch',
      'we',
      'mysql-1',
      '-n',
      'edits',
      '--type=merge',
      '-p',
      '{"spec":{"weight":2}}'
    ])
    assert.equal(
      crMerge.stdout.trim(),
      'workloadentry.networking.istio.io/mysql-1 patched',
      crMerge.stderr
    )

    const ready = await k([
      'wait',
      '--for=condition=Ready',
      'pod',
      '-l',
      'app=sleep',
      '-n',
      'sample',
      '--timeout=20s'
    ])
    assert.equal(ready.code, 0, ready.stderr)
    assert.match(ready.stdout, /^pod\/sleep-\S+ condition met$/m)
    const available = await k([
      'wait',
      '--for=condition=Available',
      'deployment/istiod',
      '-n',
      'istio-system',
      '--timeout=20s'
    ])
    assert.equal(available.stdout.trim(), 'deployment.apps/istiod condition met', available.stderr)
    // a condition the object never gets: kubectl's timeout, exit 1
    const never = await k([
      'wait',
      '--for=condition=Evicted',
      'deployment/istiod',
      '-n',
      'istio-system',
      '--timeout=1s'
    ])
    assert.equal(never.code, 1)
    assert.equal(
      never.stderr.trim(),
      'error: timed out waiting for the condition on deployments/istiod'
    )
    if (minor >= 23) {
      // --for=jsonpath (kubectl 1.23+)
      const weight = await k([
        'wait',
        '--for=jsonpath={.spec.weight}=2',
        'we/mysql-1',
        '-n',
        'edits',
        '--timeout=20s'
      ])
      assert.equal(
        weight.stdout.trim(),
        'workloadentry.networking.istio.io/mysql-1 condition met',
        weight.stderr
      )
      const other = await k([
        'wait',
        '--for=jsonpath={.spec.weight}=3',
        'we/mysql-1',
        '-n',
        'edits',
        '--timeout=1s'
      ])
      assert.equal(other.code, 1)
      assert.equal(
        other.stderr.trim(),
        'error: timed out waiting for the condition on workloadentries/mysql-1'
      )
    }

    const del = await k(['delete', 'workloadentry', 'mysql-1', '-n', 'edits'])
    assert.equal(
      del.stdout.trim(),
      'workloadentry.networking.istio.io "mysql-1" deleted',
      del.stderr
    )
    const gone = await k(['get', 'we', 'mysql-1', '-n', 'edits'])
    assert.equal(gone.code, 1)
    assert.equal(
      gone.stderr.trim(),
      'Error from server (NotFound): workloadentries.networking.istio.io "mysql-1" not found'
    )
    const byLabel = await k(['delete', 'svc', '-l', 'app=mysql', '-n', 'edits'])
    assert.equal(byLabel.stdout.trim(), 'service "mysql" deleted', byLabel.stderr)
  })

  test('a least-privileged ServiceAccount: can-i --list is exactly the printed RBAC, the rest is 403', async () => {
    const description = describe_(BASIC)
    const rbacYaml = renderRbac(description, {
      subject: { kind: 'ServiceAccount', namespace: 'ci', name: 'mesh-bot' },
      commands: ['apply', 'verify', 'cleanup'],
      name: 'mesh-expansion'
    })
    assert.equal((await k(['create', 'namespace', 'ci'])).code, 0)
    const rbacFile = join(dir, 'rbac.yaml')
    await writeFile(rbacFile, rbacYaml)
    const applied = await k(['apply', '-f', rbacFile])
    assert.equal(applied.code, 0, applied.stderr)
    if (!sb.store.get('serviceaccounts', 'ci', 'mesh-bot'))
      assert.equal((await k(['create', 'serviceaccount', 'mesh-bot', '-n', 'ci'])).code, 0)
    const token = (await createToken(admin, 'ci', 'mesh-bot')).stdout.trim()
    const bot = join(dir, 'bot.kubeconfig')
    await writeFile(bot, sb.kubeconfigFor(token, 'mesh-bot'), { mode: 0o600 })
    const b = (args: string[]): Promise<Run> => kubectl(bot, args)

    const list = await b(['auth', 'can-i', '--list', '-n', 'vm'])
    assert.equal(list.code, 0, list.stderr)
    const expected = expectedRules(rbacYaml, 'ci', 'mesh-bot', 'vm')
    // the printed RBAC's namespaced grants and the bootstrap roles' are both in it
    assert.deepEqual(expected['serviceaccounts/token|mysql'], ['create'])
    assert.deepEqual(expected['selfsubjectrulesreviews.authorization.k8s.io|'], ['create'])
    assert.deepEqual(expected['|/api/*'], ['get'])
    assert.equal(expected['secrets|'], undefined)
    assert.deepEqual(listedRules(list.stdout), expected)
    // the admin asking as the account (impersonation) gets the same list
    const asBot = await k([
      'auth',
      'can-i',
      '--list',
      '-n',
      'vm',
      '--as=system:serviceaccount:ci:mesh-bot'
    ])
    assert.equal(asBot.code, 0, asBot.stderr)
    assert.deepEqual(listedRules(asBot.stdout), expected)
    // the account may not impersonate anyone
    const escalate = await b(['get', 'secrets', '-n', 'vm', '--as=admin'])
    assert.equal(escalate.code, 1)
    assert.equal(
      escalate.stderr.trim(),
      'Error from server (Forbidden): users "admin" is forbidden: User "system:serviceaccount:ci:mesh-bot" cannot impersonate resource "users" in API group "" at the cluster scope'
    )

    const yes = await b([
      'auth',
      'can-i',
      'create',
      'serviceaccounts/mysql',
      '--subresource=token',
      '-n',
      'vm'
    ])
    assert.equal(yes.stdout.trim(), 'yes')
    assert.equal(yes.code, 0)
    const no = await b(['auth', 'can-i', 'list', 'secrets', '-n', 'vm'])
    assert.equal(no.stdout.trim(), 'no')
    assert.equal(no.code, 1)

    const forbidden = await b(['get', 'secrets', '-n', 'vm'])
    assert.equal(forbidden.code, 1)
    assert.equal(
      forbidden.stderr.trim(),
      'Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:ci:mesh-bot" cannot list resource "secrets" in API group "" in the namespace "vm"'
    )
    const minted = await createToken(bot, 'vm', 'mysql', 'istio-ca')
    assert.equal(minted.code, 0, minted.stderr)
    assert.equal(
      sb.reviewToken(minted.stdout.trim(), ['istio-ca']).user?.username,
      'system:serviceaccount:vm:mysql'
    )
    const other = await createToken(bot, 'vm', 'default', 'istio-ca')
    assert.equal(other.code, 1)
    assert.equal(
      other.stderr.trim(),
      `${minor >= 24 ? 'error: failed to create token: ' : 'Error from server (Forbidden): '}serviceaccounts "default" is forbidden: User "system:serviceaccount:ci:mesh-bot" cannot create resource "serviceaccounts/token" in API group "" in the namespace "vm"`
    )
  })
})

/** `resource|name` or `|url` → verbs, from `kubectl auth can-i --list` (duplicate rows merged). */
function listedRules(stdout: string): Record<string, string[]> {
  const lines = stdout.trimEnd().split('\n')
  assert.match(lines[0] ?? '', /^Resources\s+Non-Resource URLs\s+Resource Names\s+Verbs\s*$/)
  const out: Record<string, Set<string>> = {}
  for (const line of lines.slice(1)) {
    const m = /^(\S*)\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s*$/.exec(line)
    assert.ok(m, `a row of can-i --list: ${line}`)
    const [, resource = '', urls = '', names = '', verbs = ''] = m
    const key = urls !== '' ? `|${urls}` : `${resource}|${names}`
    const set = (out[key] ??= new Set())
    for (const v of verbs.split(' ')) if (v !== '') set.add(v)
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v].sort()]))
}

type RbacObject = {
  kind: string
  metadata: { name: string; namespace?: string }
  rules?: PolicyRule[]
  roleRef?: { kind: string; name: string }
  subjects?: Array<{ kind: string; name: string; namespace?: string }>
}

/**
 * What RBAC grants the account in `namespace`, from the printed RBAC and the bootstrap policy,
 * broken down as kubectl prints it: one entry per group/resource/name and per URL.
 */
function expectedRules(
  rbacYaml: string,
  saNamespace: string,
  saName: string,
  namespace: string
): Record<string, string[]> {
  const printed = parseAllDocuments(rbacYaml)
    .map(d => d.toJS() as RbacObject | null)
    .filter(o => o !== null)
  const objects = [
    ...(bootstrapClusterRoles() as unknown as RbacObject[]),
    ...(bootstrapClusterRoleBindings() as unknown as RbacObject[]),
    ...printed
  ]
  const groups = [
    'system:authenticated',
    'system:serviceaccounts',
    `system:serviceaccounts:${saNamespace}`
  ]
  const applies = (b: RbacObject): boolean =>
    (b.subjects ?? []).some(
      s =>
        (s.kind === 'ServiceAccount' &&
          s.name === saName &&
          (s.namespace ?? b.metadata.namespace) === saNamespace) ||
        (s.kind === 'Group' && groups.includes(s.name)) ||
        (s.kind === 'User' && s.name === `system:serviceaccount:${saNamespace}:${saName}`)
    )
  const role = (kind: string, name: string, ns?: string): RbacObject | undefined =>
    objects.find(
      o =>
        o.kind === kind &&
        o.metadata.name === name &&
        (kind === 'ClusterRole' || o.metadata.namespace === ns)
    )
  const rules: PolicyRule[] = []
  for (const b of objects) {
    if (!applies(b) || !b.roleRef) continue
    if (b.kind === 'ClusterRoleBinding')
      rules.push(...(role('ClusterRole', b.roleRef.name)?.rules ?? []))
    if (b.kind === 'RoleBinding' && b.metadata.namespace === namespace)
      rules.push(...(role(b.roleRef.kind, b.roleRef.name, namespace)?.rules ?? []))
  }
  const out: Record<string, Set<string>> = {}
  const add = (key: string, verbs: string[]): void => {
    const set = (out[key] ??= new Set())
    for (const v of verbs) set.add(v)
  }
  for (const r of rules) {
    for (const url of r.nonResourceURLs ?? []) add(`|${url}`, r.verbs)
    for (const group of r.apiGroups ?? [])
      for (const resource of r.resources ?? []) {
        const name = group === '' ? resource : `${resource}.${group}`
        for (const n of r.resourceNames && r.resourceNames.length > 0 ? r.resourceNames : [''])
          add(`${name}|${n}`, r.verbs)
      }
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v].sort()]))
}

describe('npm run lab -- cluster: a sandbox API for a person with kubectl', () => {
  before(async () => {
    home ||= await mkdtemp(join(tmpdir(), 'kubectl-home-'))
    await requireKubectl()
  })

  test('prints export KUBECONFIG=…, serves kubectl, stops on Ctrl-C and removes the kubeconfig', async () => {
    const child = spawn(
      process.execPath,
      ['lab/cli.ts', 'cluster', '--for', '120', '--host', '127.0.0.1'],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe']
      }
    )
    let out = ''
    let err = ''
    child.stderr.on('data', (c: Buffer) => (err += c.toString()))
    const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
    try {
      const kubeconfig = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no export line in 30 s: ${out}${err}`)),
          30_000
        )
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString()
          const m = /^export KUBECONFIG=(\S+)$/m.exec(out)
          if (m?.[1]) {
            clearTimeout(timer)
            resolve(m[1])
          }
        })
      })
      assert.match(
        out,
        /^sandbox API \(Istio 1\.30\.3, authorization \w+\) at https:\/\/127\.0\.0\.1:\d+ for 120 s; Ctrl-C ends it$/m
      )
      assert.equal(statSync(kubeconfig).mode & 0o777, 0o600)
      assert.match(await readFile(kubeconfig, 'utf8'), /certificate-authority-data/)
      const ns = await kubectl(kubeconfig, ['get', 'namespaces', 'istio-system'])
      assert.equal(ns.code, 0, ns.stderr)
      assert.match(ns.stdout, /^istio-system\s+Active\s+\S+$/m)
      child.kill('SIGINT')
      assert.equal(await exited, 0, err)
      assert.match(out, /^sandbox API stopped \(interrupted\); its kubeconfig is removed$/m)
      assert.equal(existsSync(kubeconfig), false)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  })

  test('ends on its own at --for, and refuses an unbounded or malformed limit', async () => {
    const run = (args: string[]): Promise<Run> =>
      new Promise(resolve =>
        execFile(
          process.execPath,
          ['lab/cli.ts', 'cluster', '--host', '127.0.0.1', ...args],
          { cwd: root, timeout: 60_000 },
          (error, stdout, stderr) =>
            resolve({
              code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
              stdout,
              stderr
            })
        )
      )
    const short = await run(['--for', '1'])
    assert.equal(short.code, 0, short.stderr)
    assert.match(short.stdout, /^sandbox API stopped \(time limit\); its kubeconfig is removed$/m)
    const kubeconfig = /^export KUBECONFIG=(\S+)$/m.exec(short.stdout)?.[1] ?? ''
    assert.notEqual(kubeconfig, '')
    assert.equal(existsSync(kubeconfig), false)
    const unbounded = await run(['--for', '0'])
    assert.equal(unbounded.code, 1)
    assert.match(unbounded.stderr, /--for wants 1\.\.86400 seconds, got 0/)
  })
})
