"""A TCP proxy that can cut its target away: bench/lake_outage.sh puts it between itscam and
SeaweedFS. Usage: python3 bench/cut_proxy.py TARGET_HOST:PORT  (prints its own host:port).
SIGUSR1 closes the port and every open connection (clients see "connection refused");
SIGUSR2 listens again on the same port."""
import asyncio, signal, socket, sys

target_host, target_port = sys.argv[1].rsplit(":", 1)
conns = set()

async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()

async def handle(client_r, client_w):
    try:
        server_r, server_w = await asyncio.open_connection(target_host, int(target_port))
    except OSError:
        client_w.close()
        return
    conns.update([client_w, server_w])
    await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))
    conns.discard(client_w)
    conns.discard(server_w)

async def main():
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    state = {"server": await asyncio.start_server(handle, sock=sock)}
    print(f"127.0.0.1:{port}", flush=True)
    loop = asyncio.get_running_loop()

    def cut():
        if state["server"] is not None:
            state["server"].close()
            state["server"] = None
        for w in list(conns):
            w.transport.abort()
        conns.clear()

    async def restore():
        if state["server"] is None:
            state["server"] = await asyncio.start_server(handle, "127.0.0.1", port, reuse_address=True)

    loop.add_signal_handler(signal.SIGUSR1, cut)
    loop.add_signal_handler(signal.SIGUSR2, lambda: asyncio.ensure_future(restore()))
    await asyncio.Event().wait()

asyncio.run(main())
