import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a,b,c,d,e,f}from"./chunk-WDAN5TV3.js";import"./chunk-GG4CWVS7.js";import"./chunk-W2BJIJUX.js";import"./chunk-HFH67ORN.js";import"./chunk-JQAXXHYG.js";import"./chunk-T2PDI6J4.js";import"./chunk-AU4LMYQ4.js";import"./chunk-ESO6Q4GN.js";import"./chunk-QRFW3W46.js";export{d as cleanupCommand,b as openCluster,e as parseAge,a as parseCommonFlags,c as planCommand,f as sweepCommand};
