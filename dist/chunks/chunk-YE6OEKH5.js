import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{j as d,k as f}from"./chunk-D5J2ARHP.js";import{realpathSync as p}from"node:fs";import{fileURLToPath as m}from"node:url";function I(e,r=process.argv[1]){if(r===void 0)return!1;try{return p(m(e))===p(r)}catch{return!1}}import{mkdtempSync as u,rmSync as v}from"node:fs";import{tmpdir as y}from"node:os";import{join as x}from"node:path";var T=2e3;function L(e){let r=process.env.RUNNER_TEMP||y(),o=u(x(r,"mesh-expansion-"));process.env.TMPDIR=o;let n=new Set,a=!1,i=async()=>{let t=[...n];n.clear(),await Promise.race([Promise.allSettled(t.map(s=>s.close())),new Promise(s=>setTimeout(s,T).unref())]),a||v(o,{recursive:!0,force:!0}),a=!0},c=!1,l=t=>{if(!c){c=!0;try{e(t)}finally{i().finally(()=>process.exit(t==="SIGINT"?130:143))}}};return process.on("SIGINT",l),process.on("SIGTERM",l),{scratch:o,track(t){return n.add(t),t},release:i}}var S="mesh-expansion";function k(e){d(S,JSON.stringify(e))}function w(){let e=f(S);return e===""?void 0:JSON.parse(e)}export{L as a,k as b,w as c,I as d};
