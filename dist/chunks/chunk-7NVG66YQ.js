import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a as j,l as ue,m as he,n as pe,o as fe}from"./chunk-F6KWMHBF.js";import{a as g}from"./chunk-EOGCE72U.js";import{createHash as ge}from"node:crypto";var rn=/^[A-Za-z0-9_@%+=:,./-]+$/;function y(e){return rn.test(e)?e:`'${e.replace(/'/g,`'"'"'`)}'`}function b(e){return e.map(y).join(" ")}var me=`#!/bin/sh
# The host half of mesh-expansion. It arrives inside the bundle (src/host/bundle.ts) on the
# stdin of one exec, runs as root, and talks back in lines the runner parses:
#   MX-PHASE <phase> ok|fail <ms>
#   MX-FAIL <phase> <check>: <message>
#   MX-NEED push family=<deb|rpm> arch=<amd64|arm64>
#   MX-LOG <line of istio.log>
#   MX-TOKEN kept|refreshed reason=<valid|missing|not-ours|unreadable|identity|signer|expiring> left=<seconds|->
#   MX-RESULT changed=0|1 restarted=0|1 ready=0|1 package=<installed|unchanged|skipped|removed|kept> [rolledback=0|1]
# Usage: install.sh install|uninstall|rollback|preflight WORKDIR   (WORKDIR: the rendered files)
# Parameters come from the environment (MX_*), set by the bundle. Everything that can be decided
# on the runner is decided there; this script only does what needs the host.
#
# Exit codes: 0 done; 2 bad arguments; 10 preflight failed; 12 another run holds the host's lock;
# 20 the package must be pushed (nothing changed); 21 package; 30 files; 31 an unsafe path (a
# symlink or a directory of someone else where ours is expected; nothing changed by this run
# before it); 35 dnsmasq; 40 service; 41 not ready (capture removed, host reachable); 42 not
# ready, the previous sidecar restored and ready again (rolled back); 50 uninstall; 51 uninstall
# left a path it judged unsafe; 43 rollback: no last known good on the host (nothing changed).
#
# Root on hostile ground: the sidecar's user (istio-proxy) may be hostile and may plant links
# anywhere it can write. So this script never follows a link it did not make (every directory on
# a path it writes is checked: a real directory, owned by root and writable by nobody else, or by
# the proxy user only where that user must write), creates temporary files with mktemp in
# directories only root writes and renames them into place (rename replaces a link, it never
# follows it), writes into the directories the proxy user owns only AS that user (setpriv), and
# never changes the owner of a directory it did not just check or create.
# State (root, 0700): /var/lib/mesh-expansion/ holds \`manifest\` (what we placed,
# for an exact uninstall), \`last-good/\` (the files and package of the last sidecar that was ready
# before we changed it), \`package.<family>\` (a copy of the package we installed).
set -eu
umask 022

MX_ROOT=\${MX_ROOT:-}
MX_STATE_DIR=\${MX_STATE_DIR:-$MX_ROOT/var/lib/mesh-expansion}
MX_VERSION=\${MX_VERSION:-}
MX_PKG_MODE=\${MX_PKG_MODE:-none}
MX_PKG_URL=\${MX_PKG_URL:-}
MX_PKG_SHA256=\${MX_PKG_SHA256:-}
MX_PKG_PUSHED=\${MX_PKG_PUSHED:-}
MX_STATUS_PORT=\${MX_STATUS_PORT:-15021}
MX_READY_TIMEOUT=\${MX_READY_TIMEOUT:-60}
MX_MIN_DISK_MB=\${MX_MIN_DISK_MB:-200}
MX_MAX_SKEW=\${MX_MAX_SKEW:-120}
MX_RUNNER_TIME=\${MX_RUNNER_TIME:-}
MX_KEEP_PACKAGE=\${MX_KEEP_PACKAGE:-0}
MX_OWNER=\${MX_OWNER:-istio-proxy}
MX_LOCK_WAIT=\${MX_LOCK_WAIT:-300}
# the token on the host stays unless it expires within this many seconds (settings.tokenRefreshWithin)
MX_TOKEN_REFRESH_WITHIN=\${MX_TOKEN_REFRESH_WITHIN:-86400}
# 1: restart a running sidecar even when nothing of this host changed: the run made its
# health-checked WorkloadEntry again, and the agent reports health when it connects
MX_RECONNECT=\${MX_RECONNECT:-0}
MX_LOCK_FILE=\${MX_LOCK_FILE:-$MX_ROOT/run/mesh-expansion.lock}
# outbound, inbound, agent status, readiness, Envoy metrics
MX_SIDECAR_PORTS=\${MX_SIDECAR_PORTS:-15001 15006 15020 15021 15090}
MX_HOSTS_FILE=\${MX_HOSTS_FILE:-$MX_ROOT/etc/hosts}
MX_TMPFILES=\${MX_TMPFILES:-$MX_ROOT/etc/tmpfiles.d/mesh-expansion.conf}
MX_RESOLV_CONF=\${MX_RESOLV_CONF:-$MX_ROOT/etc/resolv.conf}
MX_DHCLIENT_CONF=\${MX_DHCLIENT_CONF:-$MX_ROOT/etc/dhcp/dhclient.conf}
MX_DNSMASQ_DIR=\${MX_DNSMASQ_DIR:-$MX_ROOT/etc/dnsmasq.d}
MX_BEGIN='# BEGIN mesh-expansion (managed block: a re-run replaces it)'
MX_END='# END mesh-expansion'

# ---- small pure helpers (tested on their own) -------------------------------------------------

now_ms() {
  t=$(date +%s%N 2>/dev/null || true)
  case $t in
    '' | *N | *[!0-9]*) echo $(($(date +%s) * 1000)) ;;
    *) echo $((t / 1000000)) ;;
  esac
}

# uname -m -> the package architecture; empty when unsupported
arch_of() {
  case $1 in
    x86_64 | amd64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) echo '' ;;
  esac
}

# The hosts file with our block replaced by the lines of $2 (no block when $2 is empty): stdout.
hosts_with_block() {
  awk -v begin="$MX_BEGIN" -v end="$MX_END" '
    $0 == begin { skip = 1; next }
    $0 == end { skip = 0; next }
    !skip { print }
  ' "$1"
  if [ -s "$2" ]; then
    echo "$MX_BEGIN"
    cat "$2"
    # a rendered hosts file may lack its last newline
    [ -z "$(tail -c 1 "$2")" ] || echo
    echo "$MX_END"
  fi
}

# The file $1 with our block replaced by the lines of $2, the block FIRST (resolv.conf: the
# first nameserver is asked first); no block when $2 is empty: stdout.
file_with_top_block() {
  if [ -s "$2" ]; then
    echo "$MX_BEGIN"
    cat "$2"
    [ -z "$(tail -c 1 "$2")" ] || echo
    echo "$MX_END"
  fi
  awk -v begin="$MX_BEGIN" -v end="$MX_END" '
    $0 == begin { skip = 1; next }
    $0 == end { skip = 0; next }
    !skip { print }
  ' "$1"
}

# Absolute difference of two integers.
abs_diff() {
  d=$(($1 - $2))
  [ "$d" -lt 0 ] && d=$((-d))
  echo "$d"
}

# package_url TEMPLATE FAMILY ARCH: fills @FAMILY@ and @ARCHSUFFIX@ (empty for amd64, as the
# official packages are named); a plain URL comes back unchanged.
package_url() {
  suffix=''
  [ "$3" = amd64 ] || suffix="-$3"
  echo "$1" | sed -e "s/@ARCHSUFFIX@/$suffix/g" -e "s/@FAMILY@/$2/g"
}

# has_official_arm64 VERSION: the release builds istio-sidecar-arm64.deb/.rpm from 1.17 on
# (istio/release-builder pkg/build/debian.go, rpm.go); an unreadable version is given the benefit.
has_official_arm64() {
  major=\${1%%.*}
  rest=\${1#*.}
  minor=\${rest%%.*}
  case $major$minor in '' | *[!0-9]*) return 0 ;; esac
  [ "$major" -gt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -ge 17 ]; }
}

sha256_of() {
  sha256sum "$1" | cut -d ' ' -f 1
}

# ---- the bootstrap token: keep it or place the new one ----------------------------------------
# A token is read only to decide whether the one on the host may stay: never printed, never
# evaluated, its claims only compared. Whatever does not read as a JWT means "place the new one".

# jwt_read FILE: JWT_JSON, the decoded payload of the JWT in FILE on one line (a JSON object),
# JWT_HEAD, its header as written (base64url: alg and kid, the signing key), and JWT_SIGLEN, the
# length of its signature; JWT_JSON is '' when FILE holds no JWT: three non-empty base64url parts,
# nothing else but a newline, at most 16 KiB.
JWT_JSON=''
JWT_HEAD=''
JWT_SIGLEN=0
jwt_read() {
  JWT_JSON=''
  JWT_HEAD=''
  JWT_SIGLEN=0
  jr_tok=$(head -c 16385 "$1" 2>/dev/null | tr -d '\\n') || return 0
  [ \${#jr_tok} -le 16384 ] || return 0
  case $jr_tok in
    *[!A-Za-z0-9_.-]* | *.*.*.* | .* | *..* | *.) return 0 ;;
    *.*.*) ;;
    *) return 0 ;;
  esac
  jr_sig=\${jr_tok##*.}
  jr_b64=\${jr_tok#*.}
  jr_b64=$(printf '%s' "\${jr_b64%%.*}" | tr '_-' '/+')
  case $((\${#jr_b64} % 4)) in
    1) return 0 ;;
    2) jr_b64="$jr_b64==" ;;
    3) jr_b64="$jr_b64=" ;;
  esac
  jr_json=$(printf '%s' "$jr_b64" | base64 -d 2>/dev/null | tr -d '\\n\\r') || return 0
  case $jr_json in '{'*'}') ;; *) return 0 ;; esac
  JWT_JSON=$jr_json
  JWT_HEAD=\${jr_tok%%.*}
  JWT_SIGLEN=\${#jr_sig}
}

# jwt_claim JSON NAME: the value of claim NAME in JSON as it is written there: a string (quoted),
# an array of strings, an object with no object inside, or digits; nothing when absent.
jwt_claim() {
  printf '%s\\n' "$1" |
    sed -nE "s/.*\\"$2\\"[[:space:]]*:[[:space:]]*(\\"[^\\"]*\\"|\\\\[[^]]*\\\\]|\\\\{[^{}]*\\\\}|[0-9]+).*/\\\\1/p" |
    head -n 1
}

# token_decision CURRENT NEW NOW WITHIN: may the token in file CURRENT stay instead of the new one
# in NEW? Only when both read as JWTs, CURRENT names the same identity as NEW (sub, iss, aud and
# the service account's name and uid: a service account made again or another namespace gets the
# new token), has the same header (alg and kid: a token of a signing key the cluster replaced
# goes), a signature as long as NEW's (a token cut short is not kept), and an exp more than WITHIN
# seconds after NOW (the host's clock). Sets TOKEN_ACTION (kept|refreshed), TOKEN_REASON
# (valid|missing|unreadable|identity|signer|expiring) and TOKEN_LEFT (the seconds CURRENT had
# left at NOW, '' when unknown).
TOKEN_ACTION=''
TOKEN_REASON=''
TOKEN_LEFT=''
token_decision() {
  TOKEN_ACTION=refreshed
  TOKEN_REASON=missing
  TOKEN_LEFT=''
  if [ ! -f "$1" ] || [ -L "$1" ]; then return 0; fi
  TOKEN_REASON=unreadable
  jwt_read "$2"
  td_new=$JWT_JSON
  td_new_head=$JWT_HEAD
  td_new_sig=$JWT_SIGLEN
  jwt_read "$1"
  td_cur=$JWT_JSON
  if [ -z "$td_new" ] || [ -z "$td_cur" ] || [ "$JWT_SIGLEN" != "$td_new_sig" ] ||
    [ -z "$(jwt_claim "$td_new" sub)" ]; then
    return 0
  fi
  td_exp=$(jwt_claim "$td_cur" exp)
  # digits without a leading zero (sh reads that as octal), small enough for sh arithmetic
  case $td_exp in '' | 0* | *[!0-9]* | ?????????????*) return 0 ;; esac
  TOKEN_LEFT=$((td_exp - $3))
  TOKEN_REASON=identity
  for td_claim in sub iss aud serviceaccount; do
    [ "$(jwt_claim "$td_cur" "$td_claim")" = "$(jwt_claim "$td_new" "$td_claim")" ] || return 0
  done
  TOKEN_REASON=signer
  [ "$JWT_HEAD" = "$td_new_head" ] || return 0
  TOKEN_REASON=expiring
  [ "$TOKEN_LEFT" -gt "$4" ] || return 0
  TOKEN_ACTION=kept
  TOKEN_REASON=valid
}

# ---- paths on hostile ground -------------------------------------------------------------------

# The proxy user's ids (resolve_owner): the one non-root owner this script ever gives a path.
OWNER_UID=''
OWNER_GID=''
resolve_owner() {
  case $MX_OWNER in
    # a bare number is a uid without an account (scratch roots in tests)
    *[!0-9]*)
      OWNER_UID=$(id -u "$MX_OWNER" 2>/dev/null) || return 1
      OWNER_GID=$(id -g "$MX_OWNER" 2>/dev/null) || return 1
      ;;
    '') return 1 ;;
    *)
      OWNER_UID=$MX_OWNER
      OWNER_GID=$MX_OWNER
      ;;
  esac
}

# owner_ids OWNER: IDS_UID and IDS_GID for '' / root (root) or the proxy user; 1 for anyone else.
IDS_UID=''
IDS_GID=''
owner_ids() {
  case $1 in
    '' | root | 0)
      IDS_UID=0
      IDS_GID=0
      ;;
    *)
      [ -n "$OWNER_UID" ] || resolve_owner || return 1
      [ "$1" = "$MX_OWNER" ] || [ "$1" = "$OWNER_UID" ] || return 1
      IDS_UID=$OWNER_UID
      IDS_GID=$OWNER_GID
      ;;
  esac
}

# st PATH: ST_UID, ST_GID, ST_MODE (octal digits) of PATH itself (a link is not followed), one
# stat: every process counts on a slow host.
ST_UID=''
ST_GID=''
ST_MODE=''
st() {
  # unreadable: as unsafe as can be (nobody's, writable by all)
  st_out=$(stat -c '%u %g %a' "$1" 2>/dev/null) || st_out='-1 -1 777'
  ST_UID=\${st_out%% *}
  st_out=\${st_out#* }
  ST_GID=\${st_out%% *}
  ST_MODE=\${st_out#* }
}

# who PATH: "name (uid N)" of the owner of PATH itself (a link is not followed).
who() {
  echo "$(stat -c %U "$1" 2>/dev/null) (uid $(stat -c %u "$1" 2>/dev/null))"
}

UNSAFE=0
unsafe() {
  UNSAFE=1
  fail_check unsafe-path "$1 $2: refused, nothing more is changed (remove it or give it back to root, then run again)"
}

# writable_by_others PATH: group-writable with a group other than root's, or world-writable.
# Leaves ST_* set for PATH.
writable_by_others() {
  st "$1"
  [ $((0$ST_MODE & 02)) -ne 0 ] || { [ $((0$ST_MODE & 020)) -ne 0 ] && [ "$ST_GID" != 0 ]; }
}

# root_only_canonical DIR [check]: DIR (links resolved) and every directory above it, up to
# MX_ROOT, are real directories that root owns and only root writes (a repairable one of the
# proxy user's is given back to root, or with \`check\` accepted). Sets RC_REAL to the canonical
# path.
RC_REAL=''
root_only_canonical() {
  rc_real=$(readlink -f "$1" 2>/dev/null) || {
    unsafe "$1" 'cannot be resolved'
    return 1
  }
  rc_base=$(readlink -f "\${MX_ROOT:-/}")
  case $rc_real in
    "$rc_base") ;;
    "\${rc_base%/}"/*) ;;
    *)
      unsafe "$1" "leads to $rc_real, outside \${MX_ROOT:-/}"
      return 1
      ;;
  esac
  rc_rest=\${rc_real#"\${rc_base%/}"}
  rc_cur=\${rc_base%/}
  while [ -n "$rc_rest" ]; do
    rc_rest=\${rc_rest#/}
    rc_c=\${rc_rest%%/*}
    case $rc_rest in */*) rc_rest=/\${rc_rest#*/} ;; *) rc_rest='' ;; esac
    [ -n "$rc_c" ] || continue
    rc_cur=$rc_cur/$rc_c
    if [ -L "$rc_cur" ] || [ ! -d "$rc_cur" ]; then
      unsafe "$rc_cur" 'changed while it was checked (a link or not a directory)'
      return 1
    fi
    if writable_by_others "$rc_cur" || [ "$ST_UID" != 0 ]; then
      if repairable "$rc_cur" && { [ "$ST_UID" = 0 ] || [ "$ST_UID" = "$OWNER_UID" ]; }; then
        if [ "\${2:-}" != check ]; then
          echo "MX-LOG $rc_cur was owned by uid $ST_UID with mode $ST_MODE: root's only now"
          chown -h 0:0 "$rc_cur"
          chmod go-w "$rc_cur"
        fi
        continue
      fi
      unsafe "$rc_cur" "(where $1 leads) is owned by $(who "$rc_cur") with mode $ST_MODE, expected root and writable by root only"
      return 1
    fi
  done
  RC_REAL=$rc_real
}

# secure_dir DIR OWNER MODE [check]: makes sure DIR is ours to write in, walking from MX_ROOT
# down. Every directory above DIR must be a real directory owned by root and writable by root
# only; DIR itself is owned by OWNER ('' = root). On the way:
# - a link owned by root (the package's /etc/istio -> /var/lib/istio, Debian's /var/run -> /run)
#   is followed, and where it leads is checked the same way; a link at DIR itself is refused;
# - a link owned by anyone else (the proxy user made it in a directory it was given by an older
#   build) is removed, never followed, and the directory made again;
# - a directory owned by the proxy user where root is expected (the package's postinst chowns
#   /var/lib/istio/envoy and /var/lib/istio/config to istio-proxy; older builds chowned
#   /var/run/secrets and its tokens) gets back to root, and loses write access for others. That
#   chown is safe: the directory is not a link (chown -h anyway) and its parent, just checked,
#   lets nobody but root swap it;
# - those repairs are made only to DIR itself and to the directories of ours and the package's
#   on the way (repairable): a system directory (/, /etc, /var, /run, /tmp...) is never changed;
# - a directory of any other user, or writable by others where no repair is allowed, is refused;
# - a missing directory is created (root, or OWNER for DIR; MODE, else 0755) and recorded in the
#   manifest as ours.
# MODE '' keeps the mode of an existing DIR (only write access for others is taken away).
# With \`check\` nothing is changed: it says only whether the walk would refuse.
# Sets SECURE_DIR to the directory to use (links followed); 1 (after an MX-FAIL) when refused.
# A directory checked once in a run stays safe for the run (its parents only root can change;
# the proxy user's own directory only that user can fill, and root writes there as that user).
SECURE_DIR=''
SECURED='
'
secure_dir() {
  sd_dir=$1
  sd_check=\${4:-}
  case $SECURED in *"
$sd_dir $2 $3 "*)
    SECURE_DIR=\${SECURED#*"
$sd_dir $2 $3 "}
    SECURE_DIR=\${SECURE_DIR%%"
"*}
    return 0
    ;;
  esac
  [ -n "$OWNER_UID" ] || resolve_owner || true
  owner_ids "$2" || {
    unsafe "$sd_dir" "would be given to $2, who is neither root nor $MX_OWNER"
    return 1
  }
  sd_leaf_uid=$IDS_UID
  sd_leaf_gid=$IDS_GID
  case $sd_dir in
    "$MX_ROOT"/*) sd_rest=\${sd_dir#"$MX_ROOT"} ;;
    *)
      unsafe "$sd_dir" "is not under \${MX_ROOT:-/}"
      return 1
      ;;
  esac
  sd_cur=$MX_ROOT
  while [ -n "$sd_rest" ]; do
    sd_rest=\${sd_rest#/}
    sd_c=\${sd_rest%%/*}
    case $sd_rest in */*) sd_rest=/\${sd_rest#*/} ;; *) sd_rest='' ;; esac
    case $sd_c in
      '' | .) continue ;;
      ..)
        unsafe "$sd_dir" 'has a .. component'
        return 1
        ;;
    esac
    # the last component is DIR itself (a trailing slash does not count)
    sd_last=0
    case $sd_rest in '' | / | // | ///) sd_last=1 ;; esac
    sd_path=$sd_cur/$sd_c
    sd_uid=0
    sd_gid=0
    if [ "$sd_last" = 1 ]; then
      sd_uid=$sd_leaf_uid
      sd_gid=$sd_leaf_gid
    fi
    sd_fix=$sd_last
    repairable "$sd_path" && sd_fix=1
    if [ -L "$sd_path" ]; then
      st "$sd_path"
      if [ "$ST_UID" = 0 ] && [ "$sd_last" = 0 ]; then
        root_only_canonical "$sd_path" "$sd_check" || return 1
        sd_cur=$RC_REAL
        continue
      fi
      if [ "$ST_UID" = 0 ] || [ "$sd_fix" = 0 ]; then
        unsafe "$sd_path" "is a symlink owned by $(who "$sd_path") (to $(readlink "$sd_path")) where a directory is expected"
        return 1
      fi
      if [ "$sd_check" != check ]; then
        echo "MX-LOG $sd_path was a symlink owned by $(who "$sd_path") (to $(readlink "$sd_path")): removed, not followed"
        rm -f "$sd_path"
      fi
    fi
    if [ ! -e "$sd_path" ] && [ ! -L "$sd_path" ]; then
      if [ "$sd_check" = check ]; then
        SECURE_DIR=$sd_dir
        return 0
      fi
      mkdir "$sd_path"
      chown -h "$sd_uid:$sd_gid" "$sd_path"
      if [ "$sd_last" = 1 ] && [ -n "$3" ]; then chmod "$3" "$sd_path"; else chmod 755 "$sd_path"; fi
      manifest_add dir "$sd_path"
    elif [ -L "$sd_path" ]; then
      # check mode: the link would be removed
      SECURE_DIR=$sd_dir
      return 0
    elif [ ! -d "$sd_path" ]; then
      unsafe "$sd_path" 'is not a directory'
      return 1
    else
      sd_others=0
      writable_by_others "$sd_path" && sd_others=1
      sd_owner=$ST_UID
      sd_mode=$ST_MODE
      if [ "$sd_owner" != "$sd_uid" ]; then
        if { [ "$sd_owner" != 0 ] && [ "$sd_owner" != "$OWNER_UID" ]; } || [ "$sd_fix" = 0 ]; then
          unsafe "$sd_path" "is owned by $(who "$sd_path"), expected $([ "$sd_uid" = 0 ] && echo root || echo "$MX_OWNER") (or $MX_OWNER to give back to root)"
          return 1
        fi
        if [ "$sd_check" != check ]; then
          echo "MX-LOG $sd_path was owned by $(who "$sd_path"): given to uid $sd_uid"
          chown -h "$sd_uid:$sd_gid" "$sd_path"
        fi
      fi
      if [ "$sd_others" = 1 ]; then
        if [ "$sd_fix" = 0 ]; then
          unsafe "$sd_path" "is writable by others (mode $sd_mode, owner $(who "$sd_path"))"
          return 1
        fi
        if [ "$sd_check" != check ]; then
          echo "MX-LOG $sd_path was writable by others (mode $sd_mode): no more"
          chmod go-w "$sd_path"
        fi
      fi
      if [ "$sd_last" = 1 ] && [ -n "$3" ] && [ "$sd_check" != check ] &&
        [ "$((0$sd_mode))" != "$((0$3))" ]; then
        chmod "$3" "$sd_path"
      fi
    fi
    sd_cur=$sd_path
  done
  SECURE_DIR=\${sd_cur:-/}
  [ "$sd_check" = check ] || SECURED="$SECURED$sd_dir $2 $3 $SECURE_DIR
"
}

# repairable DIR: a directory of ours or of the package on the way to one we write in.
repairable() {
  case $1 in
    "$MX_ROOT/var/run/secrets" | "$MX_ROOT/run/secrets" | "$MX_ROOT/var/lib/istio" | \\
      "$MX_ROOT/etc/istio" | "$MX_ROOT/var/lib/mesh-expansion" | "$MX_STATE_DIR") return 0 ;;
  esac
  return 1
}

