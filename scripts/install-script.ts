// Regenerates src/host/installScript.ts from src/host/install.sh, the source of truth. The script
// travels as a string constant so that the esbuild bundle needs no text loader and no file next
// to it. `npm run bundle` runs this first; CI fails when the committed module is stale.
// Alone: node scripts/install-script.ts
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const source = fileURLToPath(new URL('../src/host/install.sh', import.meta.url))
const target = fileURLToPath(new URL('../src/host/installScript.ts', import.meta.url))

export function installScriptModule(script: string): string {
  return [
    '// Generated from install.sh by scripts/install-script.ts: do not edit, edit install.sh.',
    `export const INSTALL_SCRIPT = ${JSON.stringify(script)}`,
    ''
  ].join('\n')
}

/** Writes installScript.ts when its text would change; says whether it did. */
export async function writeInstallScript(): Promise<boolean> {
  // formatted as `npm run format` would, so format:check stays quiet (prettier: dev dependency)
  const prettier = await import('prettier')
  const options = (await prettier.resolveConfig(target)) ?? {}
  const generated = installScriptModule(readFileSync(source, 'utf8'))
  const text = await prettier.format(generated, { ...options, filepath: target })
  // an unchanged file keeps its mtime: no needless rebuilds or editor reloads
  if (existsSync(target) && readFileSync(target, 'utf8') === text) return false
  writeFileSync(target, text)
  return true
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (await writeInstallScript())
    console.log('src/host/installScript.ts regenerated from install.sh')
}
