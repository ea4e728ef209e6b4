import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a,b,c,d,e}from"./chunk-AGODBVJO.js";import"./chunk-XV4KCMRJ.js";import"./chunk-5FUFT4SD.js";import"./chunk-YVDEVDRF.js";import"./chunk-M674V3SH.js";import"./chunk-OECOHFTP.js";import"./chunk-7YZZW5LE.js";import"./chunk-M35WH2PM.js";import"./chunk-AK2QBSHJ.js";import"./chunk-5UII2OQ2.js";import"./chunk-ULJ6FVEF.js";import"./chunk-XRCL3AOD.js";import"./chunk-ZXBIOC32.js";import"./chunk-EOWP7LYJ.js";import"./chunk-EOGCE72U.js";import"./chunk-QRFW3W46.js";export{a as FLOWS,b as apply,d as cleanup,e as plan,c as verify};
