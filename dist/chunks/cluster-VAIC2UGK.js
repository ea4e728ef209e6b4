import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a,b,c,d,e,f}from"./chunk-4ZEID5VG.js";import"./chunk-P4WTEUGC.js";import"./chunk-U67C2BPK.js";import"./chunk-LCYWAFBQ.js";import"./chunk-JQAXXHYG.js";import"./chunk-S3SXW2X7.js";import"./chunk-5NYEJ5RH.js";import"./chunk-ESO6Q4GN.js";import"./chunk-QRFW3W46.js";export{d as cleanupCommand,b as openCluster,e as parseAge,a as parseCommonFlags,c as planCommand,f as sweepCommand};
