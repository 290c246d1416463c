/**
 * Where loaded weights end up. A target owns its memory (device memory on a
 * GPU, an arena of CPU memory on `host`) and the copy into it; strategies only
 * hand it host pointers, so a new target plugs in without changing any
 * strategy.
 *
 * @module
 */

/** A region of target memory returned by {@link Target.allocate}. */
export interface DeviceBuffer {
  /** The target that owns it. */
  readonly target: string;
  /** Its size in bytes. */
  readonly size: number;
}

/** Facts about a target for the profile. */
export type TargetInfo = Readonly<Record<string, string | number | boolean>>;

/** A destination for weights: `host`, `cuda:0`, … */
export interface Target extends Disposable {
  /** The id users write: `host`, `cuda:N`. */
  readonly id: string;
  /** The phase a copy into this target records: `copy` for host memory, `h2d` for a GPU. */
  readonly transferPhase: "copy" | "h2d";
  /** What the profile records about the target. */
  readonly info: TargetInfo;
  /**
   * Gets ready to hold `bytes` at once in the samples to come, outside any
   * timing (the host target maps and faults in its arena here, as a GPU's
   * memory exists before a load starts).
   */
  reserve(bytes: number): void;
  /** Allocates `bytes` of target memory. */
  allocate(bytes: number): DeviceBuffer;
  /** Copies `length` bytes from host memory at `source` to `buffer` at `offset`. */
  copyIn(
    buffer: DeviceBuffer,
    offset: number,
    source: Deno.PointerObject,
    length: number,
  ): Promise<void>;
  /** Waits until every copy issued so far has landed. */
  synchronize(): Promise<void>;
  /**
   * The bytes of `buffer` at `offset`, in host memory, for verification. The
   * view is valid until the next `readBack` or `free`.
   */
  readBack(buffer: DeviceBuffer, offset: number, length: number): Uint8Array;
  /** Returns `buffer`'s memory to the target; freeing twice does nothing. */
  free(buffer: DeviceBuffer): void;
  /** Frees every live buffer, after a load that failed part-way. */
  freeAll(): void;
  /** Releases everything the target holds; safe to call twice. */
  close(): void;
}
