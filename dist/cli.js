#!/usr/bin/env node
import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
Number(process.versions.node.split(".")[0])<24&&(process.stderr.write(`mesh-expansion needs Node.js 24 or later; this is ${process.version}
`),process.exit(2));var{runCli:e}=await import("./chunks/commands-Z2PGSWAY.js");process.exitCode=await e(process.argv.slice(2),{cwd:process.cwd(),env:process.env,isTTY:process.stdout.isTTY===!0,stdout:s=>process.stdout.write(s),stderr:s=>process.stderr.write(s)});
