import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
function c(e){let r=e.trim().replace(/^v/i,"").split("+")[0]??"",n=r.indexOf("-"),t=(n<0?r:r.slice(0,n)).split("."),o=n<0?[]:r.slice(n+1).split(".");return{core:[0,1,2].map(s=>Number.parseInt(t[s]??"0",10)||0),pre:o}}var i=e=>/^\d+$/.test(e);function u(e,r){if(e.length===0||r.length===0)return r.length-e.length;for(let n=0;n<Math.min(e.length,r.length);n++){let t=e[n]??"",o=r[n]??"";if(t!==o)return i(t)&&i(o)?Number(t)-Number(o):i(t)!==i(o)?i(t)?-1:1:t<o?-1:1}return e.length-r.length}function l(e,r){let n=c(e),t=c(r);for(let o=0;o<3;o++){let s=(n.core[o]??0)-(t.core[o]??0);if(s!==0)return s}return u(n.pre,t.pre)}function g(e,r){let[n=0,t=0]=c(e).core;return l(`${n}.${t}`,r)>=0}export{l as a,g as b};
