#!/bin/sh
# The host half of mesh-expansion. It arrives inside the bundle (src/host/bundle.ts) on the
# stdin of one exec, runs as root, and talks back in lines the runner parses:
#   MX-PHASE <phase> ok|fail <ms>
#   MX-FAIL <phase> <check>: <message>
#   MX-NEED push family=<deb|rpm> arch=<amd64|arm64>
#   MX-LOG <line of istio.log>
#   MX-RESULT changed=0|1 restarted=0|1 ready=0|1 package=<installed|unchanged|skipped|removed|kept>
# Usage: install.sh install|uninstall|preflight WORKDIR   (WORKDIR holds the rendered files)
# Parameters come from the environment (MX_*), set by the bundle. Everything that can be decided
# on the runner is decided there; this script only does what needs the host.
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

# place_file SRC DEST MODE OWNER: atomic (temporary file in the same directory, then rename);
# sets PLACED=1 when the content, mode or owner changed. OWNER '' keeps the current owner.
place_file() {
  PLACED=0
  dest_dir=$(dirname "$2")
  mkdir -p "$dest_dir"
  if [ -f "$2" ] && cmp -s "$1" "$2"; then
    if [ "$(stat -c %a "$2")" = "$(printf '%o' "$((0$3))")" ] &&
      { [ -z "$4" ] || [ "$(stat -c %U "$2")" = "$4" ]; }; then
      return 0
    fi
  fi
  tmp="$2.mx-tmp.$$"
  # created private, then given its mode: a token is never readable by others, not even briefly
  (
    umask 077
    cp "$1" "$tmp"
  )
  chmod "$3" "$tmp"
  [ -z "$4" ] || chown "$4:$4" "$tmp"
  mv -f "$tmp" "$2"
  PLACED=1
}

