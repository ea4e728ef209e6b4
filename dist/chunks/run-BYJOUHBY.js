import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a as u,b as f,g,h as w,i as y,k as p,l as k,m as C}from"./chunk-JAJIOX6P.js";import"./chunk-DRRFRY7U.js";import{a as h,b as R,d as x}from"./chunk-2R4IKT3S.js";import{q as v}from"./chunk-62WEX7B5.js";import"./chunk-VMPN5DW3.js";import"./chunk-ABVAKLYT.js";import{a as E,b as $}from"./chunk-L6CDCY4K.js";import"./chunk-W2OFBG4P.js";import"./chunk-DDBWE5NA.js";import{a as m,b as l}from"./chunk-JQAXXHYG.js";import"./chunk-EOGCE72U.js";import"./chunk-QRFW3W46.js";function L(s,n,t){return s.map(i=>{let o=n.get(i)??{kind:"waiting"};return o.kind==="done"?o.line:o.kind==="waiting"?`\xB7 ${i}: waiting`:`\u2026 ${i}: installing (${((t-o.since)/1e3).toFixed(0)}s)`})}var c=class{states=new Map;drawn=0;timer;names;write;live;constructor(n,t,i){this.names=n,this.write=t,this.live=i,i&&n.length>0&&(this.draw(),this.timer=setInterval(()=>this.draw(),1e3),this.timer.unref())}started(n){this.states.set(n,{kind:"working",since:Date.now()}),this.live&&this.draw()}finished(n){let t=p(n);this.states.set(n.host,{kind:"done",line:t}),this.live?this.draw():this.write(`${t}
`),this.names.every(i=>this.states.get(i)?.kind==="done")&&this.finish()}finish(){this.timer&&clearInterval(this.timer),this.timer=void 0,this.live=!1}draw(){let n=L(this.names,this.states,Date.now()),t=this.drawn>0?`\x1B[${this.drawn}A`:"";this.write(`${t}${n.map(i=>`\x1B[2K${i}
`).join("")}`),this.drawn=n.length}};var b=(s,n)=>`Usage: mesh-expansion ${s} -c FILE [--owner OWNER] [--kubeconfig PATH] [--context NAME] [--json]

${n}

Exit codes: 0 success, 1 a host, the cluster or a check failed, 2 invalid input (nothing changed).
`;async function O(s,n,t,i,o={}){try{return await I(n,t,i,o)}catch(r){if(t.json){let a=r instanceof l,d={...f(s,t.owner??""),problems:r instanceof E?r.message.split(`
`):[r instanceof Error?r.message:String(r)],failedPhase:a?"inputs":null,invalid:a};i.stdout(`${JSON.stringify(d,null,2)}
`)}throw r}}async function I(s,n,t,i){if(!n.config)throw new l("missing -c FILE (the description)");let{description:o}=await $(n.config,t),r=e=>{n.json||t.stdout(`${e}
`)},a,d;try{a=await s(o,()=>R(n,t,o),{owner:n.owner??o.settings.owner,env:t.env,log:e=>r(v(e)),onPhase:e=>{if(d?.finish(),d=void 0,e.state!=="end"&&(r(`${e.phase}: ${e.title}`),e.phase==="hosts"&&!n.json)){let S=u(o).map(F=>F.name);d=new c(S,t.stdout,t.isTTY===!0)}},warn:e=>t.stderr(`warning: ${e}
`),onSecret:()=>{},onHostStarted:e=>d?.started(e),onHostResult:e=>d?d.finished(e):r(p(e)),onCheckResult:e=>r(k(e)),...i})}finally{d?.finish()}if(n.json)t.stdout(`${JSON.stringify(a,null,2)}
`);else for(let e of C(a))t.stdout(`${e}
`);return a.ok?m.ok:a.invalid?m.invalid:m.failed}function P(s,n,t){let i=b(s,t);return async(o,r)=>{let{common:a}=h(o,i);return a.help?(r.stdout(i),m.ok):O(s,n,a,r)}}var K=P("apply",g,"Prepares the cluster, onboards every VM of this shard, registers them and runs the checks."),Y=P("verify",w,"Runs the checks against what an earlier apply set up. Writes nothing to the cluster."),q=async(s,n)=>{let{common:t}=h(s,b("cleanup",""));return t.help||!t.config?x(s,n):O("cleanup",y,t,n)};export{K as applyCommand,q as fullCleanupCommand,Y as verifyCommand};
