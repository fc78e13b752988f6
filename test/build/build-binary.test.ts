import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import {
  binaryName,
  buildCompileArgs,
  BuildError,
  checkDenort,
  ensureAddon,
  formatInvocation,
  integrityOf,
  LIBSQL_ADDONS,
  type Lockfile,
  main,
  type MainIo,
  permissionFlags,
  planStage,
  stageApp,
  TARGETS,
  toTarget,
} from "../../scripts/build-binary.ts";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
/** The memory flags every agent runs with (src/v8-flags.ts), written out: a change must be deliberate. */
const V8 = "--v8-flags=--max-semi-space-size=1,--heap-growing-percent=20,--expose-gc";
const PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write=/var/lib/aideazz,/tmp,/etc/systemd/system,/etc/polkit-1/rules.d",
  "--allow-env",
  "--allow-ffi",
  "--allow-sys",
  "--allow-run",
  "--no-prompt",
];

function runMain(argv: string[], env: Record<string, string> = {}, root = "/repo") {
  let stdout = "";
  let stderr = "";
  const io: MainIo = { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env, root };
  const code = main(argv, io);
  return { code, stdout, stderr };
}

const tmpDirs: string[] = [];
function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "aideazz-build-test-"));
  tmpDirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of tmpDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe("buildCompileArgs", () => {
  it("builds the exact aarch64 invocation: scoped permissions, arm64 addon included, type-checked", () => {
    const inv = buildCompileArgs({
      target: "aarch64-unknown-linux-gnu",
      outDir: "/repo/dist",
      stageDir: "/repo/.cache/stage/aarch64-unknown-linux-gnu",
    });
    expect(inv).toEqual({
      cmd: "deno",
      args: [
        "compile",
        "--target",
        "aarch64-unknown-linux-gnu",
        "--output",
        "/repo/dist/aideazz-aarch64-unknown-linux-gnu",
        ...PERMISSIONS,
        V8,
        "--unstable-no-legacy-abort",
        "--include",
        "node_modules/@libsql/linux-arm64-gnu",
        "src/main.ts",
      ],
      env: {},
      cwd: "/repo/.cache/stage/aarch64-unknown-linux-gnu",
    });
    expect(inv.args).not.toContain("-A");
    expect(inv.args).not.toContain("--allow-all");
    expect(inv.args.some((a) => a.startsWith("--no-check"))).toBe(false);
  });

  it("builds the exact x86_64 invocation with the x64 addon", () => {
    const inv = buildCompileArgs({
      target: "x86_64-unknown-linux-gnu",
      outDir: "/out",
      stageDir: "/stage",
      denoBin: "/repo/node_modules/.bin/deno",
    });
    expect([inv.cmd, ...inv.args]).toEqual([
      "/repo/node_modules/.bin/deno",
      "compile",
      "--target",
      "x86_64-unknown-linux-gnu",
      "--output",
      "/out/aideazz-x86_64-unknown-linux-gnu",
      ...PERMISSIONS,
      V8,
      "--unstable-no-legacy-abort",
      "--include",
      "node_modules/@libsql/linux-x64-gnu",
      "src/main.ts",
    ]);
  });

  it("passes DENORT_BIN through to deno compile's environment", () => {
    const inv = buildCompileArgs({
      target: "aarch64-unknown-linux-gnu",
      outDir: "/o",
      stageDir: "/s",
      denortBin: "/opt/denort-aarch64",
    });
    expect(inv.env).toEqual({ DENORT_BIN: "/opt/denort-aarch64" });
  });

  it("names the binary aideazz-<target> inside outDir and refuses relative directories", () => {
    for (const target of TARGETS) expect(binaryName(target)).toBe(`aideazz-${target}`);
    expect(() => buildCompileArgs({ target: "x86_64-unknown-linux-gnu", outDir: "dist", stageDir: "/s" }))
      .toThrow(/outDir must be an absolute path, got "dist"/);
  });

  it("scopes --allow-write to the given paths", () => {
    const inv = buildCompileArgs({
      target: "x86_64-unknown-linux-gnu",
      outDir: "/o",
      stageDir: "/s",
      writePaths: ["/srv/a"],
    });
    expect(inv.args).toContain("--allow-write=/srv/a");
    expect(() => permissionFlags([])).toThrow(BuildError);
    expect(() => permissionFlags(["/a,b"])).toThrow(/no commas/);
    expect(() => permissionFlags(["state"])).toThrow(/absolute/);
  });

  it("rejects an unknown target with the list of supported ones", () => {
    expect(() => toTarget("riscv64gc-unknown-linux-gnu")).toThrow(
      'unknown target "riscv64gc-unknown-linux-gnu"; expected one of: aarch64-unknown-linux-gnu, x86_64-unknown-linux-gnu',
    );
    expect(() =>
      buildCompileArgs({ target: "arm64" as "aarch64-unknown-linux-gnu", outDir: "/o", stageDir: "/s" })
    ).toThrow(/unknown target "arm64"/);
  });

  it("maps targets to the addon packages libsql itself declares", () => {
    const libsql = JSON.parse(
      fs.readFileSync(path.join(repoRoot, "node_modules/libsql/package.json"), "utf8"),
    );
    for (const target of TARGETS) expect(LIBSQL_ADDONS[target]).toBe(libsql.neon.targets[target]);
  });
});