# replace_hosts_block FILE BLOCKFILE [top]: sets PLACED=1 when the file changed. The block goes
# last, or first with `top`. Renames when it can; a bind-mounted /etc/hosts or resolv.conf
# (containers) cannot be renamed over, so it is then rewritten in place.
replace_hosts_block() {
  PLACED=0
  [ -f "$1" ] || : >"$1"
  new="$1.mx-tmp.$$"
  if [ "${3:-}" = top ]; then
    file_with_top_block "$1" "$2" >"$new"
  else
    hosts_with_block "$1" "$2" >"$new"
  fi
  if cmp -s "$new" "$1"; then
    rm -f "$new"
    return 0
  fi
  chmod 644 "$new"
  if ! mv -f "$new" "$1" 2>/dev/null; then
    cat "$new" >"$1"
    rm -f "$new"
  fi
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

PKG_ACTION=skipped
PKG_CHANGED=0
package() {
  begin_phase package
  if [ "$MX_PKG_MODE" = none ]; then
    mkdir -p "$MX_STATE_DIR"
    end_phase ok
    return 0
  fi
  current=$(installed_version)
  if [ -n "$current" ]; then
    if [ -n "$MX_VERSION" ] && [ "$current" = "$MX_VERSION" ]; then
      PKG_ACTION=unchanged
    elif [ -n "$MX_PKG_SHA256" ] && [ "$(cat "$MX_STATE_DIR/package.sha256" 2>/dev/null)" = "$MX_PKG_SHA256" ]; then
      PKG_ACTION=unchanged
    fi
  fi
  if [ "$PKG_ACTION" = unchanged ]; then
    mkdir -p "$MX_STATE_DIR"
    # a copy pushed by an earlier, interrupted run is not needed any more
    [ "$MX_PKG_MODE" != push ] || [ -z "$MX_PKG_PUSHED" ] || rm -f "$MX_PKG_PUSHED"
    end_phase ok
    return 0
  fi
  file="$WORK/istio-sidecar.$FAMILY"
  case $MX_PKG_MODE in
    push)
      # a small package comes inside the bundle; a large one was pushed over SFTP
      [ "${MX_PKG_INLINE:-0}" != 1 ] || MX_PKG_PUSHED="$WORK/package"
      if [ ! -f "$MX_PKG_PUSHED" ]; then
        # nothing changed yet: the runner pushes the package and runs the bundle again
        echo "MX-NEED push family=$FAMILY arch=$ARCH"
        end_phase ok
        exit 20
      fi
      # copied into our root-owned directory first, then checked: no window for a swap
      cp "$MX_PKG_PUSHED" "$file"
      rm -f "$MX_PKG_PUSHED"
      ;;
    url | auto)
      if [ "$MX_PKG_MODE" = auto ] && [ "$ARCH" != amd64 ] && ! has_official_arm64 "$MX_VERSION"; then
        die download "Istio $MX_VERSION has no official $ARCH sidecar package (arm64 from 1.17): push one" 21
      fi
      url=$(package_url "$MX_PKG_URL" "$FAMILY" "$ARCH")
      if command -v curl >/dev/null 2>&1; then
        get() { curl -fsSL --retry 3 --connect-timeout 10 -o "$2" "$1"; }
      elif command -v wget >/dev/null 2>&1; then
        get() { wget -q -T 10 -t 3 -O "$2" "$1"; }
      else
        die download "neither curl nor wget is installed to download $url" 21
      fi
      get "$url" "$file" || die download "cannot download $url" 21
      if [ -z "$MX_PKG_SHA256" ]; then
        get "$url.sha256" "$file.sha256" || die checksum "cannot download $url.sha256" 21
        MX_PKG_SHA256=$(cut -d ' ' -f 1 <"$file.sha256")
      fi
      ;;
    *) die mode "unknown package mode $MX_PKG_MODE" 21 ;;
  esac
  if [ -n "$MX_PKG_SHA256" ]; then
    seen=$(sha256_of "$file")
    [ "$seen" = "$MX_PKG_SHA256" ] ||
      die checksum "the package's SHA-256 is $seen, expected $MX_PKG_SHA256" 21
  fi
  check_dependencies "$file"
  if [ "$FAMILY" = deb ]; then
    if ! out=$(DEBIAN_FRONTEND=noninteractive dpkg -i "$file" 2>&1); then
      echo "$out" | tail -n 5 | sed 's/^/MX-LOG /'
      die install "dpkg -i istio-sidecar failed (missing dependencies? see the log lines)" 21
    fi
  else
    if ! out=$(rpm -U --replacepkgs "$file" 2>&1); then
      echo "$out" | tail -n 5 | sed 's/^/MX-LOG /'
      die install "rpm -U istio-sidecar failed (see the log lines)" 21
    fi
  fi
  mkdir -p "$MX_STATE_DIR"
  sha256_of "$file" >"$MX_STATE_DIR/package.sha256"
  PKG_ACTION=installed
  PKG_CHANGED=1
  end_phase ok
}

# ---- files ------------------------------------------------------------------------------------

# place_root_cert OWNER: /etc/certs/root-cert.pem, compared with our own copy of what we placed
# there last, not with the file: the agent (1.12+) rewrites it with the CA's root whenever the
# bytes differ (a multi-root bundle), and that rewrite is not a change to undo with a restart.
# Placed again only when the wanted bundle changed or the file is gone. Sets PLACED.
place_root_cert() {
  target="$MX_ROOT/etc/certs/root-cert.pem"
  if [ -f "$target" ] && [ ! -L "$MX_STATE_DIR/root-cert.pem" ] &&
    cmp -s "$WORK/root-cert.pem" "$MX_STATE_DIR/root-cert.pem"; then
    PLACED=0
    return 0
  fi
  place_file "$WORK/root-cert.pem" "$target" 644 "$1"
  changed_root=$PLACED
  place_file "$WORK/root-cert.pem" "$MX_STATE_DIR/root-cert.pem" 644 ''
  PLACED=$changed_root
}

