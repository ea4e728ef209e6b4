#!/usr/bin/python3
"""pilot-agent stand-in for the mesh-expansion lab (installed as /usr/local/bin/pilot-agent).

Not Istio: a small agent with the real one's contract on a VM. It reads the environment that
istio-start.sh exported (sidecar.env, then cluster.env) and the mesh config, gets a workload
certificate from istiod with the VM's token, installs iptables capture (as root, through the
`istio-iptables` subcommand), answers DNS for mesh names, and proxies outbound and inbound TCP,
adding `server: envoy` and `x-forwarded-client-cert` to HTTP/1.x. Readiness on :15021.

Like the real agent, it reads its files relative to the working directory (systemd starts it
in /): ./etc/istio/config/mesh, ./var/run/secrets/tokens/istio-token, $PROV_CERT/root-cert.pem.
Only the Python standard library is used: the VM has no third-party modules.
"""

import datetime
import hashlib
import json
import os
import pwd
import random
import re
import select
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import http.client

VERSION = '1.30.3-lab'  # lab/mesh/deb.ts writes the package's version here
OUTBOUND_PORT = 15001
INBOUND_PORT = 15006
DNS_PORT = 15053
READY_PORT = 15021
MESH_CONFIG = './etc/istio/config/mesh'
TOKEN_PATH = './var/run/secrets/tokens/istio-token'
IPTABLES_STATE = './var/run/istio/iptables.json'
SO_ORIGINAL_DST = 80
HEAD_LIMIT = 64 * 1024
IDLE_TIMEOUT = 300.0
HTTP_METHODS = (b'GET ', b'POST ', b'PUT ', b'DELETE ', b'HEAD ', b'OPTIONS ', b'PATCH ', b'TRACE ')
LOG_LOCK = threading.Lock()


def version_at_least(major, minor, version=None):
    """Whether this stand-in plays Istio major.minor or later (its VERSION, e.g. 1.24.0-lab)."""
    match = re.match(r'(\d+)\.(\d+)', version or VERSION)
    return match is not None and (int(match.group(1)), int(match.group(2))) >= (major, minor)


def log(level, scope, message):
    """One line per event, the shape pilot-agent uses: time, level, scope, message."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')
    with LOG_LOCK:
        sys.stdout.write('%s\t%s\t%s\t%s\n' % (now, level, scope, message))
        sys.stdout.flush()


class AgentError(Exception):
    """A failure with the message the real agent would log."""


# ---------------------------------------------------------------------------------------------
# Mesh config: a parser for the YAML subset istioctl writes (block maps and sequences, plain and
# quoted scalars, block literals, {} and [] and JSON flow values). PyYAML is not on the VM.


class YamlError(Exception):
    pass


def _yaml_scalar(text, lineno):
    text = text.strip()
    if text == '':
        return None
    if text[0] == "'":
        if len(text) < 2 or text[-1] != "'":
            raise YamlError('line %d: unterminated single-quoted string' % lineno)
        return text[1:-1].replace("''", "'")
    if text[0] == '"':
        try:
            return json.loads(text)
        except ValueError:
            raise YamlError('line %d: bad double-quoted string' % lineno)
    if text[0] in '{[':
        if text in ('{}', '[]'):
            return {} if text == '{}' else []
        try:
            return json.loads(text)
        except ValueError:
            raise YamlError('line %d: flow collections other than JSON are not supported' % lineno)
    hash_at = text.find(' #')
    if hash_at >= 0:
        text = text[:hash_at].rstrip()
    if text in ('true', 'True', 'TRUE'):
        return True
    if text in ('false', 'False', 'FALSE'):
        return False
    if text in ('null', 'Null', 'NULL', '~'):
        return None
    if re.fullmatch(r'[-+]?[0-9]+', text):
        return int(text)
    if re.fullmatch(r'[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?', text):
        return float(text)
    return text


def _split_key(content, lineno):
    """Splits `key: value` (key plain or quoted); returns (key, rest) or None if not a mapping."""
    if content[0] in '\'"':
        quote = content[0]
        end = content.find(quote, 1)
        while quote == "'" and end >= 0 and content[end + 1:end + 2] == "'":
            end = content.find(quote, end + 2)
        if end < 0:
            raise YamlError('line %d: unterminated quoted key' % lineno)
        key = _yaml_scalar(content[:end + 1], lineno)
        rest = content[end + 1:].lstrip()
        if not rest.startswith(':'):
            return None
        return str(key), rest[1:]
    match = re.match(r'([^:#]+?):(\s|$)', content)
    if not match:
        return None
    return match.group(1), content[match.end(1) + 1:]


def parse_yaml(text):
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        if '\t' in raw[: len(raw) - len(raw.lstrip())]:
            raise YamlError('line %d: tabs are not allowed for indentation' % number)
        stripped = raw.strip()
        if stripped == '' or stripped.startswith('#') or stripped in ('---', '...'):
            lines.append((None, raw, number))
            continue
        lines.append((len(raw) - len(raw.lstrip(' ')), raw, number))
    significant = [entry for entry in lines if entry[0] is not None]
    if not significant:
        return {}
    value, index = _parse_node(lines, _next(lines, 0), significant[0][0])
    index = _next(lines, index)
    if index < len(lines):
        raise YamlError('line %d: unexpected content' % lines[index][2])
    return value


def _next(lines, index):
    while index < len(lines) and lines[index][0] is None:
        index += 1
    return index


def _block_literal(lines, index, parent_indent, style):
    collected = []
    block_indent = None
    while index < len(lines):
        indent, raw, _ = lines[index]
        if indent is not None and indent <= parent_indent:
            break
        if indent is not None and block_indent is None:
            block_indent = indent
        collected.append(raw[block_indent:] if block_indent is not None and raw.strip() else '')
        index += 1
    while collected and collected[-1] == '':
        collected.pop()
    body = '\n'.join(collected)
    if style == '|':
        body += '\n'
    elif style == '|+':
        body += '\n'
    return body, index


def _parse_node(lines, index, indent):
    content = lines[index][1].strip()
    if content == '-' or content.startswith('- '):
        return _parse_sequence(lines, index, indent)
    return _parse_mapping(lines, index, indent)


def _value_after(lines, index, rest, indent, lineno, in_sequence=False):
    """The value that follows `key:` (rest is the text after the colon)."""
    rest = rest.strip()
    if rest in ('|', '|-', '|+'):
        return _block_literal(lines, index + 1, indent, rest)
    if rest.startswith('>'):
        raise YamlError('line %d: folded block scalars are not supported' % lineno)
    if rest != '':
        return _yaml_scalar(rest, lineno), index + 1
    following = _next(lines, index + 1)
    if following >= len(lines):
        return None, following
    child_indent = lines[following][0]
    child = lines[following][1].strip()
    is_item = child == '-' or child.startswith('- ')
    if child_indent > indent or (child_indent == indent and is_item and not in_sequence):
        return _parse_node(lines, following, child_indent)
    return None, index + 1


def _parse_mapping(lines, index, indent):
    result = {}
    while True:
        index = _next(lines, index)
        if index >= len(lines):
            return result, index
        line_indent, raw, lineno = lines[index]
        if line_indent < indent:
            return result, index
        if line_indent > indent:
            raise YamlError('line %d: bad indentation' % lineno)
        content = raw.strip()
        if content.startswith('- '):
            return result, index
        split = _split_key(content, lineno)
        if split is None:
            raise YamlError('line %d: expected "key: value"' % lineno)
        key, rest = split
        value, index = _value_after(lines, index, rest, indent, lineno)
        result[key] = value


def _parse_sequence(lines, index, indent):
    result = []
    while True:
        index = _next(lines, index)
        if index >= len(lines):
            return result, index
        line_indent, raw, lineno = lines[index]
        content = raw.strip()
        if line_indent != indent or not (content == '-' or content.startswith('- ')):
            if line_indent > indent:
                raise YamlError('line %d: bad indentation' % lineno)
            return result, index
        item = content[1:].strip()
        if item == '':
            value, index = _value_after(lines, index, '', indent, lineno, in_sequence=True)
            result.append(value)
            continue
        item_indent = indent + (len(content) - len(item))
        if _split_key(item, lineno) is not None and item[0] not in '{["\'':
            # "- key: value" starts a mapping whose keys align with `key`.
            lines[index] = (item_indent, ' ' * item_indent + item, lineno)
            value, index = _parse_mapping(lines, index, item_indent)
            result.append(value)
            continue
        result.append(_yaml_scalar(item, lineno))
        index += 1


def read_mesh_config(path):
    """defaultConfig of the mesh config; a missing or empty file means the defaults."""
    try:
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
    except FileNotFoundError:
        log('warn', 'default', 'mesh config %s not found, using defaults' % path)
        return {}
    except PermissionError:
        raise AgentError('failed to read mesh config: open %s: permission denied' % path)
    try:
        mesh = parse_yaml(text)
    except YamlError as error:
        raise AgentError('failed to read mesh config %s: %s' % (path, error))
    if mesh is None:
        return {}
    if not isinstance(mesh, dict):
        raise AgentError('failed to read mesh config %s: not a map' % path)
    config = mesh.get('defaultConfig') or {}
    if not isinstance(config, dict):
        raise AgentError('failed to read mesh config %s: defaultConfig is not a map' % path)
    return config


def with_proxy_config_env(config, env):
    """PROXY_CONFIG (a ProxyConfig, set by istio-start.sh) applied over the file's defaultConfig,
    as pilot-agent's ConstructProxyConfig does (pilot/cmd/pilot-agent/config/config.go)."""
    text = env.get('PROXY_CONFIG') or ''
    try:
        overlay = parse_yaml(text) if text.strip() else {}
    except YamlError as error:
        raise AgentError('failed to read PROXY_CONFIG: %s' % error)
    if not isinstance(overlay, dict):
        raise AgentError('failed to read PROXY_CONFIG: not a map')
    merged = {**config, **overlay}
    # pkg/config/mesh/mesh.go MergeProxyConfig: proxyMetadata maps merge, the overlay's keys win
    if isinstance(config.get('proxyMetadata'), dict) and isinstance(overlay.get('proxyMetadata'), dict):
        merged['proxyMetadata'] = {**config['proxyMetadata'], **overlay['proxyMetadata']}
    return merged


