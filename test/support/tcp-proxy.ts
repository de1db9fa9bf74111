// A loopback TCP proxy a test can cut and restore, to make a real database "go away" and come back.
import type { Socket, TCPSocketListener } from "bun";
import { spareTcpPort } from "./redis-server.ts";

export type TcpProxy = { port: number; cut(): void; restore(): void; close(): void };

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const port = await spareTcpPort();
  const pairs = new Set<{ client: Socket<unknown>; upstream?: Socket<unknown> }>();
  let listener: TCPSocketListener<unknown> | undefined;

  const listen = () => {
    listener = Bun.listen<{ pair: { client: Socket<unknown>; upstream?: Socket<unknown>; pending: Uint8Array[] } }>({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(client) {
          const pair = { client: client as Socket<unknown>, upstream: undefined as Socket<unknown> | undefined, pending: [] as Uint8Array[] };
          client.data = { pair };
          pairs.add(pair);
          Bun.connect({
            hostname: targetHost,
            port: targetPort,
            socket: {
              open(up) {
                pair.upstream = up as Socket<unknown>;
                for (const chunk of pair.pending) up.write(chunk);
                pair.pending = [];
              },
              data(_up, d) {
                client.write(d);
              },
              close() {
                client.end();
              },
              error() {
                client.end();
              },
            },
          }).catch(() => client.end());
        },
        data(client, d) {
          const pair = client.data.pair;
          if (pair.upstream) pair.upstream.write(d);
          else pair.pending.push(new Uint8Array(d));
        },
        close(client) {
          client.data.pair.upstream?.end();
          pairs.delete(client.data.pair);
        },
        error(client) {
          client.data.pair.upstream?.end();
        },
      },
    }) as unknown as TCPSocketListener<unknown>;
  };
  listen();

  const cut = () => {
    listener?.stop(true);
    listener = undefined;
    for (const p of pairs) {
      p.client.terminate();
      p.upstream?.terminate();
    }
    pairs.clear();
  };
  return {
    port,
    cut,
    restore() {
      if (!listener) listen();
    },
    close: cut,
  };
}
