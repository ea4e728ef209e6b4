import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{b as h,c as g,d as y,f as C,g as w,h as E}from"./chunk-SCBTAUIX.js";import{a as c,b as k,d as x}from"./chunk-DXFK2VOF.js";import"./chunk-P4WTEUGC.js";import{b as f}from"./chunk-E6FFPLPL.js";import"./chunk-OPZBRF55.js";import{a as s,b as d}from"./chunk-JQAXXHYG.js";import"./chunk-OLNKHIXK.js";import"./chunk-S3SXW2X7.js";import"./chunk-5NYEJ5RH.js";import"./chunk-ESO6Q4GN.js";import"./chunk-QRFW3W46.js";var m=(e,n)=>`Usage: mesh-expansion ${e} -c FILE [--owner OWNER] [--kubeconfig PATH] [--context NAME] [--json]

${n}

Exit codes: 0 success, 1 a host, the cluster or a check failed, 2 invalid input (nothing changed).
`;async function u(e,n,t,r={}){if(!n.config)throw new d("missing -c FILE (the description)");let{description:p}=await f(n.config,t),l=await k(n,t,p),a=o=>{n.json||t.stdout(`${o}
`)},i;try{i=await e(p,l,{owner:n.owner??p.settings.owner,env:t.env,log:a,warn:o=>t.stderr(`warning: ${o}
`),onSecret:()=>{},onHostResult:o=>a(C(o)),onCheckResult:o=>a(w(o)),...r})}finally{await l.close()}if(n.json)t.stdout(`${JSON.stringify(i,null,2)}
`);else for(let o of E(i))t.stdout(`${o}
`);return i.ok?s.ok:s.failed}var L=async(e,n)=>{let t=m("apply","Prepares the cluster, onboards every VM of this shard, registers them and runs the checks."),{common:r}=c(e,t);return r.help?(n.stdout(t),s.ok):u(h,r,n)},I=async(e,n)=>{let t=m("verify","Runs the checks against what an earlier apply set up. Writes nothing to the cluster."),{common:r}=c(e,t);return r.help?(n.stdout(t),s.ok):u(g,r,n)},P=async(e,n)=>{let{common:t}=c(e,m("cleanup",""));return t.help||!t.config?x(e,n):u(y,t,n)};export{L as applyCommand,P as fullCleanupCommand,I as verifyCommand};
