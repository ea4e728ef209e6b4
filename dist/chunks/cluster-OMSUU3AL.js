import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a,b,c,d,e,f}from"./chunk-37IKAXFO.js";import"./chunk-IL2ZK3Y3.js";import"./chunk-CWMCCWQZ.js";import"./chunk-SCNP2N2P.js";import"./chunk-RKUKRB5Q.js";import"./chunk-5FUFT4SD.js";import"./chunk-HANLBIKR.js";import"./chunk-XRCL3AOD.js";import"./chunk-NLGP3EGC.js";import"./chunk-N4AHGFLZ.js";import"./chunk-JQAXXHYG.js";import"./chunk-W2OFBG4P.js";import"./chunk-GUBLRBW7.js";import"./chunk-EOGCE72U.js";import"./chunk-QRFW3W46.js";export{d as cleanupCommand,b as openCluster,e as parseAge,a as parseCommonFlags,c as planCommand,f as sweepCommand};
