/**
 * The release binary's build (scripts/build-binary.ts) and its baked-in permissions, run as
 * test/build/baked-permissions.test.ts does: the real CLI under the project's Deno with exactly permissionFlags() +
 * the V8 flags + --unstable-no-legacy-abort (deno compile cannot run here).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { main, type MainIo, permissionFlags, shellQuote } from "../../scripts/build-binary.ts";
import { V8_FLAGS_ARG } from "../../src/v8-flags.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const deno = path.join(root, "node_modules/.bin/deno");

const dirs: string[] = [];
function tmp(base = os.tmpdir(), prefix = "aideazz-build-checks-"): string {
  const dir = fs.mkdtempSync(path.join(base, prefix));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function runMain(argv: string[], env: Record<string, string>, projectRoot: string) {
  let stdout = "";
  let stderr = "";
  const io: MainIo = { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env, root: projectRoot };
  return { code: main(argv, io), stdout: () => stdout, stderr: () => stderr };
}

/** A minimal project (as test/build's fakeProject) whose `deno` is a stand-in that behaves as deno compile does. */
function fakeProject(): string {
  const dir = tmp();
  const write = (rel: string, text: string, mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text, { mode });
  };
  const pkg = (name: string, version: string) => JSON.stringify({ name, version });
  write("deno.json", "{}");
  write("package.json", "{}");
  write("src/main.ts", "console.log(1);\n");
  write("node_modules/zod/package.json", pkg("zod", "4.0.0"));
  write("node_modules/@libsql/linux-x64-gnu/package.json", pkg("@libsql/linux-x64-gnu", "0.5.29"));
  write(
    "package-lock.json",
    JSON.stringify({
      packages: {
        "": { version: "0.1.0" },
        "node_modules/zod": { version: "4.0.0" },
        "node_modules/@libsql/linux-x64-gnu": {
          version: "0.5.29",
          optional: true,
          os: ["linux"],
          cpu: ["x64"],
        },
      },
    }),
  );
  // deno compile reads DENORT_BIN itself, relative to its own working directory (the stage), and stops with
  // "Could not find denort at '…'" when nothing is there (checked with Deno 2.9.6).
  write(
    "node_modules/.bin/deno",
    `#!/bin/sh\n[ -f "$DENORT_BIN" ] || { echo "error: Could not find denort at '$DENORT_BIN' (cwd $(pwd))" >&2; exit 1; }\n` +
      `exit 0\n`,
    0o755,
  );
  return dir;
}

/** A file with an x86_64 ELF header: what checkDenort accepts for the x86_64 target. */
function fakeDenort(dir: string): string {
  const header = new Uint8Array(64);
  header.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  header[18] = 0x3e;
  const file = path.join(dir, "denort-x86_64");
  fs.writeFileSync(file, header, { mode: 0o755 });
  return file;
}

describe("scripts/build-binary.ts", () => {
  it("a relative DENORT_BIN names the same file for deno compile as for the script's own check", () => {
    // `DENORT_BIN=./denort deno run -A scripts/build-binary.ts`: the script checks ./denort from where it runs, then
    // runs deno compile in .cache/stage/<target>, where the same relative name is another (missing) file.
    const project = fakeProject();
    const denort = fakeDenort(tmp());
    const relative = path.relative(process.cwd(), denort);
    expect(path.isAbsolute(relative)).toBe(false);
    const r = runMain(["--target", "x86_64-unknown-linux-gnu"], { DENORT_BIN: relative }, project);
    expect(r.code, r.stderr()).toBe(0);
  });

  it("refuses a relative --write-path (Deno would resolve it against the binary's working directory at run time)", () => {
    // --allow-write=state in a compiled binary means <cwd>/state: /var/lib/aideazz/state under the unit,
    // ./state wherever an operator runs a command. The list must name absolute folders.
    const r = runMain(["--dry-run", "--write-path", "state", "--write-path", "/tmp"], {}, fakeProject());
    expect(r.code).toBe(2);
    expect(r.stderr()).toMatch(/absolute/);
  });
});

/** Runs `aideazz ARGS` with the binary's baked-in permissions on a terminal (util-linux `script` gives it a pty). */
function onTerminal(args: string[]): Promise<{ code: number | null; output: string }> {
  const argv = [
    deno,
    "run",
    "--config",
    path.join(root, "deno.json"),
    ...permissionFlags(),
    V8_FLAGS_ARG,
    "--unstable-no-legacy-abort",
    path.join(root, "src/main.ts"),
    ...args,
  ];
  const child = spawn("script", ["-qefc", argv.map(shellQuote).join(" "), "/dev/null"], {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1", TERM: "dumb" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  let answer: ReturnType<typeof setInterval> | undefined;
  const onData = (d: Buffer) => {
    output += d.toString("utf8");
    // A prompt blocks the whole process until someone answers it: answer "no" so the test ends. Deno flushes the
    // terminal's input as it asks, so an answer typed at once can be lost: it is typed again until the process ends.
    if (answer === undefined && /Allow\?/.test(output)) {
      answer = setInterval(() => child.stdin.write("n\r"), 1_000);
    }
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      clearInterval(answer);
      resolve({ code, output });
    });
  });
}

describe("baked-in permissions on an operator's terminal", () => {
  it.skipIf(!fs.existsSync("/usr/bin/script"))(
    "a path the binary may not write is refused with its own error, not a Deno prompt that widens the binary's scope",
    async () => {
      // README "Backups": "another path gets an error saying so". On a terminal Deno asks instead
      // ("Deno requests write access … Allow? [y/n/A]"); "A" grants every write for the run.
      const dir = tmp("/var/tmp", "aideazz-build-checks-");
      const r = await onTerminal(["migrate", "--db", `file:${path.join(dir, "new", "aideazz.db")}`]);
      expect(r.output).not.toMatch(/Deno requests write access/);
      expect(r.output).toMatch(/may write only in the folders it was built for/);
      expect(r.code).toBe(1);
    },
    90_000,
  );
});
