// The job summary as a person sees it: the Markdown summaryMarkdown() writes, turned into HTML
// as GitHub does (marked, GitHub Flavored Markdown), styled with GitHub's Markdown CSS, its
// ```mermaid blocks drawn by Mermaid, in Debian's headless Chromium. A script in the page
// measures the rendered DOM; the test reads its verdict from --dump-dom and keeps a screenshot
// of each summary in __tests__/artifacts/report-render/ (ignored by git).
// Reports: (a) a successful lab run and (b) one with a failed host and a failed check, both
// recorded from the lab (__tests__/fixtures/reports/), (c) 100 hosts scaled from (b), and
// (d) hostile VM names.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { marked } from 'marked'
import type { RunReport } from '../../src/engine/report.ts'
import { summaryMarkdown } from '../../src/report/jobSummary.ts'
import { findTool } from '../../lab/vms/host.ts'
import { recorded, scaled } from '../fixtures/reports/scale.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const artifacts = join(root, '__tests__/artifacts/report-render')
const mermaidJs = pathToFileURL(join(root, 'node_modules/mermaid/dist/mermaid.min.js')).href
const githubCss = pathToFileURL(
  join(root, 'node_modules/github-markdown-css/github-markdown-light.css')
).href

/** The viewport: what is "above the fold" on a laptop. */
const WIDTH = 1100
const FOLD = 900

/** Phase names of src/host (runner and host side): no table cell may hold one twice. */
const PHASES = [
  'connect',
  'render',
  'exec',
  'download',
  'push',
  'preflight',
  'package',
  'files',
  'service',
  'ready'
]

/** Runs in the page once Mermaid is done: what the test asserts on, base64 JSON in #verdict. */
const MEASURE = `
function measure(error) {
  const top = el => (el ? el.getBoundingClientRect().top + window.scrollY : null)
  const heading = text => [...document.querySelectorAll('h3')].find(h => h.textContent.includes(text))
  const phases = ${JSON.stringify(PHASES)}
  const repeats = []
  // the tables that hold phases: the run's and the hosts' times, and the hosts' details
  const timed = [...document.querySelectorAll('table')].filter(t =>
    /^(phase|run|host)$/.test((t.querySelector('th:not(:empty)') || {}).textContent || ''))
  for (const cell of timed.flatMap(t => [...t.querySelectorAll('td, th')])) {
    for (const name of phases) {
      const n = (cell.textContent.match(new RegExp('\\\\b' + name + '\\\\b', 'g')) || []).length
      if (n > 1) repeats.push(name + ' x' + n + ' in: ' + cell.textContent.slice(0, 120))
    }
  }
  const glance = heading('At a glance')
  const glanceTable = glance && glance.nextElementSibling
  const v = {
    mermaidError: error ? String(error) : null,
    diagrams: document.querySelectorAll('pre.mermaid').length,
    drawn: document.querySelectorAll('pre.mermaid svg').length,
    syntaxErrors: [...document.querySelectorAll('pre.mermaid')].filter(p => /Syntax error|Parse error/i.test(p.textContent)).length,
    headline: (document.querySelector('h2') || {}).textContent || '',
    failedTop: top(heading('What failed')),
    firstDetailsTop: top(document.querySelector('details')),
    glanceTop: top(glance),
    firstTableTop: top(document.querySelector('table')),
    firstTableIsFailures: !!(heading('What failed') && heading('What failed').nextElementSibling === document.querySelector('table')),
    glanceRows: glanceTable ? [...glanceTable.querySelectorAll('tr')].slice(1).map(r => r.textContent) : [],
    marks: { ok: document.querySelector('article').textContent.includes('✅'), failed: document.querySelector('article').textContent.includes('❌') },
    repeats,
    timedTables: timed.length,
    images: document.querySelectorAll('img').length,
    javascriptLinks: document.querySelectorAll('a[href^="javascript" i], [href^="javascript" i]').length,
    clickable: document.querySelectorAll('.clickable, [onclick]').length,
    svgText: [...document.querySelectorAll('pre.mermaid svg')].map(s => s.textContent).join('\\n'),
    ganttBars: [...document.querySelectorAll('pre.mermaid svg rect.task')].length,
    graphNodes: [...document.querySelectorAll('pre.mermaid svg g.node')].length,
    height: document.documentElement.scrollHeight
  }
  const out = document.createElement('pre')
  out.id = 'verdict'
  out.hidden = true
  out.textContent = btoa(unescape(encodeURIComponent(JSON.stringify(v))))
  document.body.appendChild(out)
}`

