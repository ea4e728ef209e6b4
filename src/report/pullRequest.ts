// The plan or the result as one pull-request comment that later runs update in place. A hidden
// marker finds the comment again; plain fetch against the REST API is all it takes.
import { readFile } from 'node:fs/promises'
import type { RunReport } from '../engine/report.ts'
import { planLines } from './summary.ts'
import { reportLines } from './terminal.ts'

const MARKER = '<!-- mesh-expansion -->'

/** The comment's Markdown: pure. */
export function commentBody(report: RunReport, descriptionName: string): string {
  const lines = [
    MARKER,
    `### mesh-expansion: ${report.command} ${report.ok ? 'succeeded' : 'failed'}`,
    '',
    `Description \`${descriptionName}\`, owner \`${report.owner}\`.`,
    '',
    ...reportLines(report).map(line => `- ${line}`)
  ]
  const plan = planLines(report)
  if (plan.length > 0) {
    lines.push(
      '',
      '<details><summary>Cluster plan</summary>',
      '',
      '```',
      ...plan,
      '```',
      '',
      '</details>'
    )
  }
  return `${lines.join('\n')}\n`
}

export interface PullRequestContext {
  apiUrl: string
  repository: string
  number: number
}

/** The pull request this run belongs to, from the runner's event file; undefined otherwise. */
export async function pullRequestContext(
  env: NodeJS.ProcessEnv
): Promise<PullRequestContext | undefined> {
  const { GITHUB_EVENT_PATH: eventPath, GITHUB_REPOSITORY: repository } = env
  if (!eventPath || !repository) return undefined
  const event = JSON.parse(await readFile(eventPath, 'utf8')) as {
    pull_request?: { number?: number }
  }
  const number = event.pull_request?.number
  if (typeof number !== 'number') return undefined
  return { apiUrl: env.GITHUB_API_URL ?? 'https://api.github.com', repository, number }
}

/** Creates the comment, or updates the one an earlier run left. Returns what it did. */
export async function upsertComment(
  context: PullRequestContext,
  token: string,
  body: string
): Promise<'created' | 'updated'> {
  const headers = {
    authorization: `Bearer ${token}`,
    accept: 'application/vnd.github+json',
    'content-type': 'application/json',
    'user-agent': 'mesh-expansion'
  }
  const base = `${context.apiUrl}/repos/${context.repository}/issues`
  const call = async (url: string, method: string, payload?: unknown): Promise<unknown> => {
    const response = await fetch(url, {
      method,
      headers,
      ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}),
      signal: AbortSignal.timeout(30_000)
    })
    if (!response.ok)
      throw new Error(`GitHub answered ${response.status} to ${method} ${new URL(url).pathname}`)
    return response.json()
  }
  // Bounded: the first 10 pages of 100 comments are searched for ours.
  for (let page = 1; page <= 10; page++) {
    const comments = (await call(
      `${base}/${context.number}/comments?per_page=100&page=${page}`,
      'GET'
    )) as Array<{
      id: number
      body?: string
    }>
    const ours = comments.find(comment => comment.body?.startsWith(MARKER))
    if (ours) {
      await call(`${base}/comments/${ours.id}`, 'PATCH', { body })
      return 'updated'
    }
    if (comments.length < 100) break
  }
  await call(`${base}/${context.number}/comments`, 'POST', { body })
  return 'created'
}
