import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{b as u}from"./chunk-IL2ZK3Y3.js";import{e as E}from"./chunk-LCPR66AC.js";import{g as $,h as A,j as O,n as R,o as j,p as N,q as I,r as D,s as L}from"./chunk-FH6UPZBT.js";import{d as P}from"./chunk-SCEBJ7YE.js";import{b as v,k as w}from"./chunk-NLGP3EGC.js";import{b as m}from"./chunk-ZU63A72L.js";import{a as d,b as l}from"./chunk-JQAXXHYG.js";import{a as g}from"./chunk-EOGCE72U.js";import{parseArgs as U}from"node:util";function b(o,e,n={}){try{let{values:t,positionals:r}=U({args:[...o],options:{config:{type:"string",short:"c"},kubeconfig:{type:"string"},context:{type:"string"},owner:{type:"string"},json:{type:"boolean",default:!1},help:{type:"boolean",short:"h",default:!1},...n},allowPositionals:!0,strict:!0});if(r.length>0)throw new l(`unexpected argument ${JSON.stringify(r[0])}`);let s=t,c=a=>typeof s[a]=="string"?s[a]:void 0;return{common:{config:c("config"),kubeconfig:c("kubeconfig"),context:c("context"),owner:c("owner"),json:s.json===!0,help:s.help===!0},values:s}}catch(t){throw new l(`${g(t)}

${e}`)}}async function M(o,e,n){return E({kubeconfigPath:o.kubeconfig??n?.cluster.kubeconfig??null,context:o.context??n?.cluster.context??null,env:e.env,cwd:e.cwd,log:t=>e.stderr(`${u(t)}
`)})}async function k(o,e,n){try{return await M(o,e,n)}catch(t){throw t instanceof v&&t.kind==="invalid"?new l(g(t)):t}}var h=`Usage: mesh-expansion plan -c FILE [--owner OWNER] [--kubeconfig PATH] [--context NAME] [--json]

Discovers the cluster, computes every object the description needs and prints the difference
with the live cluster. Writes nothing. Exits 1 when an object exists that is not the owner's
(a conflict: apply would change nothing; settings.adopt takes such an object over).
`,ee=async(o,e)=>{let{common:n}=b(o,h);if(n.help)return e.stdout(h),d.ok;if(!n.config)throw new l(`missing -c FILE (the description)

${h}`);let{description:t}=await m(n.config,e),r=await k(n,e,t);try{let s=await N(r.client,t,{owner:n.owner??t.settings.owner,dryRun:!0});if(n.json){let{meshConfig:a,...p}=s.discovery;e.stdout(`${JSON.stringify({discovery:p,plan:s.plan.entries.map(i=>({kind:i.kind,name:i.name,namespace:i.namespace??null,action:i.action,diff:i.diff,...i.reason!==void 0?{reason:i.reason}:{},...i.adopted!==void 0?{adopted:i.adopted}:{}}))},null,2)}
`)}else e.stdout(`${P(s.discovery).join(`
`)}

`),e.stdout(O(s.plan));let c=$(s.plan);for(let a of c)e.stderr(`${A(a)}
`);return c.length>0?d.failed:d.ok}finally{await r.close()}},f=class extends Error{problems;constructor(e){super("permissions missing"),this.problems=e}};function F(o,e,n){return{beforeDeleting:async t=>{let r=await I(o.client,L(t,n));if(r.unavailable!==void 0)e.stderr(`warning: permissions not checked before deleting: the API did not answer an access review (${u(r.unavailable)})
`);else if(r.missing.length>0)throw new f(r.missing.map(D))}}}async function H(o,e){try{return await e(),d.ok}catch(n){if(!(n instanceof f))throw n;for(let t of n.problems)o.stderr(`${t}
`);return o.stderr(`nothing was deleted
`),d.failed}}function W(o,e,n){for(let t of n.deleted)o.stdout(`deleted ${w(t)}
`);for(let t of n.kept)o.stdout(`kept ${w(t.ref)}: ${t.reason}
`);o.stdout(`owner ${e}: ${n.deleted.length} deleted, ${n.kept.length} kept
`)}var y=`Usage: mesh-expansion cleanup [-c FILE] [--owner OWNER] [--kubeconfig PATH] [--context NAME]

Deletes every object labelled with the owner (default: the description's settings.owner), in
dependency order, and nothing else; a namespace the owner created only when nothing in it is
someone else's (it is kept, and the reason printed). Running it again deletes nothing.
`,ne=async(o,e)=>{let{common:n}=b(o,y);if(n.help)return e.stdout(y),d.ok;let t=n.config?(await m(n.config,e)).description:void 0,r=n.owner??t?.settings.owner;if(!r)throw new l(`give --owner OWNER or -c FILE

${y}`);let s=await k(n,e,t);try{return await H(e,async()=>{let c=await R(s.client,r,F(s,e,"cleanup"));W(e,r,c)})}finally{await s.close()}};function _(o){let e=/^(\d+)([smhd]?)$/.exec(o.trim());if(!e)throw new l(`--older-than "${o}" is not a duration such as 3600s, 90m, 24h or 7d`);let n={"":1,s:1,m:60,h:3600,d:86400}[e[2]??""]??1;return Number(e[1])*n}var C=`Usage: mesh-expansion sweep --older-than AGE [--except OWNER]... [--kubeconfig PATH] [--context NAME]

Cleans up after every owner whose oldest object is older than AGE (3600s, 90m, 24h, 7d): for
preview environments whose own cleanup never ran.
`,te=async(o,e)=>{let{common:n,values:t}=b(o,C,{"older-than":{type:"string"},except:{type:"string",multiple:!0}});if(n.help)return e.stdout(C),d.ok;let r=t["older-than"];if(typeof r!="string")throw new l(`missing --older-than AGE

${C}`);let s=_(r),c=Array.isArray(t.except)?t.except:[],a=n.config?(await m(n.config,e)).description:void 0,p=await k(n,e,a);try{return await H(e,async()=>{let i=await j(p.client,s,{except:c,...F(p,e,"sweep")});for(let x of i)W(e,x.owner,x.result);e.stdout(`${i.length} owner${i.length===1?"":"s"} swept
`)})}finally{await p.close()}};export{b as a,M as b,ee as c,ne as d,_ as e,te as f};