FILES_CHANGED=0
files() {
  begin_phase files
  owner=$MX_OWNER
  getent passwd "$owner" >/dev/null 2>&1 ||
    die owner "user $owner does not exist (is the istio-sidecar package installed?)" 30
  for dir in "$MX_ROOT/etc/certs" "$MX_ROOT/etc/istio/proxy" "$MX_ROOT/etc/istio/config" \
    "$MX_ROOT/var/lib/istio/envoy" "$MX_ROOT/var/run/secrets/tokens"; do
    mkdir -p "$dir"
    chown "$owner:$owner" "$dir"
  done
  chown "$owner:$owner" "$MX_ROOT/var/run/secrets"
  place_root_cert "$owner"
  FILES_CHANGED=$((FILES_CHANGED | PLACED))
  # Before 1.8 the workload certificate came with the files (secret istio.<sa>), not by token.
  if [ -f "$WORK/cert-chain.pem" ]; then
    place_file "$WORK/cert-chain.pem" "$MX_ROOT/etc/certs/cert-chain.pem" 644 "$owner"
    FILES_CHANGED=$((FILES_CHANGED | PLACED))
  fi
  if [ -f "$WORK/key.pem" ]; then
    place_file "$WORK/key.pem" "$MX_ROOT/etc/certs/key.pem" 600 "$owner"
    FILES_CHANGED=$((FILES_CHANGED | PLACED))
  fi
  # sidecar.env is read before cluster.env; one we placed earlier goes when no longer wanted
  if [ -f "$WORK/sidecar.env" ]; then
    place_file "$WORK/sidecar.env" "$MX_ROOT/var/lib/istio/envoy/sidecar.env" 644 "$owner"
    FILES_CHANGED=$((FILES_CHANGED | PLACED))
    : >"$MX_STATE_DIR/sidecar.env.placed"
  elif [ -f "$MX_STATE_DIR/sidecar.env.placed" ]; then
    rm -f "$MX_ROOT/var/lib/istio/envoy/sidecar.env" "$MX_STATE_DIR/sidecar.env.placed"
    FILES_CHANGED=1
  fi
  place_file "$WORK/cluster.env" "$MX_ROOT/var/lib/istio/envoy/cluster.env" 644 "$owner"
  FILES_CHANGED=$((FILES_CHANGED | PLACED))
  place_file "$WORK/mesh.yaml" "$MX_ROOT/etc/istio/config/mesh" 644 "$owner"
  FILES_CHANGED=$((FILES_CHANGED | PLACED))
  replace_hosts_block "$MX_HOSTS_FILE" "$WORK/hosts"
  FILES_CHANGED=$((FILES_CHANGED | PLACED))
  if [ -s "$WORK/istio-token" ]; then
    # A fresh token every run: the agent reads it when it needs it, so no restart for it.
    place_file "$WORK/istio-token" "$MX_ROOT/var/run/secrets/tokens/istio-token" 600 "$owner"
    place_file "$WORK/istio-token" "$MX_STATE_DIR/istio-token" 600 "$owner"
    # /var/run is a tmpfs: systemd-tmpfiles puts the token back at boot, before istio starts
    # (C keeps the owner and mode of the copy it is given).
    printf '%s\n' \
      '# mesh-expansion: the bootstrap token survives a reboot' \
      "d /run/secrets 0755 $owner $owner -" \
      "d /run/secrets/tokens 0755 $owner $owner -" \
      "C /run/secrets/tokens/istio-token - - - - ${MX_STATE_DIR#"$MX_ROOT"}/istio-token" >"$WORK/tmpfiles.conf"
    place_file "$WORK/tmpfiles.conf" "$MX_TMPFILES" 644 ''
  else
    # No token (before 1.8): a token left by an earlier run would make the agent ask for a
    # certificate instead of using the provisioned one, so it goes, and the agent restarts.
    for f in "$MX_ROOT/var/run/secrets/tokens/istio-token" "$MX_STATE_DIR/istio-token" "$MX_TMPFILES"; do
      if [ -e "$f" ]; then
        rm -f "$f"
        FILES_CHANGED=1
      fi
    done
  fi
  end_phase ok
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
    replace_hosts_block "$(resolv_file)" "$WORK/resolv.block" top
    DNS_CHANGED=$((DNS_CHANGED | PLACED))
  fi
  if [ "$1" = remove ] && [ -f "$MX_STATE_DIR/resolv.conf.link" ]; then
    # the link we replaced comes back
    ln -sfn "$(cat "$MX_STATE_DIR/resolv.conf.link")" "$MX_RESOLV_CONF"
    rm -f "$MX_STATE_DIR/resolv.conf.link"
    DNS_CHANGED=1
  fi
  if [ -f "$MX_DHCLIENT_CONF" ]; then
    replace_hosts_block "$MX_DHCLIENT_CONF" "$WORK/dhclient.block"
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
  place_file "$WORK/kubedns" "$MX_DNSMASQ_DIR/kubedns" 644 root
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
    if [ -e "$MX_DNSMASQ_DIR/kubedns" ]; then
      rm -f "$MX_DNSMASQ_DIR/kubedns"
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
  if [ "$PKG_CHANGED" -eq 1 ] || [ "$FILES_CHANGED" -eq 1 ] || ! systemctl is-active --quiet istio; then
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
  deadline=$(($(now_ms) + MX_READY_TIMEOUT * 1000))
  while :; do
    if probe_ready; then
      READY=1
      break
    fi
    [ "$(now_ms)" -lt "$deadline" ] || break
    sleep 0.2 2>/dev/null || sleep 1
  done
  if [ "$READY" -ne 1 ]; then
    # Stopped and disabled, capture removed: the host stays reachable, a reboot does not re-arm it.
    systemctl disable --now --quiet istio 2>/dev/null || true
    clean_iptables
    for log in /var/log/istio/istio.log /var/log/istio/istio.err.log; do
      [ -f "$log" ] && tail -n 20 "$log" | sed "s|^|MX-LOG ${log##*/}: |"
    done
    echo "MX-RESULT changed=1 restarted=$RESTARTED ready=0 package=$PKG_ACTION"
    die ready "the sidecar was not ready on :$MX_STATUS_PORT within ${MX_READY_TIMEOUT}s; service stopped and disabled, iptables capture removed" 41
  fi
  end_phase ok
}

