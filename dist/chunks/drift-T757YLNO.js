import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a as m,b as u}from"./chunk-GSCYNQQ4.js";import{b as f}from"./chunk-BKZHW5XL.js";import{a as l,b as p}from"./chunk-JQAXXHYG.js";import"./chunk-W2OFBG4P.js";import"./chunk-OIFSDWKP.js";import"./chunk-PXD5645G.js";import"./chunk-5FUFT4SD.js";import"./chunk-YVDEVDRF.js";import{a as d,b as c,d as h}from"./chunk-UR7U3CD5.js";import"./chunk-33SBMVQR.js";import{b as s}from"./chunk-IL2ZK3Y3.js";import"./chunk-GPHXLR5X.js";import"./chunk-UV2UIO44.js";import"./chunk-7YZZW5LE.js";import"./chunk-27EGESLR.js";import"./chunk-7NVG66YQ.js";import"./chunk-PDFKHMK6.js";import"./chunk-F6KWMHBF.js";import"./chunk-XRCL3AOD.js";import"./chunk-ZXBIOC32.js";import"./chunk-Q7ADEFCN.js";import"./chunk-EOGCE72U.js";import"./chunk-QRFW3W46.js";var a=`Usage: mesh-expansion drift -c FILE [--owner OWNER] [--kubeconfig PATH] [--context NAME] [--json] [--all]

Compares what the description renders now with what this shard's hosts and the cluster have,
writing nothing: over one SSH connection per host, each file placed (by SHA-256, computed on the
host), the bootstrap token (its copy and its expiry, settings.tokenRefreshWithin), the
workload certificate's expiry, the package version and its skew with istiod, the service, its
readiness, the iptables capture and the WorkloadEntry's health; in the cluster, the objects of
the owner against the description. --all lists what is as described too.

Exit codes: 0 no drift, 3 drift found, 1 something could not be checked, 2 invalid input.
`,j=async(w,t)=>{let{common:o,values:g}=m(w,a,{all:{type:"boolean"}});if(o.help)return t.stdout(a),l.ok;if(!o.config)throw new p(`missing -c FILE (the description)

${a}`);let{description:r}=await f(o.config,t),k=o.owner??r.settings.owner,{report:n,invalid:i}=await d(r,()=>u(o,t,r),{owner:k,env:t.env,log:e=>{o.json||t.stdout(`${s(e)}
`)},warn:e=>t.stderr(`warning: ${s(e)}
`),onHost:e=>{o.json||t.stdout(`${e.host}: ${e.status==="unchecked"?"not checked":e.status}
`)}});if(o.json?t.stdout(`${JSON.stringify(n,null,2)}
`):i||t.stdout(`${h(n,{all:g.all===!0}).join(`
`)}
`),i)for(let e of n.problems)t.stderr(`Error: ${s(e)}
`);return c(n,i)};export{j as driftCommand};
