// Entry point of onboardLocal (kept apart so that importing the library never runs it).
import { errorMessage } from '../util/errors.ts'
import { runLocalJobFile } from './onboardLocal.ts'

runLocalJobFile(process.argv.slice(2)).then(
  code => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`${errorMessage(e)}\n`)
    process.exitCode = 1
  }
)