install_main() {
  preflight
  trap untrack_sessions EXIT
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

uninstall_main() {
  FAMILY=deb
  command -v dpkg >/dev/null 2>&1 || FAMILY=rpm
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
    if [ "$MX_KEEP_PACKAGE" = 1 ]; then
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
  sidecar_env=''
  # only a sidecar.env we placed: the package's own goes with the package
  [ ! -f "$MX_STATE_DIR/sidecar.env.placed" ] || sidecar_env="$MX_ROOT/var/lib/istio/envoy/sidecar.env"
  for f in "$MX_ROOT/etc/certs/root-cert.pem" "$MX_ROOT/etc/certs/cert-chain.pem" \
    "$MX_ROOT/etc/certs/key.pem" "$MX_ROOT/var/run/secrets/tokens/istio-token" \
    "$MX_ROOT/var/lib/istio/envoy/cluster.env" "$MX_ROOT/var/lib/istio/config/mesh" "$MX_TMPFILES" \
    ${sidecar_env:+"$sidecar_env"}; do
    if [ -e "$f" ]; then
      rm -f "$f"
      changed=1
    fi
  done
  if [ -d "$MX_STATE_DIR" ]; then
    rm -rf "$MX_STATE_DIR"
    changed=1
  fi
  if [ -f "$MX_HOSTS_FILE" ]; then
    replace_hosts_block "$MX_HOSTS_FILE" "$WORK/empty"
    changed=$((changed | PLACED))
  fi
  end_phase ok
  echo "MX-RESULT changed=$changed restarted=0 ready=0 package=$PKG_ACTION"
}

main() {
  mode=${1:-}
  WORK=${2:-}
  if [ -z "$WORK" ] || [ ! -d "$WORK" ]; then
    echo "MX-FAIL args usage: install.sh install|uninstall|preflight WORKDIR"
    exit 2
  fi
  case $mode in
    install) install_main ;;
    uninstall) uninstall_main ;;
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
