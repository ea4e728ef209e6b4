// Least privilege against the sandbox API with RBAC on (lab/cluster/rbac.ts): a ServiceAccount
// bound to exactly what `mesh-expansion rbac` prints runs the cluster side of apply, verify,
// cleanup and sweep; anything else is refused with kube-apiserver's 403 wording; the self
// reviews answer as the real ones do; and the real kubectl (/usr/bin/kubectl) asks them.
//
// Stand-in behaviour the tests rely on, with its upstream (kubernetes/kubernetes, v1.33):
// - the 403 message: staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go
//   (forbiddenMessage) wrapped by apimachinery's errors.NewForbidden;
// - rule matching and the `allowed by` reason: plugin/pkg/auth/authorizer/rbac/rbac.go,
//   pkg/apis/rbac/v1/evaluation_helpers.go, pkg/registry/rbac/validation/rule.go;
// - the bootstrap roles every authenticated user has (system:discovery, system:basic-user,
//   system:public-info-viewer, system:service-account-issuer-discovery):
//   plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go;
// - the reviews: pkg/registry/authorization/selfsubjectaccessreview/rest.go and
//   selfsubjectrulesreview/rest.go; kubectl sends them as protobuf
//   (staging/src/k8s.io/api/authorization/v1/generated.proto), decoded by lab/cluster/protobuf.ts.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parseAllDocuments } from 'yaml'
import {
  cleanup,
  mintToken,
  prepareCluster,
  rootCert,
  sweep,
  type ClusterClient,
  type KubeObject
} from '../../src/cluster/index.ts'
import { accessReviewsOf, permissionsFor } from '../../src/cluster/permissions.ts'
import { renderRbac } from '../../src/commands/rbac.ts'
import { createKubeVerifyClients } from '../../src/verify/podExec.ts'
import { debugConnections, type SandboxCluster } from '../../lab/cluster/index.ts'
import { ruleAllows, type PolicyRule } from '../../lab/cluster/rbac.ts'
import { BASIC, connectTo, describe_, sandbox, type Connected } from './cluster-helpers.ts'

const KUBECTL = '/usr/bin/kubectl'
const SA = 'system:serviceaccount:ci:mesh-bot'

interface Reply {
  status: number
  body: Record<string, unknown>
}

/** One HTTPS request to the sandbox with a bearer token (JSON in and out). */
function call(
  sb: SandboxCluster,
  token: string,
  method: string,
  path: string,
  body?: unknown
): Promise<Reply> {
  const url = new URL(path, sb.url)
  const data = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: sb.ca.certPem,
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: 'application/json',
          ...(data !== undefined ? { 'Content-Type': 'application/json' } : {})
        }
      },
      res => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let parsed: Record<string, unknown>
          try {
            parsed = JSON.parse(text) as Record<string, unknown>
          } catch {
            parsed = { text }
          }
          resolve({ status: res.statusCode ?? 0, body: parsed })
        })
      }
    )
    req.on('error', reject)
    req.end(data)
  })
}

function kubectl(
  kubeconfig: string,
  args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise(resolve => {
    execFile(
      KUBECTL,
      args,
      {
        env: { PATH: process.env.PATH ?? '', KUBECONFIG: kubeconfig, HOME: tmpdir() },
        timeout: 60_000
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
        resolve({ code, stdout, stderr })
      }
    )
  })
}

/**
 * The (rule, verb) pairs of the printed RBAC that none of the ServiceAccount's requests in the
 * sandbox's log needed: a rule granted for nothing. A verb whose every reason is conditional
 * (`(when …)`: a fallback, or a write only when something is missing) is not counted.
 */
