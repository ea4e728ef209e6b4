// The permissions a run uses (src/cluster/permissions.ts) for the description fixtures and the
// older generations, and the RBAC `mesh-expansion rbac` prints from them (src/commands/rbac.ts).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { parseAllDocuments } from 'yaml'
import { parseDescription, type Description } from '../../src/config/index.ts'
import {
  accessReviewsOf,
  describePermission,
  grantingRule,
  permissionsFor,
  type Permission
} from '../../src/cluster/permissions.ts'
import { rbacCommand, renderRbac } from '../../src/commands/rbac.ts'
import { UsageError } from '../../src/commands/types.ts'

function load(text: string, name = 'test.yaml'): Description {
  const result = parseDescription(text, name)
  if (!result.ok) throw new Error(result.errors.map(e => `${e.path}: ${e.message}`).join('\n'))
  return result.description
}
const fixture = (name: string): Description =>
  load(readFileSync(`__tests__/fixtures/valid/${name}`, 'utf8'), name)

/** `verb group/resource[/sub] ns [names]` for compact comparisons */
const line = (p: Permission): string =>
  `${p.verb} ${p.group === '' ? 'core' : p.group}/${p.resource}${p.subresource ? `/${p.subresource}` : ''} ${p.namespace ?? '*'}${p.resourceNames ? ` [${p.resourceNames.join(',')}]` : ''}`
const find = (ps: Permission[], verb: string, resource: string, namespace?: string): Permission[] =>
  ps.filter(
    p =>
      p.verb === verb &&
      (p.subresource ? `${p.resource}/${p.subresource}` : p.resource) === resource &&
      p.namespace === namespace
  )

