import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a,b,c,d,e,f}from"./chunk-AHMAQLJZ.js";import"./chunk-IL2ZK3Y3.js";import"./chunk-Z6HZJAMA.js";import"./chunk-EF2PAA3B.js";import"./chunk-2PCFLGBQ.js";import"./chunk-5FUFT4SD.js";import"./chunk-2UN4XIOR.js";import"./chunk-XRCL3AOD.js";import"./chunk-FVRJEJ74.js";import"./chunk-ELSQFBMC.js";import"./chunk-JQAXXHYG.js";import"./chunk-W2OFBG4P.js";import"./chunk-56Q6SEOW.js";import"./chunk-EOGCE72U.js";import"./chunk-QRFW3W46.js";export{d as cleanupCommand,b as openCluster,e as parseAge,a as parseCommonFlags,c as planCommand,f as sweepCommand};
