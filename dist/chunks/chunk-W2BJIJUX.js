import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a as p,b as u}from"./chunk-HFH67ORN.js";import{a as i,b as s}from"./chunk-JQAXXHYG.js";import{readFile as y}from"node:fs/promises";import{resolve as E}from"node:path";import{parseArgs as $}from"node:util";var a=4*1024*1024,f=`Usage: mesh-expansion validate -c FILE [--json]

Checks a description file and touches nothing: no cluster, no host, no network, no file written.

Options:
  -c, --config FILE  the description (YAML); "-" reads standard input
      --json         machine-readable result on standard output
  -h, --help         this help

Exit codes: 0 valid, 2 invalid (every error is printed as FILE:LINE:COLUMN PATH: MESSAGE).
`,c=class extends s{name="DescriptionError";errors;constructor(e){super(e.map(p).join(`
`)),this.errors=e}};async function v(){let r=[],e=0;for await(let t of process.stdin){let n=Buffer.isBuffer(t)?t:Buffer.from(String(t));if(e+=n.length,e>a)throw new s(`standard input is larger than ${a} bytes`);r.push(n)}return Buffer.concat(r).toString("utf8")}async function x(r,e){if(r==="-")return v();let t;try{t=await y(E(e.cwd,r))}catch(n){let o=n.code,d=o==="ENOENT"?"no such file":o==="EISDIR"?"it is a directory":o==="EACCES"?"permission denied":n.message;throw new s(`cannot read the description ${r}: ${d}`)}if(t.length>a)throw new s(`the description ${r} is larger than ${a} bytes`);return t.toString("utf8")}async function k(r,e){let t=await x(r,e),n=r==="-"?"<stdin>":r,o=u(t,n);if(!o.ok)throw new c(o.errors);return{file:n,text:t,description:o.description,locate:o.locate}}var l=(r,e)=>`${r} ${e}${r===1?"":"s"}`;function C(r,e){let t=[...new Set(e.workloadGroups.map(n=>n.namespace))];return`${r}: valid: ${l(e.workloadGroups.length,"workload group")}, ${l(e.vms.length,"VM")}, ${l(e.checks.length,"check")} (namespace${t.length===1?"":"s"} ${t.join(", ")})`}function L(r){try{let{values:e,positionals:t}=$({args:[...r],options:{config:{type:"string",short:"c"},json:{type:"boolean",default:!1},help:{type:"boolean",short:"h",default:!1}},allowPositionals:!0,strict:!0});if(t.length>0)throw new s(`unexpected argument "${t[0]}"; give the file with -c FILE`);return{config:e.config,json:e.json,help:e.help}}catch(e){throw e instanceof s?e:new s(`${e.message}

${f}`)}}var O=async(r,e)=>{let t=L(r);if(t.help)return e.stdout(f),i.ok;if(t.config===void 0||t.config==="")throw new s(`missing -c FILE (the description to check)

${f}`);try{let n=await k(t.config,e);if(t.json){let o={valid:!0,file:n.file,description:n.description};e.stdout(`${JSON.stringify(o,null,2)}
`)}else e.stdout(`${C(n.file,n.description)}
`);return i.ok}catch(n){if(!(n instanceof c))throw n;if(t.json){let o=n.errors.map(({file:d,line:h,column:g,path:m,message:w})=>({file:d,line:h,column:g,path:m,message:w}));e.stdout(`${JSON.stringify({valid:!1,errors:o},null,2)}
`)}else e.stderr(`${n.message}
`);return i.invalid}};export{c as a,k as b,C as c,O as d};
