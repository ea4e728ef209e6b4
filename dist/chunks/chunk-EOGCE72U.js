import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
function n(e){return e instanceof Error?e.message:String(e)}function t(e){switch(e?.code){case"ENOENT":return"no such file or directory";case"EACCES":case"EPERM":return"permission denied";case"EISDIR":return"is a directory";case"ENOTDIR":return"a part of the path is not a directory";case"ELOOP":return"too many symbolic links";default:return n(e)}}export{n as a,t as b};
