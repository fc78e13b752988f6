/**
 * The aideazz binary: argv → command table. The only place that wires the real world (platform) into the code.
 *
 * @module
 */
import { runCli } from "./cli/mod.ts";
import * as platform from "./platform.ts";

// runCli redacts what it prints (secrets of the environment and of the config it reads).
const code = await runCli(platform.args(), {
  env: platform.env(),
  cwd: platform.cwd(),
  stdout: platform.writeStdout,
  stderr: platform.writeStderr,
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