# manifest_add KIND PATH [EXTRA]: one line of what we placed, for an exact uninstall; the path
# as the host sees it (without MX_ROOT). Nothing inside the state directory itself.
manifest_add() {
  ma_path=\${2#"$MX_ROOT"}
  case $2 in "$MX_STATE_DIR" | "$MX_STATE_DIR"/*) return 0 ;; esac
  [ -d "$MX_STATE_DIR" ] && [ ! -L "$MX_STATE_DIR" ] || return 0
  ma_line="$1 $ma_path\${3:+ $3}"
  grep -qxF "$ma_line" "$MX_STATE_DIR/manifest" 2>/dev/null && return 0
  (
    umask 077
    echo "$ma_line" >>"$MX_STATE_DIR/manifest"
  )
}

# as_user COMMAND...: the command as the proxy user, without any of root's groups, so that a link
# that user planted reaches only what it could already write. util-linux: setpriv, else runuser.
as_user() {
  [ -n "$OWNER_UID" ] || resolve_owner || return 1
  if command -v setpriv >/dev/null 2>&1; then
    setpriv --reuid="$OWNER_UID" --regid="$OWNER_GID" --clear-groups "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u "$MX_OWNER" -- "$@"
  else
    echo 'neither setpriv nor runuser (util-linux) is installed' >&2
    return 1
  fi
}

# place_file SRC DEST MODE OWNER: atomic (a mktemp file in the same directory, then rename, which
# replaces a link at DEST instead of following it); the directory must be root's (secure_dir).
# OWNER '' is root, else the proxy user. Sets PLACED=1 when the content, mode or owner changed.
# A directory the proxy user owns is written through place_file_as instead (put_file decides).
place_file() {
  PLACED=0
  owner_ids "$4" || {
    fail_check owner "$2 would be given to $4, who is neither root nor $MX_OWNER"
    return 1
  }
  pf_uid=$IDS_UID
  pf_gid=$IDS_GID
  secure_dir "\${2%/*}" '' '' || return 1
  pf_mode=$3
  case $1 in /*) pf_src=$1 ;; *) pf_src=$PWD/$1 ;; esac
  # In the directory itself, checked again once there: a path can be swapped between a check and
  # a write (the package's unit gives /var/run/secrets back to istio-proxy at every start), the
  # directory we stand in cannot. Relative names from there on.
  pf_out=$(
    in_checked_dir "$SECURE_DIR" || exit 1
    name=./\${2##*/}
    if [ -f "$name" ] && [ ! -L "$name" ] && cmp -s "$pf_src" "$name"; then
      st "$name"
      if [ "$((0$ST_MODE))" = "$((0$pf_mode))" ] && [ "$ST_UID $ST_GID" = "$pf_uid $pf_gid" ]; then
        echo same
        exit 0
      fi
    fi
    # created private by mktemp (0600), then given its mode: a token is never readable by others
    tmp=$(mktemp ./.mx-tmp.XXXXXXXXXX) || exit 1
    if cat "$pf_src" >"$tmp" && chmod "$pf_mode" "$tmp" && chown -h "$pf_uid:$pf_gid" "$tmp" &&
      mv -f "$tmp" "$name"; then
      echo placed
    else
      rm -f "$tmp"
      exit 1
    fi
  ) || {
    case $pf_out in *MX-FAIL*) echo "$pf_out" | grep '^MX-FAIL' ;; esac
    FAILED=1
    case $pf_out in *unsafe-path*) UNSAFE=1 ;; *) fail_check write "cannot write $2" ;; esac
    return 1
  }
  case $pf_out in *placed) PLACED=1 ;; esac
}

# in_checked_dir DIR: cd into DIR (a subshell's), then make sure that what we stand in is DIR
# itself, root's and writable by root only; 1 (after an MX-FAIL line) when not.
in_checked_dir() {
  cd "$1" 2>/dev/null || {
    unsafe "$1" 'cannot be entered'
    return 1
  }
  icd_real=$(pwd -P)
  if [ "$icd_real" != "$(readlink -f "$1")" ] || [ -L "$1" ]; then
    unsafe "$1" "changed while it was used (now $icd_real)"
    return 1
  fi
  if writable_by_others . || [ "$ST_UID" != 0 ]; then
    unsafe "$1" "is owned by uid $ST_UID with mode $ST_MODE while it was used, expected root only"
    return 1
  fi
}

# place_file_as SRC DEST MODE: into a directory the proxy user owns (secure_dir with OWNER), as
# that user: the file ends up the user's, as the agent's own outputs there are. Sets PLACED.
place_file_as() {
  PLACED=0
  secure_dir "\${2%/*}" "$MX_OWNER" '' || return 1
  # shellcheck disable=SC2016 # the inner script expands its own arguments
  pfa_out=$(as_user /bin/sh -c '
    set -eu
    dest=$1
    mode=$2
    tmp=$(mktemp "\${dest%/*}/.mx-tmp.XXXXXXXXXX")
    trap "rm -f \\"\\$tmp\\"" EXIT
    cat >"$tmp"
    if [ -f "$dest" ] && [ ! -L "$dest" ] && cmp -s "$tmp" "$dest" &&
      [ "$(stat -c "%a %u" "$dest")" = "$mode $(id -u)" ]; then
      rm -f "$tmp"
      echo same
    else
      chmod "$mode" "$tmp"
      mv -f "$tmp" "$dest"
      echo placed
    fi' sh "\${SECURE_DIR%/}/\${2##*/}" "$3" <"$1" 2>&1) || {
    fail_check write "cannot write $2 as $MX_OWNER: $(echo "$pfa_out" | tail -n 1)"
    return 1
  }
  # the last line says (a warning of the user's shell may come before it)
  case $pfa_out in *placed) PLACED=1 ;; esac
}

# remove_file PATH: removes PATH (a link itself, never its target) when its directory is safe:
# root's (secure_dir check), or the proxy user's (then removed as that user). 1 when refused.
remove_file() {
  [ -e "$1" ] || [ -L "$1" ] || return 0
  rf_dir=\${1%/*}
  if [ -d "$rf_dir" ] && [ ! -L "$rf_dir" ] && [ -n "$OWNER_UID" ] &&
    [ "$(stat -c %u "$rf_dir")" = "$OWNER_UID" ]; then
    secure_dir "$rf_dir" "$MX_OWNER" '' check || return 1
    as_user rm -f "$1"
  else
    secure_dir "$rf_dir" '' '' check || return 1
    rf_out=$(
      in_checked_dir "$rf_dir" || exit 1
      rm -f "./\${1##*/}"
    ) || {
      echo "$rf_out" | grep '^MX-FAIL' || true
      FAILED=1
      UNSAFE=1
      return 1
    }
  fi
}

# replace_hosts_block FILE BLOCKFILE [top]: sets PLACED=1 when the file changed. The block goes
# last, or first with \`top\`. Renames (mktemp in the same directory) when that directory is
# root's; a bind-mounted /etc/hosts or resolv.conf (containers) cannot be renamed over, and a
# directory of a trusted system user (systemd-resolved's /run/systemd/resolve) is not ours to
# create files in: then the file is rewritten in place. A link at FILE, or a directory the proxy
# user (or anyone) can write, is refused.
replace_hosts_block() {
  PLACED=0
  if [ -L "$1" ]; then
    unsafe "$1" "is a symlink (to $(readlink "$1")) where a file is expected"
    return 1
  fi
  rh_dir=\${1%/*}
  rh_new=$(mktemp "\${WORK:-\${TMPDIR:-/tmp}}/mx-block.XXXXXXXXXX")
  if [ -e "$1" ]; then rh_from=$1; else rh_from=/dev/null; fi
  if [ "\${3:-}" = top ]; then
    file_with_top_block "$rh_from" "$2" >"$rh_new"
  else
    hosts_with_block "$rh_from" "$2" >"$rh_new"
  fi
  if [ -e "$1" ] && cmp -s "$rh_new" "$1"; then
    rm -f "$rh_new"
    return 0
  fi
  if (secure_dir "$rh_dir" '' '' check) >/dev/null 2>&1 && ! writable_by_others "$rh_dir" &&
    [ "$ST_UID" = 0 ]; then
    rh_tmp=$(mktemp "$rh_dir/.mx-tmp.XXXXXXXXXX")
    cat "$rh_new" >"$rh_tmp"
    chmod 644 "$rh_tmp"
    if ! mv -f "$rh_tmp" "$1" 2>/dev/null; then
      cat "$rh_new" >"$1"
      rm -f "$rh_tmp"
    fi
  elif [ -d "$rh_dir" ] && [ ! -L "$rh_dir" ] && ! writable_by_others "$rh_dir" &&
    [ "$ST_UID" != "$OWNER_UID" ] && { [ ! -e "$1" ] || [ -f "$1" ]; }; then
    cat "$rh_new" >"$1"
  else
    rm -f "$rh_new"
    unsafe "$rh_dir" "(holding $1) is owned by $(who "$rh_dir") with mode $(stat -c %a "$rh_dir" 2>/dev/null)"
    return 1
  fi
  rm -f "$rh_new"
  PLACED=1
}

# ---- reporting --------------------------------------------------------------------------------

PHASE=''
PHASE_START=0
begin_phase() {
  PHASE=$1
  PHASE_START=$(now_ms)
}
end_phase() {
  echo "MX-PHASE $PHASE $1 $(($(now_ms) - PHASE_START))"
}
FAILED=0
fail_check() {
  echo "MX-FAIL $PHASE $1: $2"
  FAILED=1
}
# Ends the run with the phase failed.
die() {
  fail_check "$1" "$2"
  end_phase fail
  exit "\${3:-1}"
}

# ---- preflight --------------------------------------------------------------------------------

FAMILY=''
ARCH=''
preflight() {
  begin_phase preflight
  if command -v dpkg >/dev/null 2>&1; then
    FAMILY=deb
  elif command -v rpm >/dev/null 2>&1; then
    FAMILY=rpm
  else
    fail_check os "neither dpkg nor rpm found: only Debian/Ubuntu and RHEL-like hosts are supported"
  fi
  ARCH=$(arch_of "$(uname -m)")
  [ -n "$ARCH" ] || fail_check arch "architecture $(uname -m) is not supported (amd64 and arm64 are)"
  if [ ! -d /run/systemd/system ] || ! command -v systemctl >/dev/null 2>&1; then
    fail_check systemd "systemd is not running on this host (the sidecar is a systemd service)"
  fi
  [ "$(id -u)" -eq 0 ] || fail_check sudo "the script needs root (sudo -n for the SSH user)"
  # measured where the state goes, without creating anything: a failed preflight changes nothing
  disk_dir=$MX_STATE_DIR
  while [ ! -d "$disk_dir" ]; do disk_dir=$(dirname "$disk_dir"); done
  free_kb=$(df -Pk "$disk_dir" | awk 'NR == 2 { print $4 }')
  if [ "\${free_kb:-0}" -lt $((MX_MIN_DISK_MB * 1024)) ]; then
    fail_check disk "only $((\${free_kb:-0} / 1024)) MB free under /var/lib, need $MX_MIN_DISK_MB MB"
  fi
  if [ -n "$MX_RUNNER_TIME" ]; then
    skew=$(abs_diff "$(date +%s)" "$MX_RUNNER_TIME")
    if [ "$skew" -gt "$MX_MAX_SKEW" ]; then
      fail_check clock "the host clock is \${skew}s away from the runner's (more than \${MX_MAX_SKEW}s): tokens and certificates would be refused; fix NTP"
    fi
  fi
  if ! command -v iptables >/dev/null 2>&1; then
    fail_check iptables "iptables is missing (the sidecar captures traffic with it): install iptables"
  else
    BACKEND=$(iptables -V 2>/dev/null | sed -n 's/.*(\\(.*\\)).*/\\1/p')
    if ! iptables -t nat -S >/dev/null 2>&1; then
      fail_check iptables "iptables \${BACKEND:-?} cannot read the nat table (kernel module or capability missing)"
    fi
  fi
  # istio-start.sh names the proxy with hostname; a downloaded package needs curl
  command -v hostname >/dev/null 2>&1 ||
    fail_check package "hostname is missing (istio-start.sh uses it): install the hostname package"
  case $MX_PKG_MODE in url | auto)
    command -v curl >/dev/null 2>&1 ||
      fail_check package "curl is missing (the host downloads the sidecar package): install curl" ;;
  esac
  check_ports
  if [ "$FAILED" -ne 0 ]; then
    end_phase fail
    exit 10
  fi
  end_phase ok
}