describe("main", () => {
  it("--dry-run prints the aarch64 command by default without staging", () => {
    const { code, stdout, stderr } = runMain(["--dry-run"]);
    expect(code).toBe(0);
    expect(stderr).toBe("");
    expect(stdout).toBe(
      "# after staging .cache/stage/aarch64-unknown-linux-gnu (see scripts/build-binary.ts):\n" +
        "cd /repo/.cache/stage/aarch64-unknown-linux-gnu && deno compile --target aarch64-unknown-linux-gnu " +
        `--output /repo/dist/aideazz-aarch64-unknown-linux-gnu ${PERMISSIONS.join(" ")} ${V8} ` +
        "--unstable-no-legacy-abort --include node_modules/@libsql/linux-arm64-gnu src/main.ts\n",
    );
  });

  it("--dry-run honours DENORT_BIN, --target and --out-dir", () => {
    const { code, stdout } = runMain(
      ["--target", "x86_64-unknown-linux-gnu", "--out-dir", "build/bin", "--dry-run"],
      { DENORT_BIN: "/opt/my denort" },
    );
    expect(code).toBe(0);
    expect(stdout).toContain(
      "&& DENORT_BIN='/opt/my denort' deno compile --target x86_64-unknown-linux-gnu ",
    );
    expect(stdout).toContain("--output /repo/build/bin/aideazz-x86_64-unknown-linux-gnu ");
  });

  it("exits 2 with a clear message for a bad target", () => {
    const { code, stdout, stderr } = runMain(["--target", "aarch64-apple-darwin", "--dry-run"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/^build-binary: unknown target "aarch64-apple-darwin"; expected one of: /);
    expect(stderr).toContain("usage: deno run -A scripts/build-binary.ts");
  });

  it("exits 2 for an unknown flag or a stray positional", () => {
    const flag = runMain(["--dry-run", "--allow-all"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/build-binary: Unknown option '--allow-all'/);
    expect(runMain(["src/main.ts"]).code).toBe(2);
  });

  it("refuses a DENORT_BIN built for another architecture before staging anything", () => {
    const dir = tmpDir();
    const x64 = path.join(dir, "denort");
    fs.writeFileSync(x64, elfHeader(0x3e));
    const { code, stderr } = runMain(["--target", "aarch64-unknown-linux-gnu"], { DENORT_BIN: x64 }, dir);
    expect(code).toBe(2);
    expect(stderr).toContain(
      `DENORT_BIN=${x64} is not a aarch64-unknown-linux-gnu executable (ELF machine 0x3e)`,
    );
    expect(fs.existsSync(path.join(dir, ".cache"))).toBe(false);
  });

  it("npm start runs with the same V8 flags as the binary", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { scripts: { start: string } };
    expect(pkg.scripts.start.split(" ")).toContain(V8);
  });

  it("--print-permissions prints one flag a line", () => {
    const { code, stdout } = runMain(["--print-permissions", "--write-path", "/data"]);
    expect(code).toBe(0);
    expect(stdout.trim().split("\n")).toEqual(
      PERMISSIONS.map((p) => (p.startsWith("--allow-write") ? "--allow-write=/data" : p)),
    );
  });
});

function elfHeader(machine: number): Uint8Array {
  const h = new Uint8Array(64);
  h.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  h[18] = machine & 0xff;
  h[19] = machine >> 8;
  return h;
}

describe("checkDenort", () => {
  it("accepts an ELF for the target and rejects others", () => {
    const dir = tmpDir();
    const arm = path.join(dir, "arm");
    const text = path.join(dir, "text");
    fs.writeFileSync(arm, elfHeader(0xb7));
    fs.writeFileSync(text, "#!/bin/sh\n".repeat(4));
    expect(() => checkDenort(arm, "aarch64-unknown-linux-gnu")).not.toThrow();
    expect(() => checkDenort(arm, "x86_64-unknown-linux-gnu")).toThrow(/ELF machine 0xb7/);
    expect(() => checkDenort(text, "aarch64-unknown-linux-gnu")).toThrow(
      /is not a aarch64-unknown-linux-gnu/,
    );
    expect(() => checkDenort(path.join(dir, "missing"), "aarch64-unknown-linux-gnu")).toThrow(
      /cannot be read/,
    );
  });
});

const LOCK: Lockfile = {
  packages: {
    "": { version: "0.1.0" },
    "node_modules/zod": { version: "4.0.0" },
    "node_modules/libsql": { version: "0.5.29", os: ["linux"], cpu: ["x64", "arm64"] },
    "node_modules/libsql/node_modules/detect-libc": { version: "2.0.2" },
    "node_modules/@libsql/linux-arm64-gnu": {
      version: "0.5.29",
      optional: true,
      os: ["linux"],
      cpu: ["arm64"],
    },
    "node_modules/@libsql/linux-x64-gnu": { version: "0.5.29", optional: true, os: ["linux"], cpu: ["x64"] },
    "node_modules/@libsql/linux-x64-musl": { version: "0.5.29", optional: true, os: ["linux"], cpu: ["x64"] },
    "node_modules/vitest": { version: "4.0.0", dev: true },
    "node_modules/deno": { version: "2.9.6", dev: true },
  },
};

describe("planStage", () => {
  it("keeps production packages, drops dev tools and every other platform's addon", () => {
    expect(planStage(LOCK, "aarch64-unknown-linux-gnu")).toEqual({
      packages: ["node_modules/libsql", "node_modules/libsql/node_modules/detect-libc", "node_modules/zod"],
      addon: { name: "@libsql/linux-arm64-gnu", version: "0.5.29", integrity: undefined },
    });
    expect(planStage(LOCK, "x86_64-unknown-linux-gnu").addon.name).toBe("@libsql/linux-x64-gnu");
  });

  it("uses the arm64 addon version that the project's libsql depends on", () => {
    const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, "package-lock.json"), "utf8")) as Lockfile;
    const libsql = JSON.parse(
      fs.readFileSync(path.join(repoRoot, "node_modules/libsql/package.json"), "utf8"),
    );
    const plan = planStage(lock, "aarch64-unknown-linux-gnu");
    expect(plan.addon.version).toBe(libsql.optionalDependencies["@libsql/linux-arm64-gnu"]);
    expect(plan.addon.integrity).toMatch(/^sha512-/);
    expect(plan.packages).toContain("node_modules/@libsql/client");
    expect(plan.packages).not.toContain("node_modules/deno");
    expect(plan.packages.some((p) => p.includes("linux-x64"))).toBe(false);
  });
});