describe('permissionsFor: what a run uses', () => {
  test('minimal: apply is namespaced and named where the names are known', () => {
    const ps = permissionsFor(fixture('minimal.yaml'), { commands: ['apply'] })
    const lines = ps.map(line)
    for (const expected of [
      'create core/serviceaccounts/token vm [echo-vm]',
      'get core/configmaps vm [istio-ca-root-cert]',
      'get core/namespaces vm [vm]',
      'get networking.istio.io/workloadgroups vm [echo-vm]',
      'patch networking.istio.io/workloadgroups vm [echo-vm]',
      'patch core/serviceaccounts vm [echo-vm]',
      'list apps/deployments istio-system',
      'get core/namespaces istio-system [istio-system]',
      'get core/services istio-system [istio-eastwestgateway]',
      'get admissionregistration.k8s.io/mutatingwebhookconfigurations * [istio-revision-tag-default]'
    ])
      assert.ok(lines.includes(expected), `${expected}\nin\n${lines.join('\n')}`)
    // revision auto: the mesh ConfigMaps' names are unknown until discovery read the tag
    assert.equal(find(ps, 'get', 'configmaps', 'istio-system')[0]?.resourceNames, undefined)
    // every write names its object, in the workload namespace
    for (const p of ps.filter(p => ['patch', 'update', 'create'].includes(p.verb))) {
      assert.ok(p.namespace !== undefined, line(p))
      if (p.resource !== 'workloadentries' && p.resource !== 'pods')
        assert.ok(p.resourceNames, line(p))
    }
    assert.ok(ps.every(p => p.phase !== ''))
  })

  test('full: an explicit revision names the mesh ConfigMaps, the exposure and istiod', () => {
    const ps = permissionsFor(fixture('full.yaml'), { commands: ['apply', 'verify'] })
    const lines = ps.map(line)
    for (const expected of [
      'get core/configmaps istio-system [istio-1-30-3,istio-sidecar-injector-1-30-3]',
      'patch networking.istio.io/gateways istio-system [istiod-gateway-1-30-3]',
      'patch networking.istio.io/virtualservices istio-system [istiod-vs-1-30-3]',
      'get core/services/proxy istio-system [istiod-1-30-3:15014]',
      'create core/pods/exec istio-system',
      'patch core/services db [mysql]',
      'patch networking.istio.io/serviceentries shop [web]',
      'list networking.istio.io/workloadentries db'
    ])
      assert.ok(lines.includes(expected), `${expected}\nin\n${lines.join('\n')}`)
    // no tag webhook read when the revision is given
    assert.equal(find(ps, 'get', 'mutatingwebhookconfigurations').length, 0)
  })

  test('verify alone writes nothing', () => {
    const ps = permissionsFor(fixture('full.yaml'), { commands: ['verify'] })
    for (const p of ps)
      assert.ok(
        ['get', 'list'].includes(p.verb) || (p.verb === 'create' && p.subresource === 'exec'),
        line(p)
      )
    const strict = permissionsFor(fixture('full.yaml'), { commands: ['verify'], strictMtls: true })
    assert.ok(
      strict
        .map(line)
        .includes('patch security.istio.io/peerauthentications db [mesh-expansion-verify-strict]')
    )
  })

  test('cleanup and sweep: lists across namespaces; namespaces deleted only where runs create them', () => {
    const d = fixture('minimal.yaml')
    const cleanup = permissionsFor(d, { commands: ['cleanup'] })
    assert.ok(cleanup.map(line).includes('list networking.istio.io/workloadgroups *'))
    assert.ok(cleanup.map(line).includes('delete networking.istio.io/workloadgroups vm'))
    assert.equal(find(cleanup, 'delete', 'namespaces').length, 0)
    assert.equal(find(cleanup, 'list', '*').length, 0)
    const sweep = permissionsFor(d, { commands: ['sweep'] })
    assert.ok(
      sweep.every(p => p.namespace === undefined),
      sweep.map(line).join('\n')
    )
    assert.ok(sweep.map(line).includes('delete networking.istio.io/workloadentries *'))
    assert.equal(
      find(sweep, 'get', 'deployments', 'istio-system').length,
      0,
      'sweep discovers nothing'
    )
    const created = permissionsFor(d, { commands: ['apply', 'cleanup'], createNamespaces: true })
    const lines = created.map(line)
    assert.ok(lines.includes('patch core/namespaces * [vm]'))
    assert.ok(lines.includes('delete core/namespaces * [vm]'))
    assert.ok(
      lines.includes('create core/serviceaccounts/token * [echo-vm]'),
      'cluster-wide: no Role before its namespace'
    )
    assert.ok(lines.includes('list */* *'))
  })

  test('the older generations: Citadel secrets, the gateway Service, the CoreDNS ConfigMap', () => {
    const d = load(`cluster:
  generation: multinetwork-1.4
  legacy:
    services: [echo.sample]
    fixGlobalDns: true
workloadGroups: [{name: web, namespace: vm, ports: {http: 8080}}]
vms: [{name: vm-1, host: 198.18.2.2}]
`)
    const ps = permissionsFor(d, { commands: ['apply', 'cleanup'] })
    const lines = ps.map(line)
    const named = find(ps, 'get', 'services', 'istio-system')[0]?.resourceNames ?? []
    assert.ok(named.includes('istiocoredns') && named.includes('istio-ingressgateway'))
    for (const expected of [
      'get core/secrets vm [istio.web]',
      'patch core/services istio-system [istio-ingressgateway]',
      'get core/services sample [echo]',
      'patch core/configmaps kube-system [coredns,kube-dns]',
      'list networking.istio.io/serviceentries *',
      'patch networking.istio.io/serviceentries sample',
      'patch core/endpoints vm [web]',
      'list networking.k8s.io/servicecidrs *',
      'create core/services default',
      'delete networking.istio.io/serviceentries sample'
    ])
      assert.ok(lines.includes(expected), `${expected}\nin\n${lines.join('\n')}`)
    // no token and no WorkloadGroup before 1.8
    assert.ok(
      !lines.some(l => l.includes('serviceaccounts/token') || l.includes('workloadgroups vm'))
    )

    const scripts = permissionsFor(d, { commands: ['apply'], generation: 'scripts-0.8' }).map(line)
    assert.ok(scripts.includes('get core/services kube-system [dns-ilb]'))
    assert.ok(
      scripts.some(l => /^get core\/services istio-system \[.*citadel-ilb,istio-ca-ilb/.test(l))
    )
    assert.ok(!scripts.some(l => l.includes('istio-ingressgateway')))
    const m11 = permissionsFor(d, { commands: ['apply'], generation: 'meshexpansion-1.1' }).map(
      line
    )
    assert.ok(!m11.some(l => l.includes('coredns')))
    assert.ok(m11.includes('patch networking.istio.io/serviceentries vm [web]'))
  })
})

describe('mesh-expansion rbac', () => {
  test('a ClusterRole, a Role per namespace, bindings; each rule justified by a comment', () => {
    const yaml = renderRbac(fixture('minimal.yaml'), {
      subject: { kind: 'ServiceAccount', namespace: 'ci', name: 'bot' },
      commands: ['apply', 'verify', 'cleanup', 'sweep'],
      name: 'mesh-expansion'
    })
    const docs = parseAllDocuments(yaml).map(d => d.toJS() as Record<string, unknown>)
    const kinds = docs.map(
      d => `${String(d.kind)}/${String((d.metadata as { namespace?: string }).namespace ?? '')}`
    )
    assert.deepEqual(kinds, [
      'Namespace/',
      'ServiceAccount/ci',
      'ClusterRole/',
      'ClusterRoleBinding/',
      'Role/istio-system',
      'RoleBinding/istio-system',
      'Role/vm',
      'RoleBinding/vm'
    ])
    const binding = docs[3] as { subjects: unknown[] }
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'bot', namespace: 'ci' }])
    // every rule has a comment naming its phase just above it
    const textLines = yaml.split('\n')
    textLines.forEach((l, k) => {
      if (/^ {2}- apiGroups:/.test(l))
        assert.match(textLines[k - 1] ?? '', /^ {2}# (get|list|patch|create|delete|update): \S/, l)
    })
    assert.match(yaml, /# create: apply\/identity: a TokenRequest for the VM/)
    // a namespaced rule a cluster-wide one covers is not printed; its reason moves there
    const vmRole = docs[6] as { rules: { verbs: string[] }[] }
    assert.ok(vmRole.rules.every(r => !r.verbs.includes('delete')))
    assert.match(
      yaml,
      /# delete: sweep: delete expired owners' objects\n {2}# delete: cleanup: delete the owner's objects\n/
    )
  })

  test('the command: --user; bad input is a usage error (exit 2)', async () => {
    const out: string[] = []
    const err: string[] = []
    const io = {
      cwd: process.cwd(),
      env: {},
      stdout: (t: string) => out.push(t),
      stderr: (t: string) => err.push(t)
    }
    const ok = await rbacCommand(
      ['-c', '__tests__/fixtures/valid/minimal.yaml', '--user', 'ci-bot', '--command', 'sweep'],
      io
    )
    assert.equal(ok, 0, err.join(''))
    const docs = parseAllDocuments(out.join('')).map(
      d => d.toJS() as { kind: string; subjects?: unknown[] }
    )
    assert.deepEqual(
      docs.map(d => d.kind),
      ['Namespace', 'ClusterRole', 'ClusterRoleBinding']
    )
    assert.deepEqual(docs[2]?.subjects, [
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'ci-bot' }
    ])
    for (const args of [
      ['-c', '__tests__/fixtures/valid/minimal.yaml'],
      ['-c', '__tests__/fixtures/valid/minimal.yaml', '--user', 'a', '--service-account', 'x/y'],
      ['-c', '__tests__/fixtures/valid/minimal.yaml', '--user', 'a', '--command', 'deploy'],
      ['-c', '__tests__/fixtures/valid/minimal.yaml', '--service-account', 'nope']
    ])
      await assert.rejects(rbacCommand(args, io), UsageError, args.join(' '))
  })
})

