/**
 * Test helper: how to enter a private mount namespace on this machine, so a test can give a child
 * process a tiny tmpfs (a real ENOSPC that nothing outside the namespace sees). Used by the
 * adapter, worker and service full-disk tests.
 * @module
 */

/**
 * Probes `unshare -m` (enough as root) and then `unshare -r -m` (a user namespace makes us root in
 * it, where unprivileged user namespaces are allowed) by mounting a 64 KiB tmpfs.
 *
 * @returns the `unshare` flags that work, or why none does (for an ignored test's name)
 */
export async function mountNamespacePrefix(): Promise<string[] | string> {
  if (Deno.build.os !== "linux") return `mount namespaces are Linux-only (${Deno.build.os})`;
  const dir = await Deno.makeTempDir({ prefix: "fr-ns-probe-" });
  const problems: string[] = [];
  try {
    for (const prefix of [["-m"], ["-r", "-m"]]) {
      const out = await new Deno.Command("unshare", {
        args: [...prefix, "--propagation", "private", "mount", "-t", "tmpfs", "-o", "size=64k"]
          .concat(["tmpfs", dir]),
        stdout: "null",
        stderr: "piped",
      }).output();
      if (out.success) return prefix;
      problems.push(`unshare ${prefix.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
    }
    return `cannot mount a tmpfs in a private namespace (${problems.join("; ")})`;
  } catch (error) {
    return `unshare is not available: ${(error as Error).message}`;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