/** A fake project with an x86_64 node_modules and an arm64 addon tarball in the npm cache. */
function fakeProject(opts: { integrity?: string } = {}) {
  const root = tmpDir();
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  };
  const pkg = (name: string, version: string) => JSON.stringify({ name, version });
  write("deno.json", "{}");
  write("package.json", "{}");
  write("src/main.ts", "console.log(1);\n");
  write("node_modules/zod/package.json", pkg("zod", "4.0.0"));
  write("node_modules/libsql/package.json", pkg("libsql", "0.5.29"));
  write("node_modules/libsql/node_modules/detect-libc/package.json", pkg("detect-libc", "2.0.2"));
  write("node_modules/@libsql/linux-x64-gnu/package.json", pkg("@libsql/linux-x64-gnu", "0.5.29"));
  write("node_modules/vitest/package.json", pkg("vitest", "4.0.0"));
  const packDir = path.join(root, "pack");
  write("pack/package/package.json", pkg("@libsql/linux-arm64-gnu", "0.5.29"));
  write("pack/package/index.node", "arm64 addon");
  const tgz = path.join(root, ".cache/npm/tgz/libsql-linux-arm64-gnu-0.5.29.tgz");
  fs.mkdirSync(path.dirname(tgz), { recursive: true });
  const tar = spawnSync("tar", ["-czf", tgz, "-C", packDir, "package"]);
  expect(tar.status).toBe(0);
  const lock: Lockfile = structuredClone(LOCK);
  lock.packages["node_modules/@libsql/linux-arm64-gnu"]!.integrity = opts.integrity ?? integrityOf(tgz);
  write("package-lock.json", JSON.stringify(lock));
  return { root, tgz, lock };
}

