// The plan or the result as one pull-request comment that later runs update in place. A hidden
// marker finds the comment again, but only one written by the token's own identity: a comment by
// anyone else that starts with the marker is left alone. GitHub is reached through
// @actions/github (Octokit with the runner's proxy settings, GITHUB_API_URL for GHES, pagination),
// each request retried, a bounded number of times, on 5xx and rate limits.
import { readFile } from 'node:fs/promises'
import type { RunReport } from '../engine/report.ts'
import { escapeHtml, escapeMarkdown } from './escape.ts'
import { failureGroups, groupSubject, headline, MARKS } from './overview.ts'
import { planLines } from './summary.ts'

const MARKER = '<!-- mesh-expansion -->'

/** Failure groups a comment lists; the job summary has the rest. */
const COMMENT_GROUPS = 10

/**
 * The comment's Markdown: pure. The same headline and failures as the job summary, short, and a
 * link to the run. Names and messages are escaped: no link, mention or HTML.
 */
export function commentBody(report: RunReport, descriptionName: string, runUrl?: string): string {
  const h = headline(report)
  const [first, ...rest] = h.counts.map(escapeMarkdown)
  const link = runUrl !== undefined ? ` · [job summary and log](${runUrl})` : ''
  const lines = [
    MARKER,
    `### mesh-expansion: ${report.command} ${report.ok ? 'succeeded' : 'failed'} ${h.mark}`,
    '',
    [`**${first ?? ''}**`, ...rest].join(' · '),
    '',
    `Description <code>${escapeMarkdown(descriptionName)}</code>, owner <code>${escapeMarkdown(report.owner)}</code>${link}.`
  ]
  const groups = failureGroups(report)
  if (groups.length > 0) {
    lines.push('', '| | what failed | why | fix |', '|---|---|---|---|')
    for (const group of groups.slice(0, COMMENT_GROUPS)) {
      const fix =
        group.fix.code !== undefined
          ? `${escapeMarkdown(group.fix.text)}: <code>${escapeMarkdown(group.fix.code)}</code>`
          : escapeMarkdown(group.fix.text)
      lines.push(
        `| ${MARKS.failed} | ${escapeMarkdown(groupSubject(group))} | ${escapeMarkdown(group.why)} | ${fix} |`
      )
    }
    if (groups.length > COMMENT_GROUPS) {
      lines.push(
        '',
        `${groups.length - COMMENT_GROUPS} more kinds of failure: see the job summary.`
      )
    }
  }
  const plan = planLines(report)
  if (plan.length > 0) {
    lines.push(
      '',
      `<details><summary>Cluster plan (${plan.length} objects)</summary>`,
      '',
      `<pre>${plan.map(escapeHtml).join('\n')}</pre>`,
      '',
      '</details>'
    )
  }
  return `${lines.join('\n')}\n`
}

/**
 * The run's page from the runner's variables (GITHUB_SERVER_URL, GITHUB_REPOSITORY,
 * GITHUB_RUN_ID); undefined outside a runner or when one looks wrong.
 */
export function runUrl(env: NodeJS.ProcessEnv): string | undefined {
  const { GITHUB_SERVER_URL: server, GITHUB_REPOSITORY: repository, GITHUB_RUN_ID: run } = env
  if (!server || !repository || !run) return undefined
  if (!/^https?:\/\/[A-Za-z0-9.-]+(:\d+)?(\/[A-Za-z0-9._~-]+)*$/.test(server)) return undefined
  if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository) || !/^\d+$/.test(run)) return undefined
  return `${server}/${repository}/actions/runs/${run}`
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

export interface RetryPolicy {
  /** requests after the first one (default 3) */
  retries: number
  /** the first wait when GitHub names none; doubled each time (default 1 s) */
  baseDelayMs: number
  /** a longer wait than this (a rate limit reset far away) is not waited for (default 60 s) */
  maxDelayMs: number
  /** each request's own time limit (default 30 s) */
  timeoutMs: number
}

const defaultPolicy: RetryPolicy = {
  retries: 3,
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  timeoutMs: 30_000
}

interface HttpFailure {
  status?: number
  response?: { headers?: Record<string, string | number | undefined> }
}

