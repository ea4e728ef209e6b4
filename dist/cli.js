#!/usr/bin/env node
import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a,b as d}from"./chunks/chunk-JQAXXHYG.js";import"./chunks/chunk-QRFW3W46.js";var s={validate:{summary:"check a description file; touches nothing",load:async()=>(await import("./chunks/validate-YCEYK24X.js")).validate},plan:{summary:"discover the cluster and show what apply would change; writes nothing",load:async()=>(await import("./chunks/cluster-3Y6FFXQA.js")).planCommand},cleanup:{summary:"remove everything one owner (a run, a pull request) created in the cluster",load:async()=>(await import("./chunks/cluster-3Y6FFXQA.js")).cleanupCommand},sweep:{summary:"remove the objects of owners older than an age (preview environments)",load:async()=>(await import("./chunks/cluster-3Y6FFXQA.js")).sweepCommand},configure:{summary:"write the VM files, a drop-in for `istioctl x workload entry configure`",load:async()=>(await import("./chunks/configure-OE42D6HS.js")).configure}};function m(){let n=Math.max(...Object.keys(s).map(e=>e.length));return["Usage: mesh-expansion <command> [options]","","Commands:",...Object.entries(s).map(([e,{summary:o}])=>`  ${e.padEnd(n)}  ${o}`),"","Exit codes: 0 success, 1 the run failed, 2 invalid input (nothing was changed).",""].join(`
`)}async function c(n,r){let[e,...o]=n;if(e===void 0||e==="--help"||e==="-h"||e==="help")return r.stdout(m()),e===void 0?a.invalid:a.ok;let i=s[e];if(!i)return r.stderr(`mesh-expansion: unknown command "${e}"

${m()}`),a.invalid;try{return await(await i.load())(o,r)}catch(t){if(t instanceof d)return r.stderr(`Error: ${t.message}
`),a.invalid;let u=t instanceof Error?t.message:String(t);return r.stderr(`Error: ${u}
`),a.failed}}process.exitCode=await c(process.argv.slice(2),{cwd:process.cwd(),env:process.env,stdout:n=>process.stdout.write(n),stderr:n=>process.stderr.write(n)});