# The sidecar's own ports must be free, unless our sidecar is what holds them (a re-run).
check_ports() {
  command -v ss >/dev/null 2>&1 || return 0
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet istio 2>/dev/null; then
    return 0
  fi
  for port in $MX_SIDECAR_PORTS; do
    holder=$(ss -Hltnp "sport = :$port" 2>/dev/null | sed -n 's/.*users:((\\("[^"]*"\\).*/\\1/p' | head -n 1)
    if [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then
      fail_check port "TCP port $port, which the sidecar needs, is taken by \${holder:-another process}: stop it or move it"
    fi
  done
}

# ---- package ----------------------------------------------------------------------------------

installed_version() {
  if [ "$FAMILY" = deb ]; then
    dpkg-query -W -f '\${Status} \${Version}' istio-sidecar 2>/dev/null |
      sed -n 's/^install ok installed //p'
  else
    rpm -q --qf '%{VERSION}' istio-sidecar 2>/dev/null || true
  fi
}

# depends_of FILE: the package's own dependencies, one alternative group a line ("a | b"), from
# its Depends (deb) or Requires (rpm); rpmlib(), config() (the package's own config files, from
# fpm's --config-files) and file requirements are rpm's own business.
depends_of() {
  if [ "$FAMILY" = deb ]; then
    dpkg-deb -f "$1" Depends 2>/dev/null | tr ',' '\\n' |
      sed -e 's/([^)]*)//g' -e 's/:[a-z0-9]*//g' -e 's/[[:space:]]\\{1,\\}/ /g' -e 's/^ //' -e 's/ $//' |
      grep -v '^$' || true
  else
    rpm -qpR "$1" 2>/dev/null | sed -e 's/[[:space:]].*//' |
      grep -v -e '^rpmlib(' -e '^config(' -e '^/' -e '^$' || true
  fi
}

# is_provided NAME: the package (deb) or capability (rpm) is installed.
is_provided() {
  if [ "$FAMILY" = deb ]; then
    dpkg-query -W -f '\${Status}' "$1" 2>/dev/null | grep -q ' installed$'
  else
    rpm -q --whatprovides "$1" >/dev/null 2>&1
  fi
}

# missing_dependencies FILE: the groups of which no alternative is installed, space-separated
# (a group by its first alternative, the one a package manager would install).
missing_dependencies() {
  depends_of "$1" | while IFS= read -r group; do
    found=0
    for name in $(echo "$group" | tr '|' ' '); do
      if is_provided "$name"; then
        found=1
        break
      fi
    done
    [ "$found" = 1 ] || echo "$group" | cut -d '|' -f 1 | tr -d ' '
  done | tr '\\n' ' ' | sed 's/ $//'
}

# install_dependencies NAMES...: with the host's own package manager; fails when there is none
# or it cannot (no repository, no network).
install_dependencies() {
  if [ "$FAMILY" = deb ] && command -v apt-get >/dev/null 2>&1; then
    # package lists may be missing on a fresh image: update only when the install needs it
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >"$WORK/deps.log" 2>&1 ||
      { apt-get update >>"$WORK/deps.log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$WORK/deps.log" 2>&1; }
  elif [ "$FAMILY" = rpm ] && command -v dnf >/dev/null 2>&1; then
    dnf -y install "$@" >"$WORK/deps.log" 2>&1
  elif [ "$FAMILY" = rpm ] && command -v yum >/dev/null 2>&1; then
    yum -y install "$@" >"$WORK/deps.log" 2>&1
  else
    echo "no package manager (apt-get, dnf or yum) to install them" >"$WORK/deps.log"
    return 1
  fi
}

# The package's own dependencies, checked before it is installed: dpkg -i installs none of
# them, and istio-start.sh needs them all (it ends in \`sudo -E -u istio-proxy\`). What is missing
# is installed when the host can; else the host fails here as in its preflight, unchanged.
check_dependencies() {
  missing=$(missing_dependencies "$1")
  [ -n "$missing" ] || return 0
  # shellcheck disable=SC2086 # one package name per word
  if install_dependencies $missing; then
    missing=$(missing_dependencies "$1")
    [ -n "$missing" ] || return 0
  fi
  tail -n 3 "$WORK/deps.log" 2>/dev/null | sed 's/^/MX-LOG /'
  PHASE=preflight
  fail_check depends "the sidecar package needs $missing, missing on this host and not installable here: install $missing"
  PHASE=package
  end_phase fail
  exit 10
}

# install_package_file FILE [downgrade]: dpkg -i / rpm -U; 1 (after MX-LOG lines) on failure.
# The package's scripts chown directories of ours (postinst): every one is checked again after.
install_package_file() {
  SECURED='
'
  if [ "$FAMILY" = deb ]; then
    # dpkg -i goes back to an older version too (a warning, not an error)
    if ! ipf_out=$(DEBIAN_FRONTEND=noninteractive dpkg -i "$1" 2>&1); then
      echo "$ipf_out" | tail -n 5 | sed 's/^/MX-LOG /'
      return 1
    fi
  else
    if ! ipf_out=$(rpm -U --replacepkgs \${2:+--oldpackage} "$1" 2>&1); then
      echo "$ipf_out" | tail -n 5 | sed 's/^/MX-LOG /'
      return 1
    fi
  fi
}

# state_file_from SRC NAME: SRC copied to $MX_STATE_DIR/NAME (mktemp there, then rename).
state_file_from() {
  sf_tmp=$(mktemp "$MX_STATE_DIR/.mx-tmp.XXXXXXXXXX")
  cat "$1" >"$sf_tmp"
  mv -f "$sf_tmp" "$MX_STATE_DIR/$2"
}

# take_pushed PATH: the package the runner pushed, copied into our root-owned state directory
# (then checked there: no window for a swap). It lands in /var/tmp, where anyone may create
# files: a link, or a file of anyone but root or the SSH user (sudo's SUDO_UID), is refused.
# /var/tmp is sticky, so once checked the file can be renamed or replaced only by its owner.
# Sets PKG_FILE.
PKG_FILE=''
take_pushed() {
  if [ -L "$1" ]; then
    die unsafe-path "$1 is a symlink (to $(readlink "$1")), not the package the runner pushed: refused, nothing installed" 21
  fi
  [ -f "$1" ] || die unsafe-path "$1 is not a regular file: refused, nothing installed" 21
  tp_owner=$(stat -c %u "$1")
  if [ "$tp_owner" != 0 ] && [ "$tp_owner" != "\${SUDO_UID:-0}" ]; then
    die unsafe-path "$1 is owned by $(who "$1"), not by root or the SSH user: refused, nothing installed" 21
  fi
  PKG_FILE=$(mktemp "$MX_STATE_DIR/incoming.XXXXXXXXXX")
  cat <"$1" >"$PKG_FILE"
  rm -f "$1"
}

# download_package URL: into WORK. Integrity comes from MX_PKG_SHA256 (the description's sha256)
# or, for an https URL only, from <url>.sha256 fetched over https (no redirect to anything
# else): a plain http URL without a pinned checksum is refused before anything is fetched, as
# whoever can alter the download could alter its checksum too. Sets PKG_FILE.
download_package() {
  dp_https=0
  case $1 in https://*) dp_https=1 ;; esac
  if [ -z "$MX_PKG_SHA256" ] && [ "$dp_https" = 0 ]; then
    die checksum "$1 is not https and no sha256 is given: refused, nothing installed (give the package's sha256 in the description, or serve it over https with <url>.sha256 beside it)" 21
  fi
  PKG_FILE="$WORK/istio-sidecar.$FAMILY"
  if command -v curl >/dev/null 2>&1; then
    if [ "$dp_https" = 1 ]; then
      dp_proto='=https'
    else
      dp_proto='=http,https'
    fi
    curl -fsSL --proto "$dp_proto" --proto-redir "$dp_proto" --retry 3 --connect-timeout 10 \\
      -o "$PKG_FILE" "$1" || die download "cannot download $1" 21
    if [ -z "$MX_PKG_SHA256" ]; then
      curl -fsSL --proto =https --proto-redir =https --retry 3 --connect-timeout 10 \\
        -o "$WORK/package.sha256" "$1.sha256" || die checksum "cannot download $1.sha256" 21
      MX_PKG_SHA256=$(head -c 200 "$WORK/package.sha256" | head -n 1 | cut -d ' ' -f 1 | tr 'A-F' 'a-f')
      is_sha256 "$MX_PKG_SHA256" || die checksum "$1.sha256 holds no SHA-256" 21
    fi
  elif command -v wget >/dev/null 2>&1 && [ -n "$MX_PKG_SHA256" ]; then
    # the pinned checksum protects the bytes whatever wget follows
    wget -q -T 10 -t 3 -O "$PKG_FILE" "$1" || die download "cannot download $1" 21
  else
    die download "curl is not installed to download $1 (wget only with a sha256 given)" 21
  fi
}

is_sha256() {
  case $1 in '' | *[!0-9a-f]*) return 1 ;; esac
  [ \${#1} -eq 64 ]
}

# we_own_package: the manifest says we installed istio-sidecar (not there before our first run).
we_own_package() {
  grep -q '^package istio-sidecar ' "$MX_STATE_DIR/manifest" 2>/dev/null
}

# manifest_set_package VERSION: the one package line.
manifest_set_package() {
  ms_tmp=$(mktemp "$MX_STATE_DIR/.mx-tmp.XXXXXXXXXX")
  grep -v '^package ' "$MX_STATE_DIR/manifest" >"$ms_tmp" 2>/dev/null || true
  echo "package istio-sidecar $1" >>"$ms_tmp"
  mv -f "$ms_tmp" "$MX_STATE_DIR/manifest"
}

# recorded_version_is VERSION: the version recorded when we installed the package (the
# manifest's package line) is VERSION, or none was recorded. A package changed by hand since (a
# \`dpkg -i\` of another version) is installed again, though the package wanted is the same file.
recorded_version_is() {
  rv=$(sed -n 's/^package istio-sidecar //p' "$MX_STATE_DIR/manifest" 2>/dev/null | head -n 1)
  case $rv in '' | pending) return 0 ;; esac
  [ "$rv" = "$1" ]
}

# What upstream's postinst makes and nothing takes away (the package has no postrm): the
# istio-proxy user, the /etc/istio link, its directories, the sidecar's logs. Before a package
# of ours is installed, each that is absent is recorded (postinst-*), so that an uninstall that
# purges the package leaves the host as it found it.
POSTINST_DIRS="/var/lib/istio /var/lib/istio/envoy /var/lib/istio/proxy /var/lib/istio/config /var/log/istio /etc/certs"
record_postinst() {
  for pd in $POSTINST_DIRS; do
    [ -e "$MX_ROOT$pd" ] || [ -L "$MX_ROOT$pd" ] || manifest_add postinst-dir "$MX_ROOT$pd"
  done
  if [ ! -e "$MX_ROOT/var/log/istio" ]; then
    manifest_add postinst-file "$MX_ROOT/var/log/istio/istio.log"
    manifest_add postinst-file "$MX_ROOT/var/log/istio/istio.err.log"
  fi
  [ -e "$MX_ROOT/etc/istio" ] || [ -L "$MX_ROOT/etc/istio" ] || manifest_add postinst-link "$MX_ROOT/etc/istio"
  # the user only on a real root (a scratch root shares the host's users)
  [ -n "$MX_ROOT" ] || getent passwd istio-proxy >/dev/null || manifest_add postinst-user istio-proxy
}

PKG_ACTION=skipped
PKG_CHANGED=0
package() {
  begin_phase package
  if [ "$MX_PKG_MODE" = none ]; then
    end_phase ok
    return 0
  fi
  current=$(installed_version)
  if [ -n "$current" ]; then
    if [ -n "$MX_VERSION" ] && [ "$current" = "$MX_VERSION" ]; then
      PKG_ACTION=unchanged
    elif [ -n "$MX_PKG_SHA256" ] && [ "$(cat "$MX_STATE_DIR/package.sha256" 2>/dev/null)" = "$MX_PKG_SHA256" ] &&
      recorded_version_is "$current"; then
      PKG_ACTION=unchanged
    fi
  fi
  if [ "$PKG_ACTION" = unchanged ]; then
    # a copy pushed by an earlier, interrupted run is not needed any more (a link goes, not its target)
    if [ "$MX_PKG_MODE" = push ] && [ -n "$MX_PKG_PUSHED" ] && [ "\${MX_PKG_INLINE:-0}" != 1 ]; then
      rm -f "$MX_PKG_PUSHED"
    fi
    end_phase ok
    return 0
  fi
  case $MX_PKG_MODE in
    push)
      # a small package comes inside the bundle; a large one was pushed over SFTP
      [ "\${MX_PKG_INLINE:-0}" != 1 ] || MX_PKG_PUSHED="$WORK/package"
      if [ ! -f "$MX_PKG_PUSHED" ] && [ ! -L "$MX_PKG_PUSHED" ]; then
        # nothing changed yet: the runner pushes the package and runs the bundle again
        echo "MX-NEED push family=$FAMILY arch=$ARCH"
        end_phase ok
        exit 20
      fi
      # (an auto-push plan learns the SHA-256 only once the host asked for the package)
      is_sha256 "$MX_PKG_SHA256" || die checksum "a pushed package comes with its SHA-256 (MX_PKG_SHA256): refused, nothing installed" 21
      take_pushed "$MX_PKG_PUSHED"
      ;;
    url | auto)
      if [ "$MX_PKG_MODE" = auto ] && [ "$ARCH" != amd64 ] && ! has_official_arm64 "$MX_VERSION"; then
        die download "Istio $MX_VERSION has no official $ARCH sidecar package (arm64 from 1.17): push one" 21
      fi
      download_package "$(package_url "$MX_PKG_URL" "$FAMILY" "$ARCH")"
      ;;
    *) die mode "unknown package mode $MX_PKG_MODE" 21 ;;
  esac
  seen=$(sha256_of "$PKG_FILE")
  if [ "$seen" != "$MX_PKG_SHA256" ]; then
    case $PKG_FILE in "$MX_STATE_DIR"/*) rm -f "$PKG_FILE" ;; esac
    die checksum "the package's SHA-256 is $seen, expected $MX_PKG_SHA256: refused, nothing installed" 21
  fi
  check_dependencies "$PKG_FILE"
  # a package that was not there is ours from the moment dpkg may install it: a run cut after
  # dpkg and before the line below (a reboot, a killed session) would otherwise leave a package
  # that the next run finds installed and unchanged, and that no cleanup removes
  if [ -z "$current" ] && ! we_own_package; then
    manifest_set_package pending
  fi
  [ -n "$current" ] || record_postinst
  if ! install_package_file "$PKG_FILE"; then
    if [ "$FAMILY" = deb ]; then
      die install "dpkg -i istio-sidecar failed (missing dependencies? see the log lines)" 21
    fi
    die install "rpm -U istio-sidecar failed (see the log lines)" 21
  fi
  # ours to purge on uninstall only when it was not there before our first run
  if [ -z "$current" ] || we_own_package; then
    manifest_set_package "$(installed_version)"
  fi
  echo "$seen" >"$WORK/package.sha256"
  state_file_from "$WORK/package.sha256" package.sha256
  # kept: the package a later rollback goes back to
  case $PKG_FILE in
    "$MX_STATE_DIR"/*) mv -f "$PKG_FILE" "$MX_STATE_DIR/package.$FAMILY" ;;
    *) state_file_from "$PKG_FILE" "package.$FAMILY" ;;
  esac
  PKG_ACTION=installed
  PKG_CHANGED=1
  end_phase ok
}

# ---- files ------------------------------------------------------------------------------------

# Who owns each directory we write in, decided per directory after upstream's package
# (istio/istio tools/packaging/postinst.sh and tools/packaging/common/istio-start.sh):
# - /etc/certs: the proxy user's, 0755. istio-start.sh exports OUTPUT_CERTS=/etc/certs, where the
#   agent (running as istio-proxy) writes its certificate and key, and from 1.12 root-cert.pem;
#   postinst chowns it to istio-proxy. We write there only AS that user (place_file_as): a link
#   planted there reaches nothing that user could not already write.
# - /etc/istio/proxy: the proxy user's (postinst: /var/lib/istio/proxy, /etc/istio being its link
#   to /var/lib/istio): the agent writes the Envoy bootstrap there. We write nothing there.
# - /etc/istio/config: root's, 0755. The agent only reads mesh. postinst chowns it to istio-proxy:
#   given back to root here, as is the mesh file we place (root, 0644).
# - /var/lib/istio/envoy: root's, 0755. istio-start.sh runs as root and sources sidecar.env and
#   cluster.env from it (\`. "$ISTIO_CLUSTER_CONFIG"\`) before it drops to istio-proxy (sudo -u):
#   whoever can write that directory or those files is root. postinst chowns the directory to
#   istio-proxy: given back to root here (the agent writes nothing there); both files root 0644.
# - /var/run/secrets and /var/run/secrets/tokens: root's, 0755. The agent only reads the token
#   (istio-proxy, 0600). Older builds chowned both to the proxy user at every run, so that user
#   could swap \`tokens\` for a link and have the next run chown wherever it pointed.
CERTS_DIR=$MX_ROOT/etc/certs
PROXY_DIR=$MX_ROOT/etc/istio/proxy
CONFIG_DIR=$MX_ROOT/etc/istio/config
ENVOY_DIR=$MX_ROOT/var/lib/istio/envoy
SECRETS_DIR=$MX_ROOT/var/run/secrets
TOKENS_DIR=$SECRETS_DIR/tokens

# stop_files: ends the run after a refused path (31) or a failed write (30).
stop_files() {
  end_phase fail
  if [ "$UNSAFE" = 1 ]; then exit 31; fi
  exit 30
}

# secure_dirs fix|check: every directory we write in, as the list above says. With \`check\`
# nothing changes (the check before the first change of a run); 1 when one is refused.
secure_dirs() {
  sds_owner=$MX_OWNER
  # before the package's first install the proxy user may not exist yet: nothing of it to check
  resolve_owner || sds_owner=''
  secure_dir "$CERTS_DIR" "$sds_owner" 755 "$1" &&
    secure_dir "$PROXY_DIR" "$sds_owner" 755 "$1" &&
    secure_dir "$CONFIG_DIR" '' 755 "$1" &&
    secure_dir "$ENVOY_DIR" '' 755 "$1" &&
    secure_dir "$SECRETS_DIR" '' 755 "$1" &&
    secure_dir "$TOKENS_DIR" '' 755 "$1" &&
    secure_dir "$MX_STATE_DIR" '' 700 "$1"
}

# put_file SRC DEST MODE: DEST in the proxy user's directory is written as that user; anywhere
# else by root, owned by root. Records DEST in the manifest. Sets PLACED; stops the run on failure.
put_file() {
  case $2 in
    "$CERTS_DIR"/*) place_file_as "$1" "$2" "$3" || stop_files ;;
    *) place_file "$1" "$2" "$3" '' || stop_files ;;
  esac
  manifest_add file "$2"
}

# place_root_cert: /etc/certs/root-cert.pem, compared with our own copy of what we placed there
# last, not with the file: the agent (1.12+) rewrites it with the CA's root whenever the bytes
# differ (a multi-root bundle), and that rewrite is not a change to undo with a restart. Placed
# again only when the wanted bundle changed or the file is gone. Sets PLACED.
place_root_cert() {
  target="$CERTS_DIR/root-cert.pem"
  if [ -f "$target" ] && [ ! -L "$target" ] && [ ! -L "$MX_STATE_DIR/root-cert.pem" ] &&
    cmp -s "$WORK/root-cert.pem" "$MX_STATE_DIR/root-cert.pem"; then
    manifest_add file "$target"
    PLACED=0
    return 0
  fi
  put_file "$WORK/root-cert.pem" "$target" 644
  changed_root=$PLACED
  place_file "$WORK/root-cert.pem" "$MX_STATE_DIR/root-cert.pem" 644 '' || stop_files
  PLACED=$changed_root
}

FILES_CHANGED=0
files() {
  begin_phase files
  owner=$MX_OWNER
  resolve_owner ||
    die owner "user $owner does not exist (is the istio-sidecar package installed?)" 30
  secure_dirs fix || stop_files
  # The agent writes the workload's certificate and key into /etc/certs (OUTPUT_CERTS): the
  # sidecar this product starts makes them ours to remove at uninstall (an identity must not
  # outlive its sidecar on the host), unless they were there before our first run.
  for out in cert-chain.pem key.pem; do
    [ ! -f "$WORK/$out" ] || continue
    if ! grep -q " \${CERTS_DIR#"$MX_ROOT"}/$out\\$" "$MX_STATE_DIR/manifest" 2>/dev/null &&
      [ ! -e "$CERTS_DIR/$out" ] && [ ! -L "$CERTS_DIR/$out" ]; then
      manifest_add agent "$CERTS_DIR/$out"
    fi
  done
  place_root_cert
  FILES_CHANGED=$((FILES_CHANGED | PLACED))
  # Before 1.8 the workload certificate came with the files (secret istio.<sa>), not by token.
  if [ -f "$WORK/cert-chain.pem" ]; then
    put_file "$WORK/cert-chain.pem" "$CERTS_DIR/cert-chain.pem" 644
    FILES_CHANGED=$((FILES_CHANGED | PLACED))
  fi
  if [ -f "$WORK/key.pem" ]; then
    put_file "$WORK/key.pem" "$CERTS_DIR/key.pem" 600
    FILES_CHANGED=$((FILES_CHANGED | PLACED))
  fi
  # sidecar.env is read before cluster.env; one we placed earlier goes when no longer wanted
  if [ -f "$WORK/sidecar.env" ]; then
    put_file "$WORK/sidecar.env" "$ENVOY_DIR/sidecar.env" 644
    FILES_CHANGED=$((FILES_CHANGED | PLACED))
    : >"$MX_STATE_DIR/sidecar.env.placed"
  elif [ -f "$MX_STATE_DIR/sidecar.env.placed" ]; then
    remove_file "$ENVOY_DIR/sidecar.env" || stop_files
    rm -f "$MX_STATE_DIR/sidecar.env.placed"
    FILES_CHANGED=1
  fi
  # the package's own sidecar.env is sourced by root too: it must be root's
  if [ -L "$ENVOY_DIR/sidecar.env" ] ||
    { [ -e "$ENVOY_DIR/sidecar.env" ] && [ "$(stat -c %u "$ENVOY_DIR/sidecar.env")" != 0 ]; }; then
    unsafe "$ENVOY_DIR/sidecar.env" "is $([ -L "$ENVOY_DIR/sidecar.env" ] && echo a symlink || echo "owned by $(who "$ENVOY_DIR/sidecar.env")"), and istio-start.sh sources it as root"
    stop_files
  fi
  put_file "$WORK/cluster.env" "$ENVOY_DIR/cluster.env" 644
  FILES_CHANGED=$((FILES_CHANGED | PLACED))
  put_file "$WORK/mesh.yaml" "$CONFIG_DIR/mesh" 644
  FILES_CHANGED=$((FILES_CHANGED | PLACED))
  replace_hosts_block "$MX_HOSTS_FILE" "$WORK/hosts" || stop_files
  FILES_CHANGED=$((FILES_CHANGED | PLACED))
  manifest_add block "$MX_HOSTS_FILE"
  if [ -s "$WORK/istio-token" ]; then
    # The token on the host stays while it is good for more than MX_TOKEN_REFRESH_WITHIN seconds
    # and names the same identity (token_decision); else the new one goes in. The agent reads
    # the file when it needs it: no restart either way, and no change counted.
    token_src=$WORK/istio-token
    if current_token; then
      token_decision "$WORK/istio-token.current" "$WORK/istio-token" "$(date +%s)" \\
        "$MX_TOKEN_REFRESH_WITHIN"
      [ "$TOKEN_ACTION" != kept ] || token_src=$WORK/istio-token.current
    fi
    place_file "$token_src" "$TOKENS_DIR/istio-token" 600 "$owner" || stop_files
    manifest_add file "$TOKENS_DIR/istio-token"
    # the copy for reboots is what the token path holds now, whichever token that is
    place_file "$token_src" "$MX_STATE_DIR/istio-token" 600 "$owner" || stop_files
    rm -f "$WORK/istio-token.current"
    echo "MX-TOKEN $TOKEN_ACTION reason=$TOKEN_REASON left=\${TOKEN_LEFT:--}"
    # /var/run is a tmpfs: systemd-tmpfiles puts the token back at boot, before istio starts
    # (C keeps the owner and mode of the copy it is given). The directories are root's.
    printf '%s\\n' \\
      '# mesh-expansion: the bootstrap token survives a reboot' \\
      'd /run/secrets 0755 root root -' \\
      'd /run/secrets/tokens 0755 root root -' \\
      "C /run/secrets/tokens/istio-token - - - - \${MX_STATE_DIR#"$MX_ROOT"}/istio-token" >"$WORK/tmpfiles.conf"
    put_file "$WORK/tmpfiles.conf" "$MX_TMPFILES" 644
  else
    # No token (before 1.8): a token left by an earlier run would make the agent ask for a
    # certificate instead of using the provisioned one, so it goes, and the agent restarts.
    for f in "$TOKENS_DIR/istio-token" "$MX_STATE_DIR/istio-token" "$MX_TMPFILES"; do
      if [ -e "$f" ] || [ -L "$f" ]; then
        remove_file "$f" || stop_files
        FILES_CHANGED=1
      fi
    done
  fi
  clean_old_temporaries
  end_phase ok
}

# current_token: the token at the token path, when it is a regular file of the proxy user's with
# mode 0600 (as place_file leaves it) and at most 16 KiB, copied to $WORK/istio-token.current,
# read from inside its checked directory (only root can swap what is there); 1 when there is no
# such file, with TOKEN_ACTION, TOKEN_REASON (missing|not-ours) and TOKEN_LEFT set for it.
current_token() {
  TOKEN_ACTION=refreshed
  TOKEN_REASON=missing
  TOKEN_LEFT=''
  rm -f "$WORK/istio-token.current"
  [ -e "$TOKENS_DIR/istio-token" ] || [ -L "$TOKENS_DIR/istio-token" ] || return 1
  TOKEN_REASON=not-ours
  # already checked by secure_dirs; a refusal here is reported by the place_file that follows
  (secure_dir "$TOKENS_DIR" '' '') >/dev/null 2>&1 || return 1
  secure_dir "$TOKENS_DIR" '' '' || return 1
  (
    in_checked_dir "$SECURE_DIR" >/dev/null || exit 1
    [ -f ./istio-token ] && [ ! -L ./istio-token ] || exit 1
    st ./istio-token
    [ "$((0$ST_MODE))" = "$((0600))" ] && [ "$ST_UID $ST_GID" = "$OWNER_UID $OWNER_GID" ] &&
      [ "$(wc -c <./istio-token)" -le 16384 ] || exit 1
    head -c 16384 ./istio-token >"$WORK/istio-token.current"
  ) || {
    rm -f "$WORK/istio-token.current"
    return 1
  }
}

# clean_old_temporaries: what older builds left beside our files when a run was cut (their
# predictable "<file>.mx-tmp.<pid>"), or anyone planted there under that name while an older build
# had given the directory to the proxy user: removed in one pass per directory (\`find -delete\`
# removes a link itself, never its target), with one log line, so that thousands of planted names
# cost a run one process, not one each. Only root's directories (checked by this run): the proxy
# user's own /etc/certs is left as it is, since whatever lies there that user could put there
# itself at any time. Our state directory too: a run cut before it renamed its copy of a pushed
# package (incoming.*) or a state file (a reboot, a killed session) leaves them there; this run
# holds the host's lock and has renamed its own by now.
clean_old_temporaries() {
  for co in "$ENVOY_DIR|*.mx-tmp.*" "$CONFIG_DIR|*.mx-tmp.*" "$TOKENS_DIR|*.mx-tmp.*" \\
    "\${MX_HOSTS_FILE%/*}|hosts.mx-tmp.*" "\${MX_TMPFILES%/*}|*.mx-tmp.*" \\
    "$MX_STATE_DIR|*.mx-tmp.*" "$MX_STATE_DIR|incoming.*"; do
    co_dir=\${co%%|*}
    if [ ! -d "$co_dir" ] || [ -L "$co_dir" ]; then continue; fi
    co_n=$(find "$co_dir" -maxdepth 1 -name "\${co#*|}" -print -delete 2>/dev/null | wc -l)
    [ "$co_n" -eq 0 ] ||
      echo "MX-LOG removed $co_n temporary name(s) of an older build from \${co_dir#"$MX_ROOT"}"
  done
}

# ---- last known good --------------------------------------------------------------------------
# Before a run changes a sidecar that is active and ready, the files we manage (as they are),
# the hosts block, our bookkeeping and the package we installed last are kept in
# $MX_STATE_DIR/last-good/. When the new sidecar is not ready in time they are put back, the
# previous package reinstalled when it changed, and the sidecar restarted (rollback).

LAST_GOOD=$MX_STATE_DIR/last-good
WAS_READY=0

# The files a rollback puts back (those this run may change).
managed_files() {
  echo "$CERTS_DIR/root-cert.pem"
  [ ! -f "$WORK/cert-chain.pem" ] || echo "$CERTS_DIR/cert-chain.pem"
  [ ! -f "$WORK/key.pem" ] || echo "$CERTS_DIR/key.pem"
  if [ -f "$WORK/sidecar.env" ] || [ -f "$MX_STATE_DIR/sidecar.env.placed" ]; then
    echo "$ENVOY_DIR/sidecar.env"
  fi
  echo "$ENVOY_DIR/cluster.env"
  echo "$CONFIG_DIR/mesh"
}

# snapshot: fills last-good/ (replacing an older one). A file in the proxy user's directory is
# read as that user (a link there must not make root copy, and later give back, what that user
# cannot read); elsewhere only a regular file of root's is kept (one of the proxy user's, from an
# older build, may hold what that user wrote: the new one stays on rollback).
snapshot() {
  rm -rf "$LAST_GOOD"
  mkdir -m 700 "$LAST_GOOD"
  : >"$LAST_GOOD/files"
  n=0
  for f in $(managed_files); do
    n=$((n + 1))
    case $f in
      "$CERTS_DIR"/*)
        # shellcheck disable=SC2016 # expanded by the inner shell
        if as_user /bin/sh -c '[ -f "$1" ] && [ ! -L "$1" ]' sh "$f"; then
          as_user cat "$f" >"$LAST_GOOD/f$n" || continue
          echo "f$n $(stat -c %a "$f") $f" >>"$LAST_GOOD/files"
        elif [ ! -e "$f" ] && [ ! -L "$f" ]; then
          echo "absent - $f" >>"$LAST_GOOD/files"
        fi
        ;;
      *)
        if [ -f "$f" ] && [ ! -L "$f" ] && [ "$(stat -c %u "$f")" = 0 ]; then
          cat "$f" >"$LAST_GOOD/f$n"
          echo "f$n $(stat -c %a "$f") $f" >>"$LAST_GOOD/files"
        elif [ ! -e "$f" ] && [ ! -L "$f" ]; then
          echo "absent - $f" >>"$LAST_GOOD/files"
        fi
        ;;
    esac
  done
  if [ -f "$MX_HOSTS_FILE" ] && [ ! -L "$MX_HOSTS_FILE" ]; then
    awk -v begin="$MX_BEGIN" -v end="$MX_END" '
      $0 == begin { keep = 1; next }
      $0 == end { keep = 0; next }
      keep { print }
    ' "$MX_HOSTS_FILE" >"$LAST_GOOD/hosts.block"
  fi
  for f in package.sha256 root-cert.pem sidecar.env.placed "package.$FAMILY"; do
    if [ -f "$MX_STATE_DIR/$f" ] && [ ! -L "$MX_STATE_DIR/$f" ]; then
      # a hard link costs nothing (the package is replaced by a rename, never rewritten)
      ln "$MX_STATE_DIR/$f" "$LAST_GOOD/state.$f" 2>/dev/null || cp "$MX_STATE_DIR/$f" "$LAST_GOOD/state.$f"
    fi
  done
  installed_version >"$LAST_GOOD/version"
}

# wait_ready: probes until ready or MX_READY_TIMEOUT; sets READY.
wait_ready() {
  READY=0
  deadline=$(($(now_ms) + MX_READY_TIMEOUT * 1000))
  while :; do
    if probe_ready; then
      READY=1
      return 0
    fi
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.2 2>/dev/null || sleep 1
  done
}

# rollback: last-good/ put back and the sidecar restarted; 1 (ROLLBACK_ERROR says why) when
# that does not give a ready sidecar.
ROLLBACK_ERROR=''
rollback() {
  echo "MX-LOG the new sidecar is not ready: putting back the previous one"
  systemctl stop istio 2>/dev/null || true
  if [ "$PKG_CHANGED" = 1 ]; then
    prev=$LAST_GOOD/state.package.$FAMILY
    if [ ! -f "$prev" ]; then
      ROLLBACK_ERROR="no copy of the previous package ($(cat "$LAST_GOOD/version" 2>/dev/null)) was kept on the host"
      return 1
    fi
    if ! install_package_file "$prev" downgrade; then
      ROLLBACK_ERROR='reinstalling the previous package failed (see the log lines)'
      return 1
    fi
    systemctl daemon-reload 2>/dev/null || true
  fi
  # never exits half-way (no put_file/die here): a failure is reported, the caller cleans up
  while read -r rb_kind rb_mode rb_path; do
    case $rb_kind in
      absent) remove_file "$rb_path" || true ;;
      f[0-9]*)
        case $rb_path in
          "$CERTS_DIR"/*) place_file_as "$LAST_GOOD/$rb_kind" "$rb_path" "$rb_mode" ;;
          *) place_file "$LAST_GOOD/$rb_kind" "$rb_path" "$rb_mode" '' ;;
        esac || {
          ROLLBACK_ERROR="$rb_path could not be put back"
          return 1
        }
        ;;
    esac
  done <"$LAST_GOOD/files"
  if [ -f "$LAST_GOOD/hosts.block" ]; then
    replace_hosts_block "$MX_HOSTS_FILE" "$LAST_GOOD/hosts.block" || true
  fi
  for f in package.sha256 root-cert.pem sidecar.env.placed "package.$FAMILY"; do
    if [ -f "$LAST_GOOD/state.$f" ]; then
      state_file_from "$LAST_GOOD/state.$f" "$f" || true
    else
      rm -f "$MX_STATE_DIR/$f"
    fi
  done
  if ! systemctl restart istio 2>/dev/null; then
    ROLLBACK_ERROR='systemctl restart istio failed for the previous sidecar'
    return 1
  fi
  if ! wait_ready; then
    ROLLBACK_ERROR="the previous sidecar was not ready either within \${MX_READY_TIMEOUT}s"
    return 1
  fi
}

# ---- dnsmasq (scripts-0.8: names of the control plane from /etc/dnsmasq.d/kubedns) ------------

DNS_CHANGED=0
DNS_LINE='nameserver 127.0.0.1'
DHCLIENT_LINE='prepend domain-name-servers 127.0.0.1;'

# The resolv.conf to edit. A symlink to a regular file (systemd-resolved, resolvconf): that
# file, the link stays. A dangling link (or one to something else): replaced by a plain file,
# its target remembered in the state directory so that uninstall puts the link back.
resolv_file() {
  if [ -L "$MX_RESOLV_CONF" ]; then
    target=$(readlink -f "$MX_RESOLV_CONF" 2>/dev/null || true)
    if [ -n "$target" ] && [ -f "$target" ]; then
      echo "$target"
      return 0
    fi
    mkdir -p "$MX_STATE_DIR"
    readlink "$MX_RESOLV_CONF" >"$MX_STATE_DIR/resolv.conf.link"
    rm -f "$MX_RESOLV_CONF"
  fi
  echo "$MX_RESOLV_CONF"
}

# dns_blocks add|remove: our resolv.conf block (first) and dhclient.conf block; DNS_CHANGED=1
# when a file changed.
dns_blocks() {
  if [ "$1" = add ]; then
    echo "$DNS_LINE" >"$WORK/resolv.block"
    echo "$DHCLIENT_LINE" >"$WORK/dhclient.block"
  else
    : >"$WORK/resolv.block"
    : >"$WORK/dhclient.block"
  fi
  if [ "$1" = add ] || [ -e "$MX_RESOLV_CONF" ]; then
    rb_file=$(resolv_file)
    replace_hosts_block "$rb_file" "$WORK/resolv.block" top || {
      end_phase fail
      exit 31
    }
    [ "$1" != add ] || manifest_add block "$rb_file"
    DNS_CHANGED=$((DNS_CHANGED | PLACED))
  fi
  if [ "$1" = remove ] && [ -f "$MX_STATE_DIR/resolv.conf.link" ]; then
    # the link we replaced comes back
    ln -sfn "$(cat "$MX_STATE_DIR/resolv.conf.link")" "$MX_RESOLV_CONF"
    rm -f "$MX_STATE_DIR/resolv.conf.link"
    DNS_CHANGED=1
  fi
  if [ -f "$MX_DHCLIENT_CONF" ]; then
    replace_hosts_block "$MX_DHCLIENT_CONF" "$WORK/dhclient.block" || {
      end_phase fail
      exit 31
    }
    [ "$1" != add ] || manifest_add block "$MX_DHCLIENT_CONF"
    DNS_CHANGED=$((DNS_CHANGED | PLACED))
  fi
}

dnsmasq_log() {
  systemctl status --no-pager dnsmasq 2>&1 | head -n 8 | sed 's/^/MX-LOG systemctl status: /'
  journalctl -u dnsmasq --no-pager -n 10 2>/dev/null | sed 's/^/MX-LOG journal: /'
}

# Restarts dnsmasq and waits (bounded) for it to be active; 1 when it is not.
dnsmasq_restart() {
  systemctl restart dnsmasq 2>/dev/null || return 1
  i=0
  while [ "$i" -lt 10 ]; do
    systemctl is-active --quiet dnsmasq && return 0
    i=$((i + 1))
    sleep 0.5 2>/dev/null || sleep 1
  done
  return 1
}

install_dnsmasq() {
  if command -v apt-get >/dev/null 2>&1; then
    # package lists may be missing on a fresh image: update only when the install needs it
    { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends dnsmasq ||
      { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends dnsmasq; }; } >"$WORK/dnsmasq.log" 2>&1
  elif command -v dnf >/dev/null 2>&1; then
    dnf install -y dnsmasq >"$WORK/dnsmasq.log" 2>&1
  elif command -v yum >/dev/null 2>&1; then
    yum install -y dnsmasq >"$WORK/dnsmasq.log" 2>&1
  else
    echo 'no apt-get, dnf or yum' >"$WORK/dnsmasq.log"
    return 1
  fi
}

have_dnsmasq() {
  command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ]
}

dns_setup() {
  begin_phase dnsmasq
  if ! have_dnsmasq; then
    if ! install_dnsmasq || ! have_dnsmasq; then
      tail -n 5 "$WORK/dnsmasq.log" | sed 's/^/MX-LOG /'
      die install "dnsmasq is not installed and installing it with the package manager failed (see the log lines): install dnsmasq on the host, or give the host a package repository" 35
    fi
    DNS_CHANGED=1
  fi
  mkdir -p "$MX_STATE_DIR"
  : >"$MX_STATE_DIR/dnsmasq.placed"
  place_file "$WORK/kubedns" "$MX_DNSMASQ_DIR/kubedns" 644 root || die unsafe-path "$MX_DNSMASQ_DIR/kubedns cannot be written safely" 31
  manifest_add file "$MX_DNSMASQ_DIR/kubedns"
  kubedns_changed=$PLACED
  DNS_CHANGED=$((DNS_CHANGED | PLACED))
  if ! systemctl is-enabled --quiet dnsmasq 2>/dev/null; then
    systemctl enable --quiet dnsmasq 2>/dev/null || die enable "systemctl enable dnsmasq failed" 35
    DNS_CHANGED=1
  fi
  if [ "$kubedns_changed" -eq 1 ] || ! systemctl is-active --quiet dnsmasq; then
    DNS_CHANGED=1
    if ! dnsmasq_restart; then
      # the host keeps resolving as before: no name server on 127.0.0.1 that does not answer
      dns_blocks remove
      dnsmasq_log
      die start "dnsmasq did not come up (see the log lines); the host's resolv.conf is left without it" 35
    fi
  fi
  # only once dnsmasq answers does the host ask it first
  dns_blocks add
  end_phase ok
}

# dnsmasq set up by an earlier run and not wanted any more (or uninstall): our file and blocks go;
# the package stays, and dnsmasq is restarted when it runs so that it forgets the names.
dns_teardown() {
  begin_phase dnsmasq
  dns_blocks remove
  if [ -f "$MX_STATE_DIR/dnsmasq.placed" ]; then
    if [ -e "$MX_DNSMASQ_DIR/kubedns" ] || [ -L "$MX_DNSMASQ_DIR/kubedns" ]; then
      remove_file "$MX_DNSMASQ_DIR/kubedns" || true
      DNS_CHANGED=1
      if systemctl is-active --quiet dnsmasq 2>/dev/null; then
        systemctl restart dnsmasq 2>/dev/null ||
          echo "MX-LOG systemctl restart dnsmasq failed after removing $MX_DNSMASQ_DIR/kubedns"
      fi
    fi
    rm -f "$MX_STATE_DIR/dnsmasq.placed"
  fi
  end_phase ok
}

# Anything of ours left: the marker, or a block in resolv.conf (through a link) or dhclient.conf.
dns_present() {
  [ -f "$MX_STATE_DIR/dnsmasq.placed" ] || [ -f "$MX_STATE_DIR/resolv.conf.link" ] ||
    grep -qxF "$MX_BEGIN" "$MX_RESOLV_CONF" 2>/dev/null ||
    grep -qxF "$MX_BEGIN" "$MX_DHCLIENT_CONF" 2>/dev/null
}

dns() {
  if [ -f "$WORK/kubedns" ]; then
    dns_setup
  elif dns_present; then
    dns_teardown
  fi
}

# ---- iptables cleanup (pain #33454: a dead proxy must not cut the host off) -------------------

# The package's own removal first: \`istio-start.sh clean\` runs the command of its version
# (1.10-1.23 \`pilot-agent istio-clean-iptables\`, 1.24 on \`pilot-agent istio-iptables
# --cleanup-only\`; 1.25 has no istio-clean-iptables). Scripts before 1.10 have no \`clean\`: any
# other argument installs the capture and runs the proxy in the foreground, so they are not
# called. The sweep below removes whatever is left, whatever the version.
MX_ISTIO_START=\${MX_ISTIO_START:-$MX_ROOT/usr/local/bin/istio-start.sh}
clean_iptables() {
  if [ -x "$MX_ISTIO_START" ] && grep -q '"clean"' "$MX_ISTIO_START" 2>/dev/null; then
    "$MX_ISTIO_START" clean >/dev/null 2>&1 || true
  fi
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null 2>&1 || continue
    for table in nat mangle raw filter; do
      rules=$("$cmd" -t "$table" -S 2>/dev/null) || continue
      echo "$rules" | grep -E '^-A [A-Z]+ .*-j ISTIO_' | sed 's/^-A /-D /' |
        while read -r rule; do
          # shellcheck disable=SC2086 # a rule is several words on purpose
          "$cmd" -t "$table" $rule 2>/dev/null || true
        done
      for chain in $(echo "$rules" | awk '$1 == "-N" && $2 ~ /^ISTIO_/ { print $2 }'); do
        "$cmd" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $(echo "$rules" | awk '$1 == "-N" && $2 ~ /^ISTIO_/ { print $2 }'); do
        "$cmd" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

# ---- open sessions ----------------------------------------------------------------------------
# Connection tracking must know this SSH session before the capture exists. On a host where
# nothing tracked connections yet, the capture's nat rules turn tracking on, pick the session up
# mid-stream as a new connection, redirect its packets to the proxy, and cut it (and any other
# open session). A rule that only counts, held while the capture comes up, makes the kernel
# track every open session first; established ones are never redirected afterwards.
CT_MATCH='-m conntrack --ctstate INVALID,NEW,ESTABLISHED,RELATED,UNTRACKED -m comment --comment mesh-expansion-track-open-sessions'
TRACKING=''
track_sessions() {
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null 2>&1 || continue
    # shellcheck disable=SC2086 # the match is several words on purpose
    if "$cmd" -I INPUT $CT_MATCH 2>/dev/null; then TRACKING="$TRACKING $cmd"; fi
  done
}
untrack_sessions() {
  for cmd in $TRACKING; do
    # shellcheck disable=SC2086
    "$cmd" -D INPUT $CT_MATCH 2>/dev/null || true
  done
  TRACKING=''
}

# ---- service ----------------------------------------------------------------------------------

RESTARTED=0
READY=0
probe_ready() {
  url="http://127.0.0.1:$MX_STATUS_PORT/healthz/ready"
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O /dev/null -T 2 "$url" 2>/dev/null
  else
    python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$url" 2>/dev/null
  fi
}

# The 0.x-1.4 packages have a node agent (certificates from citadel) beside istio; 1.5+ none.
NODE_AGENT=istio-auth-node-agent
has_node_agent() {
  systemctl cat "$NODE_AGENT" >/dev/null 2>&1
}

# capture_missing: the sidecar runs but its iptables capture is gone: the jumps into its chains,
# or their redirects (flushed by hand, a firewall reload). istio-start.sh installs the capture
# only when the sidecar starts, so the sidecar is restarted. ISTIO_CUSTOM_IP_TABLES=true leaves
# iptables to the host; without inbound ports istio-iptables adds no PREROUTING jump.
capture_missing() {
  command -v iptables >/dev/null 2>&1 || return 1
  cm_env=$ENVOY_DIR/cluster.env
  [ -f "$cm_env" ] && [ ! -L "$cm_env" ] || return 1
  ! grep -q "^ISTIO_CUSTOM_IP_TABLES='\\{0,1\\}true" "$cm_env" || return 1
  iptables -t nat -C OUTPUT -p tcp -j ISTIO_OUTPUT 2>/dev/null || return 0
  if grep -q "^ISTIO_SERVICE_CIDR='\\{0,1\\}[0-9*]" "$cm_env"; then
    iptables -t nat -S ISTIO_OUTPUT 2>/dev/null | grep -q -- '-j ISTIO_REDIRECT' || return 0
  fi
  if grep -q "^ISTIO_INBOUND_PORTS='\\{0,1\\}[0-9*]" "$cm_env"; then
    iptables -t nat -C PREROUTING -p tcp -j ISTIO_INBOUND 2>/dev/null || return 0
    iptables -t nat -S ISTIO_INBOUND 2>/dev/null | grep -q -- '-j ISTIO_IN_REDIRECT' || return 0
  fi
  return 1
}

NODE_AGENT_STARTED=0
service() {
  begin_phase service
  [ "$PKG_CHANGED" -eq 0 ] || systemctl daemon-reload
  systemctl is-enabled --quiet istio 2>/dev/null || systemctl enable --quiet istio 2>/dev/null ||
    die enable "systemctl enable istio failed" 40
  node_agent=''
  if has_node_agent; then
    node_agent=$NODE_AGENT
    systemctl is-enabled --quiet "$node_agent" 2>/dev/null ||
      systemctl enable --quiet "$node_agent" 2>/dev/null ||
      die enable "systemctl enable $node_agent failed" 40
  fi
  if [ "$PKG_CHANGED" -eq 1 ] || [ "$FILES_CHANGED" -eq 1 ] || [ "$MX_RECONNECT" = 1 ] ||
    ! systemctl is-active --quiet istio || capture_missing; then
    if [ -n "$node_agent" ]; then
      systemctl restart "$node_agent" || die restart "systemctl restart $node_agent failed" 40
    fi
    systemctl restart istio || die restart "systemctl restart istio failed" 40
    RESTARTED=1
  elif [ -n "$node_agent" ] && ! systemctl is-active --quiet "$node_agent"; then
    systemctl start "$node_agent" || die restart "systemctl start $node_agent failed" 40
    NODE_AGENT_STARTED=1
  fi
  end_phase ok
  begin_phase ready
  wait_ready || true
  if [ "$READY" -ne 1 ]; then
    for log in /var/log/istio/istio.log /var/log/istio/istio.err.log; do
      [ -f "$log" ] && tail -n 20 "$log" | sed "s|^|MX-LOG \${log##*/}: |"
    done
    if [ "$WAS_READY" = 1 ]; then
      if rollback; then
        echo "MX-RESULT changed=1 restarted=1 ready=1 package=$PKG_ACTION rolledback=1"
        die rolled-back "the new sidecar was not ready within \${MX_READY_TIMEOUT}s; the previous version is running again" 42
      fi
      how="restoring the previous one failed too: $ROLLBACK_ERROR"
    else
      how='there was no working sidecar before to go back to'
    fi
    # Stopped and disabled, capture removed: the host stays reachable, a reboot does not re-arm it.
    systemctl disable --now --quiet istio 2>/dev/null || true
    clean_iptables
    echo "MX-RESULT changed=1 restarted=$RESTARTED ready=0 package=$PKG_ACTION rolledback=0"
    if [ "$WAS_READY" = 1 ]; then
      die rollback-failed "the new sidecar was not ready on :$MX_STATUS_PORT within \${MX_READY_TIMEOUT}s and $how; service stopped and disabled, iptables capture removed" 41
    fi
    die ready "the sidecar was not ready on :$MX_STATUS_PORT within \${MX_READY_TIMEOUT}s; service stopped and disabled, iptables capture removed" 41
  fi
  end_phase ok
}

