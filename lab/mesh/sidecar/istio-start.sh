#!/bin/sh
# istio-start.sh of the mesh-expansion lab's istio-sidecar stand-in. It follows upstream's
# script: load sidecar.env then cluster.env (exported), work out CA_ADDR and the instance
# address, install the iptables capture as root, then run `pilot-agent proxy` as istio-proxy
# with its output in /var/log/istio. `istio-start.sh clean` removes the capture.
set -e

ISTIO_SIDECAR_CONFIG=${ISTIO_SIDECAR_CONFIG:-/var/lib/istio/envoy/sidecar.env}
ISTIO_CLUSTER_CONFIG=${ISTIO_CLUSTER_CONFIG:-/var/lib/istio/envoy/cluster.env}

# Every variable the files set reaches pilot-agent, as upstream's explicit exports do.
set -a
if [ -r "$ISTIO_SIDECAR_CONFIG" ]; then
  # shellcheck disable=SC1090
  . "$ISTIO_SIDECAR_CONFIG"
fi
if [ -r "$ISTIO_CLUSTER_CONFIG" ]; then
  # shellcheck disable=SC1090
  . "$ISTIO_CLUSTER_CONFIG"
fi
set +a

ISTIO_BIN_BASE=${ISTIO_BIN_BASE:-/usr/local/bin}
ISTIO_LOG_DIR=${ISTIO_LOG_DIR:-/var/log/istio}
NS=${ISTIO_NAMESPACE:-default}
ISTIO_SYSTEM_NAMESPACE=${ISTIO_SYSTEM_NAMESPACE:-istio-system}
EXEC_USER=${EXEC_USER:-istio-proxy}

# The capture's removal as upstream's script of this package's version runs it: 1.10-1.23
# `pilot-agent istio-clean-iptables`, 1.24 on `pilot-agent istio-iptables --cleanup-only`
# (lab/mesh/deb.ts writes the older one into packages before 1.24). ISTIO_CUSTOM_IP_TABLES=true
# leaves iptables to the host: neither removed nor installed.
ISTIO_CLEAN_IPTABLES='istio-iptables --cleanup-only'
if [ "${1:-}" = "clean" ]; then
  if [ "${ISTIO_CUSTOM_IP_TABLES:-}" != "true" ]; then
    # shellcheck disable=SC2086 # a subcommand and its flag
    "$ISTIO_BIN_BASE/pilot-agent" $ISTIO_CLEAN_IPTABLES
  fi
  exit 0
fi

# As upstream's (1.12 and later): PILOT_ADDRESS, else ISTIO_PILOT_PORT on istiod's default name,
# is the custom address; CA_ADDR defaults to it, and so does the discovery address, through
# PROXY_CONFIG, which the agent applies over the mesh config file. Without either, the mesh
# config's discoveryAddress and istiod.<ns>.svc:15012 for the CA.
DEFAULT_PILOT_ADDRESS="istiod.${ISTIO_SYSTEM_NAMESPACE}.svc:15012"
CUSTOM_PILOT_ADDRESS="${PILOT_ADDRESS:-}"
if [ -z "${CUSTOM_PILOT_ADDRESS}" ] && [ -n "${ISTIO_PILOT_PORT:-}" ]; then
  CUSTOM_PILOT_ADDRESS=istiod.${ISTIO_SYSTEM_NAMESPACE}.svc:${ISTIO_PILOT_PORT}
fi
CA_ADDR=${CA_ADDR:-${CUSTOM_PILOT_ADDRESS:-${DEFAULT_PILOT_ADDRESS}}}
if [ -n "${CUSTOM_PILOT_ADDRESS}" ]; then
  PROXY_CONFIG="${PROXY_CONFIG:-}
discoveryAddress: ${CUSTOM_PILOT_ADDRESS}
"
fi
if [ -n "${PROXY_CONFIG:-}" ]; then
  export PROXY_CONFIG
fi

if [ -z "${ISTIO_SVC_IP:-}" ]; then
  ISTIO_SVC_IP=$(hostname --all-ip-addresses | cut -d ' ' -f 1)
fi
if [ -z "${POD_NAME:-}" ]; then
  POD_NAME=$(hostname -s)
fi

PROV_CERT=${PROV_CERT:-/etc/certs}
OUTPUT_CERTS=${OUTPUT_CERTS:-/etc/certs}
export CA_ADDR ISTIO_SVC_IP POD_NAME PROV_CERT OUTPUT_CERTS EXEC_USER
INSTANCE_IP=$ISTIO_SVC_IP
POD_NAMESPACE=${POD_NAMESPACE:-$NS}
export INSTANCE_IP POD_NAMESPACE

if [ "${ISTIO_CUSTOM_IP_TABLES:-}" != "true" ]; then
  # shellcheck disable=SC2086 # a subcommand and its flag
  "$ISTIO_BIN_BASE/pilot-agent" $ISTIO_CLEAN_IPTABLES
  "$ISTIO_BIN_BASE/pilot-agent" istio-iptables
fi

if [ "$EXEC_USER" = "$(id -un)" ]; then
  # ISTIO_AGENT_FLAGS holds several words on purpose.
  # shellcheck disable=SC2086
  exec "$ISTIO_BIN_BASE/pilot-agent" proxy ${ISTIO_AGENT_FLAGS:-} \
    2>"$ISTIO_LOG_DIR/istio.err.log" >"$ISTIO_LOG_DIR/istio.log"
fi
# As upstream's: sudo -E keeps the files' variables (the package depends on sudo for this).
exec sudo -E -u "$EXEC_USER" -s /bin/sh -c "exec \"$ISTIO_BIN_BASE/pilot-agent\" proxy ${ISTIO_AGENT_FLAGS:-} 2>>\"$ISTIO_LOG_DIR/istio.err.log\" >>\"$ISTIO_LOG_DIR/istio.log\""
