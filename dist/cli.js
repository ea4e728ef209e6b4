#!/usr/bin/env node
import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a,b as i}from"./chunks/chunk-JQAXXHYG.js";import{a as o}from"./chunks/chunk-EOGCE72U.js";import"./chunks/chunk-QRFW3W46.js";var m={validate:async()=>(await import("./chunks/validate-4TAWGJYB.js")).validate,plan:async()=>(await import("./chunks/cluster-H3XQPGR2.js")).planCommand,apply:async()=>(await import("./chunks/run-BYJOUHBY.js")).applyCommand,verify:async()=>(await import("./chunks/run-BYJOUHBY.js")).verifyCommand,cleanup:async()=>(await import("./chunks/run-BYJOUHBY.js")).fullCleanupCommand,sweep:async()=>(await import("./chunks/cluster-H3XQPGR2.js")).sweepCommand,configure:async()=>(await import("./chunks/configure-VE4KFUPM.js")).configure},c={validate:"check a description file; touches nothing",plan:"discover the cluster and show what apply would change; writes nothing",apply:"prepare the cluster, onboard the VMs, register them and run the checks",verify:"run the checks against what an earlier apply set up",cleanup:"remove the sidecar from the VMs (-c FILE) and what one owner created in the cluster",sweep:"remove the objects of owners older than an age (preview environments)",configure:"write the VM files, a drop-in for `istioctl x workload entry configure`"};function d(){let n=Math.max(...Object.keys(c).map(e=>e.length));return["Usage: mesh-expansion <command> [options]","","Commands:",...Object.entries(c).map(([e,s])=>`  ${e.padEnd(n)}  ${s}`),"","Exit codes: 0 success, 1 the run failed, 2 invalid input (nothing was changed).",""].join(`
`)}async function p(n,r){let[e,...s]=n;if(e===void 0||e==="--help"||e==="-h"||e==="help")return r.stdout(d()),e===void 0?a.invalid:a.ok;if(!Object.hasOwn(m,e))return r.stderr(`mesh-expansion: unknown command ${JSON.stringify(e)}

${d()}`),a.invalid;try{return await(await m[e]())(s,r)}catch(t){return t instanceof i?(r.stderr(`Error: ${t.message}
`),a.invalid):(r.stderr(`Error: ${o(t)}
`),a.failed)}}process.exitCode=await p(process.argv.slice(2),{cwd:process.cwd(),env:process.env,isTTY:process.stdout.isTTY===!0,stdout:n=>process.stdout.write(n),stderr:n=>process.stderr.write(n)});
