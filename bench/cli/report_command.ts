/**
 * `weightbench report PROFILE... [-o FILE] [--format html|markdown|bmf|gab|csv]`
 * and `weightbench report --index DIR [-o OUTDIR]`: reports of profiles.
 *
 * HTML (the default) is one self-contained page, written atomically to `-o`
 * or next to the first profile (`<name>.html`, `<name>-compare.html` for
 * several); its path goes to stdout. Markdown, BMF and github-action-benchmark
 * JSON go to stdout unless `-o` names a file. `--index DIR` reads every
 * `*.json` profile in DIR and writes a site: `index.html` with a trend chart
 * per case, and one page per run beside it.
 *
 * The builders live in `report/`; this file reads, checks and writes.
 *
 * @module
 */

import { basename, dirname, extname, join, resolve } from "node:path";
import { InputError } from "../util/errors.ts";
import { type Profile } from "../../profiles/schema.ts";
import { readProfile } from "../../profiles/files.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { formatBytes } from "../util/size.ts";
import { loadAssets } from "../../report/assets.ts";
import { renderBmf, renderCsv, renderGab } from "../../report/dashboards.ts";
import { renderHtml } from "../../report/html.ts";
import { renderMarkdown } from "../../report/markdown.ts";
import { buildReport, type ReportInput } from "../../report/model.ts";
import { renderIndex } from "../../report/site.ts";
import { parseFlags } from "./args.ts";

const HELP = `Usage: deno task report PROFILE... [-o FILE] [--format html|markdown|bmf|gab|csv]
       deno task report --index DIR [-o OUTDIR]

Builds a report from weightbench profiles. With several profiles, each case is
compared with the same case (by id) in the first profile.

Options:
  -o, --output PATH   where to write (HTML default: next to the first profile;
                      markdown, bmf, gab and csv default: stdout)
  --format FORMAT     html (default): a self-contained page with charts
                      markdown: a summary for CI step summaries and PR comments
                      bmf: Bencher Metric Format JSON (one profile)
                      gab: github-action-benchmark customSmallerIsBetter JSON (one profile)
                      csv: one row per case, times in ms, as hyperfine exports (one profile)
  --index DIR         a site for a folder of profiles: index.html with trends,
                      and one page per run (written to DIR, or to -o OUTDIR)
  -h, --help          show this help
`;

const FLAGS = {
  output: { type: "string", short: "o" },
  format: { type: "string" },
  index: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const FORMATS = ["html", "markdown", "bmf", "gab", "csv"] as const;
type Format = typeof FORMATS[number];

/** Runs the command; returns the exit code. */
export async function reportCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, FLAGS, true);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const format = parseFormat(values.format);
  if (values.index !== undefined) {
    if (positionals.length > 0) {
      throw new InputError(
        `--index takes a folder, not profiles: remove "${positionals[0]}" or --index`,
      );
    }
    if (format !== "html") throw new InputError(`--index makes HTML only, not "${format}"`);
    return await writeSite(values.index, values.output);
  }
  if (positionals.length === 0) {
    throw new InputError(
      "Missing PROFILE: report takes one or more profile files (or --index DIR)",
    );
  }
  if ((format === "bmf" || format === "gab" || format === "csv") && positionals.length > 1) {
    throw new InputError(
      `--format ${format} takes one profile, got ${positionals.length}: one run per file, as dashboards take them`,
    );
  }
  const inputs: ReportInput[] = [];
  for (const path of positionals) inputs.push({ profile: await readProfile(path), source: path });
  const output = values.output;
  if (output !== undefined) refuseInputAsOutput(output, positionals);
  const report = buildReport(inputs);

  if (format === "html") {
    const html = renderHtml(report, await loadAssets());
    const path = output ?? defaultHtmlPath(positionals);
    refuseInputAsOutput(path, positionals);
    await writeOutput(path, html);
    console.log(`report: ${path} (${formatBytes(new TextEncoder().encode(html).length)})`);
    return 0;
  }
  const text = format === "markdown"
    ? renderMarkdown(report)
    : format === "bmf"
    ? renderBmf(report.profiles[0]!)
    : format === "csv"
    ? renderCsv(report.profiles[0]!)
    : renderGab(report.profiles[0]!);
  if (output === undefined) {
    await Deno.stdout.write(new TextEncoder().encode(text));
  } else {
    await writeOutput(output, text);
    console.log(`${format}: ${output}`);
  }
  return 0;
}

function parseFormat(value: string | undefined): Format {
  if (value === undefined) return "html";
  const found = FORMATS.find((f) => f === value);
  if (!found) {
    throw new InputError(`Invalid --format "${value}": expected one of ${FORMATS.join(", ")}`);
  }
  return found;
}

/** `<dir of first>/<name of first>.html`, or `-compare.html` for several profiles. */
function defaultHtmlPath(profiles: readonly string[]): string {
  const first = profiles[0]!;
  const stem = basename(first, extname(first));
  return join(dirname(first), `${stem}${profiles.length > 1 ? "-compare" : ""}.html`);
}

function refuseInputAsOutput(output: string, inputs: readonly string[]): void {
  const target = resolve(output);
  if (inputs.some((input) => resolve(input) === target)) {
    throw new InputError(`Refusing to write the report over the profile "${output}"`);
  }
}

async function writeOutput(path: string, text: string): Promise<void> {
  try {
    await Deno.mkdir(dirname(path) || ".", { recursive: true });
    await writeFileAtomic(path, text);
  } catch (error) {
    if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
      throw error;
    }
    throw new InputError(`Cannot write "${path}": ${(error as Error).message}`, { cause: error });
  }
}

/** Reads every profile in `dir`, writes `index.html` and a page per run to `out` (default `dir`). */
async function writeSite(dir: string, out: string | undefined): Promise<number> {
  const files: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(".json")) files.push(entry.name);
    }
  } catch (error) {
    throw new InputError(`Cannot read the folder "${dir}": ${(error as Error).message}`, {
      cause: error,
    });
  }
  files.sort();
  const runs: { profile: Profile; name: string }[] = [];
  const skipped: { file: string; reason: string }[] = [];
  for (const name of files) {
    try {
      runs.push({ profile: await readProfile(join(dir, name)), name });
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      skipped.push({
        file: name,
        reason: error.message.replace(/^Cannot read profile "[^"]*": /, ""),
      });
    }
  }
  if (runs.length === 0) {
    throw new InputError(
      `No profiles in "${dir}"${
        skipped.length > 0 ? `: ${skipped.length} JSON files, none a readable profile` : ""
      }`,
    );
  }
  const outDir = out ?? dir;
  const assets = await loadAssets();
  const pages: { profile: ReturnType<typeof buildReport>["profiles"][number]; href: string }[] = [];
  for (const { profile, name } of runs) {
    const stem = basename(name, ".json");
    // A profile named index.json must not take the index page's name.
    const href = `${stem === "index" ? "index-run" : stem}.html`;
    const report = buildReport([{ profile, source: name }]);
    await writeOutput(join(outDir, href), renderHtml(report, assets, { indexHref: "index.html" }));
    pages.push({ profile: report.profiles[0]!, href });
  }
  const indexPath = join(outDir, "index.html");
  await writeOutput(
    indexPath,
    renderIndex({ title: basename(resolve(dir)), runs: pages, skipped }, assets),
  );
  console.log(
    `site: ${indexPath} (${runs.length} run page${runs.length === 1 ? "" : "s"}${
      skipped.length === 0
        ? ""
        : `; ${skipped.length} file${skipped.length === 1 ? " was" : "s were"} not a profile`
    })`,
  );
  return 0;
}
