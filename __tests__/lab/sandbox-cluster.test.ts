// The sandbox cluster with its pods in a network namespace: exec runs there, the echo app (echo.py)
// serves there on the echo Service's IP, and a sleep pod reaches it through the service CIDR.
import { Exec, KubeConfig, type V1Status } from '@kubernetes/client-node'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { PassThrough } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { startSandboxCluster, type SandboxCluster } from '../../lab/cluster/index.ts'
import { labTestOptions } from '../helpers/lab.ts'

const netns = `mxt-cluster-${process.pid}`

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 })
}

async function podExec(
  kc: KubeConfig,
  command: string[]
): Promise<{ stdout: string; status: V1Status }> {
  const stdout = new PassThrough()
  let out = ''
  stdout.on('data', (d: Buffer) => (out += d.toString()))
  const status = await new Promise<V1Status>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('exec did not finish in 15 s')), 15_000)
    new Exec(kc)
      .exec(
        'sample',
        'sleep-6b8f4c7d9-m3n5p',
        'sleep',
        command,
        stdout,
        new PassThrough(),
        null,
        false,
        s => {
          clearTimeout(timer)
          resolve(s)
        }
      )
      .catch((e: unknown) => {
        clearTimeout(timer)
        reject(new Error(String(e)))
      })
  })
  return { stdout: out, status }
}

describe('sandbox cluster with pods in a network namespace', labTestOptions(), () => {
  let cluster: SandboxCluster | undefined
  let kc: KubeConfig

  before(async () => {
    // a namespace like the lab's mxlab-cluster: pod IPs on lo, the service CIDR local
    ip('netns', 'add', netns)
    ip('-n', netns, 'link', 'set', 'lo', 'up')
    ip('-n', netns, 'addr', 'add', '198.18.1.10/32', 'dev', 'lo')
    ip('-n', netns, 'addr', 'add', '198.18.1.11/32', 'dev', 'lo')
    ip('-n', netns, 'route', 'add', 'local', '198.19.0.0/16', 'dev', 'lo')
    cluster = await startSandboxCluster({ podNetns: netns })
    kc = new KubeConfig()
    kc.loadFromString(cluster.kubeconfig)
  })

  after(async () => {
    await cluster?.close()
    try {
      ip('netns', 'del', netns)
    } catch {
      // not created
    }
  })

  test('exec runs inside the pod network namespace', async () => {
    const { stdout, status } = await podExec(kc, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'lo'])
    assert.equal(status.status, 'Success')
    assert.match(stdout, /198\.18\.1\.11\/32/)
  })

  test('the sleep pod reaches the echo Service, which shows the request headers', async () => {
    const { stdout, status } = await podExec(kc, [
      'curl',
      '-sS',
      '--max-time',
      '5',
      '-H',
      'x-forwarded-client-cert: By=spiffe://cluster.local/ns/sample/sa/echo',
      'http://198.19.0.10/hello'
    ])
    assert.equal(status.status, 'Success', stdout)
    const reply = JSON.parse(stdout) as {
      path: string
      headers: Record<string, string>
      host: string
      local: [string, number]
    }
    assert.equal(reply.path, '/hello')
    assert.equal(reply.host, 'echo')
    assert.equal(
      reply.headers['x-forwarded-client-cert'],
      'By=spiffe://cluster.local/ns/sample/sa/echo'
    )
    assert.deepEqual(reply.local, ['198.19.0.10', 80])
  })

  test('pods resolve Service names from the hosts file the sandbox keeps for their namespace', async () => {
    const { stdout } = await podExec(kc, ['getent', 'hosts', 'echo.sample.svc.cluster.local'])
    assert.match(stdout, /^198\.19\.0\.10\s+echo\.sample\.svc\.cluster\.local/)
    const reply = await podExec(kc, [
      'curl',
      '-sS',
      '--max-time',
      '5',
      'http://echo.sample/by-name'
    ])
    assert.equal((JSON.parse(reply.stdout) as { path: string }).path, '/by-name')
    // a Service created later is resolvable too
    assert.ok(cluster)
    cluster.store.put({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'late', namespace: 'sample' },
      spec: { clusterIP: '198.19.7.7', ports: [{ port: 80 }] }
    })
    await new Promise(resolve => setImmediate(resolve))
    const late = await podExec(kc, ['getent', 'hosts', 'late.sample.svc'])
    assert.match(late.stdout, /^198\.19\.7\.7\s/)
  })

  test('the echo app is gone and the namespace is free after close', async () => {
    const c = cluster
    cluster = undefined
    await c?.close()
    const listening = execFileSync('ip', ['netns', 'exec', netns, 'ss', '-Htln'], {
      timeout: 10_000
    }).toString()
    assert.equal(listening.trim(), '')
    assert.equal(existsSync(`/etc/netns/${netns}`), false, 'the hosts file is removed')
  })
})