function unusedRules(sb: SandboxCluster, rbacYaml: string): string[] {
  const requests = sb.requestLog.entries.filter(e => e.user === SA && e.status !== 403)
  const unused: string[] = []
  for (const doc of parseAllDocuments(rbacYaml)) {
    const role = doc.toJS() as {
      kind: string
      metadata: { namespace?: string }
      rules?: PolicyRule[]
    }
    if (role.kind !== 'Role' && role.kind !== 'ClusterRole') continue
    const items = (doc.get('rules', true) as { items: { commentBefore?: string | null }[] }).items
    for (const [index, rule] of (role.rules ?? []).entries()) {
      const reasons = (items[index]?.commentBefore ?? '').split('\n')
      for (const verb of rule.verbs) {
        const why = reasons.filter(r => r.startsWith(` ${verb}: `))
        if (why.length > 0 && why.every(r => r.includes('(when '))) continue
        const used = requests.some(e => {
          if (e.verb !== verb) return false
          // a Role's rules act in its namespace (a Namespace's own URL is in that namespace)
          const ns = e.resource === 'namespaces' && e.name ? e.name : (e.namespace ?? '')
          if (role.kind === 'Role' && ns !== role.metadata.namespace) return false
          const [resource = '', subresource = ''] = e.resource.split('/')
          return ruleAllows(
            {
              user: { username: SA, groups: [] },
              verb,
              resourceRequest: e.resource !== '',
              group: e.group,
              resource,
              subresource,
              namespace: ns,
              name: e.name ?? '',
              path: e.path
            },
            rule
          )
        })
        if (!used)
          unused.push(
            `${role.kind} ${role.metadata.namespace ?? ''}: ${verb} ${JSON.stringify(rule)}`
          )
      }
    }
  }
  return unused
}