# ---------------------------------------------------------------------------------------------
# iptables capture (the `istio-iptables` subcommand, run as root by istio-start.sh)


def split_list(value):
    return [item.strip() for item in (value or '').split(',') if item.strip()]


def proxy_ids():
    """uid/gid the agent runs as: ISTIO_PROXY_UID/GID (tests) or the istio-proxy user."""
    if os.environ.get('ISTIO_PROXY_UID'):
        uid = int(os.environ['ISTIO_PROXY_UID'])
        return uid, int(os.environ.get('ISTIO_PROXY_GID') or uid)
    user = os.environ.get('EXEC_USER') or 'istio-proxy'
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise AgentError('user %s does not exist (is the istio-sidecar package installed?)' % user)
    return entry.pw_uid, entry.pw_gid


def builtin_rules(uid, gid, env):
    """Rules appended to the built-in nat chains: (chain, rule spec)."""
    rules = [('PREROUTING', '-p tcp -j ISTIO_INBOUND'), ('OUTPUT', '-p tcp -j ISTIO_OUTPUT')]
    if env.get('ISTIO_META_DNS_CAPTURE') == 'true':
        rules += [
            ('OUTPUT', '-p udp --dport 53 -m owner --uid-owner %d -j RETURN' % uid),
            ('OUTPUT', '-p udp --dport 53 -m owner --gid-owner %d -j RETURN' % gid),
            ('OUTPUT', '-p udp --dport 53 -j REDIRECT --to-ports %d' % DNS_PORT),
        ]
    return rules


def render_iptables(uid, gid, env):
    """iptables-restore input (nat table) for the capture described by the environment."""
    exclude = split_list(env.get('ISTIO_LOCAL_EXCLUDE_PORTS'))
    inbound = env.get('ISTIO_INBOUND_PORTS', '')
    cidrs = env.get('ISTIO_SERVICE_CIDR', '')
    out = ['*nat']
    for chain in ('ISTIO_INBOUND', 'ISTIO_IN_REDIRECT', 'ISTIO_OUTPUT', 'ISTIO_REDIRECT'):
        out.append(':%s - [0:0]' % chain)
    out.append('-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports %d' % OUTBOUND_PORT)
    out.append('-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports %d' % INBOUND_PORT)
    # As upstream's handleInboundPortsInclude (tools/istio-iptables/pkg/capture/run.go, 1.30):
    # 15008 (HBONE) always returns; '*' (compared exactly) redirects all but the
    # ISTIO_LOCAL_EXCLUDE_PORTS; an explicit list redirects exactly those ports, and the exclude
    # list does not apply to it (root.go: "Only applies when all inbound traffic ... '*'"); an
    # empty value captures nothing inbound. The agent's own ports (15090, 15021, 15020) are
    # excluded only because istioctl's cluster.env lists them.
    if inbound != '':
        out.append('-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN')
    if inbound == '*':
        for port in dict.fromkeys(exclude):
            out.append('-A ISTIO_INBOUND -p tcp --dport %s -j RETURN' % port)
        out.append('-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT')
    else:
        for port in split_list(inbound):
            out.append('-A ISTIO_INBOUND -p tcp --dport %s -j ISTIO_IN_REDIRECT' % port)
    out.append('-A ISTIO_OUTPUT -m owner --uid-owner %d -j RETURN' % uid)
    out.append('-A ISTIO_OUTPUT -m owner --gid-owner %d -j RETURN' % gid)
    if env.get('ISTIO_META_DNS_CAPTURE') == 'true':
        out.append('-A ISTIO_OUTPUT -p tcp --dport 53 -j REDIRECT --to-ports %d' % DNS_PORT)
    out.append('-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN')
    # Listed ranges come before the loopback return: the multi-network generation's .global
    # names are 127.255.0.0/16 addresses, which leave through lo.
    for cidr in ([] if cidrs.strip() == '*' else split_list(cidrs)):
        out.append('-A ISTIO_OUTPUT -d %s -j ISTIO_REDIRECT' % cidr)
    out.append('-A ISTIO_OUTPUT -o lo -j RETURN')
    if cidrs.strip() == '*':
        out.append('-A ISTIO_OUTPUT -j ISTIO_REDIRECT')
    for chain, spec in builtin_rules(uid, gid, env):
        out.append('-A %s %s' % (chain, spec))
    out.append('COMMIT')
    return '\n'.join(out) + '\n'


def run(argv, stdin=None):
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30)


def clean_iptables(env):
    """Removes our jumps and chains; safe to run when nothing is installed."""
    try:
        uid, gid = proxy_ids()
    except AgentError:
        uid, gid = 0, 0
    for chain, spec in builtin_rules(uid, gid, dict(env, ISTIO_META_DNS_CAPTURE='true')):
        for _ in range(20):  # each rule may have been added more than once
            if run(['iptables', '-t', 'nat', '-D', chain] + spec.split()).returncode != 0:
                break
    for chain in ('ISTIO_INBOUND', 'ISTIO_IN_REDIRECT', 'ISTIO_OUTPUT', 'ISTIO_REDIRECT'):
        run(['iptables', '-t', 'nat', '-F', chain])
        run(['iptables', '-t', 'nat', '-X', chain])
    try:
        os.unlink(IPTABLES_STATE)
    except FileNotFoundError:
        pass


def install_iptables(env):
    uid, gid = proxy_ids()
    clean_iptables(env)
    rules = render_iptables(uid, gid, env)
    result = run(['iptables-restore', '--noflush'], stdin=rules)
    if result.returncode != 0:
        raise AgentError('iptables-restore failed: %s' % (result.stderr.strip() or result.stdout.strip()))
    os.makedirs(os.path.dirname(IPTABLES_STATE), exist_ok=True)
    state = {
        'uid': uid,
        'gid': gid,
        'serviceCidr': env.get('ISTIO_SERVICE_CIDR', ''),
        'inboundPorts': env.get('ISTIO_INBOUND_PORTS', ''),
        'localExcludePorts': env.get('ISTIO_LOCAL_EXCLUDE_PORTS', ''),
        'dnsCapture': env.get('ISTIO_META_DNS_CAPTURE') == 'true',
    }
    with open(IPTABLES_STATE, 'w', encoding='utf-8') as handle:
        json.dump(state, handle)
    os.chmod(IPTABLES_STATE, 0o644)
    sys.stdout.write(rules)
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# Talking to istiod


