// Runs `validate -c FILE` in-process for each file given, under the restrictions set up by the
// spawning test (permission model + config-no-io.ts), and prints one JSON report on stdout.
// It ends with two probes that must be blocked, proving the restrictions are in force.
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../../src/commands/index.ts'

interface Outcome {
  file: string
  code: number
  stdout: string
  stderr: string
}

const outcomes: Outcome[] = []
for (const file of process.argv.slice(2)) {
  let stdout = ''
  let stderr = ''
  const code = await runCli(['validate', '-c', file], {
    cwd: process.cwd(),
    env: process.env,
    stdout: text => (stdout += text),
    stderr: text => (stderr += text)
  })
  outcomes.push({ file, code, stdout, stderr })
}

const attempts = (globalThis as { __meshExpansionNetworkAttempts?: string[] })
  .__meshExpansionNetworkAttempts
const duringValidation = [...(attempts ?? [])]

let writeBlocked = false
try {
  writeFileSync(join(tmpdir(), `mesh-expansion-probe-${process.pid}`), 'x')
} catch (error) {
  writeBlocked = (error as NodeJS.ErrnoException).code === 'ERR_ACCESS_DENIED'
}
let connectBlocked = false
try {
  // loopback only; the guard throws before any packet is sent
  net.connect({ host: '127.0.0.1', port: 9 }).on('error', () => {})
} catch {
  connectBlocked = true
}

process.stdout.write(
  JSON.stringify({
    guarded: attempts !== undefined,
    outcomes,
    networkAttempts: duringValidation,
    writeBlocked,
    connectBlocked
  })
)
