// The bench's S3 server: s3rver (npm, the same as the tests use) in a process of its own, files
// in a folder of the run, on 127.0.0.1:<port>, until it is stopped.
//   bun run bench/s3-server.ts <port> <dir> <bucket>
import S3rver from "s3rver";

const [port, directory, bucket] = process.argv.slice(2);
if (!port || !directory || !bucket) throw new Error("usage: s3-server.ts <port> <dir> <bucket>");
const server = new S3rver({ port: Number(port), address: "127.0.0.1", silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }] });
await server.run();
console.log(`s3rver listening on 127.0.0.1:${port}, bucket ${bucket}, files in ${directory}`);
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => void server.close().finally(() => process.exit(0)));