/** The page: the summary as GitHub would show it. */
function summaryPage(markdown: string): string {
  const html = marked.parse(markdown, { gfm: true, async: false })
  // GitHub draws ```mermaid blocks; marked leaves them as code: hand them to Mermaid
  const body = html.replace(
    /<pre><code class="language-mermaid">([\s\S]*?)<\/code><\/pre>/g,
    '<pre class="mermaid">$1</pre>'
  )
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>job summary</title>
<link rel="stylesheet" href="${githubCss}">
<style>body { margin: 0; background: #fff } .markdown-body { box-sizing: border-box; max-width: ${WIDTH}px; padding: 24px 32px }
pre.mermaid { background: #fff }</style>
</head><body><article class="markdown-body">
${body}
</article>
<script src="${mermaidJs}"></script>
<script>
${MEASURE}
mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'default', gantt: { useWidth: ${WIDTH - 80} } })
mermaid.run({ querySelector: 'pre.mermaid' }).then(() => measure(null), e => measure(e))
</script></body></html>
`
}

interface Verdict {
  mermaidError: string | null
  diagrams: number
  drawn: number
  syntaxErrors: number
  headline: string
  failedTop: number | null
  firstDetailsTop: number | null
  glanceTop: number | null
  firstTableTop: number | null
  firstTableIsFailures: boolean
  glanceRows: string[]
  marks: { ok: boolean; failed: boolean }
  repeats: string[]
  timedTables: number
  images: number
  javascriptLinks: number
  clickable: number
  svgText: string
  ganttBars: number
  graphNodes: number
  height: number
}

const chromium = findTool('chromium')
let profile = ''

function runChromium(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      chromium ?? 'chromium',
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--hide-scrollbars',
        '--no-first-run',
        '--mute-audio',
        `--user-data-dir=${profile}`,
        '--virtual-time-budget=20000',
        ...args
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] }
    )
    let out = ''
    let err = ''
    child.stdout.on('data', chunk => (out += chunk))
    child.stderr.on('data', chunk => (err += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
    child.on('close', code => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else reject(new Error(`chromium exited ${code}: ${err.slice(-2000)}`))
    })
  })
}

/** Renders one summary: its verdict (at the fold's height) and a full-page screenshot; with
 * `top`, also a screenshot of its first `top` pixels (docs/report-failed-run.png is one). */
async function render(name: string, report: RunReport, top?: number): Promise<Verdict> {
  const markdown = summaryMarkdown(report, {
    description: 'examples/lab.yaml',
    covers: 'examples/lab.yaml: valid: 1 workload group, 3 VMs, 2 checks (namespace vm)',
    runUrl: 'https://github.com/example/fleet/actions/runs/1234'
  })
  const file = join(artifacts, `${name}.html`)
  await writeFile(join(artifacts, `${name}.md`), markdown)
  await writeFile(file, summaryPage(markdown))
  const dom = await runChromium([
    `--window-size=${WIDTH},${FOLD}`,
    '--dump-dom',
    pathToFileURL(file).href
  ])
  const encoded = /<pre id="verdict" hidden="">([A-Za-z0-9+/=]+)<\/pre>/.exec(dom)?.[1]
  assert.ok(encoded, `${name}: the page measured nothing (Mermaid did not finish?)`)
  const verdict = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as Verdict
  await writeFile(join(artifacts, `${name}.verdict.json`), JSON.stringify(verdict, null, 2))
  const height = Math.min(Math.max(verdict.height + 20, FOLD), 8000)
  await runChromium([
    `--window-size=${WIDTH},${height}`,
    `--screenshot=${join(artifacts, `${name}.png`)}`,
    pathToFileURL(file).href
  ])
  if (top !== undefined) {
    await runChromium([
      `--window-size=${WIDTH},${top}`,
      `--screenshot=${join(artifacts, `${name}.top.png`)}`,
      pathToFileURL(file).href
    ])
  }
  return verdict
}

/** Every rendered summary: diagrams drawn, marks shown, no phase name twice in a cell. */
function commonChecks(name: string, v: Verdict): void {
  assert.equal(v.mermaidError, null, `${name}: Mermaid failed`)
  assert.ok(v.diagrams >= 2, `${name}: the checks graph and the gantt chart`)
  assert.equal(v.drawn, v.diagrams, `${name}: every Mermaid block drawn as SVG`)
  assert.equal(v.syntaxErrors, 0, `${name}: no Mermaid syntax error`)
  assert.ok(v.timedTables >= 2, `${name}: the phase tables were found`)
  assert.deepEqual(v.repeats, [], `${name}: a cell repeats a phase name`)
  assert.match(v.headline, /^(✅|❌) mesh-expansion: apply (succeeded|failed)/)
  assert.equal(v.images, 0)
  assert.equal(v.javascriptLinks, 0)
}

/** The failures come first: above the fold, and before the fleet's first table and details. */
function failureFirst(name: string, v: Verdict): void {
  assert.ok(v.failedTop !== null, `${name}: a "What failed" section`)
  assert.ok(
    v.failedTop < FOLD,
    `${name}: "What failed" at ${v.failedTop}px, below the fold (${FOLD}px)`
  )
  assert.ok(v.firstTableIsFailures, `${name}: the first table is the failures'`)
  assert.ok(v.glanceTop !== null && v.failedTop < v.glanceTop, `${name}: failures before the fleet`)
  assert.ok(
    v.firstDetailsTop !== null && v.failedTop < v.firstDetailsTop,
    `${name}: failures before the details`
  )
}