def split_address(address, default_port=15012):
    host, _, port = address.rpartition(':')
    if not host:
        return address, default_port
    return host.strip('[]'), int(port)


def describe_network_error(error, host, port):
    """The words the Go agent would use for the same failure."""
    if isinstance(error, socket.gaierror):
        return 'dial tcp: lookup %s: no such host' % host
    if isinstance(error, ssl.SSLCertVerificationError):
        message = error.verify_message or str(error)
        if 'hostname mismatch' in message or "doesn't match" in message:
            return 'x509: certificate is valid for other names, not %s' % host
        if 'expired' in message:
            return 'x509: certificate has expired or is not yet valid'
        return 'x509: certificate signed by unknown authority'
    if isinstance(error, ConnectionRefusedError):
        return 'dial tcp %s:%d: connect: connection refused' % (host, port)
    if isinstance(error, (socket.timeout, TimeoutError)):
        return 'dial tcp %s:%d: i/o timeout' % (host, port)
    if isinstance(error, ssl.SSLError):
        return 'tls: %s' % (error.reason or error)
    return str(error)


class Istiod:
    def __init__(self, address, root_cert, client_cert=None):
        self.host, self.port = split_address(address)
        self.root_cert = root_cert
        self.client_cert = client_cert

    def connect(self, timeout):
        try:
            context = ssl.create_default_context(cafile=self.root_cert)
        except FileNotFoundError:
            raise AgentError('open %s: no such file or directory' % self.root_cert)
        except PermissionError:
            raise AgentError('open %s: permission denied' % self.root_cert)
        except ssl.SSLError as error:
            raise AgentError('failed to load root cert %s: %s' % (self.root_cert, error.reason or error))
        if self.client_cert:
            try:
                context.load_cert_chain(*self.client_cert)
            except (OSError, ssl.SSLError) as error:
                raise AgentError('failed to load the workload certificate %s: %s' % (self.client_cert[0], error))
        connection = http.client.HTTPSConnection(self.host, self.port, context=context, timeout=timeout)
        try:
            connection.connect()
        except (OSError, ssl.SSLError) as error:
            connection.close()
            raise AgentError(
                'rpc error: code = Unavailable desc = connection error: desc = "transport: %s"'
                % describe_network_error(error, self.host, self.port)
            )
        return connection

    def call(self, method, path, body, headers, timeout=10.0):
        connection = self.connect(timeout)
        try:
            payload = json.dumps(body).encode()
            all_headers = {'content-type': 'application/json', **headers}
            connection.request(method, path, body=payload, headers=all_headers)
            response = connection.getresponse()
            data = response.read(1024 * 1024)
        except (OSError, http.client.HTTPException) as error:
            raise AgentError('rpc error: code = Unavailable desc = %s' % error)
        finally:
            connection.close()
        try:
            parsed = json.loads(data or b'{}')
        except ValueError:
            parsed = {}
        if response.status != 200:
            raise AgentError(
                'rpc error: code = %s desc = %s'
                % (parsed.get('code', 'Unknown'), parsed.get('message', data[:200].decode(errors='replace')))
            )
        return parsed


class Settings:
    def __init__(self, env):
        self.env = env
        self.mesh = with_proxy_config_env(read_mesh_config(MESH_CONFIG), env)
        # Node metadata as pkg/bootstrap/config.go (GetNodeMetaData) builds it: the ISTIO_META_*
        # keys of proxyMetadata (from 1.16; before, none), overridden by the environment's
        # ISTIO_META_* and merged ISTIO_METAJSON_* values. proxyMetadata is not agent environment:
        # on a VM its keys reach the agent through cluster.env, which istioctl writes with them.
        self.metadata = {}
        proxy_metadata = self.mesh.get('proxyMetadata') or {}
        if isinstance(proxy_metadata, dict) and version_at_least(1, 16):
            for key, value in proxy_metadata.items():
                if str(key).startswith('ISTIO_META_'):
                    self.metadata[str(key)[len('ISTIO_META_'):]] = '' if value is None else str(value)
        for key, value in env.items():
            if key.startswith('ISTIO_META_'):
                self.metadata[key[len('ISTIO_META_'):]] = value
        for key, value in env.items():
            if key.startswith('ISTIO_METAJSON_'):
                try:
                    parsed = json.loads(value)
                except ValueError:
                    log('warn', 'default', 'Env variable %s [%s] failed json unmarshal' % (key, value))
                    continue
                if isinstance(parsed, dict):
                    self.metadata.update(parsed)
        certs = env.get('PROV_CERT') or './etc/certs'
        # Before Istio 1.8 a VM got its certificates from the istio.<sa> secret, not a token: with
        # no token and provisioned certificates, use them, and pilot's address of that time.
        self.provisioned = (
            not os.path.exists(TOKEN_PATH)
            and os.path.exists(os.path.join(certs, 'cert-chain.pem'))
            and os.path.exists(os.path.join(certs, 'key.pem'))
        )
        discovery = self.mesh.get('discoveryAddress') or env.get('PILOT_ADDRESS')
        if not discovery and self.provisioned:
            # As istio-start.sh of 0.8-1.4: pilot's mTLS port only when ISTIO_CP_AUTH says so (the
            # 0.8 package reads no other key), else the plaintext 8080, which the lab never serves.
            port = env.get('ISTIO_PILOT_PORT') or ('15011' if env.get('ISTIO_CP_AUTH') == 'MUTUAL_TLS' else '8080')
            discovery = 'istio-pilot.%s:%s' % (env.get('ISTIO_SYSTEM_NAMESPACE') or 'istio-system', port)
        self.discovery = str(discovery or 'istiod.istio-system.svc:15012')
        self.ca_addr = env.get('CA_ADDR') or self.discovery
        self.trust_domain = env.get('TRUST_DOMAIN') or 'cluster.local'
        self.namespace = env.get('POD_NAMESPACE') or env.get('ISTIO_NAMESPACE') or 'default'
        self.service_account = env.get('SERVICE_ACCOUNT') or 'default'
        self.spiffe = 'spiffe://%s/ns/%s/sa/%s' % (self.trust_domain, self.namespace, self.service_account)
        if self.provisioned:
            # provisioned certificates carry the identity; the environment does not choose it
            self.spiffe = certificate_uri(os.path.join(certs, 'cert-chain.pem')) or self.spiffe
        self.pod_name = env.get('POD_NAME') or socket.gethostname().split('.')[0]
        self.ip = env.get('INSTANCE_IP') or env.get('ISTIO_SVC_IP') or ''
        self.workload = str(self.metadata.get('WORKLOAD_NAME') or self.pod_name)
        self.root_cert = os.path.join(certs, 'root-cert.pem')
        # The CA client authenticates with the certificate here (PROV_CERT); OUTPUT_CERTS is where
        # issued ones are written. The package sets both to /etc/certs, so a restart finds the
        # certificate of the run before (upstream keeps no other copy: the rest is in memory).
        self.prov_cert = certs
        self.output = env.get('OUTPUT_CERTS') or './etc/certs'
        if self.provisioned:
            self.output = certs
        self.dns_capture = env.get('ISTIO_META_DNS_CAPTURE') == 'true'
        self.heartbeat = float(env.get('ISTIO_LAB_HEARTBEAT_SECONDS') or '5')
        probe = self.mesh.get('readinessProbe')
        self.probe = probe if isinstance(probe, dict) and probe else None

    def node(self):
        return {
            'id': 'sidecar~%s~%s.%s~%s.svc.cluster.local'
            % (self.ip, self.pod_name, self.namespace, self.namespace),
            'podName': self.pod_name,
            'namespace': self.namespace,
            'serviceAccount': self.service_account,
            'workloadName': self.workload,
            'ip': self.ip,
            'clusterId': str(self.metadata.get('CLUSTER_ID', '')),
            'network': str(self.metadata.get('NETWORK', '')),
            'autoRegisterGroup': str(self.metadata.get('AUTO_REGISTER_GROUP', '')),
            'labels': self.env.get('ISTIO_METAJSON_LABELS', ''),
            'workloadEntry': str(self.metadata.get('WORKLOAD_ENTRY', '')),
            'hasProbe': 'true' if self.probe else 'false',
        }


