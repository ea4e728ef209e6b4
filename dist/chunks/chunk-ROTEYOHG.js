import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a as d}from"./chunk-W2OFBG4P.js";import{a as u,b as h}from"./chunk-T2PECKCK.js";import{a as s,b as o}from"./chunk-JQAXXHYG.js";import{a as l,b as p}from"./chunk-EOGCE72U.js";import{readFile as L}from"node:fs/promises";import{resolve as $}from"node:path";import{parseArgs as v}from"node:util";var a=4*1024*1024,f=`Usage: mesh-expansion validate -c FILE [--json]

Checks a description file and touches nothing: no cluster, no host, no network, no file written.

Options:
  -c, --config FILE  the description (YAML); "-" reads standard input
      --json         machine-readable result on standard output
  -h, --help         this help

Exit codes: 0 valid, 2 invalid (every error is printed as FILE:LINE:COLUMN PATH: MESSAGE).
`,c=class extends o{name="DescriptionError";errors;constructor(t){super(t.map(u).join(`
`)),this.errors=t}};async function x(){let n=[],t=0;for await(let r of process.stdin){let e=Buffer.isBuffer(r)?r:Buffer.from(String(r));if(t+=e.length,t>a)throw new o(`standard input is larger than ${a} bytes`);n.push(e)}return Buffer.concat(n).toString("utf8")}async function C(n,t){if(n==="-")return x();let r;try{r=await L($(t.cwd,n))}catch(e){throw new o(`cannot read the description ${n}: ${p(e)}`)}if(r.length>a)throw new o(`the description ${n} is larger than ${a} bytes`);return r.toString("utf8")}async function b(n,t){let r=await C(n,t),e=n==="-"?"<stdin>":n,i=h(r,e);if(!i.ok)throw new c(i.errors);return{file:e,text:r,description:i.description,locate:i.locate}}function j(n){try{let{values:t,positionals:r}=v({args:[...n],options:{config:{type:"string",short:"c"},json:{type:"boolean",default:!1},help:{type:"boolean",short:"h",default:!1}},allowPositionals:!0,strict:!0});if(r.length>0)throw new o(`unexpected argument "${r[0]}"; give the file with -c FILE`);return{config:t.config,json:t.json,help:t.help}}catch(t){throw t instanceof o?t:new o(`${l(t)}

${f}`)}}var P=async(n,t)=>{let r=j(n);if(r.help)return t.stdout(f),s.ok;if(r.config===void 0||r.config==="")throw new o(`missing -c FILE (the description to check)

${f}`);try{let e=await b(r.config,t);if(r.json){let i={valid:!0,file:e.file,description:e.description};t.stdout(`${JSON.stringify(i,null,2)}
`)}else t.stdout(`${d(e.file,e.description)}
`);return s.ok}catch(e){if(!(e instanceof c))throw e;if(r.json){let i=e.errors.map(({file:g,line:m,column:w,path:y,message:E})=>({file:g,line:m,column:w,path:y,message:E}));t.stdout(`${JSON.stringify({valid:!1,errors:i},null,2)}
`)}else t.stderr(`${e.message}
`);return s.invalid}};export{c as a,b,P as c};
