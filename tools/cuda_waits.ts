/**
 * What a wait on a CUDA event costs, by each way weightbench could wait:
 *
 * - `worker`: the context's wait Worker, where the context is current
 *   (`CudaContext.wait`, what the bindings use);
 * - `blocking`: `cuEventSynchronize` on the calling thread (the fallback);
 * - `polling`: `cuEventQuery` on the calling thread, yielding with
 *   `setTimeout(0)` between queries (the fallback before);
 * - `pool`: `cuEventSynchronize` as nonblocking FFI on a Deno pool thread,
 *   where no context is current (the default before: some drivers refuse it).
 *
 * Each mode waits `--waits` times on an event recorded on the NULL stream
 * after nothing (so the wait is all overhead), and then on one recorded after
 * a `--bytes` host-to-device copy from pinned memory (the overhead on top of
 * the copy). Medians, in microseconds, and each mode as a ratio of
 * `blocking`'s. On the real driver where it has a device, else on the fake
 * driver of the tests (its events complete on its own threads).
 *
 * Usage: `deno run -P=test tools/cuda_waits.ts [--driver PATH] [--waits N] [--bytes N]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  copyHostToDeviceAsync,
  CU_EVENT_BLOCKING_SYNC,
  CU_EVENT_DISABLE_TIMING,
  CudaContext,
  CudaDriver,
  CudaEvent,
  CudaStream,
  DeviceMemory,
  PinnedMemory,
} from "../bench/ffi/cuda.ts";
import { fakeDriver } from "../bench/gpu/_fake_driver.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    driver: { type: "string" },
    waits: { type: "string", default: "300" },
    bytes: { type: "string", default: String(64 << 20) },
  },
});
const WAITS = Number(values.waits);
const BYTES = Number(values.bytes);

/** The driver to measure: the one asked for, the real one with a device, else the fake. */
async function pickDriver(): Promise<{ path: string; label: string }> {
  if (values.driver) return { path: values.driver, label: values.driver };
  try {
    const real = CudaDriver.open();
    if (real.deviceCount() > 0) return { path: real.path, label: `${real.path} (real driver)` };
  } catch {
    // no GPU here
  }
  const fake = await fakeDriver();
  if (fake.path === undefined) throw new Error(`No GPU and no fake driver: ${fake.skip}`);
  return { path: fake.path, label: `the fake driver of the tests (${fake.path})` };
}

const { path, label } = await pickDriver();
const driver = CudaDriver.open({ paths: [path] });
const context = CudaContext.retainPrimary(driver, 0);
const pool = Deno.dlopen(path, {
  cuEventSynchronize: { parameters: ["pointer"], result: "i32", nonblocking: true },
});
const event = CudaEvent.create(context, CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING);
const stream = CudaStream.create(context);
const device = DeviceMemory.allocate(context, BYTES);
const pinned = PinnedMemory.allocate(context, BYTES);

type Mode = "worker" | "blocking" | "polling" | "pool";
const wait: Record<Mode, () => Promise<void>> = {
  worker: () => event.synchronize(),
  blocking: () => {
    driver.unwrap("cuEventSynchronize", driver.symbols.cuEventSynchronize(event.handle));
    return Promise.resolve();
  },
  polling: async () => {
    while (!event.query()) await new Promise((resolve) => setTimeout(resolve, 0));
  },
  pool: async () => {
    driver.unwrap(
      "cuEventSynchronize (pool thread)",
      await pool.symbols.cuEventSynchronize(event.handle),
    );
  },
};

/** Median microseconds of `count` waits, each after `before` queued its work. */
async function measure(mode: Mode, count: number, before: () => void): Promise<number | string> {
  const times: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      before();
      event.record(stream);
      const start = performance.now();
      await wait[mode]();
      times.push((performance.now() - start) * 1000);
    }
  } catch (error) {
    return `fails: ${(error as Error).message}`;
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

await event.synchronize(); // starts the wait Worker outside the measurement
const rows: [Mode, number | string, number | string][] = [];
for (const mode of ["blocking", "worker", "polling", "pool"] as const) {
  const idle = await measure(mode, WAITS, () => {});
  const copy = await measure(
    mode,
    10,
    () => copyHostToDeviceAsync(stream, device.address(), pinned.pointer(), BYTES),
  );
  rows.push([mode, idle, copy]);
}
const base = rows[0]!;
console.log(`waits on ${label}, waits via the context: ${context.waitMode}`);
console.log(
  `mode      | idle wait µs (× blocking) | after a ${BYTES >> 20} MiB copy µs (× blocking)`,
);
for (const [mode, idle, copy] of rows) {
  const cell = (value: number | string, of: number | string) =>
    typeof value === "string"
      ? value
      : `${value.toFixed(1)} (${typeof of === "number" ? (value / of).toFixed(2) : "?"}×)`;
  console.log(`${mode.padEnd(9)} | ${cell(idle, base[1])} | ${cell(copy, base[2])}`);
}
pinned.close();
device.close();
stream.close();
event.close();
context.close();
Deno.exit(0);
