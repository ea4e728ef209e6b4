// `npm run bench`: runs the benchmarks, prints a table per benchmark and writes bench/results.json.
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { bundleBytes, measureStartup } from './startup.ts'

const root = fileURLToPath(new URL('..', import.meta.url))

const startup = await measureStartup(root)
console.log('Start-up: process start to first output (ms)')
console.table(startup)
const bytes = await bundleBytes(root)
console.log('Bundle size (bytes)')
console.table(bytes)

const results = {
  date: new Date().toISOString(),
  node: process.version,
  startup,
  bundleBytes: bytes
}
await writeFile(new URL('results.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`)
console.log('written: bench/results.json')
