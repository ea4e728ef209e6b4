import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a,b,c,d,e,f}from"./chunk-J6W4KKSM.js";import"./chunk-IL2ZK3Y3.js";import"./chunk-LCPR66AC.js";import"./chunk-FH6UPZBT.js";import"./chunk-SCEBJ7YE.js";import"./chunk-3MNPA77G.js";import"./chunk-V7G4ZBKO.js";import"./chunk-XRCL3AOD.js";import"./chunk-NLGP3EGC.js";import"./chunk-ZU63A72L.js";import"./chunk-JQAXXHYG.js";import"./chunk-W2OFBG4P.js";import"./chunk-7DJ32ZUO.js";import"./chunk-EOGCE72U.js";import"./chunk-QRFW3W46.js";export{d as cleanupCommand,b as openCluster,e as parseAge,a as parseCommonFlags,c as planCommand,f as sweepCommand};