def write_atomic(path, data, mode):
    temporary = '%s.tmp-%d' % (path, os.getpid())
    with open(temporary, 'w', encoding='utf-8') as handle:
        handle.write(data)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def ca_credentials(settings):
    """What the agent presents to the CA, as upstream's CA client does (Citadel client, token
    provider): the certificate in PROV_CERT when it loads (from 1.11 only while it has not
    expired) and the token when the file is readable (1.8: not at all when the certificate loads;
    a missing file is an error in 1.8, from 1.9 the request goes without it).
    Returns (client_cert or None, headers)."""
    client_cert = None
    chain = os.path.join(settings.prov_cert, 'cert-chain.pem')
    key = os.path.join(settings.prov_cert, 'key.pem')
    if os.path.exists(chain) and os.path.exists(key):
        try:
            expired = certificate_not_after(chain) <= time.time()
        except AgentError as error:
            log('warn', 'citadelclient', 'cannot load key pair, using token instead: %s' % error)
        else:
            if expired and version_at_least(1, 11):
                log('warn', 'citadelclient', 'cert expired, using token instead')
            else:
                client_cert = (chain, key)
    headers = {}
    try:
        with open(TOKEN_PATH, encoding='utf-8') as handle:
            token = handle.read().strip()
    except OSError as error:
        reason = 'open %s: %s' % (TOKEN_PATH, 'no such file or directory' if isinstance(
            error, FileNotFoundError) else 'permission denied')
        if not version_at_least(1, 9):
            raise AgentError('failed to get credential token: %s from path %s' % (reason, TOKEN_PATH))
        log('warn', 'default', 'failed to fetch token from file: %s' % reason)
        token = ''
    if token and not (client_cert and not version_at_least(1, 9)):
        headers['authorization'] = 'Bearer %s' % token
    return client_cert, headers


def fetch_certificate(settings):
    """CSR made with openssl, authenticated as upstream's agent does (ca_credentials); writes
    cert-chain.pem and key.pem to OUTPUT_CERTS, where the next start finds them."""
    client_cert, headers = ca_credentials(settings)
    os.makedirs(settings.output, exist_ok=True)
    key_path = os.path.join(settings.output, 'key.pem')
    key_temporary = '%s.tmp-%d' % (key_path, os.getpid())
    result = run([
        'openssl', 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
        '-nodes', '-keyout', key_temporary, '-subj', '/O=%s' % settings.trust_domain,
        '-addext', 'subjectAltName=URI:%s' % settings.spiffe,
    ])
    if result.returncode != 0:
        raise AgentError('failed to create a certificate signing request: %s' % result.stderr.strip())
    try:
        istiod = Istiod(settings.ca_addr, settings.root_cert, client_cert)
        answer = istiod.call(
            'POST', '/v1/certificates',
            {'csr': result.stdout, 'validitySeconds': 86400, 'node': settings.node()},
            headers,
        )
        chain = answer.get('certChain') or []
        if not chain:
            raise AgentError('istiod returned no certificate')
        os.chmod(key_temporary, 0o600)
        # security/pkg/nodeagent/util/util.go OutputKeyCertToDir: 0600 off Kubernetes (1.12 on)
        write_atomic(os.path.join(settings.output, 'cert-chain.pem'), ''.join(chain),
                     0o600 if version_at_least(1, 12) else 0o644)
        output_root_cert(settings.output, chain[-1])
        os.replace(key_temporary, key_path)
    finally:
        if os.path.exists(key_temporary):
            os.unlink(key_temporary)
    return chain


def output_root_cert(directory, root):
    """root-cert.pem in OUTPUT_CERTS with the CA's root, as upstream's OutputKeyCertToDir
    (security/pkg/nodeagent/util/util.go): from 1.12 only when the bytes differ, atomically,
    mode 0600 (a multi-root bundle placed there is replaced by the one root); 1.8-1.11 wrote it
    on every certificate, keeping an existing file's mode."""
    path = os.path.join(directory, 'root-cert.pem')
    if not version_at_least(1, 12):
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write(root)
        return
    try:
        with open(path, encoding='utf-8') as handle:
            if handle.read() == root:
                return
    except OSError:
        pass
    write_atomic(path, root, 0o600)


def certificate_uri(path):
    """The first URI SAN of a certificate ('' when unreadable)."""
    result = run(['openssl', 'x509', '-noout', '-ext', 'subjectAltName', '-in', path])
    match = re.search(r'URI:([^,\s]+)', result.stdout or '')
    return match.group(1) if result.returncode == 0 and match else ''


def certificate_not_after(path):
    result = run(['openssl', 'x509', '-noout', '-enddate', '-in', path])
    if result.returncode != 0:
        raise AgentError('cannot read %s: %s' % (path, result.stderr.strip()))
    text = result.stdout.strip().split('=', 1)[-1]
    return datetime.datetime.strptime(text, '%b %d %H:%M:%S %Y %Z').replace(
        tzinfo=datetime.timezone.utc).timestamp()


def rotate_certificates(settings, client_cert):
    """Renews the workload certificate at half its life (SECRET_GRACE_PERIOD_RATIO 0.5), with the
    same credentials as the first request (ca_credentials: the certificate while it is valid, the
    token once it has expired); a failure is retried with backoff, for ever, as upstream's."""
    issued = time.time()
    delay = 1.0
    while True:
        try:
            not_after = certificate_not_after(client_cert[0])
        except AgentError as error:
            log('error', 'cache', str(error))
            time.sleep(10)
            continue
        time.sleep(max(1.0, issued + (not_after - issued) / 2 - time.time()))
        while True:
            try:
                fetch_certificate(settings)
                break
            except AgentError as error:
                log('error', 'cache', 'failed to rotate certificate: %s' % error)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        issued, delay = time.time(), 1.0
        log('info', 'cache', 'rotated workload certificate for %s' % settings.spiffe)
        log('info', 'sds', 'SDS: PUSH resource=default (pushed key/cert pair)')


# ---------------------------------------------------------------------------------------------
# Application health: the mesh config's readinessProbe (the WorkloadGroup's probe), reported to
# istiod, which keeps the WorkloadEntry's Healthy condition when health checks are enabled.


def run_probe(probe):
    """(healthy, message) of one probe run, with Kubernetes' words for failures."""
    timeout = float(probe.get('timeoutSeconds') or 1)
    try:
        if isinstance(probe.get('httpGet'), dict):
            spec = probe['httpGet']
            host, port = spec.get('host') or '127.0.0.1', int(spec.get('port') or 80)
            if str(spec.get('scheme') or 'HTTP').upper() == 'HTTPS':
                connection = http.client.HTTPSConnection(
                    host, port, timeout=timeout, context=ssl._create_unverified_context())
            else:
                connection = http.client.HTTPConnection(host, port, timeout=timeout)
            headers = {h.get('name', ''): h.get('value', '') for h in spec.get('httpHeaders') or []
                       if isinstance(h, dict)}
            try:
                connection.request('GET', spec.get('path') or '/', headers=headers)
                status = connection.getresponse().status
            finally:
                connection.close()
            if 200 <= status < 400:
                return True, 'HTTP probe succeeded with statuscode: %d' % status
            return False, 'HTTP probe failed with statuscode: %d' % status
        if isinstance(probe.get('tcpSocket'), dict):
            spec = probe['tcpSocket']
            socket.create_connection((spec.get('host') or '127.0.0.1', int(spec.get('port') or 0)),
                                     timeout=timeout).close()
            return True, 'TCP probe succeeded'
        if isinstance(probe.get('exec'), dict):
            command = [str(part) for part in probe['exec'].get('command') or []]
            result = subprocess.run(command, capture_output=True, timeout=timeout)
            if result.returncode == 0:
                return True, 'exec probe succeeded'
            return False, 'command %s exited with %d' % (command, result.returncode)
    except (OSError, http.client.HTTPException, subprocess.TimeoutExpired, ValueError) as error:
        return False, 'probe failed: %s' % error
    return True, 'no probe handler'


