import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{isIP as o}from"node:net";function a(e){let n=e.indexOf("%");return n<0?o(e)!==0:n<e.length-1&&o(e.slice(0,n))===6}function l(e){return!e.includes("%")&&o(e)!==0}function g(e){return e!==void 0&&e!==""&&e!=="default"}function i(e,n){return`${g(n)?`istiod-${n}`:"istiod"}.${e}.svc`}var u=15012;function p(e,n,s=u){return`${i(e,n)}:${s}`}function I(e,n){if(l(e)||n===void 0)return{address:e};let s=n.loadBalancerIngress??[];if(s.length>0){let t=s[0]??{},d=t.ip??"";return d===""&&t.hostname?{address:"",hostnameOnly:t.hostname}:{address:d}}let r=n.externalIPs??[];return r.length>0?{address:r[0]??""}:{address:e}}function x(e,n,s){let r=i(n,s);if(a(e.address))return{content:`${e.address} ${r}
`};let t=`Could not auto-detect IP for ${r}/${n}. Use --ingressIP to manually specify the Gateway address to reach istiod from the VM.`;return e.hostnameOnly!==void 0&&(t+=` The gateway publishes only the hostname ${e.hostnameOnly}: resolve it and pass its IP, or make ${r} resolve on the VM another way; hosts was written empty.`),{content:"",warning:t}}function $(e,n){let s=e.split("."),[r,t]=s;return s.length===2&&r!==void 0&&t!==void 0?{name:r,namespace:t}:{name:e,namespace:n}}export{g as a,u as b,p as c,a as d,I as e,x as f,$ as g};