describe('least privilege: the printed RBAC, enforced by the sandbox API', () => {
  let sb: SandboxCluster
  let admin: Connected
  let bot: Connected
  let client: ClusterClient
  let token = ''
  let dir = ''
  let botKubeconfig = ''
  // BASIC with a check from a pod: verify finds the pod and execs curl in it
  const description = describe_(`${BASIC}checks:
  - from: pod/sample/app=sleep
    to: vm/web-1
`)
  const rbacYaml = renderRbac(description, {
    subject: { kind: 'ServiceAccount', namespace: 'ci', name: 'mesh-bot' },
    commands: ['apply', 'verify', 'cleanup', 'sweep'],
    name: 'mesh-expansion'
  })

  before(async () => {
    sb = await sandbox({
      authorization: 'RBAC',
      istiodDebug: path => (path === '/debug/connections' ? debugConnections([]) : undefined)
    })
    admin = await connectTo(sb.kubeconfig)
    sb.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ci' } })
    // the printed RBAC, applied by the admin through the API
    for (const doc of parseAllDocuments(rbacYaml)) {
      const object = doc.toJS() as KubeObject | null
      if (object) await admin.connection.client.apply(object)
    }
    token = sb.mintServiceAccountToken({ namespace: 'ci', serviceAccount: 'mesh-bot' })
    bot = await connectTo(sb.kubeconfigFor(token, 'mesh-bot'))
    client = bot.connection.client
    dir = await mkdtemp(join(tmpdir(), 'sandbox-rbac-'))
    botKubeconfig = join(dir, 'kubeconfig')
    await writeFile(botKubeconfig, sb.kubeconfigFor(token, 'mesh-bot'), { mode: 0o600 })
  })
  after(async () => {
    await bot?.connection.close()
    await admin?.connection.close()
    await sb?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  const refused = (): string[] =>
    sb.requestLog.entries
      .filter(e => e.user === SA && e.status === 403)
      .map(e => `${e.verb} ${e.resource} ${e.namespace ?? ''}/${e.name ?? ''}`)

  test('the admin (system:masters) may do anything; the bootstrap roles are seeded', async () => {
    const list = await admin.connection.client.list(
      'rbac.authorization.k8s.io/v1',
      'ClusterRoleBinding'
    )
    const crb = list.find(b => b.metadata.name === 'cluster-admin')
    assert.deepEqual((crb?.subjects as unknown[])[0], {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Group',
      name: 'system:masters'
    })
    const r = await call(sb, sb.adminToken, 'GET', '/api/v1/secrets')
    assert.equal(r.status, 200)
  })

  test('the cluster side of apply, verify, cleanup and sweep runs with exactly that RBAC', async () => {
    sb.requestLog.clear()
    // apply: discover, plan, server-side apply (verify's preflight plans the same reads)
    const prepared = await prepareCluster(client, description, {
      owner: 'run-1',
      addresses: new Map([['mysql-1', '198.18.2.2']])
    })
    assert.ok((prepared.applied?.written.length ?? 0) > 0)
    await prepareCluster(client, description, { owner: 'run-1', dryRun: true })
    // identity: a token for each VM's account, the root certificate
    assert.ok((await mintToken(client, 'vm', 'mysql')).split('.').length === 3)
    assert.match(await rootCert(client, 'vm'), /BEGIN CERTIFICATE/)
    // register (auto): istiod's entries are listed; verify: an entry's health
    await client.list('networking.istio.io/v1', 'WorkloadEntry', { namespace: 'vm' })
    // verify: istiod's /debug/connections through the service proxy (a 401 from istiod 1.30 is
    // istiod's answer, not the API server's 403)
    const proxied = await call(
      sb,
      token,
      'GET',
      '/api/v1/namespaces/istio-system/services/istiod:15014/proxy/debug/connections'
    )
    assert.notEqual(proxied.status, 403, JSON.stringify(proxied.body))
    // verify: the checks' pod (list, exec), istiod's connections (1.30 answers the service proxy
    // 401: its pods are listed and `pilot-discovery request` runs in one), an entry's health
    const kube = createKubeVerifyClients(bot.connection.kubeConfig, {
      client,
      istioNamespace: 'istio-system',
      istiodService: 'istiod',
      istiodRevision: '',
      networkingApiVersion: 'networking.istio.io/v1'
    })
    const pod = await kube.pods.findPod('sample', 'app=sleep')
    assert.ok(pod)
    assert.equal(
      (await kube.pods.exec('sample', pod.name, pod.container, ['true'], 10_000)).code,
      0
    )
    const proxies = await kube.controlPlane.connectedProxies()
    assert.ok(Array.isArray(proxies), JSON.stringify(proxies))
    await kube.controlPlane.workloadEntryHealth('vm', 'mysql-1')
    // cleanup of this owner, then an expired owner swept
    const cleaned = await cleanup(client, 'run-1')
    assert.ok(cleaned.deleted.length > 0)
    await prepareCluster(client, description, {
      owner: 'pr-7',
      now: new Date(Date.now() - 7200_000)
    })
    const swept = await sweep(client, 3600)
    assert.deepEqual(
      swept.map(s => s.owner),
      ['pr-7']
    )
    assert.deepEqual(refused(), [], 'no request of the run was refused')
    // and no rule was granted for nothing: each printed rule allowed at least one of the requests
    assert.deepEqual(unusedRules(sb, rbacYaml), [], 'every rule is used')
    assert.ok(
      sb.requestLog.entries.some(e => e.user === SA && e.verb === 'patch'),
      'the run wrote as the ServiceAccount'
    )
  })

  test('anything else is refused with the real 403 wording', async () => {
    const cases: Array<[string, string, string]> = [
      [
        'GET',
        '/api/v1/namespaces/vm/secrets',
        'secrets is forbidden: User "system:serviceaccount:ci:mesh-bot" cannot list resource "secrets" in API group "" in the namespace "vm"'
      ],
      [
        'GET',
        '/api/v1/namespaces/kube-system/configmaps/coredns',
        'configmaps "coredns" is forbidden: User "system:serviceaccount:ci:mesh-bot" cannot get resource "configmaps" in API group "" in the namespace "kube-system"'
      ],
      [
        'POST',
        '/api/v1/namespaces/vm/serviceaccounts/default/token',
        'serviceaccounts "default" is forbidden: User "system:serviceaccount:ci:mesh-bot" cannot create resource "serviceaccounts/token" in API group "" in the namespace "vm"'
      ],
      [
        'PATCH',
        '/apis/networking.istio.io/v1/namespaces/sample/workloadgroups/x',
        'workloadgroups.networking.istio.io "x" is forbidden: User "system:serviceaccount:ci:mesh-bot" cannot patch resource "workloadgroups" in API group "networking.istio.io" in the namespace "sample"'
      ],
      [
        'POST',
        '/api/v1/namespaces',
        'namespaces is forbidden: User "system:serviceaccount:ci:mesh-bot" cannot create resource "namespaces" in API group "" at the cluster scope'
      ],
      [
        'GET',
        '/apis/rbac.authorization.k8s.io/v1/clusterroles',
        'clusterroles.rbac.authorization.k8s.io is forbidden: User "system:serviceaccount:ci:mesh-bot" cannot list resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope'
      ],
      [
        'GET',
        '/metrics',
        'forbidden: User "system:serviceaccount:ci:mesh-bot" cannot get path "/metrics"'
      ]
    ]
    for (const [method, path, message] of cases) {
      const r = await call(sb, token, method, path, method === 'POST' ? { spec: {} } : undefined)
      assert.equal(r.status, 403, `${method} ${path}`)
      assert.equal(r.body.reason, 'Forbidden')
      assert.equal(r.body.message, message)
    }
    // a binding to a role that is gone: the denial carries RBAC's resolution error
    await admin.connection.client.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'dangling', namespace: 'sample' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'gone' },
      subjects: [{ kind: 'ServiceAccount', name: 'mesh-bot', namespace: 'ci' }]
    })
    const dangling = await call(sb, token, 'GET', '/api/v1/namespaces/sample/secrets')
    assert.equal(
      dangling.body.message,
      'secrets is forbidden: User "system:serviceaccount:ci:mesh-bot" cannot list resource "secrets" in API group "" in the namespace "sample": RBAC: role.rbac.authorization.k8s.io "gone" not found'
    )
  })

  test('SelfSubjectAccessReview answers allowed and denied, with the reason RBAC gives', async () => {
    const ssar = (attrs: Record<string, unknown>): Promise<Reply> =>
      call(sb, token, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: attrs
      })
    const yes = await ssar({
      resourceAttributes: {
        namespace: 'vm',
        verb: 'create',
        resource: 'serviceaccounts',
        subresource: 'token',
        name: 'mysql'
      }
    })
    assert.equal(yes.status, 201)
    assert.deepEqual(yes.body.status, {
      allowed: true,
      reason:
        'RBAC: allowed by RoleBinding "mesh-expansion/vm" of Role "mesh-expansion" to ServiceAccount "mesh-bot/ci"'
    })
    const no = await ssar({
      resourceAttributes: { namespace: 'vm', verb: 'get', resource: 'secrets' }
    })
    assert.deepEqual(no.body.status, { allowed: false })
    const url = await ssar({ nonResourceAttributes: { path: '/version', verb: 'get' } })
    assert.equal((url.body.status as { allowed: boolean }).allowed, true)
    const both = await ssar({})
    assert.equal(both.status, 422)
  })

  test('access reviews: every permission allowed; without any one printed rule, what it granted is denied', async () => {
    // what a preflight would ask (src/cluster/permissions.ts accessReviewsOf)
    const reviews = permissionsFor(description, {
      commands: ['apply', 'verify', 'cleanup', 'sweep']
    }).flatMap(accessReviewsOf)
    const ask = async (): Promise<boolean[]> =>
      Promise.all(
        reviews.map(async attrs => {
          const r = await call(
            sb,
            token,
            'POST',
            '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
            { spec: { resourceAttributes: attrs } }
          )
          return (r.body.status as { allowed: boolean }).allowed
        })
      )
    assert.deepEqual(
      (await ask()).flatMap((ok, i) => (ok ? [] : [JSON.stringify(reviews[i])])),
      [],
      'every permission the run uses is granted'
    )
    const roles = parseAllDocuments(rbacYaml)
      .map(d => d.toJS() as KubeObject & { rules?: PolicyRule[] })
      .filter(o => o.kind === 'Role' || o.kind === 'ClusterRole')
    for (const role of roles) {
      const rules = role.rules ?? []
      for (let i = 0; i < rules.length; i++) {
        sb.store.put({ ...role, rules: rules.filter((_, j) => j !== i) })
        const denied = (await ask()).flatMap((ok, k) => (ok ? [] : [reviews[k]]))
        const where = `${role.kind} ${role.metadata.namespace ?? ''} rule ${JSON.stringify(rules[i])}`
        assert.ok(denied.length > 0, `${where}: removing it takes nothing away`)
        // and only what that rule granted is denied
        for (const attrs of denied) {
          assert.ok(
            attrs !== undefined &&
              (role.kind === 'ClusterRole' || attrs.namespace === role.metadata.namespace) &&
              ruleAllows(
                {
                  user: { username: SA, groups: [] },
                  verb: attrs.verb,
                  resourceRequest: true,
                  group: attrs.group,
                  resource: attrs.resource,
                  subresource: attrs.subresource ?? '',
                  namespace: attrs.namespace ?? '',
                  name: attrs.name ?? '',
                  path: ''
                },
                rules[i] as PolicyRule
              ),
            `${where}: ${JSON.stringify(attrs)} denied`
          )
        }
        sb.store.put(role)
      }
    }
  })

  test('SelfSubjectRulesReview lists the granted rules of a namespace', async () => {
    const r = await call(
      sb,
      token,
      'POST',
      '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews',
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectRulesReview',
        spec: { namespace: 'vm' }
      }
    )
    assert.equal(r.status, 201)
    assert.deepEqual(r.body.spec, {})
    const status = r.body.status as {
      resourceRules: Array<{ verbs: string[]; resources: string[]; resourceNames?: string[] }>
      nonResourceRules: Array<{ nonResourceURLs: string[] }>
      incomplete: boolean
    }
    assert.equal(status.incomplete, false)
    assert.ok(
      status.resourceRules.some(
        rule =>
          rule.resources.includes('serviceaccounts/token') &&
          rule.verbs.includes('create') &&
          (rule.resourceNames ?? []).join() === 'mysql,web'
      )
    )
    assert.ok(
      status.resourceRules.some(rule => rule.resources.includes('selfsubjectaccessreviews'))
    )
    assert.ok(status.nonResourceRules.some(rule => rule.nonResourceURLs.includes('/apis/*')))
    const missing = await call(
      sb,
      token,
      'POST',
      '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews',
      {
        spec: {}
      }
    )
    assert.equal(missing.status, 400)
    assert.equal(missing.body.message, 'no namespace on request')
  })

  test(
    'the real kubectl asks the sandbox: auth can-i and auth can-i --list',
    { skip: !existsSync(KUBECTL) && `${KUBECTL} is not installed` },
    async () => {
      // `serviceaccounts/token` is TYPE/NAME to kubectl: a ServiceAccount named "token" (no)
      const named = await kubectl(botKubeconfig, [
        'auth',
        'can-i',
        'create',
        'serviceaccounts/token',
        '-n',
        'vm'
      ])
      assert.equal(named.stdout.trim(), 'no')
      assert.equal(named.code, 1)
      const sub = await kubectl(botKubeconfig, [
        'auth',
        'can-i',
        'create',
        'serviceaccounts/mysql',
        '--subresource=token',
        '-n',
        'vm'
      ])
      assert.equal(sub.stdout.trim(), 'yes', sub.stderr)
      assert.equal(sub.code, 0)
      const other = await kubectl(botKubeconfig, [
        'auth',
        'can-i',
        'create',
        'serviceaccounts/default',
        '--subresource=token',
        '-n',
        'vm'
      ])
      assert.equal(other.stdout.trim(), 'no')
      const secrets = await kubectl(botKubeconfig, ['auth', 'can-i', 'list', 'secrets', '-n', 'vm'])
      assert.equal(secrets.stdout.trim(), 'no')

      const list = await kubectl(botKubeconfig, ['auth', 'can-i', '--list', '-n', 'vm'])
      assert.equal(list.code, 0, list.stderr)
      const lines = list.stdout.trim().split('\n')
      assert.match(lines[0] ?? '', /^Resources\s+Non-Resource URLs\s+Resource Names\s+Verbs$/)
      const row = (resource: string, names: string, verbs: string): boolean =>
        lines.some(l =>
          new RegExp(
            `^${resource.replace(/[.*/]/g, c => `\\${c}`)}\\s+\\[\\]\\s+\\[${names}\\]\\s+\\[${verbs}\\]$`
          ).test(l)
        )
      // kubectl prints a rule with several names as one row per name
      assert.ok(row('serviceaccounts/token', 'mysql', 'create'), list.stdout)
      assert.ok(row('serviceaccounts/token', 'web', 'create'), list.stdout)
      assert.ok(row('workloadgroups.networking.istio.io', 'mysql', 'get patch'), list.stdout)
      assert.ok(row('configmaps', 'istio-ca-root-cert', 'get'), list.stdout)
      assert.ok(row('selfsubjectrulesreviews.authorization.k8s.io', '', 'create'), list.stdout)
      assert.ok(!lines.some(l => l.startsWith('secrets')), 'no rule names secrets')
    }
  )
})

