import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{b as o}from"./chunk-ZXBIOC32.js";var c="istio-ca",d=3600;async function p(s,t,e,r={}){let n;try{n=await s.createToken(t,e,{audiences:r.audiences??[c],expirationSeconds:r.seconds??d})}catch(i){throw i instanceof o&&i.kind==="not-found"?new o("not-found",`could not create a token under service account ${e} in namespace ${t}: the service account does not exist`,404,i.operation):i}return r.onSecret?.(n),n}var a="istio-ca-root-cert";async function f(s,t){let e=await s.get({apiVersion:"v1",kind:"ConfigMap",name:a,namespace:t}),n=e?.data?.["root-cert.pem"];if(e===null)throw new o("not-found",`configmap ${a} was not found in namespace ${t}: istiod publishes it into every namespace; is istiod running?`,404);if(typeof n!="string"||n==="")throw new o("not-found",`configmap ${a} in namespace ${t} has no root-cert.pem`,404);return n}export{p as a,f as b};
