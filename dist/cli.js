#!/usr/bin/env node
import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a,b as m}from"./chunks/chunk-JQAXXHYG.js";import"./chunks/chunk-QRFW3W46.js";var o={validate:{summary:"check a description file; touches nothing",load:async()=>(await import("./chunks/validate-FFJTU5RI.js")).validate},plan:{summary:"discover the cluster and show what apply would change; writes nothing",load:async()=>(await import("./chunks/cluster-C2OLOZ2B.js")).planCommand},apply:{summary:"prepare the cluster, onboard the VMs, register them and run the checks",load:async()=>(await import("./chunks/run-26HV3MUZ.js")).applyCommand},verify:{summary:"run the checks against what an earlier apply set up",load:async()=>(await import("./chunks/run-26HV3MUZ.js")).verifyCommand},cleanup:{summary:"remove the sidecar from the VMs (-c FILE) and what one owner created in the cluster",load:async()=>(await import("./chunks/run-26HV3MUZ.js")).fullCleanupCommand},sweep:{summary:"remove the objects of owners older than an age (preview environments)",load:async()=>(await import("./chunks/cluster-C2OLOZ2B.js")).sweepCommand},configure:{summary:"write the VM files, a drop-in for `istioctl x workload entry configure`",load:async()=>(await import("./chunks/configure-HJ56TDD7.js")).configure}};function d(){let r=Math.max(...Object.keys(o).map(e=>e.length));return["Usage: mesh-expansion <command> [options]","","Commands:",...Object.entries(o).map(([e,{summary:s}])=>`  ${e.padEnd(r)}  ${s}`),"","Exit codes: 0 success, 1 the run failed, 2 invalid input (nothing was changed).",""].join(`
`)}async function c(r,n){let[e,...s]=r;if(e===void 0||e==="--help"||e==="-h"||e==="help")return n.stdout(d()),e===void 0?a.invalid:a.ok;let i=o[e];if(!i)return n.stderr(`mesh-expansion: unknown command "${e}"

${d()}`),a.invalid;try{return await(await i.load())(s,n)}catch(t){if(t instanceof m)return n.stderr(`Error: ${t.message}
`),a.invalid;let p=t instanceof Error?t.message:String(t);return n.stderr(`Error: ${p}
`),a.failed}}process.exitCode=await c(process.argv.slice(2),{cwd:process.cwd(),env:process.env,isTTY:process.stdout.isTTY===!0,stdout:r=>process.stdout.write(r),stderr:r=>process.stderr.write(r)});
