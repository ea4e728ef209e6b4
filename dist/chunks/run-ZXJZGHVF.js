import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a,b,c,d,e}from"./chunk-4IDO46KF.js";import"./chunk-PXD5645G.js";import"./chunk-5FUFT4SD.js";import"./chunk-YVDEVDRF.js";import"./chunk-GPHXLR5X.js";import"./chunk-UV2UIO44.js";import"./chunk-7YZZW5LE.js";import"./chunk-27EGESLR.js";import"./chunk-2DUSXSHE.js";import"./chunk-7NVG66YQ.js";import"./chunk-PDFKHMK6.js";import"./chunk-F6KWMHBF.js";import"./chunk-XRCL3AOD.js";import"./chunk-ZXBIOC32.js";import"./chunk-Q7ADEFCN.js";import"./chunk-EOGCE72U.js";import"./chunk-QRFW3W46.js";export{a as FLOWS,b as apply,d as cleanup,e as plan,c as verify};
