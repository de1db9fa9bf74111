// There is no Docker engine here, so the image is checked by construction: the final stage runs
// as a non-root user whose data folder is created and owned before VOLUME and USER. That the
// server then starts as such a user on such a folder is tested in startup.test.ts.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";

type Instruction = { op: string; args: string; index: number };

function finalStage(text: string): Instruction[] {
  const lines = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const all = lines.map((l, index) => {
    const m = /^(\w+)\s+(.*)$/.exec(l)!;
    return { op: m[1]!.toUpperCase(), args: m[2]!, index };
  });
  const lastFrom = all.findLastIndex((i) => i.op === "FROM");
  return all.slice(lastFrom);
}

describe("Dockerfile", () => {
  test("the final stage creates and chowns the data folder for its non-root user before VOLUME and USER", async () => {
    const stage = finalStage(await Bun.file(join(import.meta.dir, "..", "Dockerfile")).text());
    const find = (op: string) => stage.filter((i) => i.op === op);
    const users = find("USER");
    expect(users).toHaveLength(1);
    const user = users[0]!.args.trim();
    expect(["root", "0"]).not.toContain(user.split(":")[0]);

    const env = find("ENV").map((i) => i.args).join(" ");
    const dataDir = /\bDATA_DIR=(\S+)/.exec(env)?.[1];
    expect(dataDir).toBe("/data");

    const volume = find("VOLUME")[0]!;
    expect(JSON.parse(volume.args)).toEqual([dataDir]);

    const prepare = find("RUN").find((i) => i.args.includes(`mkdir -p ${dataDir}`));
    expect(prepare).toBeDefined();
    expect(prepare!.args).toContain(`chown ${user}:${user} ${dataDir}`);
    expect(prepare!.index).toBeLessThan(volume.index); // changes after VOLUME would be discarded
    expect(prepare!.index).toBeLessThan(users[0]!.index); // only root can chown
    expect(volume.index).toBeLessThan(users[0]!.index);
    // Nothing after USER writes where the user could not.
    expect(stage.filter((i) => i.op === "RUN" && i.index > users[0]!.index)).toEqual([]);
  });
});
