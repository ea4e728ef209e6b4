import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a as l,f as u,g as f,h as g,j as m,k as w,l as y}from"./chunk-IAFXHOPT.js";import{a as c,b as C,d as $}from"./chunk-XXA4MVQV.js";import"./chunk-OPE7LINS.js";import{b as k}from"./chunk-ROTEYOHG.js";import"./chunk-W2OFBG4P.js";import"./chunk-T2PECKCK.js";import{a as p,b as v}from"./chunk-JQAXXHYG.js";import"./chunk-7QG4KJWO.js";import"./chunk-AFTDPS2O.js";import"./chunk-OOWPKERN.js";import"./chunk-ESO6Q4GN.js";import"./chunk-EOGCE72U.js";import"./chunk-QRFW3W46.js";function S(s,t,n){return s.map(i=>{let r=t.get(i)??{kind:"waiting"};return r.kind==="done"?r.line:r.kind==="waiting"?`\xB7 ${i}: waiting`:`\u2026 ${i}: installing (${((n-r.since)/1e3).toFixed(0)}s)`})}var h=class{states=new Map;drawn=0;timer;names;write;live;constructor(t,n,i){this.names=t,this.write=n,this.live=i,i&&t.length>0&&(this.draw(),this.timer=setInterval(()=>this.draw(),1e3),this.timer.unref())}started(t){this.states.set(t,{kind:"working",since:Date.now()}),this.live&&this.draw()}finished(t){let n=m(t);this.states.set(t.host,{kind:"done",line:n}),this.live?this.draw():this.write(`${n}
`),this.names.every(i=>this.states.get(i)?.kind==="done")&&this.finish()}finish(){this.timer&&clearInterval(this.timer),this.timer=void 0,this.live=!1}draw(){let t=S(this.names,this.states,Date.now()),n=this.drawn>0?`\x1B[${this.drawn}A`:"";this.write(`${n}${t.map(i=>`\x1B[2K${i}
`).join("")}`),this.drawn=t.length}};var x=(s,t)=>`Usage: mesh-expansion ${s} -c FILE [--owner OWNER] [--kubeconfig PATH] [--context NAME] [--json]

${t}

Exit codes: 0 success, 1 a host, the cluster or a check failed, 2 invalid input (nothing changed).
`;async function E(s,t,n,i={}){if(!t.config)throw new v("missing -c FILE (the description)");let{description:r}=await k(t.config,n),a=e=>{t.json||n.stdout(`${e}
`)},o,d;try{o=await s(r,()=>C(t,n,r),{owner:t.owner??r.settings.owner,env:n.env,log:a,onPhase:e=>{if(d?.finish(),d=void 0,e.state!=="end"&&(a(`${e.phase}: ${e.title}`),e.phase==="hosts"&&!t.json)){let b=l(r).map(L=>L.name);d=new h(b,n.stdout,n.isTTY===!0)}},warn:e=>n.stderr(`warning: ${e}
`),onSecret:()=>{},onHostStarted:e=>d?.started(e),onHostResult:e=>d?d.finished(e):a(m(e)),onCheckResult:e=>a(w(e)),...i})}finally{d?.finish()}if(t.json)n.stdout(`${JSON.stringify(o,null,2)}
`);else for(let e of y(o))n.stdout(`${e}
`);return o.ok?p.ok:o.invalid?p.invalid:p.failed}function R(s,t,n){let i=x(s,n);return async(r,a)=>{let{common:o}=c(r,i);return o.help?(a.stdout(i),p.ok):E(t,o,a)}}var T=R("apply",u,"Prepares the cluster, onboards every VM of this shard, registers them and runs the checks."),A=R("verify",f,"Runs the checks against what an earlier apply set up. Writes nothing to the cluster."),J=async(s,t)=>{let{common:n}=c(s,x("cleanup",""));return n.help||!n.config?$(s,t):E(g,n,t)};export{T as applyCommand,J as fullCleanupCommand,A as verifyCommand};
