// Action entry (runs.main): everything lives in action/main.ts.
import { runMain } from './action/main.ts'

await runMain()
