import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a,b as s}from"./chunk-JQAXXHYG.js";import{a as f}from"./chunk-W2OFBG4P.js";import{d as i,h as l,i as u,j as h,k as m,m as g,p as w,q as y}from"./chunk-Q7ADEFCN.js";import{a as p}from"./chunk-EOGCE72U.js";import{resolve as C}from"node:path";import{parseArgs as $}from"node:util";var d=`Usage: mesh-expansion validate -c FILE [--json]

Checks a description file and touches nothing: no cluster, no host, no network, no file written.

Options:
  -c, --config FILE  the description (YAML); "-" reads standard input
      --json         machine-readable result on standard output
  -h, --help         this help

Exit codes: 0 valid, 2 invalid (every error is printed as FILE:LINE:COLUMN PATH: MESSAGE).
`,c=class extends s{name="DescriptionError";errors;constructor(t){super(t.map(w).join(`
`)),this.errors=t}};async function j(){let o=[],t=0;for await(let e of process.stdin){let r=Buffer.isBuffer(e)?e:Buffer.from(String(e));if(t+=r.length,t>i)throw process.stdin.destroy(),new s(`the description on standard input is more than the limit of ${i/1024/1024} MiB`);o.push(r)}return Buffer.concat(o).toString("utf8")}async function S(o,t){if(o==="-")return j();try{return g(C(t.cwd,o),{what:"the description",shown:o,maxBytes:i})}catch(e){throw e instanceof l?new s(`cannot read the description ${u(o)}: ${e.reason}`):e}}async function k(o,t){let e=await S(o,t),r=o==="-"?"<stdin>":o,n=y(e,r);if(!n.ok)throw new c(n.errors);return{file:r,text:e,description:n.description,locate:n.locate}}function B(o){try{let{values:t,positionals:e}=$({args:[...o],options:{config:{type:"string",short:"c"},json:{type:"boolean",default:!1},help:{type:"boolean",short:"h",default:!1}},allowPositionals:!0,strict:!0});if(e.length>0){let r=h(e[0]??"");throw new s(`unexpected argument ${r}; give the file with -c FILE`)}return{config:t.config,json:t.json,help:t.help}}catch(t){throw t instanceof s?t:new s(`${m(p(t))}

${d}`)}}var N=async(o,t)=>{let e=B(o);if(e.help)return t.stdout(d),a.ok;if(e.config===void 0||e.config==="")throw new s(`missing -c FILE (the description to check)

${d}`);try{let r=await k(e.config,t);if(e.json){let n={valid:!0,file:r.file,description:r.description};t.stdout(`${JSON.stringify(n,null,2)}
`)}else t.stdout(`${f(r.file,r.description)}
`);return a.ok}catch(r){if(!(r instanceof c))throw r;if(e.json){let n=r.errors.map(({file:E,line:x,column:L,path:I,message:v})=>({file:E,line:x,column:L,path:I,message:v}));t.stdout(`${JSON.stringify({valid:!1,errors:n},null,2)}
`)}else t.stderr(`${r.message}
`);return a.invalid}};export{c as a,k as b,N as c};
