import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a,b,c,d,e,f}from"./chunk-2R4IKT3S.js";import"./chunk-62WEX7B5.js";import"./chunk-VMPN5DW3.js";import"./chunk-ABVAKLYT.js";import"./chunk-L6CDCY4K.js";import"./chunk-W2OFBG4P.js";import"./chunk-DDBWE5NA.js";import"./chunk-JQAXXHYG.js";import"./chunk-EOGCE72U.js";import"./chunk-QRFW3W46.js";export{d as cleanupCommand,b as openCluster,e as parseAge,a as parseCommonFlags,c as planCommand,f as sweepCommand};
