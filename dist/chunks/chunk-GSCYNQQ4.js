import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{b as m}from"./chunk-BKZHW5XL.js";import{a as d,b as l}from"./chunk-JQAXXHYG.js";import{e as P}from"./chunk-OIFSDWKP.js";import{d as R,e as j,f as N,g as I,h as D,i as F}from"./chunk-PXD5645G.js";import{b as u}from"./chunk-IL2ZK3Y3.js";import{i as $,j as A,n as O,o as L}from"./chunk-UV2UIO44.js";import{c as E}from"./chunk-27EGESLR.js";import{b as v,j as w}from"./chunk-ZXBIOC32.js";import{a as g}from"./chunk-EOGCE72U.js";import{parseArgs as U}from"node:util";function C(o,e,n={}){try{let{values:t,positionals:i}=U({args:[...o],options:{config:{type:"string",short:"c"},kubeconfig:{type:"string"},context:{type:"string"},owner:{type:"string"},json:{type:"boolean",default:!1},help:{type:"boolean",short:"h",default:!1},...n},allowPositionals:!0,strict:!0});if(i.length>0)throw new l(`unexpected argument ${JSON.stringify(i[0])}`);let r=t,s=c=>typeof r[c]=="string"?r[c]:void 0;return{common:{config:s("config"),kubeconfig:s("kubeconfig"),context:s("context"),owner:s("owner"),json:r.json===!0,help:r.help===!0},values:r}}catch(t){throw new l(`${g(t)}

${e}`)}}async function _(o,e,n){return P({kubeconfigPath:o.kubeconfig??n?.cluster.kubeconfig??null,context:o.context??n?.cluster.context??null,env:e.env,cwd:e.cwd,log:t=>e.stderr(`${u(t)}
`)})}async function k(o,e,n){try{return await _(o,e,n)}catch(t){throw t instanceof v&&t.kind==="invalid"?new l(g(t)):t}}var h=`Usage: mesh-expansion plan -c FILE [--owner OWNER] [--kubeconfig PATH] [--context NAME] [--json]

Discovers the cluster, computes every object the description needs and prints the difference
with the live cluster. Writes nothing. Exits 1 when an object exists that is not the owner's
(a conflict: apply would change nothing; settings.adopt takes such an object over).
`,ne=async(o,e)=>{let{common:n}=C(o,h);if(n.help)return e.stdout(h),d.ok;if(!n.config)throw new l(`missing -c FILE (the description)

${h}`);let{description:t}=await m(n.config,e),i=await k(n,e,t);try{let r=await L(i.client,t,{owner:n.owner??t.settings.owner,dryRun:!0});if(n.json){let{meshConfig:c,...p}=r.discovery;e.stdout(`${JSON.stringify({discovery:p,plan:r.plan.entries.map(a=>({kind:a.kind,name:a.name,namespace:a.namespace??null,action:a.action,diff:a.diff,...a.reason!==void 0?{reason:a.reason}:{},...a.adopted!==void 0?{adopted:a.adopted}:{}}))},null,2)}
`)}else e.stdout(`${E(r.discovery).join(`
`)}

`),e.stdout(O(r.plan));let s=$(r.plan);for(let c of s)e.stderr(`${A(c)}
`);return s.length>0?d.failed:d.ok}finally{await i.close()}},f=class extends Error{problems;constructor(e){super("permissions missing"),this.problems=e}};function H(o,e,n){let t=new Map,i=!1,r=async s=>{if(i)return;let c=await N(o.client,s,t);if(c.unavailable!==void 0)i=!0,e.stderr(`warning: permissions not checked before ${n}: the API did not answer an access review (${u(c.unavailable)})
`);else if(c.missing.length>0)throw new f(c.missing.map(I))};return{beforeListing:s=>r(D(s,n)),beforeDeleting:s=>r(F(s,n))}}async function W(o,e){try{return await e(),d.ok}catch(n){if(!(n instanceof f))throw n;for(let t of n.problems)o.stderr(`${t}
`);return o.stderr(`nothing was deleted
`),d.failed}}function M(o,e,n){for(let t of n.deleted)o.stdout(`deleted ${w(t)}
`);for(let t of n.kept)o.stdout(`kept ${w(t.ref)}: ${t.reason}
`);o.stdout(`owner ${e}: ${n.deleted.length} deleted, ${n.kept.length} kept
`)}var y=`Usage: mesh-expansion cleanup [-c FILE] [--owner OWNER] [--kubeconfig PATH] [--context NAME]

Deletes every object labelled with the owner (default: the description's settings.owner), in
dependency order, and nothing else; a namespace the owner created only when nothing in it is
someone else's (it is kept, and the reason printed). Running it again deletes nothing.
`,te=async(o,e)=>{let{common:n}=C(o,y);if(n.help)return e.stdout(y),d.ok;let t=n.config?(await m(n.config,e)).description:void 0,i=n.owner??t?.settings.owner;if(!i)throw new l(`give --owner OWNER or -c FILE

${y}`);let r=await k(n,e,t);try{return await W(e,async()=>{let s=await R(r.client,i,H(r,e,"cleanup"));M(e,i,s)})}finally{await r.close()}};function G(o){let e=/^(\d+)([smhd]?)$/.exec(o.trim());if(!e)throw new l(`--older-than "${o}" is not a duration such as 3600s, 90m, 24h or 7d`);let n={"":1,s:1,m:60,h:3600,d:86400}[e[2]??""]??1;return Number(e[1])*n}var b=`Usage: mesh-expansion sweep --older-than AGE [--except OWNER]... [--kubeconfig PATH] [--context NAME]

Cleans up after every owner whose oldest object is older than AGE (3600s, 90m, 24h, 7d): for
preview environments whose own cleanup never ran.
`,oe=async(o,e)=>{let{common:n,values:t}=C(o,b,{"older-than":{type:"string"},except:{type:"string",multiple:!0}});if(n.help)return e.stdout(b),d.ok;let i=t["older-than"];if(typeof i!="string")throw new l(`missing --older-than AGE

${b}`);let r=G(i),s=Array.isArray(t.except)?t.except:[],c=n.config?(await m(n.config,e)).description:void 0,p=await k(n,e,c);try{return await W(e,async()=>{let a=await j(p.client,r,{except:s,...H(p,e,"sweep")});for(let x of a)M(e,x.owner,x.result);e.stdout(`${a.length} owner${a.length===1?"":"s"} swept
`)})}finally{await p.close()}};export{C as a,_ as b,ne as c,te as d,G as e,oe as f};
