// The bundled Action's `plan` against the sandbox cluster on loopback, posting its result as a
// pull-request comment to a stand-in of GitHub's REST API (also on loopback, under a GHES-style
// /api/v3 base path), then updating it: only its own comment, through a proxy, past 5xx and
// rate limits, past 1,000 comments. The runner stand-in also reads every comment body for secrets.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, request as httpRequest, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandboxCluster, type SandboxCluster } from '../../lab/cluster/index.ts'
import { runAction } from '../../lab/github.ts'

interface Comment {
  id: number
  body: string
  user: { login: string; type: string }
}

const MARKER = '<!-- mesh-expansion -->'
const PAT = 'ghp_fake_personal_token_0123456789'
const ACTIONS_TOKEN = 'ghs_fake_actions_token_0123456789'
/** who each token is: the Actions token may not ask (GET /user answers 403) */
const USERS: Record<string, string> = { [PAT]: 'deploy-bot' }
const BASE = '/api/v3'

const user = (login: string): Comment['user'] => ({
  login,
  type: login.endsWith('[bot]') ? 'Bot' : 'User'
})

async function listen(server: Server): Promise<number> {
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

describe('pull-request comment', () => {
  let cluster: SandboxCluster
  let github: Server
  let proxy: Server
  let githubPort: number
  let proxyPort: number
  let dir: string
  /** comments per pull request */
  const threads = new Map<number, Comment[]>()
  const requests: string[] = []
  const proxied: string[] = []
  /** answers to give before handling normally, for `METHOD path` */
  const failures: Array<{ method: string; status: number; headers?: Record<string, string> }> = []
  let nextId = 1

  before(async () => {
    cluster = await startSandboxCluster({ host: '127.0.0.1', echo: false })
    dir = await mkdtemp(join(tmpdir(), 'mx-pr-'))
    github = createServer((request, response) => {
      let body = ''
      request.on('data', chunk => (body += chunk))
      request.on('end', () => {
        const token = /^token (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? ''
        requests.push(
          `${request.method} ${request.url} ${token === '' ? 'anonymous' : token.slice(0, 4)}`
        )
        const reply = (
          status: number,
          value: unknown,
          headers: Record<string, string> = {}
        ): void => {
          response.writeHead(status, { 'content-type': 'application/json', ...headers })
          response.end(JSON.stringify(value))
        }
        const failure = failures.findIndex(f => f.method === request.method)
        if (failure >= 0) {
          const [f] = failures.splice(failure, 1)
          return reply(f?.status ?? 500, { message: 'failing on purpose' }, f?.headers)
        }
        const url = new URL(request.url ?? '/', 'http://x')
        const login = USERS[token]
        if (request.method === 'GET' && url.pathname === `${BASE}/user`) {
          if (token === ACTIONS_TOKEN)
            return reply(403, { message: 'Resource not accessible by integration' })
          return login ? reply(200, { login }) : reply(401, { message: 'Bad credentials' })
        }
        const me = login ?? (token === ACTIONS_TOKEN ? 'github-actions[bot]' : undefined)
        if (me === undefined) return reply(401, { message: 'Bad credentials' })
        const list = /^\/api\/v3\/repos\/acme\/shop\/issues\/(\d+)\/comments$/.exec(url.pathname)
        if (list) {
          const number = Number(list[1])
          const comments = threads.get(number) ?? []
          threads.set(number, comments)
          if (request.method === 'GET') {
            const perPage = Number(url.searchParams.get('per_page') ?? 30)
            const page = Number(url.searchParams.get('page') ?? 1)
            const last = Math.max(1, Math.ceil(comments.length / perPage))
            const link = (p: number, rel: string): string =>
              `<http://${request.headers.host}${url.pathname}?per_page=${perPage}&page=${p}>; rel="${rel}"`
            const headers: Record<string, string> =
              page < last ? { link: [link(page + 1, 'next'), link(last, 'last')].join(', ') } : {}
            return reply(200, comments.slice((page - 1) * perPage, page * perPage), headers)
          }
          if (request.method === 'POST') {
            const comment = { id: nextId++, body: JSON.parse(body).body as string, user: user(me) }
            comments.push(comment)
            return reply(201, comment)
          }
        }
        const patch = /^\/api\/v3\/repos\/acme\/shop\/issues\/comments\/(\d+)$/.exec(url.pathname)
        const existing = [...threads.values()].flat().find(c => c.id === Number(patch?.[1]))
        if (request.method === 'PATCH' && existing) {
          if (existing.user.login !== me) return reply(403, { message: 'not yours' })
          existing.body = JSON.parse(body).body as string
          return reply(200, existing)
        }
        reply(404, { message: 'Not Found' })
      })
    })
    githubPort = await listen(github)
    // A forward proxy (absolute URLs) that also tunnels (CONNECT); it alone knows where
    // "github.test" is: a request that does not go through it cannot reach the API at all.
    // Loopback targets (the sandbox API: the kubeconfig honours the proxy too) pass through;
    // anything else is refused: nothing leaves the machine.
    const upstream = (host: string): { host: string; port: number } => {
      if (host.startsWith('github.test')) return { host: '127.0.0.1', port: githubPort }
      const loopback = /^127\.0\.0\.1:(\d+)$/.exec(host)
      return { host: '127.0.0.1', port: loopback ? Number(loopback[1]) : 9 }
    }
    proxy = createServer((request, response) => {
      const target = new URL(request.url ?? '/')
      proxied.push(`${request.method} ${target.host}`)
      const to = upstream(target.host)
      const forward = httpRequest(
        {
          ...to,
          method: request.method,
          path: target.pathname + target.search,
          headers: request.headers
        },
        answer => {
          response.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(response)
        }
      )
      forward.on('error', () => response.writeHead(502).end())
      request.pipe(forward)
    })
    proxy.on('connect', (request, socket, head) => {
      proxied.push(`CONNECT ${request.url}`)
      const to = upstream(request.url ?? '')
      const tunnel = connect(to.port, to.host, () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
        tunnel.write(head)
        tunnel.pipe(socket)
        socket.pipe(tunnel)
      })
      tunnel.on('error', () => socket.destroy())
      socket.on('error', () => tunnel.destroy())
    })
    proxyPort = await listen(proxy)
  })
  after(async () => {
    proxy?.closeAllConnections()
    github?.closeAllConnections()
    await new Promise(resolve => proxy?.close(resolve))
    await new Promise(resolve => github?.close(resolve))
    await cluster?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  const bodies = (): Record<string, string> =>
    Object.fromEntries(
      [...threads.values()].flat().map(comment => [`comment ${comment.id}`, comment.body])
    )

  async function plan(
    number: number,
    token: string,
    env: Record<string, string> = {}
  ): ReturnType<typeof runAction> {
    const event = join(dir, `event-${number}.json`)
    await writeFile(event, JSON.stringify({ pull_request: { number } }))
    return runAction('main', {
      inputs: {
        'config-file': 'examples/lab.yaml',
        command: 'plan',
        kubeconfig: cluster.kubeconfig,
        'github-token': token
      },
      env: {
        GITHUB_EVENT_PATH: event,
        GITHUB_REPOSITORY: 'acme/shop',
        GITHUB_API_URL: `http://127.0.0.1:${githubPort}${BASE}`,
        ...env
      },
      published: bodies
    })
  }

  test('ours is created next to a marker comment by someone else, which is left alone; then updated', async () => {
    const theirs = { id: nextId++, body: `${MARKER}\nsomeone else's`, user: user('mallory') }
    threads.set(7, [{ id: nextId++, body: 'an unrelated comment', user: user('alice') }, theirs])
    const first = await plan(7, PAT)
    assert.equal(first.code, 0, first.stdout)
    assert.match(first.stdout, /pull request #7: comment created/)
    const comments = threads.get(7) ?? []
    assert.equal(comments.length, 3)
    const ours = comments[2]
    assert.equal(ours?.user.login, 'deploy-bot')
    assert.match(ours?.body ?? '', /^<!-- mesh-expansion -->\n### mesh-expansion: plan succeeded/)
    assert.match(ours?.body ?? '', /create {4}WorkloadGroup vm\/echo-vm/)
    assert.equal(theirs.body, `${MARKER}\nsomeone else's`, 'theirs is untouched')

    const second = await plan(7, PAT)
    assert.equal(second.code, 0, second.stdout)
    assert.match(second.stdout, /pull request #7: comment updated/)
    assert.equal(threads.get(7)?.length, 3, 'no second comment')
    assert.equal(theirs.body, `${MARKER}\nsomeone else's`)
    assert.ok(
      requests.every(line => !line.endsWith('anonymous')),
      'every request authenticated'
    )
  })

  test('the Actions token (no GET /user) finds its own comment as github-actions[bot], past 1,000 comments', async () => {
    const many: Comment[] = Array.from({ length: 1050 }, (_, i) => ({
      id: nextId++,
      body: i === 3 ? `${MARKER}\nby a person` : `comment ${i}`,
      user: user(`user-${i % 7}`)
    }))
    const ours = {
      id: nextId++,
      body: `${MARKER}\nan earlier run`,
      user: user('github-actions[bot]')
    }
    threads.set(8, [...many, ours])
    const run = await plan(8, ACTIONS_TOKEN)
    assert.equal(run.code, 0, run.stdout)
    assert.match(run.stdout, /pull request #8: comment updated/)
    assert.equal(threads.get(8)?.length, 1051, 'no duplicate')
    assert.match(ours.body, /plan succeeded/)
    assert.equal(many[3]?.body, `${MARKER}\nby a person`)
  })

  test('through the runner proxy (HTTP_PROXY, HTTPS_PROXY) to a host only the proxy knows', async () => {
    proxied.length = 0
    const proxyUrl = `http://127.0.0.1:${proxyPort}`
    const run = await plan(9, PAT, {
      GITHUB_API_URL: `http://github.test${BASE}`,
      HTTP_PROXY: proxyUrl,
      HTTPS_PROXY: proxyUrl
    })
    assert.equal(run.code, 0, run.stdout)
    assert.match(run.stdout, /pull request #9: comment created/)
    assert.equal(threads.get(9)?.length, 1)
    assert.ok(proxied.filter(line => line.includes('github.test')).length >= 3, proxied.join(', '))
  })

  test('a 502, then a rate limit: retried, and the comment is made', async () => {
    failures.push({ method: 'POST', status: 502 })
    failures.push({
      method: 'POST',
      status: 403,
      headers: { 'x-ratelimit-remaining': '0', 'retry-after': '1' }
    })
    const run = await plan(10, PAT)
    assert.equal(run.code, 0, run.stdout)
    assert.match(run.stdout, /GitHub answered 502 to POST .*; try 2 of 4 in 1s/)
    assert.match(run.stdout, /GitHub answered 403 to POST .*; try 3 of 4 in 1s/)
    assert.match(run.stdout, /pull request #10: comment created/)
    assert.equal(threads.get(10)?.length, 1)
  })

  test('GitHub failing every time: bounded tries, a warning, the step itself succeeds', async () => {
    for (let i = 0; i < 4; i++)
      failures.push({ method: 'GET', status: 503, headers: { 'retry-after': '0' } })
    const run = await plan(11, PAT)
    assert.equal(run.code, 0, run.stdout)
    assert.match(run.stdout, /try 4 of 4/)
    assert.match(run.stdout, /::warning::could not comment on the pull request/)
    assert.equal(failures.length, 0)
  })
})
