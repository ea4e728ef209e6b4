#!/bin/sh
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
# State (root, 0700): /var/lib/mesh-expansion/ holds `manifest` (what we placed,
# for an exact uninstall), `last-good/` (the files and package of the last sidecar that was ready
# before we changed it), `package.<family>` (a copy of the package we installed).
set -eu
umask 022

MX_ROOT=${MX_ROOT:-}
MX_STATE_DIR=${MX_STATE_DIR:-$MX_ROOT/var/lib/mesh-expansion}
MX_VERSION=${MX_VERSION:-}
MX_PKG_MODE=${MX_PKG_MODE:-none}
MX_PKG_URL=${MX_PKG_URL:-}
MX_PKG_SHA256=${MX_PKG_SHA256:-}
MX_PKG_PUSHED=${MX_PKG_PUSHED:-}
MX_STATUS_PORT=${MX_STATUS_PORT:-15021}
MX_READY_TIMEOUT=${MX_READY_TIMEOUT:-60}
MX_MIN_DISK_MB=${MX_MIN_DISK_MB:-200}
MX_MAX_SKEW=${MX_MAX_SKEW:-120}
MX_RUNNER_TIME=${MX_RUNNER_TIME:-}
MX_KEEP_PACKAGE=${MX_KEEP_PACKAGE:-0}
MX_OWNER=${MX_OWNER:-istio-proxy}
MX_LOCK_WAIT=${MX_LOCK_WAIT:-300}
# the token on the host stays unless it expires within this many seconds (settings.tokenRefreshWithin)
MX_TOKEN_REFRESH_WITHIN=${MX_TOKEN_REFRESH_WITHIN:-86400}
# 1: restart a running sidecar even when nothing of this host changed: the run made its
# health-checked WorkloadEntry again, and the agent reports health when it connects
MX_RECONNECT=${MX_RECONNECT:-0}
MX_LOCK_FILE=${MX_LOCK_FILE:-$MX_ROOT/run/mesh-expansion.lock}
# outbound, inbound, agent status, readiness, Envoy metrics
MX_SIDECAR_PORTS=${MX_SIDECAR_PORTS:-15001 15006 15020 15021 15090}
MX_HOSTS_FILE=${MX_HOSTS_FILE:-$MX_ROOT/etc/hosts}
MX_TMPFILES=${MX_TMPFILES:-$MX_ROOT/etc/tmpfiles.d/mesh-expansion.conf}
MX_RESOLV_CONF=${MX_RESOLV_CONF:-$MX_ROOT/etc/resolv.conf}
MX_DHCLIENT_CONF=${MX_DHCLIENT_CONF:-$MX_ROOT/etc/dhcp/dhclient.conf}
MX_DNSMASQ_DIR=${MX_DNSMASQ_DIR:-$MX_ROOT/etc/dnsmasq.d}
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
  major=${1%%.*}
  rest=${1#*.}
  minor=${rest%%.*}
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
  jr_tok=$(head -c 16385 "$1" 2>/dev/null | tr -d '\n') || return 0
  [ ${#jr_tok} -le 16384 ] || return 0
  case $jr_tok in
    *[!A-Za-z0-9_.-]* | *.*.*.* | .* | *..* | *.) return 0 ;;
    *.*.*) ;;
    *) return 0 ;;
  esac
  jr_sig=${jr_tok##*.}
  jr_b64=${jr_tok#*.}
  jr_b64=$(printf '%s' "${jr_b64%%.*}" | tr '_-' '/+')
  case $((${#jr_b64} % 4)) in
    1) return 0 ;;
    2) jr_b64="$jr_b64==" ;;
    3) jr_b64="$jr_b64=" ;;
  esac
  jr_json=$(printf '%s' "$jr_b64" | base64 -d 2>/dev/null | tr -d '\n\r') || return 0
  case $jr_json in '{'*'}') ;; *) return 0 ;; esac
  JWT_JSON=$jr_json
  JWT_HEAD=${jr_tok%%.*}
  JWT_SIGLEN=${#jr_sig}
}

