// Action entry (runs.main): everything lives in action/main.ts. GitHub runs this file; a harness
// that imports it (@github/local-action) calls `run` itself, so it runs at import only when it
// is the program node was started with.
import { runMain } from './action/main.ts'
import { isEntryPoint } from './action/entryPoint.ts'

export async function run(): Promise<void> {
  await runMain()
}

if (isEntryPoint(import.meta.url)) await run()