describe('helpers for the preflight', () => {
  const token: Permission = {
    verb: 'create',
    group: '',
    resource: 'serviceaccounts',
    subresource: 'token',
    namespace: 'vm',
    resourceNames: ['mysql', 'web'],
    phase: 'apply/identity'
  }
  test('one access review per name; the message; the granting rule', () => {
    assert.deepEqual(accessReviewsOf(token), [
      {
        verb: 'create',
        group: '',
        resource: 'serviceaccounts',
        subresource: 'token',
        namespace: 'vm',
        name: 'mysql'
      },
      {
        verb: 'create',
        group: '',
        resource: 'serviceaccounts',
        subresource: 'token',
        namespace: 'vm',
        name: 'web'
      }
    ])
    assert.equal(
      describePermission(token, 'web'),
      'create serviceaccounts/token "web" in namespace vm'
    )
    assert.equal(
      describePermission({
        verb: 'list',
        group: 'networking.istio.io',
        resource: 'workloadgroups',
        phase: 'x'
      }),
      'list workloadgroups.networking.istio.io cluster-wide'
    )
    assert.deepEqual(grantingRule(token), {
      kind: 'Role',
      namespace: 'vm',
      rule: {
        apiGroups: [''],
        resources: ['serviceaccounts/token'],
        resourceNames: ['mysql', 'web'],
        verbs: ['create']
      }
    })
  })
})
