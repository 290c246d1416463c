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

/** Renders {@link RunEvent}s; does nothing when `enabled` is false. */
export class Progress {
  #bar: cliProgress.SingleBar | undefined;
  #kind: RunEvent["kind"] | undefined;
  readonly enabled: boolean;

  constructor(enabled: boolean = Deno.stderr.isTerminal()) {
    this.enabled = enabled;
  }

  /** Shows `event`. */
  update(event: RunEvent): void {
    if (!this.enabled || event.kind === "prepare" || event.kind === "ready") return;
    if (this.#kind !== event.kind) {
      this.stop();
      this.#kind = event.kind;
      this.#bar = new cliProgress.SingleBar({
        stream: process.stderr,
        format: event.kind === "fixture"
          ? " generating {label} {bar} {percentage}% {done} of {size}"
          : " measuring {bar} {value}/{total} samples · {label}",
        hideCursor: true,
        clearOnComplete: true,
        barsize: 24,
      }, cliProgress.Presets.shades_classic);
      this.#bar.start(event.total, 0, { label: "", done: "", size: "" });
    }
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

  /** Removes the bar. */
  stop(): void {
    this.#bar?.stop();
    this.#bar = undefined;
    this.#kind = undefined;
  }
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