def check_health(settings, client_cert):
    """Runs the readiness probe and reports each change of health to istiod."""
    probe = settings.probe
    period = float(probe.get('periodSeconds') or 10)
    success_threshold = int(probe.get('successThreshold') or 1)
    failure_threshold = int(probe.get('failureThreshold') or 3)
    time.sleep(float(probe.get('initialDelaySeconds') or 0))
    reported, healthy, successes, failures = None, None, 0, 0
    while True:
        ok, message = run_probe(probe)
        if ok:
            successes, failures = successes + 1, 0
            if successes >= success_threshold:
                healthy = True
        else:
            successes, failures = 0, failures + 1
            if failures >= failure_threshold:
                healthy = False
        if healthy is not None and healthy != reported:
            try:
                Istiod(settings.discovery, settings.root_cert, client_cert).call(
                    'POST', '/v1/health', {'healthy': healthy, 'message': message, 'node': settings.node()}, {})
                reported = healthy
                log('info', 'healthcheck', 'application %s: %s' % ('healthy' if healthy else 'unhealthy', message))
            except AgentError as error:
                log('warn', 'healthcheck', 'cannot report health to istiod: %s' % error)
        time.sleep(period)


# ---------------------------------------------------------------------------------------------
# DNS proxy (answers mesh names from istiod's name table; no upstream DNS in the lab)


class NameTable:
    def __init__(self, namespace):
        self.namespace = namespace
        self.lock = threading.Lock()
        self.names = {}

    def update(self, table):
        names = {}
        for host, address in table.items():
            host = host.lower().rstrip('.')
            names[host] = address
            if '.svc.' in host:
                # The forms a pod could use: name.ns.svc, name.ns, and name in its own namespace.
                prefix = host.split('.svc.')[0]
                names.setdefault(prefix + '.svc', address)
                names.setdefault(prefix, address)
                short, _, namespace = prefix.partition('.')
                if namespace == self.namespace:
                    names.setdefault(short, address)
        with self.lock:
            self.names = names

    def lookup(self, name):
        with self.lock:
            return self.names.get(name.lower().rstrip('.'))

    def size(self):
        with self.lock:
            return len(self.names)


def global_target(address, table):
    """Multi-network (1.3/1.4): a `.global` ServiceEntry address names <svc>.<ns>.global, which the
    cluster's gateway on 15443 sends on to <svc>.<ns>.svc.cluster.local. The lab has no such
    gateway, so the proxy takes that last step itself: [global name, ClusterIP], or None."""
    with table.lock:
        names = dict(table.names)
    for host in sorted(h for h, value in names.items() if value == address and h.endswith('.global')):
        local = names.get(host[:-len('.global')] + '.svc.cluster.local')
        if local:
            return [host, local]
    return None


def dns_answer(query, table):
    if len(query) < 12:
        return None
    ident, flags, qdcount = struct.unpack('!HHH', query[:6])
    if qdcount != 1 or flags & 0x8000:
        return None
    labels, offset = [], 12
    while offset < len(query):
        length = query[offset]
        offset += 1
        if length == 0:
            break
        if length & 0xC0 or offset + length > len(query):
            return None
        labels.append(query[offset:offset + length].decode('ascii', errors='replace'))
        offset += length
    if offset + 4 > len(query):
        return None
    qtype, qclass = struct.unpack('!HH', query[offset:offset + 4])
    question = query[12:offset + 4]
    address = table.lookup('.'.join(labels))
    answers = b''
    rcode = 0
    if address is None:
        rcode = 3  # NXDOMAIN
    elif qtype == 1 and qclass == 1:
        answers = struct.pack('!HHHIH', 0xC00C, 1, 1, 30, 4) + socket.inet_aton(address)
    response_flags = 0x8000 | (flags & 0x7800) | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
    header = struct.pack('!HHHHHH', ident, response_flags, 1, 1 if answers else 0, 0, 0)
    return header + question + answers


def serve_dns_udp(sock, table):
    while True:
        try:
            query, peer = sock.recvfrom(4096)
            answer = dns_answer(query, table)
            if answer:
                sock.sendto(answer, peer)
        except OSError as error:
            log('warn', 'dns', 'udp: %s' % error)


def serve_dns_tcp_client(conn, table):
    try:
        conn.settimeout(10)
        while True:
            head = recv_exact(conn, 2)
            if not head:
                return
            query = recv_exact(conn, struct.unpack('!H', head)[0])
            if not query:
                return
            answer = dns_answer(query, table)
            if not answer:
                return
            conn.sendall(struct.pack('!H', len(answer)) + answer)
    except OSError:
        pass
    finally:
        conn.close()


def recv_exact(conn, count):
    data = b''
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            return b''
        data += chunk
    return data


# ---------------------------------------------------------------------------------------------
# Proxies (outbound 15001, inbound 15006)


def original_destination(conn):
    raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port = struct.unpack('!H', raw[2:4])[0]
    return socket.inet_ntoa(raw[4:8]), port


def read_head(conn, initial=b''):
    data = initial
    while b'\r\n\r\n' not in data:
        if len(data) > HEAD_LIMIT:
            return None, data
        chunk = conn.recv(65536)
        if not chunk:
            return None, data
        data += chunk
    head, _, rest = data.partition(b'\r\n\r\n')
    return head, rest


def rewrite_head(head, set_headers, drop):
    lines = head.split(b'\r\n')
    kept = [lines[0]]
    for line in lines[1:]:
        name = line.split(b':', 1)[0].strip().lower()
        if name in drop or name in set_headers:
            continue
        kept.append(line)
    for name, value in set_headers.items():
        kept.append(name + b': ' + value.encode('latin-1'))
    return b'\r\n'.join(kept) + b'\r\n\r\n'


def header_value(head, wanted):
    for line in head.split(b'\r\n')[1:]:
        name, _, value = line.partition(b':')
        if name.strip().lower() == wanted:
            return value.strip().decode('latin-1')
    return None


def pipe(source, target):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        try:
            # a TLS socket has no half-close: SSLSocket.shutdown drops the TLS layer
            if not isinstance(target, ssl.SSLSocket):
                target.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def relay_tcp(client, upstream, initial):
    if initial:
        upstream.sendall(initial)
    thread = threading.Thread(target=pipe, args=(client, upstream), daemon=True)
    thread.start()
    pipe(upstream, client)
    thread.join(IDLE_TIMEOUT)


HOP_HEADERS = {b'connection', b'keep-alive', b'proxy-connection'}


def relay_http(client, upstream, initial, request_headers, server='envoy', drop=frozenset(),
               on_response=None):
    """One request and its response; the response's status (0 when there was none). The
    `server` header is overwritten (Envoy's ServerHeaderTransformation OVERWRITE)."""
    head, rest = read_head(client, initial)
    if head is None:
        relay_tcp(client, upstream, rest)
        return 0
    started = time.monotonic()
    upstream.sendall(rewrite_head(head, {**request_headers, b'connection': 'close'}, HOP_HEADERS | drop) + rest)
    thread = threading.Thread(target=pipe, args=(client, upstream), daemon=True)
    thread.start()
    try:
        response, body = read_head(upstream)
    except OSError:
        response, body = None, b''
    status = 0
    if response is None and not body:
        # reset or closed before any response byte: Envoy answers with its own 503
        if on_response:
            on_response(503)
        upstream_failure(client, True, b'connection termination', server=server)
        return 503
    if response is None:
        client.sendall(body)
    else:
        elapsed = '%d' % ((time.monotonic() - started) * 1000)
        extra = {b'server': server, b'x-envoy-upstream-service-time': elapsed, b'connection': 'close'}
        parts = response.split(b'\r\n', 1)[0].split()
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if on_response:
            on_response(status)  # counted before the caller can see the answer
        client.sendall(rewrite_head(response, extra, HOP_HEADERS) + body)
    pipe(upstream, client)
    thread.join(1)
    return status


