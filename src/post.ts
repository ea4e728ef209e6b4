// Action entry (runs.post): everything lives in action/post.ts. Exported as `run` for harnesses
// that import the entry point, and run at once when node was started with this file.
import { runPost } from './action/post.ts'
import { isEntryPoint } from './action/entryPoint.ts'

export async function run(): Promise<void> {
  await runPost()
}

if (isEntryPoint(import.meta.url)) await run()
