import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a as y,c as v,d as k,e as C,g as p,h as x,i as $}from"./chunk-73RRSTKZ.js";import{a as m,b as E,d as R}from"./chunk-WDAN5TV3.js";import"./chunk-GG4CWVS7.js";import{b as w}from"./chunk-W2BJIJUX.js";import"./chunk-HFH67ORN.js";import{a,b as g}from"./chunk-JQAXXHYG.js";import"./chunk-QRG4B3G7.js";import"./chunk-T2PDI6J4.js";import"./chunk-AU4LMYQ4.js";import"./chunk-ESO6Q4GN.js";import"./chunk-QRFW3W46.js";function S(s,t,n){return s.map(e=>{let r=t.get(e)??{kind:"waiting"};return r.kind==="done"?r.line:r.kind==="waiting"?`\xB7 ${e}: waiting`:`\u2026 ${e}: installing (${((n-r.since)/1e3).toFixed(0)}s)`})}var c=class{states=new Map;drawn=0;timer;names;write;live;constructor(t,n,e){this.names=t,this.write=n,this.live=e,e&&t.length>0&&(this.draw(),this.timer=setInterval(()=>this.draw(),1e3),this.timer.unref())}started(t){this.states.set(t,{kind:"working",since:Date.now()}),this.live&&this.draw()}finished(t){let n=p(t);this.states.set(t.host,{kind:"done",line:n}),this.live?this.draw():this.write(`${n}
`),this.names.every(e=>this.states.get(e)?.kind==="done")&&this.finish()}finish(){this.timer&&clearInterval(this.timer),this.timer=void 0,this.live=!1}draw(){let t=S(this.names,this.states,Date.now()),n=this.drawn>0?`\x1B[${this.drawn}A`:"";this.write(`${n}${t.map(e=>`\x1B[2K${e}
`).join("")}`),this.drawn=t.length}};var l=(s,t)=>`Usage: mesh-expansion ${s} -c FILE [--owner OWNER] [--kubeconfig PATH] [--context NAME] [--json]

${t}

Exit codes: 0 success, 1 a host, the cluster or a check failed, 2 invalid input (nothing changed).
`;async function u(s,t,n,e={}){if(!t.config)throw new g("missing -c FILE (the description)");let{description:r}=await w(t.config,n),f=await E(t,n,r),h=i=>{t.json||n.stdout(`${i}
`)},d,o;try{d=await s(r,f,{owner:t.owner??r.settings.owner,env:n.env,log:i=>{if(o?.finish(),h(i),i.startsWith("hosts:")&&!t.json){let b=y(r).map(L=>L.name);o=new c(b,n.stdout,n.isTTY===!0)}},warn:i=>n.stderr(`warning: ${i}
`),onSecret:()=>{},onHostStarted:i=>o?.started(i),onHostResult:i=>o?o.finished(i):h(p(i)),onCheckResult:i=>h(x(i)),...e})}finally{o?.finish(),await f.close()}if(t.json)n.stdout(`${JSON.stringify(d,null,2)}
`);else for(let i of $(d))n.stdout(`${i}
`);return d.ok?a.ok:a.failed}var T=async(s,t)=>{let n=l("apply","Prepares the cluster, onboards every VM of this shard, registers them and runs the checks."),{common:e}=m(s,n);return e.help?(t.stdout(n),a.ok):u(v,e,t)},A=async(s,t)=>{let n=l("verify","Runs the checks against what an earlier apply set up. Writes nothing to the cluster."),{common:e}=m(s,n);return e.help?(t.stdout(n),a.ok):u(k,e,t)},W=async(s,t)=>{let{common:n}=m(s,l("cleanup",""));return n.help||!n.config?R(s,t):u(C,n,t)};export{T as applyCommand,W as fullCleanupCommand,A as verifyCommand};