def upstream_failure(client, is_http, reason, server='envoy'):
    if is_http:
        body = b'upstream connect error or disconnect/reset before headers. reset reason: ' + reason
        client.sendall(
            b'HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nserver: %s\r\n'
            b'connection: close\r\ncontent-length: %d\r\n\r\n%s' % (server.encode(), len(body), body)
        )


def sniff(conn):
    """First bytes if the client talks within a second, else b''."""
    readable, _, _ = select.select([conn], [], [], 1.0)
    if not readable:
        return b''
    return conn.recv(65536)


# ---------------------------------------------------------------------------------------------
# The mesh as istiod pushes it (modern istiod stand-in only): services whose endpoints are
# WorkloadEntries, and the PeerAuthentication mode per namespace. Without it (the pre-1.8
# generations' istiod, or an istiod started without mesh config) the proxy keeps the simple
# behaviour: plaintext everywhere, `server: envoy` both ways, XFCC on every request.

ISTIO_ALPN = ['istio-peer-exchange', 'istio', 'istio-http/1.1']
TLS_RECORD = 0x16
ADMIN_PORT = 15000


class Mesh:
    def __init__(self):
        self.lock = threading.Lock()
        self.known = False
        self.services = []
        self.modes = {}
        self.root_namespace = 'istio-system'

    def update(self, mesh):
        with self.lock:
            self.known = True
            self.services = list(mesh.get('services') or [])
            self.modes = dict(mesh.get('peerAuthentication') or {})
            self.root_namespace = mesh.get('rootNamespace') or 'istio-system'

    def modern(self):
        with self.lock:
            return self.known

    def mode(self, namespace):
        """The PeerAuthentication mode for a workload of the namespace (namespace policy, else the
        mesh-wide one in the root namespace, else PERMISSIVE)."""
        with self.lock:
            return self.modes.get(namespace) or self.modes.get(self.root_namespace) or 'PERMISSIVE'

    def route(self, host, address, port):
        """The service an outbound request goes to: by its Host (HTTP route by domain), else by
        the destination address (a service VIP); None: no service (passthrough)."""
        name = (host or '').rsplit(':', 1)[0].lower().rstrip('.') if host and not host.startswith('[') else ''
        with self.lock:
            for service in self.services:
                if service.get('port') != port:
                    continue
                if name and name in (service.get('hosts') or []):
                    return service
            for service in self.services:
                if service.get('port') == port and address in (service.get('addresses') or []):
                    return service
        return None


MESH = Mesh()


class Stats:
    """Envoy's istio_requests_total (Istio's stats filter), exposed on the admin port as
    /stats/prometheus."""

    LABELS = (
        'reporter', 'source_workload', 'source_workload_namespace', 'source_principal',
        'destination_workload', 'destination_workload_namespace', 'destination_principal',
        'destination_service', 'request_protocol', 'response_code', 'connection_security_policy',
    )

    def __init__(self):
        self.lock = threading.Lock()
        self.counters = {}

    def count(self, **labels):
        key = tuple(str(labels.get(name, 'unknown')) for name in self.LABELS)
        with self.lock:
            self.counters[key] = self.counters.get(key, 0) + 1

    def prometheus(self):
        with self.lock:
            items = sorted(self.counters.items())
        lines = ['# TYPE istio_requests_total counter']
        for key, value in items:
            pairs = ','.join('%s="%s"' % (n, v.replace('\\', '\\\\').replace('"', '\\"'))
                             for n, v in zip(self.LABELS, key))
            lines.append('istio_requests_total{%s} %d' % (pairs, value))
        return '\n'.join(lines) + '\n'


STATS = Stats()


