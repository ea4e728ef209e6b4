// Regenerates installScript.ts from install.sh, the source of truth. The script travels as a
// string constant so that the esbuild bundle needs no text loader and no file next to it;
// __tests__/unit/host-install-script.test.ts fails when the two drift apart.
// Run: node src/host/gen-install-script.ts
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export function installScriptModule(script: string): string {
  return [
    '// Generated from install.sh by gen-install-script.ts: do not edit, edit install.sh.',
    `export const INSTALL_SCRIPT = ${JSON.stringify(script)}`,
    ''
  ].join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const script = readFileSync(new URL('./install.sh', import.meta.url), 'utf8')
  const target = fileURLToPath(new URL('./installScript.ts', import.meta.url))
  // formatted as `npm run format` would, so format:check stays quiet (prettier: dev dependency)
  const prettier = await import('prettier')
  const options = (await prettier.resolveConfig(target)) ?? {}
  const text = await prettier.format(installScriptModule(script), { ...options, filepath: target })
  writeFileSync(target, text)
}
