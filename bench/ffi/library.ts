/**
 * The one way weightbench opens a native library and owns what it hands out.
 *
 * - {@link openLibrary}: the path named by the library's environment variable
 *   first, then its usual names; where none opens, a
 *   {@link LibraryUnavailableError} that lists every path tried, in order, with
 *   the first failure's first line and every failure as its `cause`.
 * - {@link NativeCallError}: a call that failed, with the code's name and text
 *   as the library itself gives them (each library's `unwrap` asks it).
 * - {@link Owned}: a native handle owned by an object: `close()` releases it
 *   once (later calls do nothing), `[Symbol.dispose]` lets `using` do it, and a
 *   use after close says so.
 *
 * Every symbol table says which symbols a library may lack (`optional`) and
 * what is done then ({@link LibrarySpec.fallbacks}); `symbols_test.ts` opens
 * each table on NVIDIA's real libraries to prove the rest are there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LibraryUnavailableError, openLibrary, Owned } from "./library.ts";
 *
 * const spec = {
 *   name: "libm",
 *   env: "WEIGHTBENCH_LIBM",
 *   candidates: ["libm.so.6"],
 *   symbols: { sqrt: { parameters: ["f64"], result: "f64" } },
 *   fallbacks: {},
 * } as const;
 * const { library, path } = openLibrary(spec);
 * assert.equal(library.symbols.sqrt(9), 3);
 * assert.equal(path, "libm.so.6");
 * library.close();
 * assert.throws(
 *   () => openLibrary(spec, ["/nonexistent/libm.so.6"]),
 *   (error) => error instanceof LibraryUnavailableError &&
 *     error.message.startsWith('Cannot open libm: tried "/nonexistent/libm.so.6" ('),
 * );
 *
 * class Box extends Owned<number> {
 *   released = 0;
 *   protected readonly kind = "box";
 *   protected release(): void {
 *     this.released++;
 *   }
 * }
 * const box = new Box(7);
 * box.close();
 * box.close();
 * assert.equal(box.released, 1);
 * assert.equal(box.closed, true);
 * ```
 *
 * @module
 */

import { optionalEnv } from "../util/env.ts";

/** The names of the symbols of `S` that are marked `optional`. */
export type OptionalSymbol<S extends Deno.ForeignLibraryInterface> = {
  [K in keyof S]: S[K] extends { readonly optional: true } ? K : never;
}[keyof S];

/** A native library as weightbench knows it. */
export interface LibrarySpec<S extends Deno.ForeignLibraryInterface> {
  /** How users know it: `the CUDA driver`, `NVML`, `cuFile (GPUDirect Storage)`, `libc`. */
  readonly name: string;
  /** The environment variable naming a path to try first. */
  readonly env: string;
  /** The usual names and paths, tried in order after the variable's. */
  readonly candidates: readonly string[];
  readonly symbols: S;
  /** For each optional symbol, what weightbench does where the library lacks it. */
  readonly fallbacks: { readonly [K in OptionalSymbol<S>]: string };
}

/** A library that opened, and the path it opened from. */
export interface OpenedLibrary<S extends Deno.ForeignLibraryInterface> {
  readonly library: Deno.DynamicLibrary<S>;
  readonly path: string;
}

/** No path of a library opened; `tried` lists every path, in order. */
export class LibraryUnavailableError extends Error {
  /** The library, as users know it. */
  readonly library: string;
  readonly tried: readonly string[];

  constructor(library: string, tried: readonly string[], errors: readonly unknown[]) {
    const first = errors[0] instanceof Error ? errors[0].message.split("\n")[0] : undefined;
    super(
      `Cannot open ${library}: tried ${tried.map((p) => `"${p}"`).join(", ")}${
        first ? ` (${first})` : ""
      }`,
      { cause: errors },
    );
    this.name = "LibraryUnavailableError";
    this.library = library;
    this.tried = tried;
  }
}

/** The paths {@link openLibrary} tries for `spec`: its environment variable's first, when set. */
export function libraryCandidates(
  spec: Pick<LibrarySpec<Deno.ForeignLibraryInterface>, "env" | "candidates">,
): string[] {
  const override = optionalEnv(spec.env);
  return override ? [override, ...spec.candidates] : [...spec.candidates];
}

/**
 * Opens `spec`'s library from the first of `paths` (default:
 * {@link libraryCandidates}) that opens with every non-optional symbol.
 * Throws `unavailable`'s error (a {@link LibraryUnavailableError}) listing
 * every path tried. Nothing is cached: each call opens the library again.
 */
export function openLibrary<S extends Deno.ForeignLibraryInterface>(
  spec: LibrarySpec<S>,
  paths: readonly string[] = libraryCandidates(spec),
  unavailable: (tried: readonly string[], errors: readonly unknown[]) => Error = (
    tried,
    errors,
  ) => new LibraryUnavailableError(spec.name, tried, errors),
): OpenedLibrary<S> {
  const errors: unknown[] = [];
  for (const path of paths) {
    try {
      return { library: Deno.dlopen(path, spec.symbols), path };
    } catch (error) {
      errors.push(error);
    }
  }
  throw unavailable([...paths], errors);
}

/**
 * A native call failed. `code` is the name the library gives `status`
 * (`CUDA_ERROR_OUT_OF_MEMORY`, `NVML_ERROR_NOT_SUPPORTED`, `ENOENT`), `text`
 * the library's words for it; the message is `<call> failed: <code>: <text>`.
 */
export class NativeCallError extends Error {
  /** The call, as the message names it (with its arguments where they help). */
  readonly call: string;
  /** The library's status code. */
  readonly status: number;
  /** The code's name. */
  readonly code: string;
  /** The library's text for the code. */
  readonly text: string;

  constructor(call: string, status: number, code: string, text: string, options?: ErrorOptions) {
    super(`${call} failed: ${code}: ${text}`, options);
    this.name = "NativeCallError";
    this.call = call;
    this.status = status;
    this.code = code;
    this.text = text;
  }
}

/**
 * A native handle owned by an object. Subclasses say what they are
 * (`kind`, for the message of a use after close) and how to release the
 * handle; `close()` releases it once, even when the release throws.
 */
export abstract class Owned<T> implements Disposable {
  #value: T | null;

  constructor(value: T) {
    this.#value = value;
  }

  /** What the handle is, in words: `CUDA stream`, `device memory`. */
  protected abstract readonly kind: string;

  /** Gives the handle back to its library. */
  protected abstract release(value: T): void;

  /** The handle; throws once closed. */
  protected get value(): T {
    if (this.#value === null) throw new Error(`${capitalise(this.kind)} used after close()`);
    return this.#value;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#value === null;
  }

  /** Releases the handle; later calls do nothing. */
  close(): void {
    if (this.#value === null) return;
    const value = this.#value;
    this.#value = null;
    this.release(value);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The text of a NUL-terminated C string in `bytes` (all of it without a NUL). */
export function cText(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** The C string at `pointer`, or null for a null pointer. */
export function cStringAt(pointer: Deno.PointerValue): string | null {
  return pointer === null ? null : Deno.UnsafePointerView.getCString(pointer);
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