# ---- the host's lock --------------------------------------------------------------------------
# One run at a time per host: flock on /run/mesh-expansion.lock (a file only root can create:
# /run is root's; a link or anything but a root-owned regular file there is refused). Not in our
# state directory: a run that ends removes that directory (uninstall; a first run that changed
# nothing). An uninstall removes the lock file as it ends, holding it: a run that waited on it
# then finds another file (or none) at the path and locks that one (take_lock), or it would run
# beside a third run that locked the new file. A second run waits up to MX_LOCK_WAIT seconds, saying so, then gives up
# having changed nothing (exit 12). The lock is held by file descriptor 9 until the script ends.
# flock is util-linux, on every Debian/Ubuntu and RHEL-like host (essential / required): without
# it the run is refused rather than run unlocked or with a home-made lock that a killed run
# leaves behind.

# state_dir: our directory exists, root's, 0700, reached through root's directories only.
state_dir() {
  secure_dir "$MX_STATE_DIR" '' 700 fix || {
    end_phase fail
    exit 31
  }
}

# forget_new_state: on the way out of a run that changed nothing (a failed preflight, a package
# that must be pushed first or was refused) on a host that had no state directory before it,
# that directory (a copy of a pushed package, the manifest it started) goes again: such a run
# leaves no trace.
STATE_EXISTED=1
forget_new_state() {
  fn_rc=$?
  untrack_sessions
  case $fn_rc in 10 | 20 | 21) ;; *) return 0 ;; esac
  [ "$STATE_EXISTED" = 0 ] && [ "$PKG_CHANGED" = 0 ] && [ "$FILES_CHANGED" = 0 ] || return 0
  if [ -d "$MX_STATE_DIR" ] && [ ! -L "$MX_STATE_DIR" ]; then rm -rf "$MX_STATE_DIR"; fi
}

