// Runs every test with node's test runner, so CI reads its closing lines.
// `--unit` runs only the tests that need no lab (no root, no VMs, no network namespaces).
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ensurePrerequisites } from '../lab/vms/host.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const unitOnly = process.argv.includes('--unit')
// integration/: real servers on loopback (the sandbox Kubernetes API), no root needed.
const withoutLab = [
  '__tests__/unit/**/*.test.ts',
  '__tests__/integration/**/*.test.ts',
  '__tests__/dist/**/*.test.ts'
]
const globs = unitOnly ? withoutLab : [...withoutLab, '__tests__/lab/**/*.test.ts']

// As root, the Debian packages the tests call (shellcheck, iptables, dpkg-deb...) are installed
// first, so `npm ci && npm test` passes on a fresh machine. A failure is only reported: the tests
// that need a missing command then fail and name it.
const say = (line: string): void => console.log(`[prerequisites] ${line}`)
await ensurePrerequisites(say).catch((e: unknown) =>
  say(e instanceof Error ? e.message : String(e))
)

const result = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=spec', '--test-concurrency=1', ...globs],
  { cwd: root, stdio: 'inherit' }
)
process.exit(result.status ?? 1)