class AdminHandler(BaseHTTPRequestHandler):
    """Envoy's admin interface on 127.0.0.1:15000, as far as the lab reads it."""
    server_version = 'envoy'
    sys_version = ''

    def do_GET(self):  # noqa: N802
        path = self.path.split('?')[0]
        if path == '/stats/prometheus':
            body, kind = STATS.prometheus().encode(), 'text/plain; version=0.0.4'
        elif path == '/ready':
            ready, _ = STATE.get()
            body, kind = b'LIVE\n' if ready else b'PRE_INITIALIZING\n', 'text/plain'
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header('content-type', kind)
        self.send_header('content-length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_):
        pass


def mesh_tls_context(settings, server_side):
    """The workload certificate and the mesh root (istiod's SDS "default" and "ROOTCA")."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    if not server_side:
        context.check_hostname = False  # Envoy checks the SAN against the service accounts
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(settings.root_cert)
    context.load_cert_chain(os.path.join(settings.output, 'cert-chain.pem'),
                            os.path.join(settings.output, 'key.pem'))
    context.set_alpn_protocols(ISTIO_ALPN)
    return context


def peer_identity(tls_socket):
    """The peer certificate's URI SAN and the SHA-256 of its DER (XFCC's URI and Hash)."""
    der = tls_socket.getpeercert(binary_form=True) or b''
    uri = ''
    for kind, value in (tls_socket.getpeercert() or {}).get('subjectAltName', ()):
        if kind == 'URI':
            uri = value
            break
    return uri, hashlib.sha256(der).hexdigest()


def first_connection(targets):
    """(socket, None) to the first target that accepts, else (None, the last error)."""
    error = None
    for target in targets:
        try:
            return socket.create_connection(target, timeout=10), None
        except OSError as failure:
            error = failure
    return None, error


def close(sock):
    """Shut down, then close: a bare close() leaves the connection open while a relay thread
    is still blocked reading it (the thread holds the file), so the peer would wait for a FIN
    that never comes; shutdown wakes that thread and sends the FIN, as Envoy's close does."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def reset(sock):
    """Close with RST, as Envoy does with a connection that matches no filter chain."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    except OSError:
        pass
    sock.close()


class Proxy:
    def __init__(self, settings, table):
        self.settings = settings
        self.table = table

    def handle(self, client, peer, inbound):
        upstream = None
        try:
            client.settimeout(IDLE_TIMEOUT)
            address, port = original_destination(client)
            if not inbound and port in (OUTBOUND_PORT, INBOUND_PORT) and address.startswith('127.'):
                return  # a direct connection to the listener would loop
            if MESH.modern() and not (not inbound and address.startswith('127.255.')):
                if inbound:
                    client = self.inbound_mesh(client, address, port)
                else:
                    self.outbound_mesh(client, address, port)
                return
            targets = [('127.0.0.1', port), (address, port)] if inbound else [(address, port)]
            if not inbound and address.startswith('127.255.'):
                routed = global_target(address, self.table)
                if routed is None:
                    log('warn', 'proxy', 'outbound %s:%d: no .global service has this address' % (address, port))
                    upstream_failure(client, sniff(client).startswith(HTTP_METHODS), b'no healthy upstream')
                    return
                targets = [(routed[1], port)]
            upstream, error = first_connection(targets)
            if upstream is None:
                log('warn', 'proxy', '%s %s:%d: %s' % ('inbound' if inbound else 'outbound', address, port, error))
                upstream_failure(client, sniff(client).startswith(HTTP_METHODS), b'connection failure')
                return
            upstream.settimeout(IDLE_TIMEOUT)
            # Protocol sniffing: the client's first bytes, unless the server speaks first.
            readable, _, _ = select.select([client, upstream], [], [], 1.0)
            initial = client.recv(65536) if client in readable else b''
            is_http = initial.startswith(HTTP_METHODS)
            if not is_http:
                relay_tcp(client, upstream, initial)
                return
            if inbound:
                caller = 'tcp://%s:%d' % peer
                head = initial.split(b'\r\n\r\n')[0]
                forwarded = header_value(head, b'x-forwarded-client-cert')
                if forwarded:
                    match = re.search(r'URI=([^;,]+)', forwarded)
                    if match:
                        caller = match.group(1)
                value = 'By=%s;URI=%s' % (self.settings.spiffe, caller)
            else:
                host = header_value(initial.split(b'\r\n\r\n')[0], b'host') or '%s:%d' % (address, port)
                value = 'By=%s;URI=%s' % (host, self.settings.spiffe)
            relay_http(client, upstream, initial, {b'x-forwarded-client-cert': value})
        except OSError as error:
            log('debug', 'proxy', 'connection from %s:%d ended: %s' % (peer[0], peer[1], error))
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    close(sock)

    # -- the modern sidecar (istiod pushed mesh config) ------------------------------------------

    def is_service_address(self, address):
        with self.table.lock:
            return address in self.table.names.values()

    def outbound_mesh(self, client, address, port):
        """Outbound as Envoy's 0.0.0.0_<port> listener: an HTTP request routes by its Host to a
        service (then by the destination VIP); endpoints with a sidecar get Istio mTLS with the
        workload certificate. No service: PassthroughCluster, plaintext to the original address."""
        initial = sniff(client)
        is_http = initial.startswith(HTTP_METHODS)
        head = initial.split(b'\r\n\r\n')[0] if is_http else b''
        host = header_value(head, b'host') if is_http else None
        service = MESH.route(host, address, port)
        xfcc = b'x-forwarded-client-cert'
        if service is None:
            headers = {}
            if self.is_service_address(address):
                # a cluster Service without WorkloadEntry endpoints: the lab's pods have no sidecar,
                # so this proxy adds what the pod's inbound sidecar would (the caller's identity)
                host = host or '%s:%d' % (address, port)
                headers[xfcc] = 'By=%s;URI=%s' % (host, self.settings.spiffe)
            try:
                upstream = socket.create_connection((address, port), timeout=10)
            except OSError as error:
                log('warn', 'proxy', 'outbound %s:%d: %s' % (address, port, error))
                upstream_failure(client, is_http, b'connection failure')
                return
            self.relay_outbound(client, upstream, initial, is_http, headers, host or address, 'unknown')
            return
        endpoints = list(service.get('endpoints') or [])
        random.shuffle(endpoints)
        upstream, peer, error = None, 'unknown', 'no healthy upstream'
        for endpoint in endpoints:
            try:
                upstream = socket.create_connection((endpoint['address'], endpoint['port']), timeout=10)
                if endpoint.get('tls'):
                    upstream = mesh_tls_context(self.settings, False).wrap_socket(upstream)
                    peer, _ = peer_identity(upstream)
                break
            except (OSError, ssl.SSLError) as failure:
                error = str(failure)
                if upstream is not None:
                    upstream.close()
                upstream = None
        if upstream is None:
            log('warn', 'proxy', 'outbound %s:%d (%s): %s' % (address, port, service['hosts'][0], error))
            reason = b'no healthy upstream' if not endpoints else b'connection failure'
            upstream_failure(client, is_http, reason)
            return
        self.relay_outbound(client, upstream, initial, is_http, {}, service['hosts'][0], peer)

    def relay_outbound(self, client, upstream, initial, is_http, headers, service, peer):
        """Relays one outbound connection; an HTTP request is counted (reporter source). The
        app's connection is plaintext, so Envoy sanitizes the XFCC it sent."""
        with upstream:
            upstream.settimeout(IDLE_TIMEOUT)
            if not is_http:
                relay_tcp(client, upstream, initial)
                return
            relay_http(client, upstream, initial, headers, drop=frozenset([b'x-forwarded-client-cert']),
                       on_response=lambda status: self.count_outbound(service, peer, status))

    def count_outbound(self, service, peer, status):
        STATS.count(
            reporter='source', source_workload=self.settings.workload,
            source_workload_namespace=self.settings.namespace, source_principal=self.settings.spiffe,
            destination_principal=peer, destination_service=service, request_protocol='http',
            response_code=status, connection_security_policy='unknown',
        )

    def inbound_mesh(self, client, address, port):
        """Inbound as Envoy's virtualInbound: Istio mTLS (TLS with a client certificate from the
        mesh CA) or, unless PeerAuthentication is STRICT, plaintext. XFCC (APPEND_FORWARD) only for
        an mTLS client; `server: istio-envoy`."""
        readable, _, _ = select.select([client], [], [], 1.0)
        first = client.recv(1, socket.MSG_PEEK) if readable else b''
        principal, digest = '', ''
        tls = first[:1] == bytes([TLS_RECORD])
        if tls:
            client.settimeout(5)
            try:
                client = mesh_tls_context(self.settings, True).wrap_socket(client, server_side=True)
            except (OSError, ssl.SSLError) as error:
                log('debug', 'proxy', 'inbound :%d: TLS handshake failed: %s' % (port, error))
                reset(client)
                return None
            principal, digest = peer_identity(client)
            try:
                initial = client.recv(65536)
            except socket.timeout:
                initial = b''
            client.settimeout(IDLE_TIMEOUT)
        elif MESH.mode(self.settings.namespace) == 'STRICT':
            # STRICT: only TLS filter chains; a plaintext connection matches none and is reset
            log('debug', 'proxy', 'inbound :%d: plaintext refused (PeerAuthentication STRICT)' % port)
            reset(client)
            return None
        else:
            initial = sniff(client)
        is_http = initial.startswith(HTTP_METHODS)
        upstream, error = first_connection([('127.0.0.1', port), (address, port)])
        if upstream is None:
            log('warn', 'proxy', 'inbound %s:%d: %s' % (address, port, error))
            self.count_inbound(principal, tls, 503, None)
            upstream_failure(client, is_http, b'connection failure', server='istio-envoy')
            return client
        with upstream:
            upstream.settimeout(IDLE_TIMEOUT)
            if not is_http:
                relay_tcp(client, upstream, initial)
                return client
            xfcc = b'x-forwarded-client-cert'
            head = initial.split(b'\r\n\r\n')[0]
            headers = {}
            if tls:
                mine = 'By=%s;Hash=%s;Subject="";URI=%s' % (self.settings.spiffe, digest, principal)
                existing = header_value(head, xfcc)
                headers[xfcc] = '%s,%s' % (existing, mine) if existing else mine
            host = header_value(head, b'host')
            relay_http(client, upstream, initial, headers, server='istio-envoy', drop=frozenset([xfcc]),
                       on_response=lambda status: self.count_inbound(principal, tls, status, host))
        return client

    def count_inbound(self, principal, tls, status, host):
        match = re.match(r'spiffe://[^/]+/ns/([^/]+)/sa/', principal or '')
        STATS.count(
            reporter='destination', source_principal=principal or 'unknown',
            source_workload_namespace=match.group(1) if match else 'unknown',
            destination_workload=self.settings.workload,
            destination_workload_namespace=self.settings.namespace,
            destination_principal=self.settings.spiffe,
            destination_service=(host or 'unknown').rsplit(':', 1)[0], request_protocol='http',
            response_code=status, connection_security_policy='mutual_tls' if tls else 'none',
        )

    def serve(self, listener, inbound):
        while True:
            try:
                client, peer = listener.accept()
            except OSError as error:
                log('warn', 'proxy', 'accept: %s' % error)
                time.sleep(0.1)
                continue
            threading.Thread(target=self.handle, args=(client, peer, inbound), daemon=True).start()


# ---------------------------------------------------------------------------------------------
# Readiness and the main loop


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reason = 'starting'
        self.ready = False

    def set(self, ready, reason):
        with self.lock:
            self.ready, self.reason = ready, reason

    def get(self):
        with self.lock:
            return self.ready, self.reason


STATE = State()


