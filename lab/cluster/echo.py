#!/usr/bin/env python3
"""Echo app of the lab: answers every HTTP request with JSON naming the method, path, headers and
this host, so a caller can see what reached the app (e.g. x-forwarded-client-cert from a sidecar).
Runs in the cluster's network namespace and on VMs (python3 is on both; Node is not on the VMs).

usage: echo.py [--host ADDR] [--port N]... [--name NAME]
Prints one JSON line {"listening": [[addr, port], ...]} on stdout once every port is bound.
"""
import argparse
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_handler(name):
    class Handler(BaseHTTPRequestHandler):
        server_version = "echo/1"
        protocol_version = "HTTP/1.1"

        def answer(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(min(length, 1 << 20)) if length > 0 else b""
            payload = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "host": name,
                "remote": self.client_address[0],
                "local": list(self.connection.getsockname()[:2]),
                "bodyBytes": len(body),
            }
            data = (json.dumps(payload, sort_keys=True) + "\n").encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = answer

        def log_message(self, *args):
            pass

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, action="append")
    parser.add_argument("--name", default=socket.gethostname())
    args = parser.parse_args()
    servers = [Server((args.host, p), make_handler(args.name)) for p in (args.port or [8080])]
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(json.dumps({"listening": [list(s.server_address[:2]) for s in servers]}), flush=True)
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
