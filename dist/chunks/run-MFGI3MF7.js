import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{b as a,c as b,d as c,e as d,f as e}from"./chunk-AV722MN6.js";import"./chunk-EF2PAA3B.js";import"./chunk-2RDJI2IT.js";import"./chunk-2PCFLGBQ.js";import"./chunk-5FUFT4SD.js";import"./chunk-FMNMG5PG.js";import"./chunk-2UN4XIOR.js";import"./chunk-XRCL3AOD.js";import"./chunk-FVRJEJ74.js";import"./chunk-56Q6SEOW.js";import"./chunk-EOGCE72U.js";import"./chunk-QRFW3W46.js";export{a as FLOWS,b as apply,d as cleanup,e as plan,c as verify};
