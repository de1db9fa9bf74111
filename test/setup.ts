// Preloaded by bunfig.toml before every test file.
import { setDefaultTimeout } from "bun:test";

process.env.TZ = "UTC";
// Fault-injection tests restart and freeze Redis and cut PostgreSQL; on a 2-core machine they
// need more than the default 5 s. (bunfig.toml has no per-test timeout setting.)
setDefaultTimeout(30_000);
