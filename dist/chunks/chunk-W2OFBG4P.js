import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
var r=(n,e)=>`${n} ${e}${n===1?"":"s"}`;function t(n,e){let s=[...new Set(e.workloadGroups.map(o=>o.namespace))];return`${n}: valid: ${r(e.workloadGroups.length,"workload group")}, ${r(e.vms.length,"VM")}, ${r(e.checks.length,"check")} (namespace${s.length===1?"":"s"} ${s.join(", ")})`}export{t as a};