class ReadinessHandler(BaseHTTPRequestHandler):
    server_version = 'envoy'
    sys_version = ''

    def do_GET(self):  # noqa: N802 (the base class names it)
        if self.path.split('?')[0] not in ('/healthz/ready', '/ready'):
            self.send_error(404)
            return
        ready, reason = STATE.get()
        body = ('ok\n' if ready else 'not ready: %s\n' % reason).encode()
        self.send_response(200 if ready else 503)
        self.send_header('content-type', 'text/plain')
        self.send_header('content-length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):  # noqa: N802
        ready, _ = STATE.get()
        self.send_response(200 if ready else 503)
        self.send_header('content-length', '0')
        self.end_headers()

    def log_message(self, *_):
        pass


def listen(port, kind=socket.SOCK_STREAM, host='0.0.0.0'):
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    if kind == socket.SOCK_STREAM:
        sock.listen(128)
    return sock


def start_thread(target, *args):
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def check_iptables(settings):
    """Not upstream (its readiness does not look at iptables): the lab's guard that
    istio-start.sh installed the capture, skipped when ISTIO_CUSTOM_IP_TABLES=true leaves iptables
    to the host."""
    if settings.env.get('ISTIO_CUSTOM_IP_TABLES') == 'true':
        return
    try:
        with open(IPTABLES_STATE, encoding='utf-8') as handle:
            json.load(handle)
    except (FileNotFoundError, ValueError):
        raise AgentError('iptables capture is not installed (istio-start.sh runs pilot-agent istio-iptables as root)')


def stream(settings, table, client_cert):
    """The lasting connection to istiod: it lists this proxy as connected and pushes names."""
    istiod = Istiod(settings.discovery, settings.root_cert, client_cert)
    connection = istiod.connect(timeout=settings.heartbeat * 3)
    try:
        payload = json.dumps({'node': settings.node()}).encode()
        connection.request('POST', '/v1/connect', body=payload, headers={'content-type': 'application/json'})
        response = connection.getresponse()
        if response.status != 200:
            data = response.read(4096)
            raise AgentError('ADS: istiod refused the connection: %d %s' % (response.status, data[:200].decode(errors='replace')))
        while True:
            line = response.readline(1024 * 1024)
            if not line:
                raise AgentError('ADS: istiod closed the connection')
            message = json.loads(line)
            if 'mesh' in message:
                MESH.update(message['mesh'])
            if 'names' in message:
                first = table.size() == 0
                table.update(message['names'])
                if first:
                    log('info', 'dns', 'received name table with %d hosts' % len(message['names']))
                yield message
    finally:
        connection.close()


def run_proxy():
    env = dict(os.environ)
    settings = Settings(env)
    log('info', 'default', 'Version %s (mesh-expansion lab stand-in, not Istio)' % VERSION)
    log('info', 'default', 'Proxy role: IP=%s ID=%s.%s Domain=%s.svc.cluster.local' % (
        settings.ip, settings.pod_name, settings.namespace, settings.namespace))
    log('info', 'default', 'Apply mesh config from file %s: discoveryAddress=%s, CA_ADDR=%s, identity=%s' % (
        MESH_CONFIG, settings.discovery, settings.ca_addr, settings.spiffe))
    readiness = ThreadingHTTPServer(('0.0.0.0', READY_PORT), ReadinessHandler)
    start_thread(readiness.serve_forever)
    # Envoy's admin interface (its stats) on localhost only, as the bootstrap binds it
    try:
        start_thread(ThreadingHTTPServer(('127.0.0.1', ADMIN_PORT), AdminHandler).serve_forever)
    except OSError as error:
        log('warn', 'default', 'admin port %d: %s' % (ADMIN_PORT, error))
    # pilot-agent's own status port (mesh config statusPort, default 15020) answers the same.
    status_port = int(settings.mesh.get('statusPort') or 15020)
    if status_port != READY_PORT:
        try:
            status = ThreadingHTTPServer(('0.0.0.0', status_port), ReadinessHandler)
            start_thread(status.serve_forever)
        except OSError as error:
            log('warn', 'default', 'status port %d: %s' % (status_port, error))
    table = NameTable(settings.namespace)
    client_cert = (os.path.join(settings.output, 'cert-chain.pem'), os.path.join(settings.output, 'key.pem'))

    delay = 1.0
    while True:  # the real agent retries for ever; systemd owns the lifetime
        try:
            STATE.set(False, 'waiting for a workload certificate')
            if settings.provisioned:
                not_after = certificate_not_after(client_cert[0])
                if not_after <= time.time():
                    raise AgentError('failed to warm certificate: the provisioned certificate %s has expired'
                                     % client_cert[0])
                log('info', 'cache', 'using the provisioned certificates in %s (no token at %s)'
                    % (settings.output, TOKEN_PATH))
            else:
                try:
                    fetch_certificate(settings)
                except AgentError as error:
                    raise AgentError('failed to warm certificate: failed to generate workload certificate: '
                                     'create certificate: %s' % error)
                log('info', 'cache', 'generated new workload certificate for %s' % settings.spiffe)
            log('info', 'sds', 'SDS: PUSH resource=default (pushed key/cert pair)')
            log('info', 'sds', 'SDS: PUSH resource=ROOTCA (pushed root cert)')
            updates = stream(settings, table, client_cert)
            next(updates)
            log('info', 'ads', 'ADS: new connection for node:%s' % settings.node()['id'])
            check_iptables(settings)
            break
        except AgentError as error:
            log('error', 'default', str(error))
            STATE.set(False, str(error))
        except Exception as error:  # noqa: BLE001 (log any surprise the way the agent would)
            log('error', 'default', 'unexpected error: %r' % error)
            STATE.set(False, 'unexpected error: %r' % error)
        time.sleep(delay)
        delay = min(delay * 2, 10.0)

    outbound = listen(OUTBOUND_PORT)
    inbound = listen(INBOUND_PORT)
    proxy = Proxy(settings, table)
    start_thread(proxy.serve, outbound, False)
    start_thread(proxy.serve, inbound, True)
    if settings.dns_capture:
        start_thread(serve_dns_udp, listen(DNS_PORT, socket.SOCK_DGRAM, '127.0.0.1'), table)
        dns_tcp = listen(DNS_PORT, host='127.0.0.1')

        def accept_dns():
            while True:
                conn, _ = dns_tcp.accept()
                start_thread(serve_dns_tcp_client, conn, table)
        start_thread(accept_dns)
        log('info', 'dns', 'Starting local DNS server on 127.0.0.1:%d' % DNS_PORT)
    if not settings.provisioned:
        start_thread(rotate_certificates, settings, client_cert)
    if settings.probe:
        start_thread(check_health, settings, client_cert)
    STATE.set(True, 'ok')
    log('info', 'default', 'Envoy proxy is ready (outbound %d, inbound %d)' % (OUTBOUND_PORT, INBOUND_PORT))

    delay = 1.0
    while True:
        try:
            for _ in updates:
                delay = 1.0
        except (AgentError, OSError, ValueError, http.client.HTTPException) as error:
            log('warn', 'ads', 'ADS: disconnected: %s' % error)
        time.sleep(delay)
        delay = min(delay * 2, 10.0)
        try:
            updates = stream(settings, table, client_cert)
            next(updates)
            log('info', 'ads', 'ADS: new connection for node:%s' % settings.node()['id'])
        except (AgentError, OSError, ValueError, http.client.HTTPException, StopIteration) as error:
            log('warn', 'ads', 'ADS: reconnect failed: %s' % error)
            updates = iter(())


def main(argv):
    command = argv[1] if len(argv) > 1 else ''
    try:
        if command == 'proxy':
            run_proxy()
        elif command == 'istio-iptables' and '--cleanup-only' in argv[2:] and version_at_least(1, 24):
            # tools/istio-iptables/pkg/cmd/root.go (1.24+): remove the capture, install nothing
            clean_iptables(dict(os.environ))
        elif command == 'istio-iptables' and '--cleanup-only' in argv[2:]:
            sys.stderr.write('Error: unknown flag: --cleanup-only\n')  # before 1.24
            return 1
        elif command == 'istio-iptables':
            install_iptables(dict(os.environ))
        elif command == 'istio-clean-iptables' and not version_at_least(1, 25):
            # tools/istio-clean-iptables, a pilot-agent subcommand until 1.24 (gone in 1.25)
            clean_iptables(dict(os.environ))
        elif command == 'version':
            print('pilot-agent version %s (mesh-expansion lab stand-in)' % VERSION)
        elif command == 'render-iptables':
            uid, gid = proxy_ids()
            sys.stdout.write(render_iptables(uid, gid, dict(os.environ)))
        else:
            # cobra's answer to an unknown subcommand (pilot/cmd/pilot-agent/app/cmd.go)
            sys.stderr.write('Error: unknown command "%s" for "pilot-agent"\n'
                             "Run 'pilot-agent --help' for usage.\n" % command)
            return 1
    except AgentError as error:
        log('error', 'default', str(error))
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
