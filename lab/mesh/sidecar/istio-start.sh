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
ISTIO_PILOT_PORT=${ISTIO_PILOT_PORT:-15012}
EXEC_USER=${EXEC_USER:-istio-proxy}

if [ "${1:-}" = "clean" ]; then
  "$ISTIO_BIN_BASE/pilot-agent" istio-clean-iptables
  exit 0
fi

# CA_ADDR ▸ PILOT_ADDRESS ▸ istiod.<ISTIO_SYSTEM_NAMESPACE>.svc:<ISTIO_PILOT_PORT>
if [ -z "${CA_ADDR:-}" ]; then
  if [ -n "${PILOT_ADDRESS:-}" ]; then
    CA_ADDR=$PILOT_ADDRESS
  else
    CA_ADDR=istiod.${ISTIO_SYSTEM_NAMESPACE}.svc:${ISTIO_PILOT_PORT}
  fi
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

if [ -z "${ISTIO_KEEP_IPTABLES:-}" ]; then
  "$ISTIO_BIN_BASE/pilot-agent" istio-iptables
fi

if [ "$EXEC_USER" = "$(id -un)" ]; then
  # ISTIO_AGENT_FLAGS holds several words on purpose.
  # shellcheck disable=SC2086
  exec "$ISTIO_BIN_BASE/pilot-agent" proxy ${ISTIO_AGENT_FLAGS:-} \
    2>"$ISTIO_LOG_DIR/istio.err.log" >"$ISTIO_LOG_DIR/istio.log"
fi
# The environment goes through su (no login shell), so the agent sees the files' variables.
exec su -s /bin/sh -c "exec \"$ISTIO_BIN_BASE/pilot-agent\" proxy ${ISTIO_AGENT_FLAGS:-} 2>\"$ISTIO_LOG_DIR/istio.err.log\" >\"$ISTIO_LOG_DIR/istio.log\"" "$EXEC_USER"