describe('the RBAC authorizer: rule and subject semantics as kube-apiserver', () => {
  let sb: SandboxCluster
  let admin: Connected
  before(async () => {
    sb = await sandbox({ authorization: 'RBAC' })
    admin = await connectTo(sb.kubeconfig)
  })
  after(async () => {
    await admin?.connection.close()
    await sb?.close()
  })
  const put = (o: KubeObject): Promise<KubeObject> => admin.connection.client.apply(o)
  const rbac = 'rbac.authorization.k8s.io/v1'

  test('users and groups from tokens; RoleBinding to a ClusterRole; */subresource; aggregation', async () => {
    const alice = sb.issueUserToken('alice', ['team-a'])
    const bob = sb.issueUserToken('bob')
    // without a binding: discovery and self reviews only (the bootstrap roles)
    assert.equal((await call(sb, bob, 'GET', '/apis')).status, 200)
    assert.equal((await call(sb, bob, 'GET', '/api/v1/namespaces/sample/pods')).status, 403)
    await put({
      apiVersion: rbac,
      kind: 'ClusterRole',
      metadata: { name: 'exec-anything' },
      rules: [{ apiGroups: [''], resources: ['*/exec'], verbs: ['create'] }]
    })
    await put({
      apiVersion: rbac,
      kind: 'ClusterRole',
      metadata: {
        name: 'aggregate-reader',
        labels: { 'example.test/aggregate-to-reader': 'true' }
      },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }]
    })
    await put({
      apiVersion: rbac,
      kind: 'ClusterRole',
      metadata: { name: 'reader' },
      aggregationRule: {
        clusterRoleSelectors: [{ matchLabels: { 'example.test/aggregate-to-reader': 'true' } }]
      },
      rules: []
    })
    // a group's RoleBinding to a ClusterRole grants it in that namespace only
    await put({
      apiVersion: rbac,
      kind: 'RoleBinding',
      metadata: { name: 'team-a-reader', namespace: 'sample' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'reader' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'team-a' }]
    })
    assert.equal((await call(sb, alice, 'GET', '/api/v1/namespaces/sample/pods')).status, 200)
    assert.equal((await call(sb, alice, 'GET', '/api/v1/namespaces/default/pods')).status, 403)
    assert.equal((await call(sb, bob, 'GET', '/api/v1/namespaces/sample/pods')).status, 403)
    // `pods` does not cover `pods/exec`; `*/exec` does
    const ssar = (token: string, attrs: Record<string, string>): Promise<Reply> =>
      call(sb, token, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        spec: { resourceAttributes: attrs }
      })
    const execAttrs = { namespace: 'sample', verb: 'create', resource: 'pods', subresource: 'exec' }
    assert.deepEqual((await ssar(alice, execAttrs)).body.status, { allowed: false })
    await put({
      apiVersion: rbac,
      kind: 'ClusterRoleBinding',
      metadata: { name: 'alice-exec' },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'exec-anything'
      },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }]
    })
    assert.deepEqual((await ssar(alice, execAttrs)).body.status, {
      allowed: true,
      reason:
        'RBAC: allowed by ClusterRoleBinding "alice-exec" of ClusterRole "exec-anything" to User "alice"'
    })
  })

  test('a RoleBinding subject ServiceAccount without namespace is the binding namespace’s; resourceNames', async () => {
    sb.store.put({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'app', namespace: 'sample' }
    })
    const token = sb.mintServiceAccountToken({ namespace: 'sample', serviceAccount: 'app' })
    await put({
      apiVersion: rbac,
      kind: 'Role',
      metadata: { name: 'one-map', namespace: 'sample' },
      rules: [
        {
          apiGroups: [''],
          resources: ['configmaps'],
          resourceNames: ['istio-ca-root-cert'],
          verbs: ['get', 'list']
        }
      ]
    })
    await put({
      apiVersion: rbac,
      kind: 'RoleBinding',
      metadata: { name: 'app-one-map', namespace: 'sample' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'one-map' },
      subjects: [{ kind: 'ServiceAccount', name: 'app' }]
    })
    const ok = await call(
      sb,
      token,
      'GET',
      '/api/v1/namespaces/sample/configmaps/istio-ca-root-cert'
    )
    assert.equal(ok.status, 200)
    // a list carries no name: resourceNames do not grant it, unless narrowed to the name
    assert.equal((await call(sb, token, 'GET', '/api/v1/namespaces/sample/configmaps')).status, 403)
    const narrowed = await call(
      sb,
      token,
      'GET',
      '/api/v1/namespaces/sample/configmaps?fieldSelector=metadata.name%3Distio-ca-root-cert'
    )
    assert.equal(narrowed.status, 200)
  })

  test('AlwaysAllow (the default mode) and the deny list on top of either mode', async () => {
    const carol = sb.issueUserToken('carol')
    assert.equal((await call(sb, carol, 'GET', '/api/v1/namespaces/sample/secrets')).status, 403)
    sb.authorization = 'AlwaysAllow'
    try {
      assert.equal((await call(sb, carol, 'GET', '/api/v1/namespaces/sample/secrets')).status, 200)
      const undo = sb.deny('carol', 'list', 'secrets')
      assert.equal((await call(sb, carol, 'GET', '/api/v1/namespaces/sample/secrets')).status, 403)
      // the access review agrees with the request (the deny list acts as an authorizer that denies)
      const review = await call(
        sb,
        carol,
        'POST',
        '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        { spec: { resourceAttributes: { namespace: 'sample', verb: 'list', resource: 'secrets' } } }
      )
      assert.deepEqual(review.body.status, {
        allowed: false,
        denied: true,
        reason: 'denied by the sandbox deny list'
      })
      undo()
      const rules = await call(
        sb,
        carol,
        'POST',
        '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews',
        {
          spec: { namespace: 'sample' }
        }
      )
      assert.deepEqual((rules.body.status as { resourceRules: unknown }).resourceRules, [
        { verbs: ['*'], apiGroups: ['*'], resources: ['*'] }
      ])
    } finally {
      sb.authorization = 'RBAC'
    }
    // the admin is in system:masters: allowed even with the cluster-admin binding gone
    await admin.connection.client.delete({
      apiVersion: rbac,
      kind: 'ClusterRoleBinding',
      name: 'cluster-admin'
    })
    assert.equal((await call(sb, sb.adminToken, 'GET', '/api/v1/secrets')).status, 200)
  })
})

