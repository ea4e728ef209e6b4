import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
function o(t,e){return{command:t,owner:e,ok:!1,problems:[],cluster:null,hosts:[],skippedHosts:[],checks:[],removed:[],phases:[],failedPhase:null,invalid:!1,durationMs:0}}function a(t){let{discovery:e,plan:s,applied:n}=t;return{istioVersion:e.istioVersion,generation:e.generation,revision:e.revision,istioNamespace:e.istioNamespace,clusterID:e.clusterID,network:e.network,gateway:e.gateway.address,writes:n?.written.length??0,unchanged:n?.unchanged??0,plan:s.entries.map(r=>({kind:r.kind,...r.namespace!==void 0?{namespace:r.namespace}:{},name:r.name,action:r.adopted!==void 0?"adopt":r.action,...r.reason!==void 0?{reason:r.reason}:{},...r.adopted!==void 0?{reason:`taken over (settings.adopt): ${r.adopted}`}:{}})),warnings:[...e.warnings]}}function i(t){return t.hosts.filter(e=>e.status==="ok"&&e.ready).map(e=>e.host)}function p(t){return t.hosts.filter(e=>e.status==="failed").map(e=>e.host)}function l(t){return t.failedPhase==="inputs"||t.failedPhase==="preflight"}export{o as a,a as b,i as c,p as d,l as e};