# jwt_claim JSON NAME: the value of claim NAME in JSON as it is written there: a string (quoted),
# an array of strings, an object with no object inside, or digits; nothing when absent.
jwt_claim() {
  printf '%s\n' "$1" |
    sed -nE "s/.*\"$2\"[[:space:]]*:[[:space:]]*(\"[^\"]*\"|\\[[^]]*\\]|\\{[^{}]*\\}|[0-9]+).*/\\1/p" |
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
  ST_UID=${st_out%% *}
  st_out=${st_out#* }
  ST_GID=${st_out%% *}
  ST_MODE=${st_out#* }
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
# proxy user's is given back to root, or with `check` accepted). Sets RC_REAL to the canonical
# path.
RC_REAL=''
root_only_canonical() {
  rc_real=$(readlink -f "$1" 2>/dev/null) || {
    unsafe "$1" 'cannot be resolved'
    return 1
  }
  rc_base=$(readlink -f "${MX_ROOT:-/}")
  case $rc_real in
    "$rc_base") ;;
    "${rc_base%/}"/*) ;;
    *)
      unsafe "$1" "leads to $rc_real, outside ${MX_ROOT:-/}"
      return 1
      ;;
  esac
  rc_rest=${rc_real#"${rc_base%/}"}
  rc_cur=${rc_base%/}
  while [ -n "$rc_rest" ]; do
    rc_rest=${rc_rest#/}
    rc_c=${rc_rest%%/*}
    case $rc_rest in */*) rc_rest=/${rc_rest#*/} ;; *) rc_rest='' ;; esac
    [ -n "$rc_c" ] || continue
    rc_cur=$rc_cur/$rc_c
    if [ -L "$rc_cur" ] || [ ! -d "$rc_cur" ]; then
      unsafe "$rc_cur" 'changed while it was checked (a link or not a directory)'
      return 1
    fi
    if writable_by_others "$rc_cur" || [ "$ST_UID" != 0 ]; then
      if repairable "$rc_cur" && { [ "$ST_UID" = 0 ] || [ "$ST_UID" = "$OWNER_UID" ]; }; then
        if [ "${2:-}" != check ]; then
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
# With `check` nothing is changed: it says only whether the walk would refuse.
# Sets SECURE_DIR to the directory to use (links followed); 1 (after an MX-FAIL) when refused.
# A directory checked once in a run stays safe for the run (its parents only root can change;
# the proxy user's own directory only that user can fill, and root writes there as that user).
SECURE_DIR=''
SECURED='
'
secure_dir() {
  sd_dir=$1
  sd_check=${4:-}
  case $SECURED in *"
$sd_dir $2 $3 "*)
    SECURE_DIR=${SECURED#*"
$sd_dir $2 $3 "}
    SECURE_DIR=${SECURE_DIR%%"
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
    "$MX_ROOT"/*) sd_rest=${sd_dir#"$MX_ROOT"} ;;
    *)
      unsafe "$sd_dir" "is not under ${MX_ROOT:-/}"
      return 1
      ;;
  esac
  sd_cur=$MX_ROOT
  while [ -n "$sd_rest" ]; do
    sd_rest=${sd_rest#/}
    sd_c=${sd_rest%%/*}
    case $sd_rest in */*) sd_rest=/${sd_rest#*/} ;; *) sd_rest='' ;; esac
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
  SECURE_DIR=${sd_cur:-/}
  [ "$sd_check" = check ] || SECURED="$SECURED$sd_dir $2 $3 $SECURE_DIR
"
}

# repairable DIR: a directory of ours or of the package on the way to one we write in.
repairable() {
  case $1 in
    "$MX_ROOT/var/run/secrets" | "$MX_ROOT/run/secrets" | "$MX_ROOT/var/lib/istio" | \
      "$MX_ROOT/etc/istio" | "$MX_ROOT/var/lib/mesh-expansion" | "$MX_STATE_DIR") return 0 ;;
  esac
  return 1
}

# manifest_add KIND PATH [EXTRA]: one line of what we placed, for an exact uninstall; the path
# as the host sees it (without MX_ROOT). Nothing inside the state directory itself.
manifest_add() {
  ma_path=${2#"$MX_ROOT"}
  case $2 in "$MX_STATE_DIR" | "$MX_STATE_DIR"/*) return 0 ;; esac
  [ -d "$MX_STATE_DIR" ] && [ ! -L "$MX_STATE_DIR" ] || return 0
  ma_line="$1 $ma_path${3:+ $3}"
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
  secure_dir "${2%/*}" '' '' || return 1
  pf_mode=$3
  case $1 in /*) pf_src=$1 ;; *) pf_src=$PWD/$1 ;; esac
  # In the directory itself, checked again once there: a path can be swapped between a check and
  # a write (the package's unit gives /var/run/secrets back to istio-proxy at every start), the
  # directory we stand in cannot. Relative names from there on.
  pf_out=$(
    in_checked_dir "$SECURE_DIR" || exit 1
    name=./${2##*/}
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
  secure_dir "${2%/*}" "$MX_OWNER" '' || return 1
  # shellcheck disable=SC2016 # the inner script expands its own arguments
  pfa_out=$(as_user /bin/sh -c '
    set -eu
    dest=$1
    mode=$2
    tmp=$(mktemp "${dest%/*}/.mx-tmp.XXXXXXXXXX")
    trap "rm -f \"\$tmp\"" EXIT
    cat >"$tmp"
    if [ -f "$dest" ] && [ ! -L "$dest" ] && cmp -s "$tmp" "$dest" &&
      [ "$(stat -c "%a %u" "$dest")" = "$mode $(id -u)" ]; then
      rm -f "$tmp"
      echo same
    else
      chmod "$mode" "$tmp"
      mv -f "$tmp" "$dest"
      echo placed
    fi' sh "${SECURE_DIR%/}/${2##*/}" "$3" <"$1" 2>&1) || {
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
  rf_dir=${1%/*}
  if [ -d "$rf_dir" ] && [ ! -L "$rf_dir" ] && [ -n "$OWNER_UID" ] &&
    [ "$(stat -c %u "$rf_dir")" = "$OWNER_UID" ]; then
    secure_dir "$rf_dir" "$MX_OWNER" '' check || return 1
    as_user rm -f "$1"
  else
    secure_dir "$rf_dir" '' '' check || return 1
    rf_out=$(
      in_checked_dir "$rf_dir" || exit 1
      rm -f "./${1##*/}"
    ) || {
      echo "$rf_out" | grep '^MX-FAIL' || true
      FAILED=1
      UNSAFE=1
      return 1
    }
  fi
}

# replace_hosts_block FILE BLOCKFILE [top]: sets PLACED=1 when the file changed. The block goes
# last, or first with `top`. Renames (mktemp in the same directory) when that directory is
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
  rh_dir=${1%/*}
  rh_new=$(mktemp "${WORK:-${TMPDIR:-/tmp}}/mx-block.XXXXXXXXXX")
  if [ -e "$1" ]; then rh_from=$1; else rh_from=/dev/null; fi
  if [ "${3:-}" = top ]; then
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
  exit "${3:-1}"
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
  if [ "${free_kb:-0}" -lt $((MX_MIN_DISK_MB * 1024)) ]; then
    fail_check disk "only $((${free_kb:-0} / 1024)) MB free under /var/lib, need $MX_MIN_DISK_MB MB"
  fi
  if [ -n "$MX_RUNNER_TIME" ]; then
    skew=$(abs_diff "$(date +%s)" "$MX_RUNNER_TIME")
    if [ "$skew" -gt "$MX_MAX_SKEW" ]; then
      fail_check clock "the host clock is ${skew}s away from the runner's (more than ${MX_MAX_SKEW}s): tokens and certificates would be refused; fix NTP"
    fi
  fi
  if ! command -v iptables >/dev/null 2>&1; then
    fail_check iptables "iptables is missing (the sidecar captures traffic with it): install iptables"
  else
    BACKEND=$(iptables -V 2>/dev/null | sed -n 's/.*(\(.*\)).*/\1/p')
    if ! iptables -t nat -S >/dev/null 2>&1; then
      fail_check iptables "iptables ${BACKEND:-?} cannot read the nat table (kernel module or capability missing)"
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
    holder=$(ss -Hltnp "sport = :$port" 2>/dev/null | sed -n 's/.*users:((\("[^"]*"\).*/\1/p' | head -n 1)
    if [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then
      fail_check port "TCP port $port, which the sidecar needs, is taken by ${holder:-another process}: stop it or move it"
    fi
  done
}

# ---- package ----------------------------------------------------------------------------------

installed_version() {
  if [ "$FAMILY" = deb ]; then
    dpkg-query -W -f '${Status} ${Version}' istio-sidecar 2>/dev/null |
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
    dpkg-deb -f "$1" Depends 2>/dev/null | tr ',' '\n' |
      sed -e 's/([^)]*)//g' -e 's/:[a-z0-9]*//g' -e 's/[[:space:]]\{1,\}/ /g' -e 's/^ //' -e 's/ $//' |
      grep -v '^$' || true
  else
    rpm -qpR "$1" 2>/dev/null | sed -e 's/[[:space:]].*//' |
      grep -v -e '^rpmlib(' -e '^config(' -e '^/' -e '^$' || true
  fi
}

# is_provided NAME: the package (deb) or capability (rpm) is installed.
is_provided() {
  if [ "$FAMILY" = deb ]; then
    dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q ' installed$'
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
  done | tr '\n' ' ' | sed 's/ $//'
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
# them, and istio-start.sh needs them all (it ends in `sudo -E -u istio-proxy`). What is missing
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
    if ! ipf_out=$(rpm -U --replacepkgs ${2:+--oldpackage} "$1" 2>&1); then
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
  if [ "$tp_owner" != 0 ] && [ "$tp_owner" != "${SUDO_UID:-0}" ]; then
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
    curl -fsSL --proto "$dp_proto" --proto-redir "$dp_proto" --retry 3 --connect-timeout 10 \
      -o "$PKG_FILE" "$1" || die download "cannot download $1" 21
    if [ -z "$MX_PKG_SHA256" ]; then
      curl -fsSL --proto =https --proto-redir =https --retry 3 --connect-timeout 10 \
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
  [ ${#1} -eq 64 ]
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
# `dpkg -i` of another version) is installed again, though the package wanted is the same file.
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
    if [ "$MX_PKG_MODE" = push ] && [ -n "$MX_PKG_PUSHED" ] && [ "${MX_PKG_INLINE:-0}" != 1 ]; then
      rm -f "$MX_PKG_PUSHED"
    fi
    end_phase ok
    return 0
  fi
  case $MX_PKG_MODE in
    push)
      # a small package comes inside the bundle; a large one was pushed over SFTP
      [ "${MX_PKG_INLINE:-0}" != 1 ] || MX_PKG_PUSHED="$WORK/package"
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
#   cluster.env from it (`. "$ISTIO_CLUSTER_CONFIG"`) before it drops to istio-proxy (sudo -u):
#   whoever can write that directory or those files is root. postinst chowns the directory to
#   istio-proxy: given back to root here (the agent writes nothing there); both files root 0644.
# - /var/run/secrets and /var/run/secrets/tokens: root's, 0755. The agent only reads the token
#   (istio-proxy, 0600). Older builds chowned both to the proxy user at every run, so that user
#   could swap `tokens` for a link and have the next run chown wherever it pointed.
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

# secure_dirs fix|check: every directory we write in, as the list above says. With `check`
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
    if ! grep -q " ${CERTS_DIR#"$MX_ROOT"}/$out\$" "$MX_STATE_DIR/manifest" 2>/dev/null &&
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
      token_decision "$WORK/istio-token.current" "$WORK/istio-token" "$(date +%s)" \
        "$MX_TOKEN_REFRESH_WITHIN"
      [ "$TOKEN_ACTION" != kept ] || token_src=$WORK/istio-token.current
    fi
    place_file "$token_src" "$TOKENS_DIR/istio-token" 600 "$owner" || stop_files
    manifest_add file "$TOKENS_DIR/istio-token"
    # the copy for reboots is what the token path holds now, whichever token that is
    place_file "$token_src" "$MX_STATE_DIR/istio-token" 600 "$owner" || stop_files
    rm -f "$WORK/istio-token.current"
    echo "MX-TOKEN $TOKEN_ACTION reason=$TOKEN_REASON left=${TOKEN_LEFT:--}"
    # /var/run is a tmpfs: systemd-tmpfiles puts the token back at boot, before istio starts
    # (C keeps the owner and mode of the copy it is given). The directories are root's.
    printf '%s\n' \
      '# mesh-expansion: the bootstrap token survives a reboot' \
      'd /run/secrets 0755 root root -' \
      'd /run/secrets/tokens 0755 root root -' \
      "C /run/secrets/tokens/istio-token - - - - ${MX_STATE_DIR#"$MX_ROOT"}/istio-token" >"$WORK/tmpfiles.conf"
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
# had given the directory to the proxy user: removed in one pass per directory (`find -delete`
# removes a link itself, never its target), with one log line, so that thousands of planted names
# cost a run one process, not one each. Only root's directories (checked by this run): the proxy
# user's own /etc/certs is left as it is, since whatever lies there that user could put there
# itself at any time. Our state directory too: a run cut before it renamed its copy of a pushed
# package (incoming.*) or a state file (a reboot, a killed session) leaves them there; this run
# holds the host's lock and has renamed its own by now.
clean_old_temporaries() {
  for co in "$ENVOY_DIR|*.mx-tmp.*" "$CONFIG_DIR|*.mx-tmp.*" "$TOKENS_DIR|*.mx-tmp.*" \
    "${MX_HOSTS_FILE%/*}|hosts.mx-tmp.*" "${MX_TMPFILES%/*}|*.mx-tmp.*" \
    "$MX_STATE_DIR|*.mx-tmp.*" "$MX_STATE_DIR|incoming.*"; do
    co_dir=${co%%|*}
    if [ ! -d "$co_dir" ] || [ -L "$co_dir" ]; then continue; fi
    co_n=$(find "$co_dir" -maxdepth 1 -name "${co#*|}" -print -delete 2>/dev/null | wc -l)
    [ "$co_n" -eq 0 ] ||
      echo "MX-LOG removed $co_n temporary name(s) of an older build from ${co_dir#"$MX_ROOT"}"
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
    ROLLBACK_ERROR="the previous sidecar was not ready either within ${MX_READY_TIMEOUT}s"
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

# The package's own removal first: `istio-start.sh clean` runs the command of its version
# (1.10-1.23 `pilot-agent istio-clean-iptables`, 1.24 on `pilot-agent istio-iptables
# --cleanup-only`; 1.25 has no istio-clean-iptables). Scripts before 1.10 have no `clean`: any
# other argument installs the capture and runs the proxy in the foreground, so they are not
# called. The sweep below removes whatever is left, whatever the version.
MX_ISTIO_START=${MX_ISTIO_START:-$MX_ROOT/usr/local/bin/istio-start.sh}
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
  ! grep -q "^ISTIO_CUSTOM_IP_TABLES='\{0,1\}true" "$cm_env" || return 1
  iptables -t nat -C OUTPUT -p tcp -j ISTIO_OUTPUT 2>/dev/null || return 0
  if grep -q "^ISTIO_SERVICE_CIDR='\{0,1\}[0-9*]" "$cm_env"; then
    iptables -t nat -S ISTIO_OUTPUT 2>/dev/null | grep -q -- '-j ISTIO_REDIRECT' || return 0
  fi
  if grep -q "^ISTIO_INBOUND_PORTS='\{0,1\}[0-9*]" "$cm_env"; then
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
      [ -f "$log" ] && tail -n 20 "$log" | sed "s|^|MX-LOG ${log##*/}: |"
    done
    if [ "$WAS_READY" = 1 ]; then
      if rollback; then
        echo "MX-RESULT changed=1 restarted=1 ready=1 package=$PKG_ACTION rolledback=1"
        die rolled-back "the new sidecar was not ready within ${MX_READY_TIMEOUT}s; the previous version is running again" 42
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
      die rollback-failed "the new sidecar was not ready on :$MX_STATUS_PORT within ${MX_READY_TIMEOUT}s and $how; service stopped and disabled, iptables capture removed" 41
    fi
    die ready "the sidecar was not ready on :$MX_STATUS_PORT within ${MX_READY_TIMEOUT}s; service stopped and disabled, iptables capture removed" 41
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
  secure_dir "${lock%/*}" '' '' fix || {
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
      echo "MX-LOG waiting for another mesh-expansion run on this host (pid ${holder:-?})"
      if ! flock -w "$MX_LOCK_WAIT" 9; then
        holder=$(head -n 1 "$lock" 2>/dev/null || true)
        die lock "another mesh-expansion run holds this host's lock (pid ${holder:-?}) after waiting ${MX_LOCK_WAIT}s" 12
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
    grep -E '^(file|block|dir|agent) /' "$manifest" | grep -v -e '/\.\./' -e '/\.\.$' >"$WORK/entries" || true
    # what the package's postinst made for our install goes with the package, not when it stays
    if [ "$PKG_ACTION" = removed ]; then
      sed -nE 's/^postinst-(file|dir|link) (\/.*)$/\1 \2/p' "$manifest" |
        grep -v -e '/\.\./' -e '/\.\.$' >>"$WORK/entries" || true
    fi
  else
    for f in $LEGACY_FILES; do echo "file $f"; done >"$WORK/entries"
    # only a sidecar.env we placed: the package's own goes with the package
    [ ! -f "$MX_STATE_DIR/sidecar.env.placed" ] || echo "file /var/lib/istio/envoy/sidecar.env" >>"$WORK/entries"
    echo "file ${MX_TMPFILES#"$MX_ROOT"}" >>"$WORK/entries"
    echo "block ${MX_HOSTS_FILE#"$MX_ROOT"}" >>"$WORK/entries"
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
  pu_files=$(timeout 30 find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o \
    \( -uid "$pu_uid" -o -gid "$pu_gid" \) -print -quit 2>/dev/null) || pu_files='(the search did not finish)'
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
  for v in "MX_STATUS_PORT=$MX_STATUS_PORT" "MX_READY_TIMEOUT=$MX_READY_TIMEOUT" \
    "MX_MIN_DISK_MB=$MX_MIN_DISK_MB" "MX_MAX_SKEW=$MX_MAX_SKEW" "MX_LOCK_WAIT=$MX_LOCK_WAIT" \
    "MX_TOKEN_REFRESH_WITHIN=$MX_TOKEN_REFRESH_WITHIN" \
    "MX_KEEP_PACKAGE=$MX_KEEP_PACKAGE" "MX_RECONNECT=$MX_RECONNECT" \
    "MX_RUNNER_TIME=${MX_RUNNER_TIME:-0}"; do
    case ${v#*=} in
      '' | *[!0-9]*)
        echo "MX-FAIL args ${v%%=*} is not a number: ${v#*=}"
        exit 2
        ;;
    esac
  done
  # compared in sh arithmetic with a token's seconds left: ten digits at most
  if [ ${#MX_TOKEN_REFRESH_WITHIN} -gt 10 ]; then
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
  case ${SUDO_UID:-0} in '' | *[!0-9]*) SUDO_UID=0 ;; esac
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
  mode=${1:-}
  WORK=${2:-}
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
if [ "${MX_SOURCE_ONLY:-0}" != 1 ]; then
  main "$@"
fi
