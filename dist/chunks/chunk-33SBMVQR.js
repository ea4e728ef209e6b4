import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a as I,b as u,h as x}from"./chunk-7NVG66YQ.js";import{a as w}from"./chunk-PDFKHMK6.js";var f={"cluster.env":"/var/lib/istio/envoy/cluster.env",mesh:"/etc/istio/config/mesh","root-cert.pem":"/var/lib/mesh-expansion/root-cert.pem","root-cert.pem (agent)":"/etc/certs/root-cert.pem","istio-token":"/var/run/secrets/tokens/istio-token","istio-token (copy)":"/var/lib/mesh-expansion/istio-token",tmpfiles:"/etc/tmpfiles.d/mesh-expansion.conf"},R="/etc/hosts",$="/var/lib/mesh-expansion",A="/etc/certs/cert-chain.pem",T="# BEGIN mesh-expansion (managed block: a re-run replaces it)",C="# END mesh-expansion",X=["# mesh-expansion: the bootstrap token survives a reboot","d /run/secrets 0755 root root -","d /run/secrets/tokens 0755 root root -",`C /run/secrets/tokens/istio-token - - - - ${$}/istio-token`,""].join(`
`);function S(e){let t=new RegExp(`^${e}\\(\\) \\{
[\\s\\S]*?^\\}$`,"m").exec(I);if(!t)throw new Error(`internal: install.sh has no function ${e}`);return t[0]}function Z(e=15021){return`# mesh-expansion drift probe: read-only, run as root by sh -s
set -u
umask 077
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
say() { printf 'MX-DRIFT %s\\n' "$*"; }
digits() { case $1 in '' | *[!0-9]*) echo unreadable ;; *) echo "$1" ;; esac; }

probe_file() {
  if [ -L "$2" ]; then say file "$1" symlink -
  elif [ ! -e "$2" ]; then say file "$1" missing -
  elif [ ! -f "$2" ]; then say file "$1" other -
  else say file "$1" present "$(sha256sum <"$2" | cut -d ' ' -f 1)"
  fi
}
probe_exists() {
  if [ -L "$2" ]; then say file "$1" symlink -
  elif [ ! -e "$2" ]; then say file "$1" missing -
  elif [ ! -f "$2" ]; then say file "$1" other -
  else say file "$1" present -
  fi
}
${Object.entries(f).map(([s,n])=>`${n.startsWith("/etc/certs/")?"probe_exists":"probe_file"} ${u(s)} ${u(n)}`).join(`
`)}

hosts=${u(R)}
if [ -L "$hosts" ]; then say block hosts symlink -
elif [ ! -f "$hosts" ] || ! grep -qxF ${u(T)} "$hosts"; then say block hosts missing -
else
  say block hosts present "$(awk -v b=${u(T)} -v e=${u(C)} \\
    '$0 == e { on = 0 } on { print } $0 == b { on = 1 }' "$hosts" | sha256sum | cut -d ' ' -f 1)"
fi

# the token's exp claim, decoded here with install.sh's own reader (apply decides on the same
# claims): only its digits leave the host
# shellcheck disable=SC2034 # JWT_HEAD and JWT_SIGLEN are apply's, unused here
${S("jwt_read")}
${S("jwt_claim")}
token=${u(f["istio-token"])}
if [ -f "$token" ] && [ ! -L "$token" ]; then
  jwt_read "$token"
  exp=$(jwt_claim "$JWT_JSON" exp)
  JWT_JSON=''
  say token-exp "$(digits "$exp")"
else say token-exp none
fi

# the certificate is the agent's, in its user's directory: read as that user, not as root
as_proxy() {
  pu=$(id -u istio-proxy 2>/dev/null) && pg=$(id -g istio-proxy 2>/dev/null) &&
    command -v setpriv >/dev/null 2>&1 && setpriv --reuid="$pu" --regid="$pg" --clear-groups "$@"
}
cert=${u(A)}
if [ -f "$cert" ] && [ ! -L "$cert" ] && command -v openssl >/dev/null 2>&1; then
  end=$(as_proxy openssl x509 -noout -enddate -in "$cert" 2>/dev/null | sed -n 's/^notAfter=//p')
  say cert-not-after "$(digits "$(date -d "$end" +%s 2>/dev/null)")"
elif [ -f "$cert" ]; then say cert-not-after unreadable
else say cert-not-after none
fi

${x}s=$(head -c 64 ${u(`${$}/package.sha256`)} 2>/dev/null | tr -d '\\n')
case $s in *[!0-9a-f]* | '') s=none ;; esac
say package-sha256 "$s"
r=$(sed -n 's/^package istio-sidecar //p' ${u(`${$}/manifest`)} 2>/dev/null | head -n 1)
case $r in '' | *[!0-9A-Za-z.+~:-]*) r=none ;; esac
say package-recorded "$r"

say service "$(systemctl is-active istio 2>/dev/null | head -n 1 | tr -cd 'a-z-')"
url=http://127.0.0.1:${e}/healthz/ready
if command -v curl >/dev/null 2>&1; then
  if curl -fsS -o /dev/null --max-time 3 "$url" 2>/dev/null; then say ready yes; else say ready no; fi
elif command -v wget >/dev/null 2>&1; then
  if wget -q -O /dev/null -T 3 "$url" 2>/dev/null; then say ready yes; else say ready no; fi
elif command -v python3 >/dev/null 2>&1; then
  if python3 -c 'import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=3)' "$url" 2>/dev/null; then say ready yes; else say ready no; fi
else say ready no-client
fi

if command -v iptables-save >/dev/null 2>&1; then
  if rules=$(iptables-save -t nat 2>/dev/null); then
    printf '%s\\n' "$rules" | grep -E '^-A [A-Z_]+ .*ISTIO_|^-A ISTIO_' | sed 's/^/MX-DRIFT ipt /'
    say ipt-status ok
  else say ipt-status failed
  fi
else say ipt-status no-iptables
fi
exit 0
`}var N=new Set(["present","missing","symlink","other"]);function _(e){return e==="none"?null:e!==void 0&&/^\d+$/.test(e)?Number(e):"unreadable"}var m=e=>e===void 0||e==="none"?null:e;function Q(e){let t={},s=[],n={};for(let i of e.split(`
`)){if(!i.startsWith("MX-DRIFT "))continue;let c=i.slice(9),[l="",...r]=c.split(" ");if(l==="ipt"){s.push(c.slice(4));continue}if(l==="file"||l==="block"){let h=r[r.length-2]??"",b=r[r.length-1]??"-",v=r.slice(0,-2).join(" ");if(!N.has(h))continue;let F={state:h,sha256:/^[0-9a-f]{64}$/.test(b)?b:null};l==="block"?n.hostsBlock=F:Object.hasOwn(f,v)&&(t[v]=F);continue}let o=r[0];switch(l){case"token-exp":n.tokenExp=_(o);break;case"cert-not-after":n.certNotAfter=_(o);break;case"package":n.packageVersion=m(o);break;case"package-sha256":n.packageSha256=m(o);break;case"package-recorded":n.packageRecorded=m(o);break;case"service":n.service=o??"";break;case"ready":(o==="yes"||o==="no"||o==="no-client")&&(n.ready=o);break;case"ipt-status":(o==="ok"||o==="no-iptables"||o==="failed")&&(n.iptablesStatus=o);break}}return{...n,files:t,iptables:s}}import{createHash as P}from"node:crypto";function k(e,t){for(let s of e.split(`
`)){if(!s.startsWith(`${t}=`))continue;let n=s.slice(t.length+1).trim();return/^'.*'$/.test(n)?n.slice(1,-1).replace(/'\\''/g,"'"):n}}var E=e=>(e??"").split(",").map(t=>t.trim()).filter(t=>t!=="");function O(e){if(k(e,"ISTIO_CUSTOM_IP_TABLES")==="true")return[];let t=[{rule:"-A OUTPUT -p tcp -j ISTIO_OUTPUT",purpose:"outbound capture"}],s=k(e,"ISTIO_INBOUND_PORTS")??"";if(s!=="")if(t.push({rule:"-A PREROUTING -p tcp -j ISTIO_INBOUND",purpose:"inbound capture"}),s==="*")t.push({rule:"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT",purpose:"inbound capture of every port"});else for(let i of E(s))t.push({rule:`-A ISTIO_INBOUND -p tcp --dport ${i} -j ISTIO_IN_REDIRECT`,purpose:`inbound capture of port ${i}`});let n=k(e,"ISTIO_SERVICE_CIDR")??"";if(n.trim()==="*")t.push({rule:"-A ISTIO_OUTPUT -j ISTIO_REDIRECT",purpose:"outbound redirect"});else for(let i of E(n))t.push({rule:`-A ISTIO_OUTPUT -d ${i.includes("/")?i:`${i}/32`} -j ISTIO_REDIRECT`,purpose:`outbound redirect of ${i}`});return t}function D(e){return e.replace(/ -m tcp\b/g,"").replace(/\s+/g," ").trim()}function H(e,t){let s=new Set(t.map(D));return e.filter(n=>!s.has(D(n.rule)))}var re=e=>P("sha256").update(e).digest("hex");function oe(e){return e===""||e.endsWith(`
`)?e:`${e}
`}function y(e){let t=Math.max(0,Math.round(e));if(t>=86400){let s=Math.floor(t%86400/3600);return`${Math.floor(t/86400)} d${s>0?` ${s} h`:""}`}if(t>=3600){let s=Math.floor(t%3600/60);return`${Math.floor(t/3600)} h${s>0?` ${s} min`:""}`}return t>=60?`${Math.floor(t/60)} min`:`${t} s`}var g=e=>new Date(e*1e3).toISOString(),p=(e,t,s)=>({area:e,subject:t,state:"ok",detail:s}),a=(e,t,s)=>({area:e,subject:t,state:"drift",detail:s}),d=(e,t,s)=>({area:e,subject:t,state:"unknown",detail:s});function j(e,t,s){return t===void 0?d("file",e,"not reported by the host"):t.state==="missing"?a("file",e,"missing; apply places it again"):t.state==="symlink"?a("file",e,"is a symlink, not the file mesh-expansion placed (not followed)"):t.state==="other"?a("file",e,"is not a regular file"):t.sha256!==s?a("file",e,"differs from what the description renders now (edited on the host, or the description or cluster changed); apply places it again and restarts the sidecar"):p("file",e,"as rendered")}function L(e,t){let s=t.files;if(s===null)return[d("file","the files placed",`not compared: ${t.unrendered??"not rendered"}`)];let n=[],i=["cluster.env","mesh","root-cert.pem","tmpfiles"];for(let o of i)n.push(j(f[o],e.files[o],s[o]));let c=e.files["root-cert.pem (agent)"];c!==void 0&&c.state!=="present"&&n.push(a("file",f["root-cert.pem (agent)"],`${c.state}: the sidecar cannot verify istiod; apply places it again`));let l=e.hostsBlock,r="/etc/hosts (mesh-expansion block)";return t.hostsBlock===null?l?.state==="present"&&n.push(a("file",r,"present, but the description renders no hosts entries")):l===void 0?n.push(d("file",r,"not reported by the host")):l.state==="symlink"?n.push(a("file",r,"/etc/hosts is a symlink")):l.state!=="present"?n.push(a("file",r,"our block is gone: the host cannot resolve istiod; apply puts it back")):l.sha256!==t.hostsBlock?n.push(a("file",r,"differs from what the description renders now; apply replaces it")):n.push(p("file",r,"as rendered")),n}function B(e,t,s){let n=f["istio-token"],i=e.files["istio-token"],c=e.files["istio-token (copy)"];if(i===void 0)return[d("token",n,"not reported by the host")];if(i.state!=="present")return[a("token",n,`${i.state}: a sidecar that restarts cannot get its certificate; apply places a new token`)];let l=[];(c?.state!=="present"||c.sha256!==i.sha256)&&l.push(a("token",n,c?.state==="present"?"differs from the copy mesh-expansion keeps for reboots (replaced by hand?); apply places a new token":`its copy for reboots (${f["istio-token (copy)"]}) is ${c?.state??"not reported"}; apply places it again`));let r=e.tokenExp,o=s/1e3;return r==null||r==="unreadable"?l.push(d("token",`${n} expiry`,"the token carries no readable exp claim")):r<=o?l.push(a("token",`${n} expiry`,`expired ${y(o-r)} ago (${g(r)}): a sidecar that restarts cannot get its certificate; apply places a new token`)):r-o<t.tokenRefreshWithin?l.push(a("token",`${n} expiry`,`expires in ${y(r-o)} (${g(r)}), within settings.tokenRefreshWithin (${y(t.tokenRefreshWithin)}); apply places a new token without a restart`)):l.push(p("token",`${n} expiry`,`expires in ${y(r-o)} (${g(r)})`)),l}function M(e,t){let s="/etc/certs/cert-chain.pem",n=e.certNotAfter,i=t/1e3;return n===void 0?d("certificate",s,"not reported by the host"):n===null?a("certificate",s,"no workload certificate: the sidecar never got one from istiod"):n==="unreadable"?d("certificate",s,"present but unreadable (no openssl?)"):n<=i?a("certificate",s,`expired ${y(i-n)} ago (${g(n)}): the agent did not rotate it (is the token valid, istiod reachable?)`):p("certificate",s,`valid for ${y(n-i)} (${g(n)})`)}function U(e,t){let s="istio-sidecar",n=e.packageVersion;if(n===void 0)return d("package",s,"not reported by the host");if(n===null)return a("package",s,"not installed; apply installs it");if(t.wantedVersion!==""&&n===t.wantedVersion)return p("package",s,`${n} installed, as wanted`);let i=e.packageRecorded;if(t.wantedSha256!==void 0&&e.packageSha256===t.wantedSha256&&(i==null||i==="pending"||i===n))return p("package",s,`${n} installed, from the package wanted`);let c=t.wantedVersion!==""?t.wantedVersion:i!=null?`${i} (the package file wanted)`:"another package file",l=w(n,t.wantedVersion||(i??""))<0?"downgraded":"changed";return a("package",s,`${n} installed, ${c} wanted (${l} on the host?); apply installs the package wanted`)}function V(e,t){let n=`sidecar vs istiod (${t.revision===""?"default revision":`revision ${t.revision}`})`;if(e==null)return d("version",n,"no sidecar version to compare");let i=t.istioVersion;if(i===null||i==="")return d("version",n,`sidecar ${e}; istiod's version is unknown`);let[c=0,l=0]=e.split(/[.-]/).map(Number),[r=0,o=0]=i.split(/[.-]/).map(Number),h=(r-c)*1e3+(o-l);return h<0?a("version",n,`sidecar ${e} is newer than istiod ${i}: unsupported (a sidecar may not be newer than its control plane)`):h>1?a("version",n,`sidecar ${e} is ${h} minor versions behind istiod ${i}: outside the supported skew (one minor version)`):p("version",n,`sidecar ${e}, istiod ${i}: within the supported skew`)}function W(e){let t=[];e.service===void 0?t.push(d("service","istio","not reported by the host")):e.service!=="active"?t.push(a("service","istio",`the sidecar is ${e.service||"not running"} (systemctl is-active istio); apply starts it`)):t.push(p("service","istio","active"));let s=":15021/healthz/ready";return e.ready==="yes"?t.push(p("readiness",s,"ready")):e.ready==="no"?t.push(a("readiness",s,"the sidecar does not answer ready; see /var/log/istio/istio.log on the host")):t.push(d("readiness",s,e.ready==="no-client"?"no HTTP client on the host (curl, wget, python3)":"not reported by the host")),t}function K(e,t){let s="iptables nat";if(t.clusterEnv===null)return[d("capture",s,"not compared: cluster.env could not be rendered")];let n=O(t.clusterEnv);if(n.length===0)return[p("capture",s,"left to the host (ISTIO_CUSTOM_IP_TABLES=true)")];if(e.iptablesStatus!=="ok")return[d("capture",s,e.iptablesStatus==="no-iptables"?"no iptables-save on the host":"iptables-save failed")];let i=H(n,e.iptables);return i.length===0?[p("capture",s,`${n.length} capture rules present`)]:[a("capture",s,`missing: ${i.map(c=>`${c.purpose} (${c.rule})`).join("; ")}: traffic bypasses the sidecar; apply restarts it, which installs the capture again`)]}function J(e){let t=e.entry;if(t===void 0)return[];let s=`WorkloadEntry ${t.name}`,n=t.health;switch(n.state){case"healthy":return[p("registration",s,"Healthy")];case"missing":return[a("registration",s,"missing: the mesh sends this host no traffic; apply registers it again")];case"unhealthy":return[a("registration",s,`not healthy (${[n.reason,n.message].filter(i=>i!=="").join(": ")||"Healthy=False"}): the mesh sends this host no traffic`)];case"unknown":return[a("registration",s,"no Healthy condition: istiod has no health report of this sidecar for this entry, so the mesh sends it no traffic (an entry re-created while its sidecar runs gets one when the sidecar reconnects: restart it)")]}}function ae(e,t,s){return[...L(e,t),...B(e,t,s),M(e,s),U(e,t),V(e.packageVersion,t),...W(e),...K(e,t),...J(t)]}export{X as a,Z as b,Q as c,re as d,oe as e,y as f,ae as g};
