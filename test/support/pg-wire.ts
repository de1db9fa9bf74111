// PostgreSQL wire-protocol matchers for the TCP proxy's cutWhen(): they frame the byte stream
// into messages (type byte + int32 length that counts itself) across chunk boundaries, so a rule
// fires on the chunk that completes the message it looks for.
import type { ChunkMatcher, StreamState } from "./tcp-proxy.ts";

export type PgMessage = { type: string; body: Uint8Array };

// Codes of the untyped requests a client may send before its StartupMessage.
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const MAX_MESSAGE = 1 << 30;

type Framing = { pending: Uint8Array; untyped: number };

/**
 * Matches a chunk that completes a message for which `test` is true. A matcher installed on an
 * open connection assumes the next chunk starts a message, which holds between queries (the
 * server flushes whole messages); on a new connection it follows the stream from its first byte.
 */
export function pgMatcher(test: (message: PgMessage) => boolean): ChunkMatcher {
  const matcher: ChunkMatcher = (chunk, stream) => {
    let framing = stream.state.get(matcher) as Framing | undefined;
    if (!framing) {
      framing = startFraming(stream);
      stream.state.set(matcher, framing);
    }
    let buf = concat(framing.pending, chunk);
    // The server's one-byte answer to SSLRequest/GSSENCRequest is the only untyped thing it sends.
    // Its first message is otherwise 'R' (authentication), 'E' or 'v'.
    if (stream.direction === "fromServer" && stream.offset === 0 && "NSG".includes(String.fromCharCode(buf[0] ?? 0))) buf = buf.subarray(1);
    let hit = false;
    for (;;) {
      const untyped = framing.untyped > 0;
      const head = untyped ? 4 : 5;
      if (buf.length < head) break;
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      const length = view.getInt32(untyped ? 0 : 1);
      if (length < 4 || length > MAX_MESSAGE) {
        buf = new Uint8Array(0); // not PostgreSQL framing (or joined mid-message): start over
        break;
      }
      const total = length + (untyped ? 0 : 1);
      if (buf.length < total) break;
      if (untyped) {
        const code = length >= 8 ? view.getInt32(4) : 0;
        framing.untyped = code === SSL_REQUEST || code === GSSENC_REQUEST ? 1 : 0;
      } else if (test({ type: String.fromCharCode(buf[0]!), body: buf.subarray(5, total) })) {
        hit = true;
      }
      buf = buf.subarray(total);
    }
    framing.pending = buf.slice();
    return hit;
  };
  return matcher;
}

function startFraming(stream: StreamState): Framing {
  // A client's stream opens with an untyped StartupMessage (or SSLRequest first).
  return { pending: new Uint8Array(0), untyped: stream.direction === "fromClient" && stream.offset === 0 ? 1 : 0 };
}

const cString = (body: Uint8Array, from = 0) => {
  const end = body.indexOf(0, from);
  return new TextDecoder().decode(body.subarray(from, end < 0 ? body.length : end));
};

/**
 * Server → client: a CommandComplete ('C') whose tag is `command` or starts with it and a space,
 * e.g. "INSERT" matches "INSERT 0 1", "COMMIT" matches "COMMIT". Cutting there means the server
 * has run the statement (and, outside a transaction block, committed it) but the client never hears.
 */
export const pgCommandComplete = (command: string): ChunkMatcher =>
  pgMatcher(({ type, body }) => {
    if (type !== "C") return false;
    const tag = cString(body);
    return tag === command || tag.startsWith(`${command} `);
  });

/**
 * Client → server: a simple Query ('Q') or a Parse ('P') whose SQL matches. postgres.js prepares
 * statements and reuses them per connection, so a repeated query may be sent without its SQL.
 */
export const pgClientQuery = (pattern: RegExp | string): ChunkMatcher =>
  pgMatcher(({ type, body }) => {
    let sql: string;
    if (type === "Q") sql = cString(body);
    else if (type === "P") sql = cString(body, body.indexOf(0) + 1);
    else return false;
    return typeof pattern === "string" ? sql.includes(pattern) : pattern.test(sql);
  });

/**
 * A cut rule's pair of matchers for "the statement ran, its answer is lost": the client matcher
 * notes (without cutting) that this connection sent a statement whose SQL matches; the server
 * matcher then fires on that connection's next CommandComplete. For statements whose own tag says
 * nothing (a `WITH … SELECT` that deletes), where pgCommandComplete cannot tell them apart.
 */
export function pgAnswerTo(pattern: RegExp | string): { fromClient: ChunkMatcher; fromServer: ChunkMatcher } {
  const armed = Symbol("armed");
  const sent = pgClientQuery(pattern);
  const complete = pgMatcher(({ type }) => type === "C");
  return {
    fromClient(chunk, stream) {
      if (sent(chunk, stream)) stream.connection.set(armed, true);
      return false;
    },
    fromServer(chunk, stream) {
      return complete(chunk, stream) && stream.connection.get(armed) === true;
    },
  };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