take_lock() {
  PHASE=preflight
  PHASE_START=$(now_ms)
  command -v flock >/dev/null 2>&1 ||
    die lock 'flock (util-linux) is missing on this host: install util-linux; the run is refused rather than unlocked' 12
  # a host this product never touched (or left): a run that stops before its first change takes
  # the state directory it made with it (forget_new_state)
  STATE_EXISTED=1
  [ -d "$MX_STATE_DIR" ] || STATE_EXISTED=0
  lock=$MX_LOCK_FILE
  secure_dir "\${lock%/*}" '' '' fix || {
    end_phase fail
    exit 12
  }
  while :; do
    if [ -L "$lock" ] || { [ -e "$lock" ] && { [ ! -f "$lock" ] || [ "$(stat -c %u "$lock")" != 0 ]; }; }; then
      die lock "$lock is not a regular file of root's (a symlink?): refused, nothing changed" 12
    fi
    exec 9>>"$lock"
    if ! flock -n 9; then
      holder=$(head -n 1 "$lock" 2>/dev/null || true)
      echo "MX-LOG waiting for another mesh-expansion run on this host (pid \${holder:-?})"
      if ! flock -w "$MX_LOCK_WAIT" 9; then
        holder=$(head -n 1 "$lock" 2>/dev/null || true)
        die lock "another mesh-expansion run holds this host's lock (pid \${holder:-?}) after waiting \${MX_LOCK_WAIT}s" 12
      fi
    fi
    # an uninstall removes the file as it ends: the lock held is the lock only when it is still
    # the file at the path (without /proc to tell, as before)
    held=$(stat -L -c %d:%i /proc/self/fd/9 2>/dev/null) || break
    [ "$held" != "$(stat -c %d:%i "$lock" 2>/dev/null)" ] || break
    exec 9>&-
  done
  # the holder's pid, for the message of a run that waits (same file, same lock)
  echo "$$" >"$lock"
}

# ---- install ----------------------------------------------------------------------------------

# manifest_init: the manifest exists (root, 0600). A host onboarded by an older build has none
# yet; there, a package.sha256 says the package was ours (older builds wrote it only after
# installing it).
manifest_init() {
  [ ! -f "$MX_STATE_DIR/manifest" ] || return 0
  (
    umask 077
    : >"$MX_STATE_DIR/manifest"
  )
  if [ -f "$MX_STATE_DIR/package.sha256" ] && v=$(installed_version) && [ -n "$v" ]; then
    manifest_set_package "$v"
  fi
}

# paths_check: before the first change, every directory this run would write in is checked; one
# it would refuse stops the run here, with nothing changed.
paths_check() {
  PHASE=files
  PHASE_START=$(now_ms)
  if ! secure_dirs check; then
    end_phase fail
    exit 31
  fi
  if [ -L "$MX_HOSTS_FILE" ]; then
    unsafe "$MX_HOSTS_FILE" "is a symlink (to $(readlink "$MX_HOSTS_FILE")) where a file is expected"
    end_phase fail
    exit 31
  fi
}

install_main() {
  preflight
  trap forget_new_state EXIT
  take_lock
  state_dir
  manifest_init
  paths_check
  # the sidecar to go back to when the new one does not come up
  if [ "$MX_PKG_MODE" != none ] || [ -n "$(installed_version)" ]; then
    if systemctl is-active --quiet istio 2>/dev/null && probe_ready; then
      WAS_READY=1
      secure_dirs fix || {
        PHASE=files
        stop_files
      }
      snapshot
    fi
  fi
  trap forget_new_state EXIT
  track_sessions
  package
  files
  dns
  service
  untrack_sessions
  # dnsmasq changes count as changes but do not by themselves restart the sidecar
  changed=$((PKG_CHANGED | FILES_CHANGED | RESTARTED | DNS_CHANGED | NODE_AGENT_STARTED))
  echo "MX-RESULT changed=$changed restarted=$RESTARTED ready=$READY package=$PKG_ACTION"
}

# ---- uninstall --------------------------------------------------------------------------------

# The files of a host onboarded by an older build (no manifest): what that build placed.
LEGACY_FILES="/etc/certs/root-cert.pem /etc/certs/cert-chain.pem /etc/certs/key.pem
/var/run/secrets/tokens/istio-token /var/lib/istio/envoy/cluster.env /etc/istio/config/mesh"

# uninstall_files: what the manifest lists goes (files; blocks; directories we created, when
# empty once the agent's own outputs in them are gone). Without a manifest, LEGACY_FILES.
# A path whose directory is not safe is left, with an MX-FAIL (FAILED=1).
uninstall_files() {
  : >"$WORK/empty"
  manifest=$MX_STATE_DIR/manifest
  if [ -f "$manifest" ] && [ ! -L "$manifest" ]; then
    grep -E '^(file|block|dir|agent) /' "$manifest" | grep -v -e '/\\.\\./' -e '/\\.\\.$' >"$WORK/entries" || true
    # what the package's postinst made for our install goes with the package, not when it stays
    if [ "$PKG_ACTION" = removed ]; then
      sed -nE 's/^postinst-(file|dir|link) (\\/.*)$/\\1 \\2/p' "$manifest" |
        grep -v -e '/\\.\\./' -e '/\\.\\.$' >>"$WORK/entries" || true
    fi
  else
    for f in $LEGACY_FILES; do echo "file $f"; done >"$WORK/entries"
    # only a sidecar.env we placed: the package's own goes with the package
    [ ! -f "$MX_STATE_DIR/sidecar.env.placed" ] || echo "file /var/lib/istio/envoy/sidecar.env" >>"$WORK/entries"
    echo "file \${MX_TMPFILES#"$MX_ROOT"}" >>"$WORK/entries"
    echo "block \${MX_HOSTS_FILE#"$MX_ROOT"}" >>"$WORK/entries"
  fi
  while read -r kind path; do
    p=$MX_ROOT$path
    case $kind in
      file | agent)
        if [ -e "$p" ] || [ -L "$p" ]; then
          remove_file "$p" && changed=1
        fi
        ;;
      block)
        if [ -f "$p" ] && [ ! -L "$p" ] && grep -qxF "$MX_BEGIN" "$p"; then
          replace_hosts_block "$p" "$WORK/empty" && changed=$((changed | PLACED))
        fi
        ;;
    esac
  done <"$WORK/entries"
  # directories last, deepest first; only when empty
  grep '^dir ' "$WORK/entries" | cut -d ' ' -f 2- | awk '{ print length($0) " " $0 }' |
    sort -rn | cut -d ' ' -f 2- | while read -r path; do
    p=$MX_ROOT$path
    if [ ! -d "$p" ] || [ -L "$p" ]; then continue; fi
    # the agent's outputs (OUTPUT_CERTS) in a directory that exists only because of us
    for out in cert-chain.pem key.pem; do
      if [ -e "$p/$out" ] || [ -L "$p/$out" ]; then remove_file "$p/$out" || true; fi
    done
    rmdir "$p" 2>/dev/null || echo "MX-LOG $path is not empty: left"
  done
  # the package's /etc/istio link (root's), once where it led is gone
  grep '^link ' "$WORK/entries" | cut -d ' ' -f 2- | while read -r path; do
    p=$MX_ROOT$path
    if [ -L "$p" ] && [ ! -e "$p" ] && [ "$(stat -c %u "$p")" = 0 ]; then remove_file "$p" || true; fi
  done
}

# remove_postinst_user NAME: the package's user, when its postinst made it for our install (the
# manifest said so) and the package went; not while it runs a process or owns a file (a uid given
# to the next system user must not own anything), which the log says.
remove_postinst_user() {
  [ "$PKG_ACTION" = removed ] && [ -z "$MX_ROOT" ] || return 0
  pu=$1
  [ -n "$pu" ] && pu_uid=$(id -u "$pu" 2>/dev/null) && pu_gid=$(id -g "$pu" 2>/dev/null) || return 0
  if pgrep -u "$pu_uid" >/dev/null 2>&1; then
    echo "MX-LOG the user $pu still runs processes: left"
    return 0
  fi
  pu_files=$(timeout 30 find / \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o \\
    \\( -uid "$pu_uid" -o -gid "$pu_gid" \\) -print -quit 2>/dev/null) || pu_files='(the search did not finish)'
  if [ -n "$pu_files" ]; then
    echo "MX-LOG the user $pu still owns $pu_files: left"
    return 0
  fi
  userdel "$pu" >/dev/null 2>&1 || {
    echo "MX-LOG userdel $pu failed: left"
    return 0
  }
  ! getent group "$pu" >/dev/null || groupdel "$pu" >/dev/null 2>&1 || true
}

uninstall_main() {
  FAMILY=deb
  command -v dpkg >/dev/null 2>&1 || FAMILY=rpm
  take_lock
  resolve_owner || true
  begin_phase service
  changed=0
  if systemctl is-enabled --quiet istio 2>/dev/null || systemctl is-active --quiet istio 2>/dev/null; then
    systemctl disable --now --quiet istio 2>/dev/null || true
    changed=1
  fi
  if has_node_agent && { systemctl is-enabled --quiet "$NODE_AGENT" 2>/dev/null ||
    systemctl is-active --quiet "$NODE_AGENT" 2>/dev/null; }; then
    systemctl disable --now --quiet "$NODE_AGENT" 2>/dev/null || true
    changed=1
  fi
  clean_iptables
  end_phase ok
  begin_phase package
  PKG_ACTION=skipped
  if [ -n "$(installed_version)" ]; then
    # only a package we installed goes (the manifest says so); without a manifest, an older
    # build's host: as that build did
    if [ "$MX_KEEP_PACKAGE" = 1 ] || { [ -f "$MX_STATE_DIR/manifest" ] && ! we_own_package; }; then
      PKG_ACTION=kept
    else
      if [ "$FAMILY" = deb ]; then
        DEBIAN_FRONTEND=noninteractive dpkg -P istio-sidecar >/dev/null 2>&1 ||
          die remove "dpkg -P istio-sidecar failed" 50
      else
        rpm -e istio-sidecar >/dev/null 2>&1 || die remove "rpm -e istio-sidecar failed" 50
      fi
      PKG_ACTION=removed
      changed=1
    fi
  fi
  end_phase ok
  : >"$WORK/empty"
  if dns_present; then
    dns_teardown
    changed=$((changed | DNS_CHANGED))
  fi
  begin_phase files
  uninstall_files
  if [ "$FAILED" -ne 0 ]; then
    # the state stays: a run after the path is fixed finishes the job
    echo "MX-RESULT changed=$changed restarted=0 ready=0 package=$PKG_ACTION"
    end_phase fail
    exit 51
  fi
  postinst_user=$(sed -n 's/^postinst-user //p' "$MX_STATE_DIR/manifest" 2>/dev/null | head -n 1)
  # the state directory; one this run made only for its lock is no change
  rm -rf "$MX_STATE_DIR"
  # after it: the token's copy there is the user's
  remove_postinst_user "$postinst_user"
  # the lock file too, held: a run waiting on it locks the file made again (take_lock)
  rm -f "$MX_LOCK_FILE"
  [ "$STATE_EXISTED" = 0 ] || changed=1
  end_phase ok
  echo "MX-RESULT changed=$changed restarted=0 ready=0 package=$PKG_ACTION"
}