describe("stageApp", () => {
  it("stages src, config and production node_modules with the target's addon from the npm cache", () => {
    const { root } = fakeProject();
    const stage = stageApp(root, "aarch64-unknown-linux-gnu");
    expect(stage).toBe(path.join(root, ".cache/stage/aarch64-unknown-linux-gnu"));
    const nm = path.join(stage, "node_modules");
    expect(fs.readFileSync(path.join(nm, "@libsql/linux-arm64-gnu/index.node"), "utf8")).toBe("arm64 addon");
    expect(fs.existsSync(path.join(nm, "libsql/node_modules/detect-libc/package.json"))).toBe(true);
    expect(fs.existsSync(path.join(nm, "zod/package.json"))).toBe(true);
    expect(fs.existsSync(path.join(nm, "@libsql/linux-x64-gnu"))).toBe(false);
    expect(fs.existsSync(path.join(nm, "vitest"))).toBe(false);
    for (const f of ["deno.json", "package.json", "package-lock.json", "src/main.ts"]) {
      expect(fs.existsSync(path.join(stage, f))).toBe(true);
    }
    // node_modules is hard-linked (cheap), src is a copy (others edit it while a build runs).
    const ino = (p: string) => fs.statSync(p).ino;
    expect(ino(path.join(nm, "zod/package.json"))).toBe(
      ino(path.join(root, "node_modules/zod/package.json")),
    );
    expect(ino(path.join(stage, "src/main.ts"))).not.toBe(ino(path.join(root, "src/main.ts")));
  });

  it("uses the project's own addon for the host target", () => {
    const { root } = fakeProject();
    const stage = stageApp(root, "x86_64-unknown-linux-gnu");
    expect(fs.existsSync(path.join(stage, "node_modules/@libsql/linux-x64-gnu/package.json"))).toBe(true);
    expect(fs.existsSync(path.join(stage, "node_modules/@libsql/linux-arm64-gnu"))).toBe(false);
  });

  it("refuses an addon tarball whose integrity differs from package-lock.json, and deletes it", () => {
    const { root, tgz } = fakeProject({ integrity: "sha512-AAAA" });
    const addon = { name: "@libsql/linux-arm64-gnu", version: "0.5.29", integrity: "sha512-AAAA" };
    expect(() => ensureAddon(root, addon)).toThrow(
      /tarball integrity sha512-.* does not match package-lock\.json/,
    );
    expect(fs.existsSync(tgz)).toBe(false);
  });
});

describe("formatInvocation", () => {
  it("quotes words the shell would split", () => {
    expect(formatInvocation({ cmd: "deno", args: ["compile", "a b", "it's"], env: { X: "1" }, cwd: "/s" }))
      .toBe(`cd /s && X=1 deno compile 'a b' 'it'\\''s'`);
  });
});
