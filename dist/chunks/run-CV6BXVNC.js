import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a as l,b as $,d as x}from"./chunk-GSCYNQQ4.js";import{a as E,b as R}from"./chunk-BKZHW5XL.js";import{a as m,b as h}from"./chunk-JQAXXHYG.js";import"./chunk-W2OFBG4P.js";import{c as p,d as g,f as w}from"./chunk-36GU3I3J.js";import"./chunk-OIFSDWKP.js";import{b as v,c as k,d as C}from"./chunk-4IDO46KF.js";import"./chunk-PXD5645G.js";import"./chunk-5FUFT4SD.js";import"./chunk-YVDEVDRF.js";import"./chunk-NUQVFDGV.js";import"./chunk-33SBMVQR.js";import{b as f}from"./chunk-IL2ZK3Y3.js";import{i as y}from"./chunk-GPHXLR5X.js";import"./chunk-UV2UIO44.js";import"./chunk-7YZZW5LE.js";import"./chunk-27EGESLR.js";import{a as u}from"./chunk-2DUSXSHE.js";import"./chunk-7NVG66YQ.js";import"./chunk-PDFKHMK6.js";import"./chunk-F6KWMHBF.js";import"./chunk-XRCL3AOD.js";import"./chunk-ZXBIOC32.js";import"./chunk-Q7ADEFCN.js";import"./chunk-EOGCE72U.js";import"./chunk-QRFW3W46.js";function j(s,n,t){return s.map(e=>{let o=n.get(e)??{kind:"waiting"};return o.kind==="done"?o.line:o.kind==="waiting"?`\xB7 ${e}: waiting`:`\u2026 ${e}: installing (${((t-o.since)/1e3).toFixed(0)}s)`})}var c=class{states=new Map;drawn=0;timer;names;write;live;constructor(n,t,e){this.names=n,this.write=t,this.live=e,e&&n.length>0&&(this.draw(),this.timer=setInterval(()=>this.draw(),1e3),this.timer.unref())}started(n){this.states.set(n,{kind:"working",since:Date.now()}),this.live&&this.draw()}finished(n){let t=p(n);this.states.set(n.host,{kind:"done",line:t}),this.live?this.draw():this.write(`${t}
`),this.names.every(e=>this.states.get(e)?.kind==="done")&&this.finish()}finish(){this.timer&&clearInterval(this.timer),this.timer=void 0,this.live=!1}draw(){let n=j(this.names,this.states,Date.now()),t=this.drawn>0?`\x1B[${this.drawn}A`:"";this.write(`${t}${n.map(e=>`\x1B[2K${e}
`).join("")}`),this.drawn=n.length}};var b=(s,n)=>`Usage: mesh-expansion ${s} -c FILE [--owner OWNER] [--kubeconfig PATH] [--context NAME] [--json]

${n}

Exit codes: 0 success, 1 a host, the cluster or a check failed, 2 invalid input (nothing changed).
`;async function O(s,n,t,e,o={}){try{return await I(n,t,e,o)}catch(r){if(t.json){let a=r instanceof h,d={...u(s,t.owner??""),problems:r instanceof E?r.message.split(`
`):[r instanceof Error?r.message:String(r)],failedPhase:a?"inputs":null,invalid:a};e.stdout(`${JSON.stringify(d,null,2)}
`)}throw r}}async function I(s,n,t,e){if(!n.config)throw new h("missing -c FILE (the description)");let{description:o}=await R(n.config,t),r=i=>{n.json||t.stdout(`${i}
`)},a,d;try{a=await s(o,()=>$(n,t,o),{owner:n.owner??o.settings.owner,env:t.env,log:i=>r(f(i)),onPhase:i=>{if(d?.finish(),d=void 0,i.state!=="end"&&(r(`${i.phase}: ${i.title}`),i.phase==="hosts"&&!n.json)){let S=y(o).map(F=>F.name);d=new c(S,t.stdout,t.isTTY===!0)}},warn:i=>t.stderr(`warning: ${i}
`),onSecret:()=>{},onHostStarted:i=>d?.started(i),onHostResult:i=>d?d.finished(i):r(p(i)),onCheckResult:i=>r(g(i)),...e})}finally{d?.finish()}return n.json?t.stdout(`${JSON.stringify(a,null,2)}
`):t.stdout(`
${w(a).join(`
`)}
`),a.ok?m.ok:a.invalid?m.invalid:m.failed}function P(s,n,t){let e=b(s,t);return async(o,r)=>{let{common:a}=l(o,e);return a.help?(r.stdout(e),m.ok):O(s,n,a,r)}}var K=P("apply",v,"Prepares the cluster, onboards every VM of this shard, registers them and runs the checks."),Y=P("verify",k,"Runs the checks against what an earlier apply set up. Writes nothing to the cluster."),q=async(s,n)=>{let{common:t}=l(s,b("cleanup",""));return t.help||!t.config?x(s,n):O("cleanup",C,t,n)};export{K as applyCommand,q as fullCleanupCommand,Y as verifyCommand};
