/**
 * Progress on stderr while a run goes: a bar for fixture generation, then one
 * for samples. Drawn only when stderr is a terminal, so logs and CI output
 * stay clean.
 *
 * @module
 */

// @ts-types="npm:@types/cli-progress@3.11.6"
import cliProgress from "cli-progress";
import process from "node:process";
import type { RunEvent } from "../run/runner.ts";
import type { ProbeStep } from "../probe/probe.ts";
import { formatBytes } from "../util/size.ts";

/** How often a piped run says how far it got. @default 5000 */
export const PIPED_EVERY_MS = 5000;

/**
 * Renders {@link RunEvent}s as hyperfine does: at a terminal, a bar with the
 * current case, the time elapsed and an estimate of the time left; piped (a
 * log, CI), a line every {@link PIPED_EVERY_MS} and when generation or
 * measuring ends, so a log shows the run is alive.
 */
export class Progress {
  #bar: cliProgress.SingleBar | undefined;
  #kind: RunEvent["kind"] | undefined;
  #started = 0;
  #startDone = 0;
  #lastLine = 0;
  readonly interactive: boolean;
  readonly #write: (line: string) => void;

  constructor(
    interactive: boolean = Deno.stderr.isTerminal(),
    options: { quiet?: boolean; write?: (line: string) => void; now?: () => number } = {},
  ) {
    this.interactive = interactive && !options.quiet;
    this.#quiet = options.quiet ?? false;
    this.#write = options.write ?? ((line) => console.error(line));
    this.#now = options.now ?? (() => performance.now());
  }

  readonly #quiet: boolean;
  readonly #now: () => number;

  /** Shows `event`. */
  update(event: RunEvent): void {
    if (this.#quiet || event.kind === "prepare" || event.kind === "ready") return;
    if (this.#kind !== event.kind) {
      this.stop();
      this.#kind = event.kind;
      this.#started = this.#lastLine = this.#now();
      this.#startDone = event.done;
      if (this.interactive) this.#startBar(event);
    }
    if (this.interactive) this.#drawBar(event);
    else this.#line(event);
  }

  #startBar(event: Extract<RunEvent, { total: number }>): void {
    this.#bar = new cliProgress.SingleBar({
      stream: process.stderr,
      format: event.kind === "fixture"
        ? " generating {label} {bar} {percentage}% {done} of {size} · {duration_formatted}, ETA {eta_formatted}"
        : " measuring {bar} {value}/{total} samples · {duration_formatted}, ETA {eta_formatted} · {label}",
      hideCursor: true,
      clearOnComplete: true,
      barsize: 24,
      etaBuffer: 50,
    }, cliProgress.Presets.shades_classic);
    this.#bar.start(event.total, 0, { label: "", done: "", size: "" });
  }

  #drawBar(event: Extract<RunEvent, { total: number }>): void {
    this.#bar!.setTotal(event.total);
    if (event.kind === "fixture") {
      this.#bar!.update(event.done, {
        label: event.label,
        done: formatBytes(event.done),
        size: formatBytes(event.total),
      });
    } else {
      this.#bar!.update(event.done, { label: `${event.caseId}${event.warmup ? " (warmup)" : ""}` });
    }
  }

  /** A line when due (or at the end), with the time elapsed and left. */
  #line(event: Extract<RunEvent, { total: number }>): void {
    const now = this.#now();
    const finished = event.done >= event.total;
    if (!finished && now - this.#lastLine < PIPED_EVERY_MS) return;
    this.#lastLine = now;
    const elapsed = (now - this.#started) / 1000;
    // The clock started at the first event, so the rate counts what came after it.
    const rate = (event.done - this.#startDone) / elapsed;
    const left = rate > 0 ? (event.total - event.done) / rate : NaN;
    const timing = finished
      ? `in ${formatSeconds(elapsed)}`
      : `${formatSeconds(elapsed)} elapsed, about ${formatSeconds(left)} left`;
    this.#write(
      event.kind === "fixture"
        ? `generating ${event.label}: ${formatBytes(event.done)} of ${
          formatBytes(event.total)
        } ${timing}`
        : `measured ${event.done}/${event.total} samples ${timing}${
          finished ? "" : ` · ${event.caseId}`
        }`,
    );
  }

  /** Removes the bar. */
  stop(): void {
    this.#bar?.stop();
    this.#bar = undefined;
    this.#kind = undefined;
  }
}

/** `4.2 s`, `1 min 05 s`. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${String(Math.round(seconds - minutes * 60)).padStart(2, "0")} s`;
}

/** A progress bar per probe step, on stderr when it is a terminal. */
export class ProbeProgress {
  #bar: cliProgress.SingleBar | undefined;
  #step: string | undefined;

  constructor(readonly enabled: boolean) {}

  update(step: ProbeStep): void {
    if (!this.enabled) return;
    if (step.step === "warm" || step.step === "memory") {
      this.stop();
      process.stderr.write(
        ` measuring ${step.step === "warm" ? "page-cache reads" : "memory copies"}…\n`,
      );
      return;
    }
    if (step.step !== this.#step) {
      this.stop();
      this.#step = step.step;
      this.#bar = new cliProgress.SingleBar({
        stream: process.stderr,
        format: step.step === "write"
          ? " writing probe file {bar} {percentage}%"
          : step.step === "device"
          ? ` ${step.id} host-to-device {bar} {value}/{total}`
          : " O_DIRECT sweep {bar} {value}/{total} · {label}",
        hideCursor: true,
        clearOnComplete: true,
        barsize: 24,
      }, cliProgress.Presets.shades_classic);
      this.#bar.start(step.total, 0, { label: "" });
    }
    if (step.step === "write" || step.step === "device") this.#bar?.update(step.done);
    if (step.step === "cold") {
      this.#bar?.update(step.done, {
        label: `${formatBytes(step.trial.blockSize)} × ${step.trial.depth}: ${
          step.trial.gbps.toFixed(2)
        } GB/s`,
      });
    }
  }

  stop(): void {
    this.#bar?.stop();
    this.#bar = undefined;
    this.#step = undefined;
  }
}
