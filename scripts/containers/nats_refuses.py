"""NATS of docker-compose.yml refuses clients without the generated credentials.

    python3 nats_refuses.py HOST PORT SECRETS_DIR

SECRETS_DIR is a copy of the `nats-secrets` volume (ca.pem, client.pem, client-key.pem,
user.nk). Two clients, both speaking the NATS protocol by hand (INFO, then TLS, then CONNECT):

1. with the CA and a valid client certificate, but no NKey signature: the server must answer
   CONNECT with -ERR 'Authorization Violation';
2. with the CA but no client certificate: the TLS handshake (verify: true) must fail, or the
   connection must close before the server ever answers PING.

Exit 0 when both are refused; 1 otherwise. Standard library only; every socket has a timeout.
"""

import json
import os
import socket
import ssl
import sys

TIMEOUT = 10


def read_line(sock):
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
        if len(data) > 65536:
            break
    return data.decode("utf-8", "replace").strip()


def open_tls(host, port, secrets, client_cert):
    raw = socket.create_connection((host, port), timeout=TIMEOUT)
    info = read_line(raw)
    if not info.startswith("INFO "):
        raise SystemExit(f"unexpected greeting: {info[:120]!r}")
    fields = json.loads(info[5:])
    if not fields.get("tls_required"):
        raise SystemExit("NATS does not require TLS")
    if not fields.get("auth_required"):
        raise SystemExit("NATS does not require authentication")
    ctx = ssl.create_default_context(cafile=os.path.join(secrets, "ca.pem"))
    if client_cert:
        ctx.load_cert_chain(os.path.join(secrets, "client.pem"), os.path.join(secrets, "client-key.pem"))
    # The server certificate names nats, localhost and 127.0.0.1 (ticketflow nats-secrets).
    return ctx.wrap_socket(raw, server_hostname="localhost"), fields


def without_nkey(host, port, secrets):
    tls, info = open_tls(host, port, secrets, client_cert=True)
    if "nonce" not in info:
        print("nats: the server sends no nonce (no NKey users?)", file=sys.stderr)
    connect = {"verbose": False, "pedantic": False, "tls_required": True, "name": "no-nkey", "lang": "python", "version": "0", "protocol": 1}
    tls.sendall(f"CONNECT {json.dumps(connect)}\r\nPING\r\n".encode())
    answer = read_line(tls)
    tls.close()
    print(f"nats: client certificate, no NKey -> {answer!r}", file=sys.stderr)
    return answer.startswith("-ERR") and "Authorization Violation" in answer


def without_certificate(host, port, secrets):
    try:
        tls, _ = open_tls(host, port, secrets, client_cert=False)
        tls.sendall(b'CONNECT {"verbose":false,"tls_required":true}\r\nPING\r\n')
        answer = read_line(tls)
        tls.close()
    except (ssl.SSLError, ConnectionError, socket.timeout) as e:
        print(f"nats: no client certificate -> refused ({type(e).__name__}: {e})", file=sys.stderr)
        return True
    print(f"nats: no client certificate -> {answer!r}", file=sys.stderr)
    return answer != "PONG"


def main():
    host, port, secrets = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ok = without_nkey(host, port, secrets)
    ok = without_certificate(host, port, secrets) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
