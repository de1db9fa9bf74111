// Real Redis Sentinel and Redis Cluster deployments owned by one test, on spare loopback ports:
// redis-server processes (`--sentinel`, `--cluster-enabled yes`) started, failed over (a master
// SIGKILLed) and stopped by the test. Built on startTestRedis; administered with redis-cli.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { REDIS_SERVER_BINARY } from "./services.ts";
import { redisCommand, spareTcpPort, startTestRedis, type TestRedis } from "./redis-server.ts";
import { eventually } from "./wait.ts";

const REDIS_CLI = Bun.which("redis-cli") ?? "redis-cli";
// Replicas sync at once (Redis 7 waits 5 s for more replicas before a diskless sync by default).
const FAST_SYNC = ["--repl-diskless-sync-delay", "0"];

/** Resolves once every replica among `servers` has a live link to its master. */
async function replicasInSync(servers: TestRedis[]) {
  await eventually(async () => {
    for (const s of servers) {
      const info = await redisCli(s.port, "INFO", "replication");
      if (info.includes("role:slave") && !info.includes("master_link_status:up")) return false;
    }
    return true;
  }, 20_000, 50, "replicas in sync");
}

/** Runs redis-cli against a port; returns its output lines. */
export async function redisCli(port: number, ...args: string[]): Promise<string[]> {
  const p = Bun.spawn([REDIS_CLI, "-h", "127.0.0.1", "-p", String(port), ...args], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
  const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`redis-cli ${args.join(" ")} exited ${code}: ${await new Response(p.stderr).text()}`);
  return out.split(/\r?\n/).filter((l) => l !== "");
}

export type TestSentinel = {
  masterName: string;
  /** host:port,... of the sentinels (REDIS_SENTINELS). */
  sentinels: string;
  /** Every data node, master and replicas. */
  nodes: TestRedis[];
  /** The node the sentinels currently call master. */
  master(): Promise<TestRedis>;
  /** SIGKILLs the master; resolves once the sentinels have promoted another node. */
  killMaster(): Promise<{ killed: TestRedis; promoted: TestRedis; promotedAfterMs: number }>;
  stop(): Promise<void>;
};

