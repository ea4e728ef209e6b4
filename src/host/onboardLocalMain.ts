// Entry point of onboardLocal (kept apart so that importing the library never runs it).
import { runLocalJobFile } from './onboardLocal.ts'

runLocalJobFile(process.argv.slice(2)).then(
  code => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`)
    process.exitCode = 1
  }
)
