import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{f as E,g as b,j as v,k as $}from"./chunk-GG4CWVS7.js";import{b as l}from"./chunk-W2BJIJUX.js";import{a as d,b as c}from"./chunk-JQAXXHYG.js";import{d as f,f as C,i as k}from"./chunk-T2PDI6J4.js";import{parseArgs as P}from"node:util";function h(o,n,e={}){try{let{values:t,positionals:s}=P({args:[...o],options:{config:{type:"string",short:"c"},kubeconfig:{type:"string"},context:{type:"string"},owner:{type:"string"},json:{type:"boolean",default:!1},help:{type:"boolean",short:"h",default:!1},...e},allowPositionals:!0,strict:!0});if(s.length>0)throw new c(`unexpected argument "${s[0]}"`);let r=t,a=p=>typeof r[p]=="string"?r[p]:void 0;return{common:{config:a("config"),kubeconfig:a("kubeconfig"),context:a("context"),owner:a("owner"),json:r.json===!0,help:r.help===!0},values:r}}catch(t){throw t instanceof c?new c(`${t.message}

${n}`):new c(`${t.message}

${n}`)}}async function y(o,n,e){return C({kubeconfigPath:o.kubeconfig??e?.cluster.kubeconfig??null,context:o.context??e?.cluster.context??null,env:n.env,cwd:n.cwd,log:t=>n.stderr(`${t}
`)})}var m=`Usage: mesh-expansion plan -c FILE [--owner OWNER] [--kubeconfig PATH] [--context NAME] [--json]

Discovers the cluster, computes every object the description needs and prints the difference
with the live cluster. Writes nothing.
`,U=async(o,n)=>{let{common:e}=h(o,m);if(e.help)return n.stdout(m),d.ok;if(!e.config)throw new c(`missing -c FILE (the description)

${m}`);let{description:t}=await l(e.config,n),s=await y(e,n,t);try{let r=await b(s.client,t,{owner:e.owner??t.settings.owner,dryRun:!0});if(e.json){let{meshConfig:a,...p}=r.discovery;n.stdout(`${JSON.stringify({discovery:p,plan:r.plan.entries.map(i=>({kind:i.kind,name:i.name,namespace:i.namespace??null,action:i.action,diff:i.diff,...i.reason!==void 0?{reason:i.reason}:{}}))},null,2)}
`)}else n.stdout(`${k(r.discovery).join(`
`)}

`),n.stdout(E(r.plan));return d.ok}finally{await s.close()}};function A(o,n,e){for(let t of e.deleted)o.stdout(`deleted ${f(t)}
`);for(let t of e.kept)o.stdout(`kept ${f(t.ref)}: ${t.reason}
`);o.stdout(`owner ${n}: ${e.deleted.length} deleted, ${e.kept.length} kept
`)}var g=`Usage: mesh-expansion cleanup [-c FILE] [--owner OWNER] [--kubeconfig PATH] [--context NAME]

Deletes every object labelled with the owner (default: the description's settings.owner), in
dependency order. Running it again deletes nothing.
`,_=async(o,n)=>{let{common:e}=h(o,g);if(e.help)return n.stdout(g),d.ok;let t=e.config?(await l(e.config,n)).description:void 0,s=e.owner??t?.settings.owner;if(!s)throw new c(`give --owner OWNER or -c FILE

${g}`);let r=await y(e,n,t);try{return A(n,s,await v(r.client,s)),d.ok}finally{await r.close()}};function R(o){let n=/^(\d+)([smhd]?)$/.exec(o.trim());if(!n)throw new c(`--older-than "${o}" is not a duration such as 3600s, 90m, 24h or 7d`);let e={"":1,s:1,m:60,h:3600,d:86400}[n[2]??""]??1;return Number(n[1])*e}var w=`Usage: mesh-expansion sweep --older-than AGE [--except OWNER]... [--kubeconfig PATH] [--context NAME]

Cleans up after every owner whose oldest object is older than AGE (3600s, 90m, 24h, 7d): for
preview environments whose own cleanup never ran.
`,G=async(o,n)=>{let{common:e,values:t}=h(o,w,{"older-than":{type:"string"},except:{type:"string",multiple:!0}});if(e.help)return n.stdout(w),d.ok;let s=t["older-than"];if(typeof s!="string")throw new c(`missing --older-than AGE

${w}`);let r=R(s),a=Array.isArray(t.except)?t.except:[],p=e.config?(await l(e.config,n)).description:void 0,i=await y(e,n,p);try{let u=await $(i.client,r,{except:a});for(let x of u)A(n,x.owner,x.result);return n.stdout(`${u.length} owner${u.length===1?"":"s"} swept
`),d.ok}finally{await i.close()}};export{h as a,y as b,U as c,_ as d,R as e,G as f};