/** One master, `replicas` replicas and `sentinels` sentinels (quorum: a majority). */
export async function startTestSentinel(opts: { replicas?: number; sentinels?: number; downAfterMs?: number } = {}): Promise<TestSentinel> {
  const masterName = "chitram-test";
  const downAfterMs = opts.downAfterMs ?? 1_000;
  const nodes: TestRedis[] = [await startTestRedis({ args: FAST_SYNC })];
  const sentinelProcs: Array<{ port: number; dir: string; proc: Subprocess }> = [];
  try {
    for (let i = 0; i < (opts.replicas ?? 1); i++) nodes.push(await startTestRedis({ args: [...FAST_SYNC, "--replicaof", "127.0.0.1", String(nodes[0]!.port)] }));
    await replicasInSync(nodes);
    const count = opts.sentinels ?? 3;
    for (let i = 0; i < count; i++) {
      const port = await spareTcpPort();
      const dir = mkdtempSync(join(tmpdir(), "chitram-sentinel-"));
      const conf = join(dir, "sentinel.conf");
      writeFileSync(
        conf,
        [
          `port ${port}`,
          "bind 127.0.0.1",
          "protected-mode no",
          `dir ${dir}`,
          `logfile ${join(dir, "sentinel.log")}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${nodes[0]!.port} ${Math.floor(count / 2) + 1}`,
          `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
          `sentinel failover-timeout ${masterName} 2000`,
          `sentinel parallel-syncs ${masterName} 1`,
          "",
        ].join("\n"),
      );
      const proc = Bun.spawn([REDIS_SERVER_BINARY, conf, "--sentinel"], { stdout: "ignore", stderr: "ignore" });
      sentinelProcs.push({ port, dir, proc });
      await eventually(async () => (await redisCommand(port, ["PING"], 300)) === "+PONG", 5_000, 20, `sentinel on ${port}`);
    }
    // Every sentinel knows every replica and the other sentinels before anything is failed over.
    for (const s of sentinelProcs) {
      await eventually(async () => {
        const info = await redisCli(s.port, "SENTINEL", "MASTER", masterName);
        const field = (name: string) => Number(info[info.indexOf(name) + 1]);
        return field("num-slaves") === nodes.length - 1 && field("num-other-sentinels") === count - 1;
      }, 15_000, 100, "sentinels see the whole group");
    }
  } catch (err) {
    for (const s of sentinelProcs) s.proc.kill("SIGKILL");
    for (const n of nodes) await n.stop();
    throw err;
  }

  const masterPort = async () => {
    for (const s of sentinelProcs) {
      const r = await redisCli(s.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName).catch(() => []);
      if (r.length === 2) return Number(r[1]);
    }
    throw new Error("no sentinel answered");
  };
  const byPort = (port: number) => {
    const n = nodes.find((x) => x.port === port);
    if (!n) throw new Error(`no node on ${port}`);
    return n;
  };

  return {
    masterName,
    sentinels: sentinelProcs.map((s) => `127.0.0.1:${s.port}`).join(","),
    nodes,
    master: async () => byPort(await masterPort()),
    async killMaster() {
      const killed = byPort(await masterPort());
      const t = performance.now();
      await killed.kill();
      let promoted: TestRedis | undefined;
      await eventually(async () => {
        const port = await masterPort();
        if (port === killed.port) return false;
        const role = await redisCli(port, "ROLE");
        if (role[0] !== "master") return false;
        promoted = byPort(port);
        return true;
      }, 30_000, 50, "a replica promoted");
      return { killed, promoted: promoted!, promotedAfterMs: Math.round(performance.now() - t) };
    },
    async stop() {
      for (const s of sentinelProcs) {
        s.proc.kill("SIGKILL");
        await s.proc.exited;
        rmSync(s.dir, { recursive: true, force: true });
      }
      for (const n of nodes) await n.stop();
    },
  };
}

export type TestCluster = {
  /** host:port,... of every node (REDIS_CLUSTER_NODES). */
  nodes: string;
  servers: TestRedis[];
  /** The nodes that are masters now. */
  masters(): Promise<TestRedis[]>;
  /** SIGKILLs a master; resolves once its replica has taken over its slots and the cluster is ok. */
  killMaster(which?: TestRedis): Promise<{ killed: TestRedis; promotedAfterMs: number }>;
  stop(): Promise<void>;
};

/** `masters` masters with one replica each, created with `redis-cli --cluster create`. */
export async function startTestCluster(opts: { masters?: number; nodeTimeoutMs?: number } = {}): Promise<TestCluster> {
  const masters = opts.masters ?? 3;
  const servers: TestRedis[] = [];
  const args = [...FAST_SYNC, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", String(opts.nodeTimeoutMs ?? 1_000)];
  try {
    // The cluster bus gets a spare port of its own (the default, port + 10000, may not exist).
    for (let i = 0; i < masters * 2; i++) servers.push(await startTestRedis({ args: [...args, "--cluster-port", String(await spareTcpPort())] }));
    await redisCli(servers[0]!.port, "--cluster", "create", ...servers.map((s) => `127.0.0.1:${s.port}`), "--cluster-replicas", "1", "--cluster-yes");
    await eventually(async () => {
      for (const s of servers) {
        if (!(await redisCli(s.port, "CLUSTER", "INFO")).includes("cluster_state:ok")) return false;
      }
      return true;
    }, 20_000, 100, "cluster ok on every node");
    await replicasInSync(servers);
  } catch (err) {
    for (const s of servers) await s.stop();
    throw err;
  }

  const alive = new Set(servers);
  const roleOf = async (s: TestRedis) => (await redisCli(s.port, "ROLE"))[0];
  const mastersNow = async () => {
    const out: TestRedis[] = [];
    for (const s of alive) if ((await roleOf(s).catch(() => "")) === "master") out.push(s);
    return out;
  };

  return {
    nodes: servers.map((s) => `127.0.0.1:${s.port}`).join(","),
    servers,
    masters: mastersNow,
    async killMaster(which) {
      const killed = which ?? (await mastersNow())[0]!;
      const t = performance.now();
      await killed.kill();
      alive.delete(killed);
      await eventually(async () => {
        if ((await mastersNow()).length !== masters) return false;
        for (const s of alive) if (!(await redisCli(s.port, "CLUSTER", "INFO")).includes("cluster_state:ok")) return false;
        return true;
      }, 30_000, 50, "replica took over and the cluster is ok");
      return { killed, promotedAfterMs: Math.round(performance.now() - t) };
    },
    async stop() {
      for (const s of servers) await s.stop();
    },
  };
}
