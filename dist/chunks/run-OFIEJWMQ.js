import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{b as a,c as b,d as c,e as d,f as e}from"./chunk-5KTUIUQH.js";import"./chunk-SCNP2N2P.js";import"./chunk-4EQZGNPE.js";import"./chunk-RKUKRB5Q.js";import"./chunk-5FUFT4SD.js";import"./chunk-QMW763FF.js";import"./chunk-HANLBIKR.js";import"./chunk-XRCL3AOD.js";import"./chunk-NLGP3EGC.js";import"./chunk-GUBLRBW7.js";import"./chunk-EOGCE72U.js";import"./chunk-QRFW3W46.js";export{a as FLOWS,b as apply,d as cleanup,e as plan,c as verify};
