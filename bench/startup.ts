// Start-up: time from process start to the first byte of output and to exit, for the bundled
// entry points, side by side with bare Node as the floor. Deterministic counts (bytes) next to
// timings.
import { spawn } from 'node:child_process'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'

export interface StartupRow {
  what: string
  runs: number
  medianMs: number
  minMs: number
  maxMs: number
  /** process start to exit */
  exitMedianMs: number
  exitMinMs: number
}

async function timings(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string
): Promise<{ firstMs: number; exitMs: number }> {
  const started = process.hrtime.bigint()
  const child = spawn(process.execPath, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const ms = await new Promise<number>((resolve, reject) => {
    const first = (): void => resolve(Number(process.hrtime.bigint() - started) / 1e6)
    child.stdout.once('data', first)
    child.stderr.once('data', first)
    child.once('error', reject)
  })
  await new Promise(resolve => child.once('close', resolve))
  const exitMs = Number(process.hrtime.bigint() - started) / 1e6
  clearTimeout(timer)
  return { firstMs: ms, exitMs }
}

const round = (value: number): number => Math.round(value * 10) / 10
const sortedOf = (samples: number[]): number[] => [...samples].sort((a, b) => a - b)
const median = (sorted: number[]): number => round(sorted[Math.floor(sorted.length / 2)] ?? NaN)

function stats(what: string, samples: Array<{ firstMs: number; exitMs: number }>): StartupRow {
  const first = sortedOf(samples.map(s => s.firstMs))
  const exit = sortedOf(samples.map(s => s.exitMs))
  return {
    what,
    runs: samples.length,
    medianMs: median(first),
    minMs: round(first[0] ?? NaN),
    maxMs: round(first.at(-1) ?? NaN),
    exitMedianMs: median(exit),
    exitMinMs: round(exit[0] ?? NaN)
  }
}

export interface StartupOptions {
  /** a cluster to plan against (kubeconfig content and a file with it): adds the plan cases */
  cluster?: { kubeconfig: string; kubeconfigPath: string }
}

export async function measureStartup(
  root: string,
  runs = 15,
  options: StartupOptions = {}
): Promise<StartupRow[]> {
  const actionEnv = {
    PATH: process.env.PATH,
    'INPUT_CONFIG-FILE': 'examples/lab.yaml',
    INPUT_COMMAND: 'validate',
    GITHUB_STEP_SUMMARY: '/dev/null',
    GITHUB_OUTPUT: '/dev/null',
    GITHUB_STATE: '/dev/null'
  }
  const cases: Array<[string, string[], NodeJS.ProcessEnv]> = [
    ['bare node (floor)', ['-e', 'console.log(1)'], { PATH: process.env.PATH }],
    ['dist/main.js validate', [join(root, 'dist/main.js')], actionEnv],
    [
      'dist/cli.js validate',
      [join(root, 'dist/cli.js'), 'validate', '-c', 'examples/lab.yaml'],
      { PATH: process.env.PATH }
    ],
    ['dist/cli.js --help', [join(root, 'dist/cli.js'), '--help'], { PATH: process.env.PATH }]
  ]
  if (options.cluster) {
    // The first line is printed before the cluster is contacted; the run goes on to the end.
    cases.push(
      [
        'dist/main.js plan',
        [join(root, 'dist/main.js')],
        { ...actionEnv, INPUT_COMMAND: 'plan', INPUT_KUBECONFIG: options.cluster.kubeconfig }
      ],
      [
        'dist/cli.js plan',
        [
          join(root, 'dist/cli.js'),
          'plan',
          '-c',
          'examples/lab.yaml',
          '--kubeconfig',
          options.cluster.kubeconfigPath
        ],
        { PATH: process.env.PATH }
      ]
    )
  }
  const rows: StartupRow[] = []
  for (const [what, args, env] of cases) {
    await timings(args, env, root) // warm the file cache
    const samples: Array<{ firstMs: number; exitMs: number }> = []
    for (let i = 0; i < runs; i++) samples.push(await timings(args, env, root))
    rows.push(stats(what, samples))
  }
  return rows
}

export async function bundleBytes(root: string): Promise<Record<string, number>> {
  const sizes: Record<string, number> = {}
  let total = 0
  for (const dir of ['dist', 'dist/chunks']) {
    for (const name of await readdir(join(root, dir))) {
      const info = await stat(join(root, dir, name))
      if (info.isFile()) total += info.size
      if (info.isFile() && dir === 'dist') sizes[name] = info.size
    }
  }
  return { ...sizes, total }
}
