import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{b as k}from"./chunk-IL2ZK3Y3.js";import{e as v}from"./chunk-MECY4RHB.js";import{f as $,g as A,i as P,m as R,n as j,o as N}from"./chunk-X5RUFTYZ.js";import{d as E}from"./chunk-OTDMFOF6.js";import{b,h as u}from"./chunk-NRZIRAA7.js";import{b as f}from"./chunk-ZU63A72L.js";import{a as d,b as l}from"./chunk-JQAXXHYG.js";import{a as m}from"./chunk-EOGCE72U.js";import{parseArgs as L}from"node:util";function y(o,n,e={}){try{let{values:t,positionals:i}=L({args:[...o],options:{config:{type:"string",short:"c"},kubeconfig:{type:"string"},context:{type:"string"},owner:{type:"string"},json:{type:"boolean",default:!1},help:{type:"boolean",short:"h",default:!1},...e},allowPositionals:!0,strict:!0});if(i.length>0)throw new l(`unexpected argument ${JSON.stringify(i[0])}`);let r=t,c=a=>typeof r[a]=="string"?r[a]:void 0;return{common:{config:c("config"),kubeconfig:c("kubeconfig"),context:c("context"),owner:c("owner"),json:r.json===!0,help:r.help===!0},values:r}}catch(t){throw new l(`${m(t)}

${n}`)}}async function F(o,n,e){return v({kubeconfigPath:o.kubeconfig??e?.cluster.kubeconfig??null,context:o.context??e?.cluster.context??null,env:n.env,cwd:n.cwd,log:t=>n.stderr(`${k(t)}
`)})}async function C(o,n,e){try{return await F(o,n,e)}catch(t){throw t instanceof b&&t.kind==="invalid"?new l(m(t)):t}}var g=`Usage: mesh-expansion plan -c FILE [--owner OWNER] [--kubeconfig PATH] [--context NAME] [--json]

Discovers the cluster, computes every object the description needs and prints the difference
with the live cluster. Writes nothing. Exits 1 when an object exists that is not the owner's
(a conflict: apply would change nothing; settings.adopt takes such an object over).
`,B=async(o,n)=>{let{common:e}=y(o,g);if(e.help)return n.stdout(g),d.ok;if(!e.config)throw new l(`missing -c FILE (the description)

${g}`);let{description:t}=await f(e.config,n),i=await C(e,n,t);try{let r=await N(i.client,t,{owner:e.owner??t.settings.owner,dryRun:!0});if(e.json){let{meshConfig:a,...p}=r.discovery;n.stdout(`${JSON.stringify({discovery:p,plan:r.plan.entries.map(s=>({kind:s.kind,name:s.name,namespace:s.namespace??null,action:s.action,diff:s.diff,...s.reason!==void 0?{reason:s.reason}:{},...s.adopted!==void 0?{adopted:s.adopted}:{}}))},null,2)}
`)}else n.stdout(`${E(r.discovery).join(`
`)}

`),n.stdout(P(r.plan));let c=$(r.plan);for(let a of c)n.stderr(`${A(a)}
`);return c.length>0?d.failed:d.ok}finally{await i.close()}};function O(o,n,e){for(let t of e.deleted)o.stdout(`deleted ${u(t)}
`);for(let t of e.kept)o.stdout(`kept ${u(t.ref)}: ${t.reason}
`);o.stdout(`owner ${n}: ${e.deleted.length} deleted, ${e.kept.length} kept
`)}var h=`Usage: mesh-expansion cleanup [-c FILE] [--owner OWNER] [--kubeconfig PATH] [--context NAME]

Deletes every object labelled with the owner (default: the description's settings.owner), in
dependency order, and nothing else; a namespace the owner created only when nothing in it is
someone else's (it is kept, and the reason printed). Running it again deletes nothing.
`,K=async(o,n)=>{let{common:e}=y(o,h);if(e.help)return n.stdout(h),d.ok;let t=e.config?(await f(e.config,n)).description:void 0,i=e.owner??t?.settings.owner;if(!i)throw new l(`give --owner OWNER or -c FILE

${h}`);let r=await C(e,n,t);try{return O(n,i,await R(r.client,i)),d.ok}finally{await r.close()}};function I(o){let n=/^(\d+)([smhd]?)$/.exec(o.trim());if(!n)throw new l(`--older-than "${o}" is not a duration such as 3600s, 90m, 24h or 7d`);let e={"":1,s:1,m:60,h:3600,d:86400}[n[2]??""]??1;return Number(n[1])*e}var w=`Usage: mesh-expansion sweep --older-than AGE [--except OWNER]... [--kubeconfig PATH] [--context NAME]

Cleans up after every owner whose oldest object is older than AGE (3600s, 90m, 24h, 7d): for
preview environments whose own cleanup never ran.
`,Q=async(o,n)=>{let{common:e,values:t}=y(o,w,{"older-than":{type:"string"},except:{type:"string",multiple:!0}});if(e.help)return n.stdout(w),d.ok;let i=t["older-than"];if(typeof i!="string")throw new l(`missing --older-than AGE

${w}`);let r=I(i),c=Array.isArray(t.except)?t.except:[],a=e.config?(await f(e.config,n)).description:void 0,p=await C(e,n,a);try{let s=await j(p.client,r,{except:c});for(let x of s)O(n,x.owner,x.result);return n.stdout(`${s.length} owner${s.length===1?"":"s"} swept
`),d.ok}finally{await p.close()}};export{y as a,F as b,B as c,K as d,I as e,Q as f};
