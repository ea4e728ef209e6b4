// Action entry (runs.post): everything lives in action/post.ts.
import { runPost } from './action/post.ts'

await runPost()
