#!/usr/bin/env node
import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a as t,b as d}from"./chunks/chunk-JQAXXHYG.js";import"./chunks/chunk-QRFW3W46.js";var i={validate:{summary:"check a description file; touches nothing",load:async()=>(await import("./chunks/validate-KEP7SRO2.js")).validate},configure:{summary:"write the VM files, a drop-in for `istioctl x workload entry configure`",load:async()=>(await import("./chunks/configure-THRTZXZC.js")).configure}};function c(){let n=Math.max(...Object.keys(i).map(e=>e.length));return["Usage: mesh-expansion <command> [options]","","Commands:",...Object.entries(i).map(([e,{summary:o}])=>`  ${e.padEnd(n)}  ${o}`),"","Exit codes: 0 success, 1 the run failed, 2 invalid input (nothing was changed).",""].join(`
`)}async function m(n,r){let[e,...o]=n;if(e===void 0||e==="--help"||e==="-h"||e==="help")return r.stdout(c()),e===void 0?t.invalid:t.ok;let a=i[e];if(!a)return r.stderr(`mesh-expansion: unknown command "${e}"

${c()}`),t.invalid;try{return await(await a.load())(o,r)}catch(s){if(s instanceof d)return r.stderr(`Error: ${s.message}
`),t.invalid;let u=s instanceof Error?s.message:String(s);return r.stderr(`Error: ${u}
`),t.failed}}process.exitCode=await m(process.argv.slice(2),{cwd:process.cwd(),env:process.env,stdout:n=>process.stdout.write(n),stderr:n=>process.stderr.write(n)});
