// The bundled Action's `plan` against the sandbox cluster on loopback, posting its result as a
// pull-request comment to a stand-in of GitHub's REST API (also on loopback), then updating it.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandboxCluster, type SandboxCluster } from '../../lab/cluster/index.ts'
import { runAction } from '../../lab/github.ts'

interface Comment {
  id: number
  body: string
}

describe('pull-request comment', () => {
  let cluster: SandboxCluster
  let github: Server
  let apiUrl: string
  let dir: string
  const comments: Comment[] = [{ id: 1, body: 'an unrelated comment' }]
  const requests: string[] = []

  before(async () => {
    cluster = await startSandboxCluster({ host: '127.0.0.1', echo: false })
    dir = await mkdtemp(join(tmpdir(), 'mx-pr-'))
    await writeFile(join(dir, 'event.json'), JSON.stringify({ pull_request: { number: 7 } }))
    github = createServer((request, response) => {
      let body = ''
      request.on('data', chunk => (body += chunk))
      request.on('end', () => {
        requests.push(`${request.method} ${request.url} ${request.headers.authorization}`)
        const reply = (status: number, value: unknown): void => {
          response.writeHead(status, { 'content-type': 'application/json' })
          response.end(JSON.stringify(value))
        }
        const url = new URL(request.url ?? '/', 'http://x')
        if (request.method === 'GET' && url.pathname === '/repos/acme/shop/issues/7/comments')
          return reply(200, comments)
        if (request.method === 'POST' && url.pathname === '/repos/acme/shop/issues/7/comments') {
          const comment = { id: comments.length + 1, body: JSON.parse(body).body as string }
          comments.push(comment)
          return reply(201, comment)
        }
        const patch = /^\/repos\/acme\/shop\/issues\/comments\/(\d+)$/.exec(url.pathname)
        const existing = comments.find(c => c.id === Number(patch?.[1]))
        if (request.method === 'PATCH' && existing) {
          existing.body = JSON.parse(body).body as string
          return reply(200, existing)
        }
        reply(404, { message: 'Not Found' })
      })
    })
    await new Promise<void>(resolve => github.listen(0, '127.0.0.1', resolve))
    const address = github.address()
    assert.ok(address && typeof address === 'object')
    apiUrl = `http://127.0.0.1:${address.port}`
  })
  after(async () => {
    await new Promise(resolve => github?.close(resolve))
    await cluster?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  const plan = (): ReturnType<typeof runAction> =>
    runAction('main', {
      inputs: {
        'config-file': 'examples/lab.yaml',
        command: 'plan',
        kubeconfig: cluster.kubeconfig,
        'github-token': 'ghs_fake_token_for_tests_123456'
      },
      env: {
        GITHUB_EVENT_PATH: join(dir, 'event.json'),
        GITHUB_REPOSITORY: 'acme/shop',
        GITHUB_API_URL: apiUrl
      }
    })

  test('the first run creates the comment, the next one updates it in place', async () => {
    const first = await plan()
    assert.equal(first.code, 0, first.stdout)
    assert.match(first.stdout, /pull request #7: comment created/)
    assert.equal(comments.length, 2)
    const ours = comments[1]
    assert.ok(ours)
    assert.match(ours.body, /^<!-- mesh-expansion -->\n### mesh-expansion: plan succeeded/)
    assert.match(ours.body, /create {4}WorkloadGroup vm\/echo-vm/)

    const second = await plan()
    assert.equal(second.code, 0, second.stdout)
    assert.match(second.stdout, /pull request #7: comment updated/)
    assert.equal(comments.length, 2, 'no second comment')
    assert.ok(requests.every(line => line.endsWith('Bearer ghs_fake_token_for_tests_123456')))
    assert.doesNotMatch(first.stdout.replace(/^::add-mask::.*$/gm, ''), /ghs_fake_token/)
  })
})
