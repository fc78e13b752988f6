/**
 * The aideazz binary: argv → command table. The only place that wires the real world (platform) into the code.
 *
 * @module
 */
import { runCli } from "./cli/mod.ts";
import * as platform from "./platform.ts";
import { createRedactor } from "./redact.ts";

const env = platform.env();
// Last line of defence: an unexpected error message must not carry a configured secret (values of *_TOKEN, etc.
// are redacted properly by the logger; here we do not know the config yet, so redact every env value that
// looks like a credential).
const redactEnv = createRedactor(
  Object.entries(env).filter(([k, v]) => v !== undefined && /TOKEN|SECRET|KEY|PASSWORD/i.test(k)).map(([, v]) => v!),
);

const code = await runCli(platform.args(), {
  env,
  cwd: platform.cwd(),
  stdout: platform.writeStdout,
  stderr: (text) => platform.writeStderr(redactEnv(text)),
  readTextFile: platform.readTextFile,
  now: Date.now,
  fetch: globalThis.fetch.bind(globalThis),
  serve: platform.serve,
  onStopSignal: platform.onStopSignal,
  rssBytes: platform.rssBytes,
  compactHeap: platform.compactHeap,
  trimNativeHeap: platform.trimNativeHeap,
  pid: platform.pid(),
  spawn: platform.spawn,
  run: platform.run,
  selfCommand: platform.selfCommand,
  writeTextFile: platform.writeTextFile,
  fileSize: platform.fileSize,
  diskSpace: platform.diskSpace,
  sleep: platform.sleep,
});
platform.exit(code);
