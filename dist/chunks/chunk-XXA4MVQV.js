import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{f as v,j as E,k as $,l as A}from"./chunk-OPE7LINS.js";import{b as l}from"./chunk-ROTEYOHG.js";import{a,b as d}from"./chunk-JQAXXHYG.js";import{d as m,f as k,i as b}from"./chunk-AFTDPS2O.js";import{a as C}from"./chunk-EOGCE72U.js";import{parseArgs as R}from"node:util";function h(o,n,e={}){try{let{values:t,positionals:s}=R({args:[...o],options:{config:{type:"string",short:"c"},kubeconfig:{type:"string"},context:{type:"string"},owner:{type:"string"},json:{type:"boolean",default:!1},help:{type:"boolean",short:"h",default:!1},...e},allowPositionals:!0,strict:!0});if(s.length>0)throw new d(`unexpected argument "${s[0]}"`);let r=t,c=p=>typeof r[p]=="string"?r[p]:void 0;return{common:{config:c("config"),kubeconfig:c("kubeconfig"),context:c("context"),owner:c("owner"),json:r.json===!0,help:r.help===!0},values:r}}catch(t){throw new d(`${C(t)}

${n}`)}}async function y(o,n,e){return k({kubeconfigPath:o.kubeconfig??e?.cluster.kubeconfig??null,context:o.context??e?.cluster.context??null,env:n.env,cwd:n.cwd,log:t=>n.stderr(`${t}
`)})}var f=`Usage: mesh-expansion plan -c FILE [--owner OWNER] [--kubeconfig PATH] [--context NAME] [--json]

Discovers the cluster, computes every object the description needs and prints the difference
with the live cluster. Writes nothing.
`,_=async(o,n)=>{let{common:e}=h(o,f);if(e.help)return n.stdout(f),a.ok;if(!e.config)throw new d(`missing -c FILE (the description)

${f}`);let{description:t}=await l(e.config,n),s=await y(e,n,t);try{let r=await A(s.client,t,{owner:e.owner??t.settings.owner,dryRun:!0});if(e.json){let{meshConfig:c,...p}=r.discovery;n.stdout(`${JSON.stringify({discovery:p,plan:r.plan.entries.map(i=>({kind:i.kind,name:i.name,namespace:i.namespace??null,action:i.action,diff:i.diff,...i.reason!==void 0?{reason:i.reason}:{}}))},null,2)}
`)}else n.stdout(`${b(r.discovery).join(`
`)}

`),n.stdout(v(r.plan));return a.ok}finally{await s.close()}};function P(o,n,e){for(let t of e.deleted)o.stdout(`deleted ${m(t)}
`);for(let t of e.kept)o.stdout(`kept ${m(t.ref)}: ${t.reason}
`);o.stdout(`owner ${n}: ${e.deleted.length} deleted, ${e.kept.length} kept
`)}var g=`Usage: mesh-expansion cleanup [-c FILE] [--owner OWNER] [--kubeconfig PATH] [--context NAME]

Deletes every object labelled with the owner (default: the description's settings.owner), in
dependency order. Running it again deletes nothing.
`,G=async(o,n)=>{let{common:e}=h(o,g);if(e.help)return n.stdout(g),a.ok;let t=e.config?(await l(e.config,n)).description:void 0,s=e.owner??t?.settings.owner;if(!s)throw new d(`give --owner OWNER or -c FILE

${g}`);let r=await y(e,n,t);try{return P(n,s,await E(r.client,s)),a.ok}finally{await r.close()}};function N(o){let n=/^(\d+)([smhd]?)$/.exec(o.trim());if(!n)throw new d(`--older-than "${o}" is not a duration such as 3600s, 90m, 24h or 7d`);let e={"":1,s:1,m:60,h:3600,d:86400}[n[2]??""]??1;return Number(n[1])*e}var w=`Usage: mesh-expansion sweep --older-than AGE [--except OWNER]... [--kubeconfig PATH] [--context NAME]

Cleans up after every owner whose oldest object is older than AGE (3600s, 90m, 24h, 7d): for
preview environments whose own cleanup never ran.
`,T=async(o,n)=>{let{common:e,values:t}=h(o,w,{"older-than":{type:"string"},except:{type:"string",multiple:!0}});if(e.help)return n.stdout(w),a.ok;let s=t["older-than"];if(typeof s!="string")throw new d(`missing --older-than AGE

${w}`);let r=N(s),c=Array.isArray(t.except)?t.except:[],p=e.config?(await l(e.config,n)).description:void 0,i=await y(e,n,p);try{let u=await $(i.client,r,{except:c});for(let x of u)P(n,x.owner,x.result);return n.stdout(`${u.length} owner${u.length===1?"":"s"} swept
`),a.ok}finally{await i.close()}};export{h as a,y as b,_ as c,G as d,N as e,T as f};
