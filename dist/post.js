import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{e as o,g as n,i as t}from"./chunks/chunk-MCMRHL7A.js";import"./chunks/chunk-QRFW3W46.js";async function a(){let e=t();if(e===void 0){n("mesh-expansion: main recorded no state; nothing to clean up.");return}if(!(e.cleanup==="always"||e.cleanup==="on-failure"&&!e.succeeded)){n(`mesh-expansion: cleanup is "${e.cleanup}"; leaving everything in place.`);return}if(!e.created){n("mesh-expansion: this run created nothing; nothing to clean up.");return}o("cleanup of created objects is not available in this version yet")}await a();
