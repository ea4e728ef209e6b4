import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
var o=/\r\n|[\u0000-\u0008\u000a-\u001f\u007f\u0085\u2028\u2029]/g;function r(n){return n.replace(o,t=>t===`
`||t===`\r
`?"\\n":t==="\r"?"\\r":`\\u${t.charCodeAt(0).toString(16).padStart(4,"0")}`)}var i=/^\s*(::|##\[)/;function s(n){let t=r(n);return i.test(t)?`\xB7${t}`:t}var e={"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"};function u(n){return n.replace(/[&<>"']/g,t=>e[t]??t)}function g(n){return r(n).replace(/[&<>"'`*_[\]()\\|~#!@]/g,t=>e[t]??`&#${t.charCodeAt(0)};`)}export{r as a,s as b,u as c,g as d};
