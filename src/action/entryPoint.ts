// Whether a module is the program node was started with (`node dist/main.js`, as the runner
// starts an action), and not a module some harness imported.
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export function isEntryPoint(
  moduleUrl: string,
  argv1: string | undefined = process.argv[1]
): boolean {
  if (argv1 === undefined) return false
  try {
    return realpathSync(fileURLToPath(moduleUrl)) === realpathSync(argv1)
  } catch {
    return false
  }
}
