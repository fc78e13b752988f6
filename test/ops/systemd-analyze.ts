/**
 * Runs the real `systemd-analyze` (no PID 1 needed) on unit files. `verify` checks that ExecStart= binaries
 * exist and resolves dependencies (sysinit.target, …), so the units go into a throw-away root: a copy of this
 * machine's /usr/lib/systemd/system, the units under /etc/systemd/system and stand-in executables at the
 * ExecStart paths. The unit files themselves are not changed.
 */
import { spawnSync } from "node:child_process";
import { chmod, cp, mkdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

export function hasSystemdAnalyze(): boolean {
  return spawnSync("systemd-analyze", ["--version"]).status === 0;
}

/** Builds a root in `dir` holding `files` (paths relative to /etc/systemd/system) and stand-ins for `executables`. */
export async function makeRoot(
  dir: string,
  files: { path: string; text: string }[],
  executables: string[],
): Promise<string> {
  await mkdir(join(dir, "usr/lib/systemd"), { recursive: true });
  await cp("/usr/lib/systemd/system", join(dir, "usr/lib/systemd/system"), {
    recursive: true,
    verbatimSymlinks: true,
  });
  await symlink("usr/lib", join(dir, "lib"));
  for (const f of files) {
    const p = join(dir, "etc/systemd/system", f.path);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, f.text);
  }
  for (const e of executables) {
    const p = join(dir, e);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, "#!/bin/sh\nexit 0\n");
    await chmod(p, 0o755);
  }
  return dir;
}

export interface Analyzed {
  code: number | null;
  output: string;
}

/** `systemd-analyze verify --root=ROOT UNIT`: clean means exit 0 and no output at all (warnings are output). */
export function verify(root: string, unit: string): Analyzed {
  const r = spawnSync("systemd-analyze", ["verify", "--man=no", `--root=${root}`, unit], {
    encoding: "utf8",
  });
  return { code: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/** `systemd-analyze security --offline=true`, returning the overall exposure (0.0 safe … 10.0 unsafe). */
export function security(root: string | undefined, unitOrPath: string): { exposure: number; output: string } {
  const args = ["security", "--offline=true", "--no-pager", ...(root ? [`--root=${root}`] : []), unitOrPath];
  const r = spawnSync("systemd-analyze", args, { encoding: "utf8" });
  const output = `${r.stdout}${r.stderr}`;
  const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(output);
  if (!m) throw new Error(`no exposure in systemd-analyze output (exit ${r.status}):\n${output}`);
  return { exposure: Number(m[1]), output };
}
