#!/usr/bin/env python3
"""A loopback TCP relay that records what the client sends (standard library only).

Usage: tap_proxy.py UPSTREAM_PORT LOG_FILE
Listens on 127.0.0.1 on a free port, prints that port on stdout (one line), and relays every
connection byte for byte to 127.0.0.1:UPSTREAM_PORT, appending the client's bytes to LOG_FILE.
The interop suite uses it to prove which protocol revision a client really negotiated (a client
option that silently fell back would otherwise make a check vacuous). Stops when stdin closes or
after 10 minutes, whichever comes first.
"""

import socket
import sys
import threading

upstream_port, log_path = int(sys.argv[1]), sys.argv[2]
log_lock = threading.Lock()


def pump(src: socket.socket, dst: socket.socket, record: bool) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if record:
                with log_lock, open(log_path, "ab") as f:
                    f.write(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listener: socket.socket) -> None:
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", upstream_port), timeout=10)
            upstream.settimeout(None)
        except OSError:
            client.close()
            continue
        threading.Thread(target=pump, args=(client, upstream, True), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()


listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print(listener.getsockname()[1], flush=True)
threading.Thread(target=serve, args=(listener,), daemon=True).start()
done = threading.Thread(target=sys.stdin.read, daemon=True)
done.start()
done.join(timeout=600)
