import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a,b,c,d,e,f}from"./chunk-XXA4MVQV.js";import"./chunk-OPE7LINS.js";import"./chunk-ROTEYOHG.js";import"./chunk-W2OFBG4P.js";import"./chunk-T2PECKCK.js";import"./chunk-JQAXXHYG.js";import"./chunk-AFTDPS2O.js";import"./chunk-OOWPKERN.js";import"./chunk-ESO6Q4GN.js";import"./chunk-EOGCE72U.js";import"./chunk-QRFW3W46.js";export{d as cleanupCommand,b as openCluster,e as parseAge,a as parseCommonFlags,c as planCommand,f as sweepCommand};
