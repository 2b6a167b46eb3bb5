/**
 * Before/after benchmarks: an earlier revision's files, exported from git into a temp directory,
 * so a bench can drive the old code and the checkout's side by side in one run.
 * @module
 */

/** The repository root (this checkout). */
export const REPO_ROOT: string = new URL("..", import.meta.url).pathname;

/**
 * Exports `paths` (files or folders, relative to the repository root) as they were at `rev`.
 *
 * @param rev a git revision, e.g. a commit hash
 * @param paths what to export
 * @returns a new temp directory holding them at their repository-relative paths (the caller
 *   removes it)
 * @throws {Error} when git or tar fails, with git's own message
 */
export async function exportRevision(rev: string, paths: readonly string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: `baseline-${rev.slice(0, 12)}-` });
  const archive = await new Deno.Command("git", {
    args: ["-C", REPO_ROOT, "archive", "--format=tar", rev, ...paths],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!archive.success) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(`git archive ${rev} failed: ${new TextDecoder().decode(archive.stderr)}`);
  }
  const tar = new Deno.Command("tar", { args: ["-x", "-C", dir], stdin: "piped" }).spawn();
  const writer = tar.stdin.getWriter();
  await writer.write(archive.stdout);
  await writer.close();
  if (!(await tar.status).success) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(`tar -x of ${rev}'s ${paths.join(", ")} failed`);
  }
  return dir;
}