describe('the job summary in headless Chromium', { concurrency: false }, () => {
  before(async () => {
    assert.ok(
      chromium,
      'chromium is missing: apt-get install chromium (lab/vms/host.ts installs it as root)'
    )
    await mkdir(artifacts, { recursive: true })
    profile = await mkdtemp(join(tmpdir(), 'mesh-expansion-chromium-'))
  })
  after(async () => {
    if (profile) await rm(profile, { recursive: true, force: true })
  })

  test('(a) a successful lab run: a ✅ headline, no failure section, pictures drawn', async () => {
    const v = await render('a-lab-success', recorded('lab-apply-ok'))
    commonChecks('a', v)
    assert.match(v.headline, /^✅ mesh-expansion: apply succeeded/)
    assert.equal(v.failedTop, null, 'no "What failed" section')
    assert.ok(v.marks.ok)
    assert.equal(v.marks.failed, false)
    assert.ok(v.glanceTop !== null && v.glanceTop < FOLD, 'the fleet at a glance above the fold')
    assert.ok(
      v.glanceRows.some(r => /^✅3hosts ready/.test(r)),
      `one row for the 3 ready hosts: ${v.glanceRows.join(' | ')}`
    )
    assert.ok(v.ganttBars > 0, 'the gantt chart has bars')
  })

  test('(b) one failed host and one failed check: both above the fold, with their fixes', async () => {
    // its top is the picture in docs/reports.md (copied from the artifacts by hand)
    const v = await render(
      'b-failed-host-and-check',
      recorded('lab-apply-failed-host-and-check'),
      1620
    )
    commonChecks('b', v)
    failureFirst('b', v)
    assert.match(v.headline, /^❌ mesh-expansion: apply failed/)
    assert.ok(v.marks.ok && v.marks.failed)
    assert.match(v.svgText, /vm-3/)
  })

  test('(c) 100 hosts: the failure still first, the 99 others grouped in a few rows', async () => {
    const report = scaled(recorded('lab-apply-failed-host-and-check'), 100)
    assert.equal(report.hosts.length, 100)
    const v = await render('c-100-hosts', report)
    commonChecks('c', v)
    failureFirst('c', v)
    assert.ok(
      v.glanceRows.some(r => /^✅99hosts ready/.test(r)),
      `one row for the ready hosts: ${v.glanceRows.join(' | ')}`
    )
    assert.ok(v.glanceRows.length <= 12, `a glance of ${v.glanceRows.length} rows`)
    assert.ok(v.graphNodes <= 12, `the checks graph has ${v.graphNodes} nodes`)
  })

  test('(d) hostile VM names stay text, in the tables and in the pictures', async () => {
    const report = recorded('lab-apply-failed-host-and-check')
    const hostile = ['vm"];click A "javascript:alert(1)"', '<img src=x onerror=alert(1)>']
    // in the JSON text, so each name is written JSON-escaped
    const json = (name: string | undefined): string => JSON.stringify(name ?? '').slice(1, -1)
    const rename = (text: string): string =>
      text.split('vm-3').join(json(hostile[0])).split('vm-2').join(json(hostile[1]))
    const renamed = JSON.parse(rename(JSON.stringify(report))) as RunReport
    const v = await render('d-hostile-names', renamed)
    commonChecks('d', v)
    assert.equal(v.clickable, 0, 'no click handler from a name')
    assert.ok(v.svgText.includes(hostile[0] ?? ''), 'the first name drawn as text')
    assert.ok(v.svgText.includes(hostile[1] ?? ''), 'the second name drawn as text')
  })
})