/** How long to wait before the next try, or undefined when this failure is not retried. */
export function retryDelay(
  error: unknown,
  attempt: number,
  policy: RetryPolicy,
  now = Date.now()
): number | undefined {
  if (attempt > policy.retries) return undefined
  const { status = 0, response } = (error ?? {}) as HttpFailure
  const header = (name: string): number | undefined => {
    const value = Number(response?.headers?.[name])
    return response?.headers?.[name] === undefined || Number.isNaN(value) ? undefined : value
  }
  const retryAfter = header('retry-after')
  const exhausted = header('x-ratelimit-remaining') === 0
  const rateLimited = status === 429 || (status === 403 && (exhausted || retryAfter !== undefined))
  // a network failure comes back from Octokit as a 500 without a response
  if (status < 500 && !rateLimited) return undefined
  const reset = header('x-ratelimit-reset')
  const wait =
    retryAfter !== undefined
      ? retryAfter * 1000
      : exhausted && reset !== undefined
        ? reset * 1000 - now
        : policy.baseDelayMs * 2 ** (attempt - 1)
  if (wait > policy.maxDelayMs) return undefined
  return Math.max(0, wait)
}

/** The bot the Actions token (GITHUB_TOKEN) writes as; it may not call GET /user. */
export const ACTIONS_BOT = 'github-actions[bot]'

export interface CommentOptions {
  policy?: Partial<RetryPolicy>
  /** one line per retry */
  log?: (line: string) => void
}

/** Bounded: 100 pages of 100 comments are searched for ours. */
const MAX_PAGES = 100

/** Creates the comment, or updates the one an earlier run of ours left. Returns what it did. */
export async function upsertComment(
  context: PullRequestContext,
  token: string,
  body: string,
  options: CommentOptions = {}
): Promise<'created' | 'updated'> {
  const policy = { ...defaultPolicy, ...options.policy }
  // loaded only when a comment is wanted: the Action starts faster without it
  const { getOctokit } = await import('@actions/github')
  // no `request` option here: it would replace the proxy-aware fetch @actions/github sets
  const octokit = getOctokit(token, { baseUrl: context.apiUrl, userAgent: 'mesh-expansion' })
  octokit.hook.wrap('request', async (request, endpoint) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await request({
          ...endpoint,
          request: { ...endpoint.request, signal: AbortSignal.timeout(policy.timeoutMs) }
        })
      } catch (error) {
        const wait = retryDelay(error, attempt, policy)
        if (wait === undefined) throw error
        const status = (error as HttpFailure).status ?? 0
        options.log?.(
          `GitHub answered ${status} to ${endpoint.method} ${endpoint.url}; try ${attempt + 1} of ${policy.retries + 1} in ${Math.ceil(wait / 1000)}s`
        )
        await new Promise(resolve => setTimeout(resolve, wait))
      }
    }
  })
  const [owner = '', repo = ''] = context.repository.split('/')
  const issue = { owner, repo, issue_number: context.number }
  const me = (await identity(octokit)).toLowerCase()
  let pages = 0
  for await (const page of octokit.paginate.iterator(octokit.rest.issues.listComments, {
    ...issue,
    per_page: 100
  })) {
    const ours = page.data.find(
      comment => comment.body?.startsWith(MARKER) && comment.user?.login.toLowerCase() === me
    )
    if (ours) {
      await octokit.rest.issues.updateComment({ owner, repo, comment_id: ours.id, body })
      return 'updated'
    }
    if (++pages >= MAX_PAGES) break
  }
  await octokit.rest.issues.createComment({ ...issue, body })
  return 'created'
}

/**
 * Who the token writes as. A personal or fine-grained token answers GET /user; the Actions
 * token (an app installation token) is refused there (403) and writes as github-actions[bot].
 */
async function identity(octokit: {
  rest: { users: { getAuthenticated: () => Promise<{ data: { login: string } }> } }
}): Promise<string> {
  try {
    return (await octokit.rest.users.getAuthenticated()).data.login
  } catch (error) {
    const status = (error as HttpFailure).status
    if (status === 403 || status === 404) return ACTIONS_BOT
    throw error
  }
}
