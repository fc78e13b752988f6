/**
 * Resident memory of a process from /proc/<pid>/status (Linux). `aideazz up` polls it to enforce each agent's
 * `limits.memoryMax` the way systemd's MemoryMax= does on the VM: over the limit, the process is killed.
 *
 * @module
 */

/** VmRSS of `pid` in bytes, or undefined when the process (or /proc) is not there. */
export async function readVmRss(
  pid: number,
  readTextFile: (path: string) => Promise<string>,
): Promise<number | undefined> {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(await readTextFile(`/proc/${pid}/status`));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