# validate_params: every value from the environment has the shape it must have.
validate_params() {
  for v in "MX_STATUS_PORT=$MX_STATUS_PORT" "MX_READY_TIMEOUT=$MX_READY_TIMEOUT" \\
    "MX_MIN_DISK_MB=$MX_MIN_DISK_MB" "MX_MAX_SKEW=$MX_MAX_SKEW" "MX_LOCK_WAIT=$MX_LOCK_WAIT" \\
    "MX_TOKEN_REFRESH_WITHIN=$MX_TOKEN_REFRESH_WITHIN" \\
    "MX_KEEP_PACKAGE=$MX_KEEP_PACKAGE" "MX_RECONNECT=$MX_RECONNECT" \\
    "MX_RUNNER_TIME=\${MX_RUNNER_TIME:-0}"; do
    case \${v#*=} in
      '' | *[!0-9]*)
        echo "MX-FAIL args \${v%%=*} is not a number: \${v#*=}"
        exit 2
        ;;
    esac
  done
  # compared in sh arithmetic with a token's seconds left: ten digits at most
  if [ \${#MX_TOKEN_REFRESH_WITHIN} -gt 10 ]; then
    echo "MX-FAIL args MX_TOKEN_REFRESH_WITHIN is too large: $MX_TOKEN_REFRESH_WITHIN"
    exit 2
  fi
  MX_PKG_SHA256=$(printf '%s' "$MX_PKG_SHA256" | tr 'A-F' 'a-f')
  if [ -n "$MX_PKG_SHA256" ] && ! is_sha256 "$MX_PKG_SHA256"; then
    echo "MX-FAIL args MX_PKG_SHA256 is not a SHA-256 (64 hex digits)"
    exit 2
  fi
  case $MX_OWNER in
    '' | -* | *[!a-z0-9_-]*)
      echo "MX-FAIL args MX_OWNER is not a user name: $MX_OWNER"
      exit 2
      ;;
  esac
  case $MX_PKG_MODE in none | push | url | auto) ;; *)
    echo "MX-FAIL args unknown package mode $MX_PKG_MODE"
    exit 2
    ;;
  esac
  case $MX_PKG_PUSHED in '' | /*) ;; *)
    echo "MX-FAIL args MX_PKG_PUSHED is not an absolute path"
    exit 2
    ;;
  esac
  # a URL is one argument of curl: never an option, never another scheme (file://, ftp://)
  case $MX_PKG_URL in '' | http://* | https://*) ;; *)
    echo "MX-FAIL args MX_PKG_URL is not an http(s) URL"
    exit 2
    ;;
  esac
  case $MX_PKG_URL in *[[:space:]]* | *[[:cntrl:]]*)
    echo "MX-FAIL args MX_PKG_URL holds spaces or control characters"
    exit 2
    ;;
  esac
  case $MX_VERSION in *[!0-9A-Za-z.+~:-]*)
    echo "MX-FAIL args MX_VERSION is not a package version: $MX_VERSION"
    exit 2
    ;;
  esac
  case \${SUDO_UID:-0} in '' | *[!0-9]*) SUDO_UID=0 ;; esac
}

# ---- rollback (settings.rollout) --------------------------------------------------------------
# rollback_main: the run that just upgraded this host saw its new sidecar ready, then one of its
# rollout batch's checks failed. last-good/ (taken by that run before it changed anything) is put
# back as after a failed readiness, and must be ready again. Without one nothing changes (43).
rollback_main() {
  FAMILY=deb
  command -v dpkg >/dev/null 2>&1 || FAMILY=rpm
  begin_phase rollback
  if [ ! -d "$MX_STATE_DIR" ] || [ -L "$MX_STATE_DIR" ]; then
    die last-good "no last known good sidecar is kept on this host: nothing was changed" 43
  fi
  take_lock
  state_dir
  paths_check
  begin_phase rollback
  if [ -L "$LAST_GOOD" ] || [ ! -d "$LAST_GOOD" ] || [ ! -f "$LAST_GOOD/files" ]; then
    die last-good "no last known good sidecar is kept on this host: nothing was changed" 43
  fi
  PKG_CHANGED=0
  [ "$(cat "$LAST_GOOD/version" 2>/dev/null)" = "$(installed_version)" ] || PKG_CHANGED=1
  PKG_ACTION=unchanged
  [ "$PKG_CHANGED" = 0 ] || PKG_ACTION=installed
  if rollback; then
    end_phase ok
    echo "MX-RESULT changed=1 restarted=1 ready=1 package=$PKG_ACTION rolledback=1"
    return 0
  fi
  # as after a failed readiness: stopped and disabled, capture removed, the host reachable
  systemctl disable --now --quiet istio 2>/dev/null || true
  clean_iptables
  echo "MX-RESULT changed=1 restarted=1 ready=0 package=$PKG_ACTION rolledback=0"
  die rollback-failed "putting back the previous sidecar failed: $ROLLBACK_ERROR; service stopped and disabled, iptables capture removed" 41
}

main() {
  mode=\${1:-}
  WORK=\${2:-}
  if [ -z "$WORK" ] || [ ! -d "$WORK" ]; then
    echo "MX-FAIL args usage: install.sh install|uninstall|rollback|preflight WORKDIR"
    exit 2
  fi
  case $mode in
    install | uninstall | rollback | preflight) validate_params ;;
  esac
  case $mode in
    install) install_main ;;
    uninstall) uninstall_main ;;
    rollback) rollback_main ;;
    # preflight alone changes nothing and takes no lock
    preflight) preflight ;;
    *)
      echo "MX-FAIL args unknown mode $mode"
      exit 2
      ;;
  esac
}

# Sourced by the tests with MX_SOURCE_ONLY=1 to call the helpers one by one.
if [ "\${MX_SOURCE_ONLY:-0}" != 1 ]; then
  main "$@"
fi
`;var ke=["cert-chain.pem","key.pem","sidecar.env","kubedns"],_e={statusPort:15021,readyTimeoutSec:60,minDiskMb:200,maxSkewSec:120,keepPackage:!1,lockWaitSec:300,tokenRefreshWithinSec:86400},on="https://storage.googleapis.com/istio-release/releases";function an(e,n,t="deb"){if(!/^\d+\.\d+\.\d+([-.][0-9A-Za-z.-]+)?$/.test(e))throw new Error(`"${e}" is not an Istio release version (x.y.z)`);if(n!=="amd64"&&!dn(e))throw new Error(`Istio ${e} has no official ${n} sidecar package (arm64 from 1.17)`);let s=n==="amd64"?"":`-${n}`;return`${on}/${e}/${t}/istio-sidecar${s}.${t}`}function dn(e){let[n=0,t=0]=e.split(".").map(Number);return n>1||n===1&&t>=17}function cn(e){return an(e,"amd64").replace(/\/deb\/istio-sidecar\.deb$/,"/@FAMILY@/istio-sidecar@ARCHSUFFIX@.@FAMILY@")}function lt(e){return`/var/tmp/mesh-expansion-${e.slice(0,16)}.pkg`}function $e(e){return ge("sha256").update(e).digest("hex")}function ln(e,n){let t=ge("sha256");for(let s of j)s!=="istio-token"&&t.update(`${s}\0${$e(e[s])}\0`);for(let s of ke){let o=e[s];o!==void 0&&t.update(`${s}\0${$e(o)}\0`)}return t.update(`version\0${n.version}\0package\0${JSON.stringify(n.package)}`),t.digest("hex")}function un(e){let n={MX_VERSION:e.version,MX_PKG_MODE:e.package.mode,MX_STATUS_PORT:String(e.statusPort),MX_READY_TIMEOUT:String(e.readyTimeoutSec),MX_MIN_DISK_MB:String(e.minDiskMb),MX_MAX_SKEW:String(e.maxSkewSec),MX_RUNNER_TIME:String(e.runnerTime),MX_KEEP_PACKAGE:e.keepPackage?"1":"0",MX_LOCK_WAIT:String(e.lockWaitSec??_e.lockWaitSec),MX_TOKEN_REFRESH_WITHIN:String(e.tokenRefreshWithinSec??_e.tokenRefreshWithinSec),MX_RECONNECT:e.reconnect?"1":"0"},t=e.package;return t.mode==="push"?(n.MX_PKG_SHA256=t.sha256,n.MX_PKG_PUSHED=t.remotePath):t.mode==="url"?(n.MX_PKG_URL=t.url,t.sha256&&(n.MX_PKG_SHA256=t.sha256)):t.mode==="auto"&&(n.MX_PKG_URL=cn(t.version)),n}function P(e,n){let t=Buffer.from(n).toString("base64").replace(/.{76}/g,`$&
`);return`base64 -d >"$MX_WORK/${e}" <<'MX_EOF'
${t}
MX_EOF
`}function ut(e){let{params:n}=e,t=e.script??me,s=["# mesh-expansion bundle: read by sh -s as root","set -eu","umask 077",'MX_WORK=$(mktemp -d "${TMPDIR:-/tmp}/mesh-expansion.XXXXXX")',`trap 'rm -rf "$MX_WORK"' EXIT`,P("install.sh",t)];if(e.files){for(let r of j)s.push(P(r,e.files[r]));for(let r of ke){let i=e.files[r];i!==void 0&&s.push(P(r,i))}}e.inlinePackage&&s.push(P("package",e.inlinePackage));let o=un(n);e.inlinePackage&&(o.MX_PKG_INLINE="1");for(let[r,i]of Object.entries(o))s.push(`${r}=${y(i)}; export ${r}`);return s.push("rc=0",`/bin/sh "$MX_WORK/install.sh" ${n.mode} "$MX_WORK" </dev/null || rc=$?`,'exit "$rc"',""),{payload:Buffer.from(s.join(`
`)),configSha256:e.files?ln(e.files,n):""}}function ye(e){let t=['if [ "$(id -u)" -eq 0 ]; then set --;',"elif sudo -n true 2>/dev/null; then set -- sudo -n;",'else echo "MX-FAIL preflight sudo: sudo -n is refused for $(id -un): allow it without a password (NOPASSWD) for this user"; exit 10; fi;',`if command -v timeout >/dev/null 2>&1; then set -- "$@" timeout -k 5 ${Math.max(1,Math.ceil(e))}; fi;`,'exec "$@" /bin/sh -s'].join(" ");return`/bin/sh -c ${y(t)}`}var B="/var/lib/istio/envoy/cluster.env",hn=`if command -v dpkg-query >/dev/null 2>&1; then
  v=$(dpkg-query -W -f '\${Status} \${Version}' istio-sidecar 2>/dev/null | sed -n 's/^install ok installed //p')
else
  v=$(rpm -q --qf '%{VERSION}' istio-sidecar 2>/dev/null) || v=''
fi
case $v in '' | *[!0-9A-Za-z.+~:-]*) v=none ;; esac
say package "$v"
`,pn=`# mesh-expansion: what this host runs; read-only, run as root by sh -s
set -u
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
say() { printf 'MX-RUNNING %s\\n' "$*"; }
${hn}if [ -f ${B} ] && [ ! -L ${B} ]; then
  a=$(sed -n "s/^CA_ADDR=//p" ${B} | head -n 1 | tr -d "'\\"")
  case $a in '' | *[!0-9A-Za-z.:-]*) a=none ;; esac
else a=missing
fi
say ca-addr "$a"
say service "$(systemctl is-active istio 2>/dev/null | head -n 1 | tr -cd 'a-z-')"
exit 0
`;function fn(e){let n=null,t=null,s="";for(let o of e.split(`
`)){let r=/^MX-RUNNING (package|ca-addr|service) ?(\S*)$/.exec(o);if(!r)continue;let i=r[2]??"";r[1]==="package"?n=i==="none"||i===""?null:i:r[1]==="ca-addr"?t=i==="missing"||i===""?null:i==="none"?"":i:s=i}return{packageVersion:n,caAddress:t,service:s}}async function ft(e,n=6e4){let t=await e.exec(ye(n/1e3),{stdin:pn,timeoutMs:n+1e4});if(t.code!==0){let s=(t.stdout+t.stderr).trim().split(`
`).slice(-2).join(" | ");throw new Error(`reading what the host runs exited with ${t.code}: ${s}`)}return fn(t.stdout)}var Ee=class{max;min;decrease;maxSeries;now;startedAt;current;credit=0;shrunk=!1;lastDecreaseAt=-1/0;points=[];dropped=0;constructor(n){this.max=Math.max(1,Math.floor(n.max)),this.min=Math.min(this.max,Math.max(1,Math.floor(n.min??1))),this.decrease=Math.min(.9,Math.max(.1,n.decrease??.5)),this.maxSeries=Math.max(4,n.maxSeries??60),this.now=n.now??Date.now,this.startedAt=this.now();let t=n.initial??Math.min(this.max,4);this.current=Math.min(this.max,Math.max(this.min,Math.floor(t))),this.record()}get limit(){return this.current}started(){return this.now()}ready(n=!0){if(!(!n||this.current>=this.max)){if(!this.shrunk){this.set(this.current+1);return}this.credit+=1/this.current,this.credit>=1-1e-9&&(this.credit=0,this.set(this.current+1))}}overloaded(n){if(this.shrunk=!0,this.credit=0,n<this.lastDecreaseAt)return!1;this.lastDecreaseAt=this.now();let t=Math.max(this.min,Math.floor(this.current*this.decrease));return t===this.current?!1:(this.set(t),!0)}series(){return this.points.map(n=>({...n}))}get omitted(){return this.dropped}set(n){n!==this.current&&(this.current=n,this.record())}record(){this.points.push({atMs:Math.max(0,this.now()-this.startedAt),limit:this.current}),this.points.length>this.maxSeries&&(this.points.splice(Math.floor(this.maxSeries/2),1),this.dropped++)}},Te=class{slowMs;factor;floorMs;fastest=1/0;constructor(n={}){this.slowMs=n.slowMs??1/0,this.factor=Math.max(1,n.factor??3),this.floorMs=Math.max(0,n.floorMs??5e3)}inGoodTime(n){return this.fastest=Math.min(this.fastest,Math.max(0,n)),n>=this.slowMs?!1:n<=Math.max(this.floorMs,this.factor*this.fastest)}};function _t(e,n=12){let t=e.map(r=>r.limit);if(t.length<=n)return t.join(" \u2192 ");let s=t.slice(0,Math.ceil(n/2)),o=t.slice(t.length-Math.floor(n/2));return`${s.join(" \u2192 ")} \u2192 \u2026 \u2192 ${o.join(" \u2192 ")}`}var mn=new Set([15010,15011,15012,15443]),_n=/(^|\.)(istiod|istio-pilot|istiod-[a-z0-9-]+|istio-eastwestgateway)(\.|$)/,$n=[/x509:/,/no such host/,/tls: bad certificate/,/authentication failure/i,/code = (Unauthenticated|PermissionDenied|InvalidArgument|NotFound|FailedPrecondition)\b/,/CSR signing error/,/WorkloadEntry/,/no such file or directory|permission denied/i,/failed to (load|fetch|get credential)/i,/certificate has expired|provisioned certificate/],gn=[/code = ResourceExhausted\b/,/rate limit/i,/too many requests/i,/server is not ready to serve discovery information/,/config not received from Pilot/],kn=/i\/o timeout|connection refused|connection reset by peer|context deadline exceeded|timed out|broken pipe|\bEOF\b|closed the connection/i,yn=/dial tcp (\[[^\]]+\]|[^\s:]+):(\d+)/,Re=/(read|write|handshake) operation timed out|TimeoutError|socket\.timeout|read: connection timed out|i\/o timeout|context deadline exceeded/i,En=/probe|health ?check|127\.0\.0\.1|localhost|\[::1\]|:150(00|01|20|21)\b/i,Tn=/istiod|pilot|create certificate|warm certificate|rotate certificate|citadelclient|\bca\b|\bADS\b|XDS|StreamAggregatedResources|code = Unavailable/,Rn=/^(?:istio(?:\.err)?\.log: )?\S+\t(\w+)\t\S+\t(.*)$/;function vn(e,n){let t=yn.exec(e);if(!t)return;let s=(t[1]??"").replace(/^\[|\]$/g,""),o=Number(t[2]);return mn.has(o)||_n.test(s)||n.includes(s)}function wn(e,n=[]){if($n.some(t=>t.test(e)))return"host";if(gn.some(t=>t.test(e))||/\b(429|503)\b/.test(e)&&/istiod|ADS|XDS|pilot/i.test(e))return"control-plane";if(kn.test(e)||Re.test(e)){let t=vn(e,n);return t!==void 0?t?"control-plane":"host":Tn.test(e)||Re.test(e)&&!En.test(e)?"control-plane":void 0}}function gt(e,n=[]){if(!(e.status!=="failed"||e.error?.phase!=="ready")){for(let t of[...e.logs].reverse()){let s=Rn.exec(t),o=s?.[1]?.toLowerCase(),r=s?s[2]??"":t.replace(/^istio(?:\.err)?\.log: /,"");if(s&&o!=="error"&&o!=="warn"&&o!=="warning")continue;let i=wn(r,n);if(i)return{cause:i,reason:r.trim()};if(o==="error")return{cause:"host",reason:r.trim()}}return{cause:"host",reason:"the agent logged no error that names a cause"}}}function kt(e){let n=e.diagnosis;if(!n)return"";let t=(e.attempts??1)>1?`, after ${e.attempts} attempts`:"";return` (${n.cause==="control-plane"?"the control plane":"this host"}${t}: ${n.reason})`}function A(e){return e.from.kind==="vm"?e.to?.kind==="vm"?"host-to-host":"host-to-cluster":e.to?.kind==="vm"?"cluster-to-host":"pod-to-pod"}function we(e){return e.from.kind==="vm"?e.from.name:e.to?.kind==="vm"?e.to.name:void 0}function be(e,n){for(let t of[e.from,e.to]){if(t?.kind!=="vm")continue;let s=n.get(t.name);if(s&&!s.ready)return s.why??`vm/${t.name} is not ready`}}function bn(e){return e.kind==="vm"?`vm/${e.name}`:`pod/${e.namespace}/${e.selector}`}function ve(e){return e.includes(":")?`[${e}]`:e}function Sn(e,n){let{service:t}=e;if(t.kind==="none")return;let s=t.ports.find(r=>r.targetPort===n);if(!s)return;let o=t.kind==="ServiceEntry"?t.hosts[0]:`${t.name}.${e.namespace}.svc.cluster.local`;return o?{host:o,port:s.number}:void 0}async function Se(e,n,t){if(n.url!==null)return{url:n.url};let s=n.to;if(!s)return{error:"the check has neither url nor to"};if(s.kind==="vm"){let i=t.get(s.name),a=i?.address;if(!i||!a)return{error:`the address of vm/${s.name} is not known`};let d=n.port??80,l=Sn(i.group,d);return l?{url:`http://${l.host}:${l.port}${n.path}`,connectTo:a}:{url:`http://${ve(a)}:${d}${n.path}`}}let o=e.deps.pods;if(!o)return{error:"no cluster connection to find the target pod"};let r=await o.findPod(s.namespace,s.selector);return r?.ip?{url:`http://${ve(r.ip)}:${n.port??80}${n.path}`}:{error:`no running pod with an IP matches ${bn(s)}`}}function Oe(e,{url:n,connectTo:t}){let s=new URL(n);return{kind:A(e),url:n,...t!==void 0?{connectTo:t}:{},host:s.hostname.replace(/^\[|\]$/g,""),port:Number(s.port||(s.protocol==="https:"?443:80)),expect:e.expect,requireEnvoy:e.from.kind==="vm"||e.to?.kind==="vm"}}function Ie(e){return!/^[\d.]+$/.test(e)&&!e.includes(":")}var J=["curl","wget","python3"],X="__mx_remote_ip=",z='f=; for t in curl wget python3; do if command -v "$t" >/dev/null 2>&1; then echo "$t"; f=1; fi; done; [ -n "$f" ] || exit 127';function Ne(){return["sh","-c",z]}function Xe(e){switch(e){case"curl":return["curl","--version"];case"wget":return["wget","--help"];case"python3":return["python3","-c","pass"]}}function Q(e){if(e.code!==0)return[];let n=J;return e.stdout.split(/\s+/).filter(t=>n.includes(t))}function Ce(e){return Q(e)[0]??null}var On=`import sys, socket, http.client, urllib.parse, ssl
u = urllib.parse.urlsplit(sys.argv[1]); t = float(sys.argv[2])
a = sys.argv[3] if len(sys.argv) > 3 else u.hostname
try:
    if u.scheme == 'https':
        c = http.client.HTTPSConnection(a, u.port or 443, timeout=t, context=ssl.create_default_context())
    else:
        c = http.client.HTTPConnection(a, u.port or 80, timeout=t)
    c.connect()
    try:
        sys.stderr.write('${X}%s\\n' % c.sock.getpeername()[0])
    except Exception:
        pass
    c.request('GET', (u.path or '/') + ('?' + u.query if u.query else ''), headers={'Host': u.netloc})
    r = c.getresponse()
    head = 'HTTP/%d.%d %d %s\\r\\n' % (r.version // 10, r.version % 10, r.status, r.reason)
    for k, v in r.getheaders():
        head += '%s: %s\\r\\n' % (k, v)
    sys.stdout.write(head + '\\r\\n'); sys.stdout.flush()
    sys.stdout.buffer.write(r.read(65536)); sys.stdout.flush()
except socket.gaierror as e:
    sys.stderr.write('Could not resolve host: %s (%s)\\n' % (u.hostname, e)); sys.exit(6)
except ConnectionRefusedError as e:
    sys.stderr.write('Failed to connect: Connection refused\\n'); sys.exit(7)
except socket.timeout as e:
    sys.stderr.write('Operation timed out after %s s\\n' % t); sys.exit(28)
except ConnectionResetError as e:
    sys.stderr.write('Recv failure: Connection reset by peer\\n'); sys.exit(56)
except http.client.RemoteDisconnected as e:
    sys.stderr.write('Empty reply from server\\n'); sys.exit(52)
except ssl.SSLError as e:
    sys.stderr.write('TLS error: %s\\n' % e); sys.exit(35)
except OSError as e:
    sys.stderr.write('Failed to connect: %s\\n' % e); sys.exit(7)
`;function E(e,n,t,s){let o=String(Math.max(1,Math.round(t))),r=new URL(n),i=r.port||(r.protocol==="https:"?"443":"80"),a=s?.includes(":")?`[${s}]`:s;switch(e){case"curl":return["curl","-sS","-i","--noproxy","*","--max-time",o,"-w",`\\n${X}%{remote_ip}\\n`,...s?["--resolve",`${r.hostname}:${i}:${a}`]:[],n];case"wget":{if(!s)return["wget","-S","-O","-","-T",o,n];let d=new URL(n);return d.hostname=a??s,["wget","-S","-O","-","-T",o,"--header",`Host: ${r.host}`,d.toString()]}case"python3":return["python3","-c",On,n,o,...s?[s]:[]]}}function Z(e,n,t){return n===void 0||n===t?e:`sudo -n -u ${y(n)} -- sh -c ${y(e)}`}function ee(e){return e==="root"?"nobody":e}function xe(e){let n=e[0]?.trim()??"",t=/^HTTP\/\d(?:\.\d)?\s+(\d{3})/.exec(n);if(!t)return null;let s={};for(let o of e.slice(1)){let r=o.indexOf(":");if(r<=0)continue;let i=o.slice(0,r).trim().toLowerCase(),a=o.slice(r+1).trim();s[i]=s[i]!==void 0?`${s[i]}, ${a}`:a}return{status:Number(t[1]),headers:s}}function Le(e){let n=e;for(let t=0;t<5;t++){let s=/\r?\n\r?\n/.exec(n),o=s?n.slice(0,s.index):n,r=xe(o.split(/\r?\n/));if(!r)return null;let i=s?n.slice(s.index+s[0].length):"";if(r.status>=200||!s)return{...r,body:i};n=i}return null}function Me(e){let t=new RegExp(`\\n?${X}([^\\n]*)\\n?$`).exec(e);if(!t)return{text:e};let s=(t[1]??"").trim();return{text:e.slice(0,t.index),...s!==""?{remoteIp:s}:{}}}var In={6:"dns",7:"refused",28:"timeout",35:"tls",51:"tls",52:"empty",56:"reset",60:"tls",127:"no-client"};function Ae(e){return/resolve|bad address|Name or service not known|no such host|unknown host/i.test(e)?"dns":/refused/i.test(e)?"refused":/no route to host|network is unreachable|unreachable/i.test(e)?"unreachable":/timed? ?out/i.test(e)?"timeout":/reset/i.test(e)?"reset":/empty reply|closed|remote ?disconnected/i.test(e)?"empty":/ssl|tls|certificate/i.test(e)?"tls":/not found|executable file/i.test(e)?"no-client":"other"}function Y(e){let n=e.split(`
`).map(t=>t.trim()).filter(t=>t!==""&&!t.startsWith(X));return n[n.length-1]??""}function S(e,n){if(e==="wget"){let d=n.stderr.split(/\r?\n/),l=-1;for(let c=0;c<d.length;c++)/^\s+HTTP\/\d/.test(d[c]??"")&&(l=c);if(l>=0){let c=[];for(let p=l;p<d.length&&/^\s+\S/.test(d[p]??"");p++)c.push(d[p]??"");let m=xe(c);if(m)return{response:{...m,body:n.stdout}}}let h=Y(n.stderr)||`wget exited with ${n.code}`;return{failure:{kind:n.code===127?"no-client":Ae(h),message:h}}}let t=Me(n.stdout),s=Me(n.stderr.trimEnd()+`
`),o=t.remoteIp??Mn(n.stderr),r=Le(t.text);if(r&&(n.code===0||r.status>0))return{response:r,...o?{remoteIp:o}:{}};let i=Y(s.text)||Y(t.text)||`${e} exited with ${n.code}`;return{failure:{kind:In[n.code]??Ae(i),message:i},...o?{remoteIp:o}:{}}}function Mn(e){return new RegExp(`${X}(\\S+)`).exec(e)?.[1]}function K(e){let n;try{n=JSON.parse(e)}catch{return null}if(typeof n!="object"||n===null)return null;let t=n.headers;if(typeof t!="object"||t===null||Array.isArray(t))return null;let s={};for(let[o,r]of Object.entries(t))s[o.toLowerCase()]=Array.isArray(r)?r.map(String).join(", "):String(r);return s}function Pe(e){let n=[];for(let t of De(e,",")){let s={uri:[]};for(let o of De(t,";")){let r=o.indexOf("=");if(r<=0)continue;let i=o.slice(0,r).trim().toLowerCase(),a=o.slice(r+1).trim();a.startsWith('"')&&a.endsWith('"')&&(a=a.slice(1,-1)),i==="uri"?s.uri.push(a):i==="by"?s.by=a:i==="hash"?s.hash=a:i==="subject"&&(s.subject=a)}n.push(s)}return n}function De(e,n){let t=[],s="",o=!1;for(let r=0;r<e.length;r++){let i=e[r]??"";if(i==="\\"&&o){s+=i+(e[r+1]??""),r++;continue}i==='"'&&(o=!o),i===n&&!o?(s.trim()!==""&&t.push(s.trim()),s=""):s+=i}return s.trim()!==""&&t.push(s.trim()),t}function H(e){return e?Pe(e).at(-1)?.uri[0]??null:null}function Ke(e){let n=/^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(e);return n?{trustDomain:n[1]??"",namespace:n[2]??"",serviceAccount:n[3]??""}:null}function ne(e,n){let t=[];for(let[s,o]of Object.entries(n)){let r=e[s.toLowerCase()];r===void 0?t.push(`no \`${s.toLowerCase()}\` header`):r.toLowerCase().includes(o.toLowerCase())||t.push(`\`${s.toLowerCase()}: ${r}\` does not contain "${o}"`)}return t}function T(e,n=300){let t=e.replace(/\s+/g," ").trim();return t.length>n?`${t.slice(0,n)}\u2026`:t}function He(e){let n=e?.toLowerCase();return n==="envoy"||n==="istio-envoy"}function Ge(e){return[...e.entries()].map(([n,t])=>`${n.replace(" "," over ")} (${t})`).join(", ")}function An(e,n){let t=e.inbound;if(t){if("error"in t){n.push(`the inbound counters of vm/${t.vm} could not be read (${t.error})`);return}if(t.total===0)return{ok:!1,diagnosis:`${O(e)} answered, but the sidecar of vm/${t.vm} counted no inbound request (istio_requests_total{reporter="destination"} did not grow): the answer did not come through the VM's inbound capture; check ISTIO_INBOUND_PORTS (the group's ports)`,notes:n};if(e.caller){let s=`/ns/${e.caller.namespace}/sa/${e.caller.serviceAccount}`;if(![...t.by.entries()].find(([r])=>r.split(" ")[0]?.endsWith(s)&&r.endsWith(" mutual_tls")))return{ok:!1,diagnosis:`the sidecar of vm/${t.vm} counted the request from ${Ge(t.by)}, not from spiffe://\u2026${s} over mutual_tls: the caller's sidecar did not originate Istio mTLS to the VM`,notes:n}}n.push(`vm/${t.vm} sidecar counted inbound: ${Ge(t.by)}`)}}var Dn=/upstream connect error|no healthy upstream|upstream request timeout/i;function G(e){return e.from}function O(e){return`${e.host}:${e.port}`}function W(e,n){let t=e.from.startsWith("vm/");if(e.resolved===null||n.failure?.kind==="dns")return t?{ok:!1,diagnosis:`"${e.host}" does not resolve on ${G(e)}: no hosts entry and no answer from the sidecar's DNS capture; enable captureDns (ISTIO_META_DNS_CAPTURE=true in cluster.env) and check the sidecar runs, or add the name to /etc/hosts`}:{ok:!1,diagnosis:`"${e.host}" does not resolve in ${G(e)}: check that a Service or ServiceEntry with that host exists`};let s=e.resolved??n.remoteIp,o=n.failure;if(o){let u=`${o.message}`;switch(o.kind){case"no-client":return{ok:!1,diagnosis:`no HTTP client in ${G(e)} (looked for curl, wget, python3): install one or check from elsewhere`};case"tls":return{ok:!1,diagnosis:`TLS failed towards ${O(e)}: ${u}`};case"reset":case"empty":return e.kind==="cluster-to-host"&&e.caller&&!e.caller.injected?{ok:!1,diagnosis:`the connection to ${O(e)} was reset (${u}): the calling pod has no sidecar, and a VM sidecar under STRICT mTLS refuses plaintext; inject the pod's sidecar`}:{ok:!1,diagnosis:`the connection to ${O(e)} was closed without an answer (${u}): a sidecar in between refused it (mTLS mode STRICT with a caller outside the mesh?) or the app crashed`};default:break}return e.kind==="host-to-cluster"?{ok:!1,diagnosis:`${s?`"${e.host}" resolved to ${s}, but `:""}the connection failed (${u}): not intercepted by the sidecar; check that ISTIO_SERVICE_CIDR in cluster.env covers the address (or is *) and the ISTIO_OUTPUT iptables chain on the VM`}:e.kind==="cluster-to-host"||e.kind==="host-to-host"?o.kind==="refused"?{ok:!1,diagnosis:`connection to ${O(e)} refused: neither the VM's sidecar (inbound capture of the group's ports, ISTIO_INBOUND_PORTS) nor an app accepted it`}:{ok:!1,diagnosis:`cannot reach ${O(e)} from ${G(e)} (${u}): check the route and firewalls between the cluster network and the VM (the VM's address, its ports)`}:{ok:!1,diagnosis:`request to ${O(e)} failed: ${u}`}}let r=n.response;if(!r)return{ok:!1,diagnosis:"no answer and no error: the client printed nothing"};let i=r.headers.server,a=e.kind==="cluster-to-host"?He(i):i?.toLowerCase()==="envoy",d=[];if(He(i)&&r.status>=500&&Dn.test(r.body))return e.kind==="cluster-to-host"||e.kind==="host-to-host"?{ok:!1,diagnosis:`the VM's sidecar answered ${r.status} but the app behind port ${e.port} did not (${T(r.body,120)}): check the app listens on ${e.port}`}:{ok:!1,diagnosis:`the sidecar intercepted the request but could not reach "${e.host}" (${r.status}: ${T(r.body,120)}): check that the service has ready endpoints and that the VM's network reaches them`};if(e.requireEnvoy&&!a){let u=i===void 0?"no `server` header":`\`server: ${i}\``;if(e.kind==="host-to-cluster")return{ok:!1,diagnosis:`resolved${s?` to ${s}`:""} but not intercepted: no \`server: envoy\` (${u}, status ${r.status}); check ISTIO_SERVICE_CIDR in cluster.env (outbound capture) and the ISTIO_OUTPUT iptables chain on the VM`};let c=e.kind==="cluster-to-host"?"`server: envoy` or `istio-envoy`":"`server: envoy`";return{ok:!1,diagnosis:`${O(e)} answered without ${c} (${u}): the VM's sidecar did not intercept inbound traffic on port ${e.port}; check ISTIO_INBOUND_PORTS (the group's ports) and that the sidecar runs`}}if(r.status!==e.expect.status)return{ok:!1,diagnosis:`expected status ${e.expect.status}, got ${r.status} (${T(r.body,120)})`};if(!e.caller){let u=H(K(r.body)?.["x-forwarded-client-cert"]);u&&d.push(`caller identity ${u}`)}if(e.caller){let u=K(r.body);if(u===null)d.push("the app does not echo request headers: caller identity not checked");else{let c=`/ns/${e.caller.namespace}/sa/${e.caller.serviceAccount}`,m=u["x-forwarded-client-cert"],p=H(m);if(!(p?Ke(p):null)){let _=p?`as ${p}`:"without an identity (no x-forwarded-client-cert)",$=e.caller.injected?"the pod has an istio-proxy container but its request did not go through it: check its traffic capture (istio-init or the CNI plugin, traffic.sidecar.istio.io annotations)":"the pod has no istio-proxy container: inject its sidecar (namespace label istio-injection=enabled or istio.io/rev) and restart the pod";return{ok:!1,diagnosis:`the calling pod is not in the mesh: the VM's sidecar saw the caller ${_}, not spiffe://\u2026${c}; ${$}`}}if(!p?.endsWith(c))return{ok:!1,diagnosis:`the VM's sidecar saw the caller as ${p}, expected spiffe://\u2026${c}: the request came from another workload (a gateway or proxy in between?)`};d.push(`caller identity ${p}`)}}let l=An(e,d);if(l)return l;let h=ne(r.headers,e.expect.headers);return h.length>0?{ok:!1,diagnosis:`unexpected headers: ${h.join("; ")}`,notes:d}:e.expect.body!==null&&!r.body.includes(e.expect.body)?{ok:!1,diagnosis:`the body does not contain "${e.expect.body}" (${T(r.body,120)})`,notes:d}:{ok:!0,notes:d}}function te(e){let{outcome:n}=e;if(n.response?.status===200)return{ok:!0};let t=e.serviceState.trim()||"unknown",s=We(e.logTail),o=Nn(e.logTail),r=s?`; ${s}`:o?`; last log line: ${o}`:"";return t!=="active"&&t!=="activating"&&t!=="reloading"?{ok:!1,diagnosis:`sidecar not ready: the istio service is ${t} on ${e.vm}; start it with \`systemctl start istio\`${r}`}:n.response?{ok:!1,diagnosis:`sidecar not ready: ${n.response.status} ${T(n.response.body,160)}${r}`}:{ok:!1,diagnosis:`sidecar not ready: nothing answers on :15021 (${n.failure?.message??"no answer"}) although the istio service is ${t}: it is starting or crashing${r}`}}function We(e){let n=[[/lookup (\S+?):? no such host/,`istiod's name "$1" does not resolve on the VM: its hosts entry is missing`],[/certificate signed by unknown authority/,"the VM's root-cert.pem is not the mesh's root certificate"],[/authentication failure/,"istiod refused the bootstrap token (expired, wrong audience, or the account is gone)"],[/connection refused/i,"istiod (or the gateway in front of it) refused the connection"],[/permission denied/i,"a file the sidecar reads is not readable by istio-proxy"]],t=e.split(`
`);for(let s=t.length-1;s>=0;s--){let o=t[s]??"";for(let[r,i]of n){let a=r.exec(o);if(a)return i.replace("$1",a[1]??"")}}}function Nn(e){let s=e.split(`
`).map(o=>o.trim()).filter(o=>o!=="").filter(o=>/\t(error|warn)\t/.test(o)||/error|fail/i.test(o)).at(-1);return s?T(s,200):void 0}function Fe(e,n){let t=n.hostname?`${n.hostname}.${n.namespace}`:void 0;return e.find(s=>t!==void 0&&(s.id===t||s.id.startsWith(`${t}-`)))??e.find(s=>s.ip===n.address)}function se(e){let n=Fe(e.proxies,e);if(n)return{ok:!0,notes:[`istiod lists ${n.id} from ${n.ip}`]};let t=[e.address,e.hostname?`${e.hostname}.${e.namespace}`:""].filter(Boolean).join(", ");return{ok:!1,diagnosis:`proxy not connected to istiod: istiod lists ${e.proxies.length} connected ${e.proxies.length===1?"proxy":"proxies"}, none for ${e.vm} (${t}); check the discovery address (the istiod hosts entry, port 15012 through the east-west gateway) and the sidecar log for XDS errors`}}function re(e){let n=`WorkloadEntry ${e.namespace}/${e.name}`;switch(e.health.state){case"healthy":return{ok:!0,notes:[`${n} is Healthy`]};case"missing":return{ok:!1,diagnosis:`${n} does not exist: registration did not happen (manual: the entry was not applied; auto: istiod did not register the proxy)`};case"unknown":return{ok:!0,skipped:!0,diagnosis:`${n} has no Healthy condition: istiod reports probe results only for auto-registered entries, and for manual ones annotated proxy.istio.io/health-checks-enabled: "true" whose proxy names them in ISTIO_META_WORKLOAD_ENTRY`};case"unhealthy":return{ok:!1,diagnosis:`${n} is unhealthy (${[e.health.reason,e.health.message].filter(Boolean).join(": ")||"no message"}): the group's probe fails on ${e.vm}; check the app listens where the probe points`}}}var Xn={durationMs:0,attempts:0},Cn={durationMs:0,attempts:1};function R(e,n,t,s,o){let r=s.skipped?"skip":s.ok?"pass":"fail",i=[...o.notes??[],...s.notes??[]];return{name:e,kind:n,...t!==void 0?{vm:t}:{},status:r,ok:r!=="fail",evidence:{...o,...i.length>0?{notes:i}:{}},...s.diagnosis!==void 0?{diagnosis:s.diagnosis}:{}}}function F(e,n,t,s){return R(e,n,t,{ok:!0,skipped:!0,diagnosis:s},Xn)}function v(e,n,t,s,o={}){return R(e,n,t,{ok:!1,diagnosis:s},{...Cn,...o})}function C(e){let n=e.remoteIp?{resolved:e.remoteIp}:{};return e.response?{status:e.response.status,headers:e.response.headers,bodyExcerpt:T(e.response.body),...n}:{...e.failure?{error:`${e.failure.kind}: ${e.failure.message}`}:{},...n}}function Ue(e){return{deps:e,sleep:e.sleep??(n=>new Promise(t=>setTimeout(t,n))),now:e.now??Date.now,hostTools:new Map}}function qe(e,n){let t=new Map(e.workloadGroups.map(o=>[o.name,o])),s=new Map;for(let o of e.vms){let r=t.get(o.group);r&&s.set(o.name,{vm:o,group:r,address:n.vmAddress(o.name),shell:n.host(o.name),ready:!1})}return s}async function M(e,n,t){let s=e.deps.retryDelayMs??1e3,o,r=Math.max(1,n);for(let i=1;i<=r;i++){if(o=await t(),o.verdict.ok||i===r)return{...o,attempts:i};await e.sleep(s),s=Math.min(s*2,5e3)}throw new Error("internal: retry without attempts")}function D(e,n,t,s){let o=`${n.name}\0${s}`,r=e.hostTools.get(o);return r||(r=t.run(z,{user:s,timeoutMs:15e3}).then(Ce),e.hostTools.set(o,r)),r}async function Ve(e,n,t,s){let o=await e.exec(n,t.name,t.container,Ne(),s),r=Q(o);if(r.length>0)return r;if(o.code===127&&o.stdout.trim()===""&&!/not found/.test(o.stderr))return[];let i=[];for(let a of J)(await e.exec(n,t.name,t.container,Xe(a),s)).code===0&&i.push(a);return i}var je="http://127.0.0.1:15000/stats/prometheus";function xn(e){let n=new Map;for(let t of e.split(`
`)){let s=/^istio_requests_total\{(.*)\}\s+([\d.eE+]+)\s*$/.exec(t.trim());if(!s)continue;let o={};for(let i of(s[1]??"").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))o[i[1]??""]=(i[2]??"").replace(/\\(.)/g,"$1");if(o.reporter!=="destination")continue;let r=`${o.source_principal??"unknown"} ${o.connection_security_policy??"unknown"}`;n.set(r,(n.get(r)??0)+Number(s[2]))}return n}function oe(e,n){let t=new Map,s=0;for(let[o,r]of n){let i=r-(e.get(o)??0);i>0&&(t.set(o,i),s+=i)}return{total:s,by:t}}async function U(e,n){let t=n.shell;if(!t)return{error:`no connection to ${n.vm.name}`};try{let s=await D(e,n.vm,t,n.vm.user);if(!s)return{error:`no HTTP client on ${n.vm.name}`};let o=E(s,je,5),r=await t.run(b(o),{timeoutMs:15e3}),i=S(s,r);if(i.response?.status!==200){let a=i.response?`HTTP ${i.response.status}`:i.failure?.message??"no answer";return{error:`${je} on ${n.vm.name}: ${a}`}}return{counts:xn(i.response.body)}}catch(s){return{error:s instanceof Error?s.message:String(s)}}}function x(e,n){return v(e.check.name,e.target.kind,e.vm,n)}async function Be(e,n,t){let s=we(n),o=be(n,t);if(o!==void 0)return F(n.name,A(n),s,`not run: ${o}`);let r=e.now(),i=await Se(e,n,t);if("error"in i)return v(n.name,A(n),s,i.error);let a={check:n,vm:s,target:Oe(n,i),timeoutMs:(n.timeout+5)*1e3,started:r},d=(l,h)=>Pn(e,Ln(n,i,t),l,h);return n.from.kind==="vm"?Kn(e,a,n.from.name,t,d):Hn(e,a,n.from,d)}function Ln(e,n,t){let s=e.to?.kind==="vm"?t.get(e.to.name):void 0;if(!s)return[];if(n.connectTo===void 0)return[s];let o=[...t.values()].filter(r=>r!==s&&r.group.name===s.group.name);return[s,...o.filter(r=>r.shell&&r.ready)]}async function Pn(e,n,t,s){if(n.length===0){let c=await s();return{verdict:W(t,c),outcome:c}}let o=await Promise.all(n.map(c=>U(e,c))),r=await s(),i=await Promise.all(n.map(c=>U(e,c))),a=()=>i.some((c,m)=>{let p=o[m];return c&&p&&"counts"in c&&"counts"in p&&oe(p.counts,c.counts).total>0});r.response&&!a()&&(await e.sleep(500),i=await Promise.all(n.map(c=>U(e,c))));let d=n.map((c,m)=>{let[p,f]=[o[m],i[m]],_=c.vm.name;return!f||!p||"error"in f?{vm:_,error:f&&"error"in f?f.error:"no reading"}:f.counts.size===0?{vm:_,error:'no istio_requests_total series with reporter="destination"'}:"error"in p?{vm:_,error:`no reading before the request (${p.error})`}:{vm:_,...oe(p.counts,f.counts)}}),l=d.find(c=>"total"in c&&c.total>0),h=d.find(c=>"total"in c),u=l??h??d[0];return{verdict:W({...t,...u?{inbound:u}:{}},r),outcome:r}}async function Kn(e,n,t,s,o){let{check:r,target:i,timeoutMs:a}=n,d=s.get(t),l=d?.shell;if(!d||!l)return x(n,`no connection to ${t}`);let h=ee(d.vm.user),u=await D(e,d.vm,l,h);if(!u)return x(n,`no HTTP client on ${d.vm.name} usable by ${h} (looked for curl, wget, python3)`);let c=b(E(u,i.url,r.timeout,i.connectTo)),m=`getent hosts ${y(i.host)}`,p=await M(e,r.attempts,async()=>{let f;if(i.connectTo!==void 0)f=i.connectTo;else if(Ie(i.host)){let k=await l.run(m,{user:h,timeoutMs:a});k.code===0?f=k.stdout.trim().split(/\s+/)[0]??void 0:k.code===2&&(f=null)}let _={...i,from:`vm/${d.vm.name}`,...f!==void 0?{resolved:f}:{}},{verdict:$,outcome:I}=await o(_,async()=>f===null?{failure:{kind:"dns",message:`getent hosts ${i.host}: not found`}}:S(u,await l.run(c,{user:h,timeoutMs:a})));return{verdict:$,value:{outcome:I,resolved:f}}});return R(r.name,i.kind,n.vm,p.verdict,{where:`vm/${d.vm.name} as ${h}`,command:c,tool:u,...C(p.value.outcome),...p.value.resolved?{resolved:p.value.resolved}:{},durationMs:e.now()-n.started,attempts:p.attempts})}async function Hn(e,n,t,s){let{check:o,target:r,timeoutMs:i}=n,a=e.deps.pods;if(!a)return x(n,"no cluster connection to exec in pods");let d=await a.findPod(t.namespace,t.selector);if(!d)return x(n,`no running pod matches ${t.selector} in namespace ${t.namespace}`);let l=await Ve(a,t.namespace,d,i);if(l.length===0)return x(n,`pod ${t.namespace}/${d.name} has no HTTP client (curl, wget, python3)`);let h={...r,from:`pod/${t.namespace}/${d.name}`,...r.kind==="cluster-to-host"?{caller:{namespace:t.namespace,serviceAccount:d.serviceAccount,injected:d.injected}}:{}},u=await M(e,o.attempts,async()=>{let p=l[0]??"curl",f,{verdict:_,outcome:$}=await s(h,async()=>{for(;;){let I=E(p,r.url,o.timeout,r.connectTo),k=await a.exec(t.namespace,d.name,d.container,I,i);if(k.code===-1)return f={ok:!1,diagnosis:`cannot exec in pod ${t.namespace}/${d.name}: ${k.stderr.trim()} (needs create on pods/exec)`},{failure:{kind:"other",message:k.stderr.trim()}};let w=S(p,k);if(w.failure?.kind!=="no-client"||l.length<2)return w;l.shift(),p=l[0]??p}});return{verdict:f??_,value:{outcome:$,tool:p}}}),c=u.value.tool,m=E(c,r.url,o.timeout,r.connectTo);return R(o.name,r.kind,n.vm,u.verdict,{where:`pod/${t.namespace}/${d.name}`,command:c==="python3"?`python3 (http.client) GET ${r.url}`:b(m),tool:c,...C(u.value.outcome),...r.connectTo!==void 0?{resolved:r.connectTo}:{},durationMs:e.now()-n.started,attempts:u.attempts})}var N="mesh-expansion-verify-strict";function Ye(e,n,t="security.istio.io/v1beta1"){return{apiVersion:t,kind:"PeerAuthentication",metadata:{name:N,namespace:e,labels:{[he]:pe,[fe]:n}},spec:{mtls:{mode:"STRICT"}}}}async function Je(e,n,t,s){let{deps:o}=e,r=e.now();if(!o.strictMtls)return s();let i=[],a=[],d=[];try{if(!o.policy)a.push("strictMtls needs a cluster connection");else{for(let l of n)try{await o.policy.applyPeerAuthentication(Ye(l,t,o.securityApiVersion)),i.push(l)}catch(h){a.push(`cannot apply PeerAuthentication ${l}/${N}: ${g(h)}`);break}i.length>0&&await e.sleep(o.strictSettleMs??2e3)}d.push(...await s())}finally{for(let h of i)await o.policy?.deletePeerAuthentication(h,N).catch(u=>a.push(`cannot remove PeerAuthentication ${h}/${N} (remove it by hand): ${g(u)}`));let l={name:"STRICT mTLS during the checks",kind:"strict-mtls",status:a.length>0?"fail":"pass",ok:a.length===0,evidence:{where:"cluster",notes:[`PeerAuthentication ${N} (mode STRICT) applied in ${i.join(", ")||"no namespace"} and removed afterwards`],durationMs:e.now()-r,attempts:1},...a.length>0?{diagnosis:a.join("; ")}:{}};d.push(l),o.onResult?.(l)}return d}var Qe="http://127.0.0.1:15021/healthz/ready",Gn={"sidecar-ready":"sidecar ready","istiod-connection":"connected to istiod","workload-entry-health":"WorkloadEntry healthy"};function L(e,n){return`vm/${e.vm.name}: ${Gn[n]}`}function ie(e){return e.deps.builtin?.attempts??5}async function Wn(e,n){let t=L(n,"sidecar-ready");if(!n.shell)return v(t,"sidecar-ready",n.vm.name,`no connection to ${n.vm.name}`);let s=n.shell,o=e.deps.builtin?.timeoutSeconds??5,r=e.now(),i=await D(e,n.vm,s,n.vm.user);if(!i)return v(t,"sidecar-ready",n.vm.name,`no HTTP client on ${n.vm.name} (looked for curl, wget, python3)`);let a=b(E(i,Qe,o)),d=await M(e,ie(e),async()=>{let u=await s.run(a,{timeoutMs:(o+5)*1e3}),c=S(i,u);return{verdict:c.response?.status===200?{ok:!0}:{ok:!1},value:c}}),l=d.verdict,h=[];if(!l.ok){let u=await s.run("systemctl is-active istio",{timeoutMs:1e4}).catch(()=>({code:1,stdout:"unknown",stderr:""})),c=await s.run("tail -n 40 /var/log/istio/istio.log",{user:"root",timeoutMs:1e4}).catch(()=>({code:1,stdout:"",stderr:""}));l=te({vm:n.vm.name,outcome:d.value,serviceState:u.stdout,logTail:c.stdout});let m=c.stdout.trim().split(`
`).slice(-5).join(`
`);m!==""&&h.push(`istio.log (last lines):
${m}`)}return R(t,"sidecar-ready",n.vm.name,l,{where:`vm/${n.vm.name}`,command:a,tool:i,...C(d.value),notes:h,durationMs:e.now()-r,attempts:d.attempts})}async function Fn(e,n,t){let s=e.now(),o=await M(e,ie(e),async()=>{let r=await t.connectedProxies();return r===null||!Array.isArray(r)?{verdict:{ok:!0,skipped:!0,diagnosis:r===null?"not checked: istiod does not serve /debug/connections through the API (older control plane, or no istiod Service)":`cannot tell: ${r.cannotTell}`},value:[]}:{verdict:se({vm:n.vm.name,address:n.address??"",...n.hostname?{hostname:n.hostname}:{},namespace:n.group.namespace,proxies:r}),value:r}}).catch(r=>({verdict:{ok:!0,skipped:!0,diagnosis:`cannot tell: cannot ask istiod for its connections: ${g(r)}`},value:[],attempts:1}));return R(L(n,"istiod-connection"),"istiod-connection",n.vm.name,o.verdict,{where:"cluster",notes:[`istiod lists ${o.value.length} connected proxies`],durationMs:e.now()-s,attempts:o.attempts})}async function Un(e,n,t){let s=e.now(),o=ue(n.vm,n.group,n.address??""),r=await M(e,ie(e),async()=>{let a=await t.workloadEntryHealth(n.group.namespace,o),d=re({vm:n.vm.name,namespace:n.group.namespace,name:o,health:a});return{verdict:d.skipped?{...d,ok:!1}:d,value:d}}),i=L(n,"workload-entry-health");return R(i,"workload-entry-health",n.vm.name,r.value,{where:"cluster",durationMs:e.now()-s,attempts:r.attempts})}function ze(e,n,t,s){return s().catch(o=>v(L(e,n),n,e.vm.name,`${t}: ${g(o)}`))}async function Ze(e,n){let t=[],s=a=>{t.push(a),e.deps.onResult?.(a)},o=await ze(n,"sidecar-ready",`cannot run commands on ${n.vm.name}`,()=>Wn(e,n));if(s(o),n.ready=o.status==="pass",n.ready||(n.why=`the sidecar of vm/${n.vm.name} is not ready`),n.shell&&n.ready){let a=await n.shell.run("hostname -s",{timeoutMs:1e4}).catch(()=>{});a?.code===0&&a.stdout.trim()!==""&&(n.hostname=a.stdout.trim())}let r=e.deps.controlPlane;if(!r)return t;let i=[{kind:"istiod-connection",cannot:"cannot ask istiod for its connections",check:()=>Fn(e,n,r)}];n.group.probe&&i.push({kind:"workload-entry-health",cannot:"cannot read the WorkloadEntry",check:()=>Un(e,n,r)});for(let{kind:a,cannot:d,check:l}of i)s(n.ready?await ze(n,a,d,l):F(L(n,a),a,n.vm.name,`not run: ${n.why}`));return t}async function qn(e,n,t){let s=new Array(e.length),o=0,r=async()=>{for(;o<e.length;){let i=o++;s[i]=await t(e[i])}};return await Promise.all(Array.from({length:Math.max(1,Math.min(n,e.length))},r)),s}async function Vn(e,n){let t=Ue(n),s=qe(e,n),o=[...new Set(e.workloadGroups.map(r=>r.namespace))];return Je(t,o,e.settings.owner,async()=>{let i=(await qn([...s.values()],n.parallelism??10,a=>Ze(t,a))).flat();for(let a of e.checks){let d=await Be(t,a,s).catch(l=>v(a.name,A(a),void 0,`the check could not run: ${g(l)}`));i.push(d),n.onResult?.(d)}return i})}function jn(e){return{passed:e.filter(n=>n.status==="pass").length,failed:e.filter(n=>n.status==="fail").length,skipped:e.filter(n=>n.status==="skip").length}}import{request as Bn}from"node:http";import{request as Yn}from"node:https";import{Writable as Jn}from"node:stream";var en;function zn(){return en??=import("./dist-TGMAB72Q.js"),en}function Qn(e,n){let t=n===""?"default":n;return e.some(s=>s.metadata?.labels?.["istio.io/rev"]!==void 0)?e.filter(s=>(s.metadata?.labels?.["istio.io/rev"]??"default")===t):[...e]}function Zn(e){let n=e.metadata?.name;if(!n)return null;let t=(e.spec?.containers??[]).map(a=>a.name??""),s=(e.spec?.initContainers??[]).map(a=>a.name??""),o=e.metadata?.annotations??{},r=o["kubectl.kubernetes.io/default-container"],i=r&&t.includes(r)?r:t.find(a=>a!=="istio-proxy")??t[0]??"";return{name:n,container:i,serviceAccount:e.spec?.serviceAccountName||"default",injected:t.includes("istio-proxy")||s.includes("istio-proxy")||o["sidecar.istio.io/status"]!==void 0,...e.status?.podIP?{ip:e.status.podIP}:{}}}function et(e){let n=e.filter(t=>t.status?.phase==="Running"&&t.metadata?.deletionTimestamp==null);for(let t of n){let s=Zn(t);if(s)return s}return null}function de(e){if(typeof e!="object"||e===null)throw new Error("istiod /debug/connections did not answer with a JSON object");let n=e.clients??[];if(!Array.isArray(n))throw new Error("istiod /debug/connections: clients is not a list");let t=[];for(let s of n){let o=typeof s.connectionId=="string"?s.connectionId:"",r=typeof s.address=="string"?s.address:"",i=o.replace(/-\d+$/,""),a=/^\[([^\]]+)\](?::\d+)?$/.exec(r),d=a?a[1]??"":r.replace(/:\d+$/,"");t.push({id:i,ip:d})}return t}function tn(e){if(e==null)return{state:"missing"};let n=e.status?.conditions;if(!Array.isArray(n))return{state:"unknown"};let t=n.find(s=>s.type==="Healthy");return t?t.status==="True"?{state:"healthy"}:t.status==="False"?{state:"unhealthy",reason:t.reason??"",message:t.message??""}:{state:"unknown"}:{state:"unknown"}}var q=class extends Jn{text="";_write(n,t,s){this.text.length<1e6&&(this.text+=n.toString("utf8")),s()}};function nt(e){if(!e)return{code:-1,message:"the exec ended without a status"};if(e.status==="Success")return{code:0};let n=e.details?.causes?.find(s=>s.reason==="ExitCode")?.message;if(n!==void 0&&/^\d+$/.test(n))return{code:Number(n)};let t=e.message??e.reason??"exec failed";return{code:/not found|no such file/i.test(t)?127:126,message:t}}async function ae(e,n,t){let s=e.getCurrentCluster()?.server;if(!s)throw new Error("the kubeconfig names no server");let o=new URL(n,s.endsWith("/")?s:`${s}/`),r={method:"GET",headers:{accept:"application/json"},timeout:t};await e.applyToHTTPSOptions(r);let i=o.protocol==="http:"?Bn:Yn;return new Promise((a,d)=>{let l=i(o,r,h=>{let u="";h.on("data",c=>{u.length<4e6&&(u+=c.toString("utf8"))}),h.on("end",()=>{let c=h.statusCode??0;if(c<200||c>=300){d(Object.assign(new Error(`GET ${o.pathname}: HTTP ${c} ${u.slice(0,300)}`),{statusCode:c}));return}try{a(JSON.parse(u))}catch{d(new Error(`GET ${o.pathname}: not JSON: ${u.slice(0,200)}`))}})});l.on("timeout",()=>l.destroy(new Error(`GET ${o.pathname}: no answer in ${t} ms`))),l.on("error",d),l.end()})}async function nn(e,n,t,s,o,r){let i=await zn(),a=new q,d=new q,l;return new Promise(h=>{let u=!1,c,m=f=>{u||(u=!0,clearTimeout(p),h(f))},p=setTimeout(()=>{c?.close(),m({code:-1,stdout:a.text,stderr:`${d.text}exec timed out after ${r} ms`})},r);new i.Exec(e).exec(n,t,s,o,a,d,null,!1,f=>{l=f}).then(f=>{c=f,f.on("close",()=>{let _=nt(l);m({code:_.code,stdout:a.text,stderr:d.text+(_.message?`${_.message}
`:"")})})}).catch(f=>m({code:-1,stdout:"",stderr:`exec in ${n}/${t} failed: ${g(f)}`}))})}function ce(e,n){let t=n.requestTimeoutMs??15e3,s={async findPod(l,h){let u=`/api/v1/namespaces/${encodeURIComponent(l)}/pods?labelSelector=`+encodeURIComponent(h),c=await ae(e,u,t);return et(c.items??[])},exec:(l,h,u,c,m)=>nn(e,l,h,u,c,m)};async function o(l){let h=n.istiodRevision??"",u=`app=istiod${h!==""&&h!=="default"?`,istio.io/rev=${h}`:""}`,c=n.istioNamespace,m=$=>({cannotTell:`istiod answers ${l} to /debug/connections through the API server (from 1.11 it serves it only to localhost or an authenticated caller), and ${$}`}),p;try{let $=`/api/v1/namespaces/${encodeURIComponent(c)}/pods?labelSelector=${encodeURIComponent(u)}`;p=(await ae(e,$,t)).items??[]}catch($){return m(`its pods cannot be listed: ${g($)}`)}let f=Qn(p.filter($=>$.status?.phase==="Running"&&$.metadata?.name),h);if(f.length===0)return m(`no running pod matches ${u} in ${c}`);let _=[];for(let $ of f){let I=$.metadata?.name??"",k=["pilot-discovery","request","GET","/debug/connections"],w=await nn(e,c,I,"discovery",k,t);if(w.code!==0){let V=w.stderr.trim().split(`
`).slice(-1)[0]??"";return m(`\`${k.join(" ")}\` in ${c}/${I} failed (exit ${w.code}: ${V}; needs create on pods/exec in ${c})`)}if(/^404 page not found/.test(w.stdout.trim()))return null;try{_.push(...de(JSON.parse(w.stdout)))}catch(V){return m(`${c}/${I} answered something else: ${g(V)}`)}}return _}let r;async function i(){let l=`${n.istiodService}:${n.monitoringPort??15014}`,h=`/api/v1/namespaces/${encodeURIComponent(n.istioNamespace)}/services/${encodeURIComponent(l)}/proxy/debug/connections`;try{return de(await ae(e,h,t))}catch(u){let c=u.statusCode;if(c===404)return null;if(c===401||c===403)return o(`HTTP ${c}`);throw u}}return{pods:s,controlPlane:{connectedProxies(){return r??=i().finally(()=>{r=void 0}),r},async workloadEntryHealth(l,h){let u=await n.client.get({apiVersion:n.networkingApiVersion,kind:"WorkloadEntry",namespace:l,name:h});return tn(u)}},policy:{async applyPeerAuthentication(l){await n.client.apply(l)},async deletePeerAuthentication(l,h){await n.client.delete({apiVersion:n.securityApiVersion??"security.istio.io/v1beta1",kind:"PeerAuthentication",namespace:l,name:h})}}}}import{userInfo as tt}from"node:os";function le(e,n){return{async run(t,s){let o=await e.exec(Z(t,s.user,n),{timeoutMs:s.timeoutMs});return{code:o.code,stdout:o.stdout,stderr:o.stderr}}}}function sn(e){return e===""||e==="default"?"istiod":`istiod-${e}`}function st(e){let n=e.generation!==void 0&&e.generation!=="modern",t=ce(e.kubeConfig,{client:e.client,istioNamespace:e.istioNamespace,istiodService:sn(e.revision),istiodRevision:e.revision,networkingApiVersion:`networking.istio.io/${e.networkingVersion}`}),s=new Map(e.description.vms.map(o=>[o.name,o]));return{host(o){let r=e.transports.get(o),i=s.get(o);if(!r||!i)return;let a=i.host==="local"?tt().username:i.user;return le(r,a)},vmAddress:o=>e.addresses.get(o),pods:t.pods,controlPlane:n?{...t.controlPlane,connectedProxies:()=>Promise.resolve(null)}:t.controlPlane,policy:t.policy,...e.strictMtls!==void 0?{strictMtls:e.strictMtls}:{},...e.onResult?{onResult:e.onResult}:{}}}export{me as a,y as b,_e as c,an as d,lt as e,ut as f,ye as g,hn as h,ft as i,Ee as j,Te as k,_t as l,gt as m,kt as n,Vn as o,jn as p,tn as q,st as r};
