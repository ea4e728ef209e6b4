// Runs every test with node's test runner, so CI reads its closing lines.
// `--unit` runs only the tests that need no lab (no root, no VMs).
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const unitOnly = process.argv.includes('--unit')
const globs = unitOnly
  ? ['__tests__/unit/**/*.test.ts']
  : ['__tests__/unit/**/*.test.ts', '__tests__/dist/**/*.test.ts', '__tests__/lab/**/*.test.ts']

const result = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=spec', '--test-concurrency=1', ...globs],
  { cwd: root, stdio: 'inherit' }
)
process.exit(result.status ?? 1)
