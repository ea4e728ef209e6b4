import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a,b,c}from"./chunk-BKZHW5XL.js";import"./chunk-JQAXXHYG.js";import"./chunk-W2OFBG4P.js";import"./chunk-Q7ADEFCN.js";import"./chunk-EOGCE72U.js";import"./chunk-QRFW3W46.js";export{a as DescriptionError,b as loadDescription,c as validate};