describe('least privilege: the older generations (multinetwork-1.4)', () => {
  let sb: SandboxCluster
  let admin: Connected
  let bot: Connected
  let rbacYaml = ''
  // Citadel's secrets, the gateway Service's ports, the CoreDNS stub, the registry's Endpoints
  const description = describe_(`
cluster:
  legacy:
    services: [echo.sample]
    fixGlobalDns: true
workloadGroups:
  - name: web
    namespace: vm
    ports: {http: 8080}
    service: {kind: ServiceEntry}
vms:
  - name: vm-1
    group: web
    host: 198.18.2.2
    address: 198.18.2.2
`)
  before(async () => {
    sb = await sandbox({ istioVersion: '1.4.0', network: 'network1', authorization: 'RBAC' })
    admin = await connectTo(sb.kubeconfig)
    sb.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ci' } })
    // kubeadm's CoreDNS ConfigMap, which the .global stub goes into
    sb.store.put(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'coredns', namespace: 'kube-system' },
        data: { Corefile: '.:53 {\n    errors\n    forward . /etc/resolv.conf\n}\n' }
      },
      { manager: 'kubeadm' }
    )
    rbacYaml = renderRbac(description, {
      subject: { kind: 'ServiceAccount', namespace: 'ci', name: 'mesh-bot' },
      commands: ['apply', 'cleanup', 'sweep'],
      generation: 'multinetwork-1.4',
      name: 'mesh-expansion'
    })
    for (const doc of parseAllDocuments(rbacYaml)) {
      const object = doc.toJS() as KubeObject | null
      if (object) await admin.connection.client.apply(object)
    }
    const token = sb.mintServiceAccountToken({ namespace: 'ci', serviceAccount: 'mesh-bot' })
    bot = await connectTo(sb.kubeconfigFor(token, 'mesh-bot'))
  })
  after(async () => {
    await bot?.connection.close()
    await admin?.connection.close()
    await sb?.close()
  })

  test('prepare, identity, register, cleanup as the ServiceAccount: nothing refused', async () => {
    sb.requestLog.clear()
    const client = bot.connection.client
    const { prepareLegacyCluster, cleanupLegacy } = await import('../../src/engine/legacy.ts')
    const prepared = await prepareCluster(client, description, { owner: 'mn-1' })
    assert.equal(prepared.discovery.generation, 'multinetwork-1.4')
    const ownership = prepared.ownership
    const noop = (): void => undefined
    const legacy = await prepareLegacyCluster(client, description, prepared.discovery, ownership, {
      log: noop,
      warn: noop,
      onSecret: noop
    })
    await legacy.readIdentity()
    const addresses = new Map([['vm-1', '198.18.2.2']])
    assert.ok((await legacy.register(addresses)) > 0)
    // verify asks pilot nothing before 1.8: it has no /debug/connections on its monitoring port
    // (src/verify/deps.ts), so the RBAC grants no services/proxy
    await cleanupLegacy(
      {
        client,
        description,
        discovery: prepared.discovery,
        ownership,
        log: noop,
        warn: noop,
        onSecret: noop,
        tokenSeconds: 600
      },
      addresses
    )
    await cleanup(client, 'mn-1')
    await sweep(client, 3600)
    const refused = sb.requestLog.entries
      .filter(e => e.user === SA && e.status === 403)
      .map(e => `${e.verb} ${e.resource} ${e.namespace ?? ''}/${e.name ?? ''}`)
    assert.deepEqual(refused, [])
    const did = (verb: string, resource: string, name?: string): boolean =>
      sb.requestLog.entries.some(
        e =>
          e.user === SA &&
          e.verb === verb &&
          e.resource === resource &&
          (name === undefined || e.name === name)
      )
    assert.ok(did('get', 'secrets', 'istio.web'), "Citadel's secret read")
    assert.ok(
      did('patch', 'configmaps', 'coredns') || did('patch', 'configmaps', 'kube-dns'),
      'the .global stub written'
    )
    assert.ok(did('patch', 'endpoints', 'web'), 'the VM registered in the Endpoints')
    assert.deepEqual(unusedRules(sb, rbacYaml), [], 'every rule is used')
  })
})
