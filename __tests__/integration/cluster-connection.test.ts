// Connection: kubeconfig from the input content (0600 temporary file, removed on close, masked),
// a path, KUBECONFIG, ~/.kube/config; context selection; HTTPS_PROXY / NO_PROXY honoured.
import assert from 'node:assert/strict'
import { existsSync, statSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { connect as netConnect, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parse, stringify } from 'yaml'
import { ClusterError, connect } from '../../src/cluster/index.ts'
import type { SandboxCluster } from '../../lab/cluster/index.ts'
import { FAST_RETRY, sandbox } from './cluster-helpers.ts'

/** An HTTP CONNECT proxy on loopback that counts tunnels. */
async function startProxy(): Promise<{ url: string; tunnels: string[]; close(): Promise<void> }> {
  const tunnels: string[] = []
  const server: Server = createServer((_req, res) => res.writeHead(405).end())
  server.on('connect', (req, socket, head) => {
    tunnels.push(req.url ?? '')
    const [host, port] = (req.url ?? '').split(':')
    if (host !== '127.0.0.1') {
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n')
      return
    }
    const upstream = netConnect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.write(head)
      upstream.pipe(socket)
      socket.pipe(upstream)
    })
    upstream.on('error', () => socket.destroy())
    socket.on('error', () => upstream.destroy())
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    tunnels,
    close: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}

describe('connection', () => {
  let sb: SandboxCluster
  let dir: string
  before(async () => {
    sb = await sandbox()
    dir = await mkdtemp(join(tmpdir(), 'cluster-connection-test-'))
  })
  after(async () => {
    await sb?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('kubeconfig content: masked, written 0600, removed on close', async () => {
    const secrets: string[] = []
    const c = await connect({
      kubeconfigContent: sb.kubeconfig,
      env: {},
      onSecret: v => secrets.push(v)
    })
    try {
      assert.equal(c.source, 'input')
      const file = c.temporaryFile ?? ''
      assert.ok(existsSync(file))
      assert.equal(statSync(file).mode & 0o777, 0o600)
      assert.ok(secrets.includes(sb.kubeconfig), 'the content is masked')
      assert.ok(secrets.includes(sb.adminToken), 'the token inside is masked on its own')
      assert.ok(await c.client.get({ apiVersion: 'v1', kind: 'Namespace', name: 'istio-system' }))
      await c.close()
      assert.ok(!existsSync(file), 'removed after close')
      await c.close()
    } finally {
      await c.close()
    }
  })

  test('a path, then KUBECONFIG, then ~/.kube/config', async () => {
    const path = join(dir, 'kubeconfig')
    await sb.writeKubeconfig(path)
    const byPath = await connect({ kubeconfigPath: 'kubeconfig', cwd: dir, env: {} })
    assert.equal(byPath.source, path)
    await byPath.close()
    const byEnv = await connect({ env: { KUBECONFIG: path } })
    assert.equal(byEnv.source, path)
    await byEnv.close()
    const home = join(dir, 'home')
    await mkdir(join(home, '.kube'), { recursive: true })
    await sb.writeKubeconfig(join(home, '.kube', 'config'))
    const byHome = await connect({ env: { HOME: home } })
    assert.equal(byHome.source, join(home, '.kube', 'config'))
    await byHome.close()
    await assert.rejects(
      connect({ env: { HOME: join(dir, 'empty') } }),
      (e: unknown) => e instanceof ClusterError && /^no kubeconfig: /.test(e.message)
    )
    await assert.rejects(
      connect({ kubeconfigPath: join(dir, 'missing'), env: {} }),
      /kubeconfig .*missing does not exist/
    )
  })

  test('in a pod: the service account files and KUBERNETES_SERVICE_HOST', async () => {
    const sa = join(dir, 'serviceaccount')
    await mkdir(sa, { recursive: true })
    await writeFile(join(sa, 'token'), sb.adminToken)
    await writeFile(join(sa, 'ca.crt'), sb.ca.certPem)
    await writeFile(join(sa, 'namespace'), 'ci')
    const url = new URL(sb.url)
    const secrets: string[] = []
    const c = await connect({
      env: { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port },
      serviceAccountDir: sa,
      onSecret: v => secrets.push(v)
    })
    try {
      assert.equal(c.source, 'in-cluster')
      assert.deepEqual(secrets, [sb.adminToken])
      assert.ok(await c.client.get({ apiVersion: 'v1', kind: 'Namespace', name: 'istio-system' }))
    } finally {
      await c.close()
    }
  })

  test('context selection', async () => {
    const config = parse(sb.kubeconfig) as {
      clusters: { name: string; cluster: Record<string, string> }[]
      contexts: { name: string; context: Record<string, string> }[]
      'current-context': string
    }
    const base = config.clusters[0]
    assert.ok(base)
    config.clusters.push({
      name: 'elsewhere',
      cluster: { ...base.cluster, server: 'https://127.0.0.1:1' }
    })
    config.contexts.push({ name: 'elsewhere', context: { cluster: 'elsewhere', user: 'admin' } })
    config['current-context'] = 'elsewhere'
    const text = stringify(config)
    const chosen = await connect({
      kubeconfigContent: text,
      context: 'sandbox',
      env: {},
      retry: FAST_RETRY
    })
    assert.equal(chosen.context, 'sandbox')
    await chosen.close()
    await assert.rejects(
      connect({ kubeconfigContent: text, context: 'nope', env: {} }),
      /context "nope" is not in the kubeconfig \(it has: sandbox, elsewhere\)/
    )
  })

  test('HTTPS_PROXY is used for the API server, unless NO_PROXY covers it', async () => {
    const proxy = await startProxy()
    try {
      const via = await connect({
        kubeconfigContent: sb.kubeconfig,
        env: { HTTPS_PROXY: proxy.url }
      })
      assert.equal(via.proxy, proxy.url)
      await via.client.get({ apiVersion: 'v1', kind: 'Namespace', name: 'istio-system' })
      await via.close()
      const port = new URL(sb.url).port
      assert.ok(proxy.tunnels.includes(`127.0.0.1:${port}`), proxy.tunnels.join(','))
      const count = proxy.tunnels.length
      const direct = await connect({
        kubeconfigContent: sb.kubeconfig,
        env: { https_proxy: proxy.url, no_proxy: 'localhost,127.0.0.0/8' }
      })
      assert.equal(direct.proxy, undefined)
      await direct.client.get({ apiVersion: 'v1', kind: 'Namespace', name: 'istio-system' })
      await direct.close()
      assert.equal(proxy.tunnels.length, count)
    } finally {
      await proxy.close()
    }
  })

  test('a kubeconfig that is not one is refused clearly', async () => {
    await writeFile(join(dir, 'bad'), 'not: [a kubeconfig')
    await assert.rejects(
      connect({ kubeconfigPath: join(dir, 'bad'), env: {} }),
      (e: unknown) =>
        e instanceof ClusterError && /^kubeconfig .*bad cannot be read: /.test(e.message)
    )
  })
})
