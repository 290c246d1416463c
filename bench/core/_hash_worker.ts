/**
 * One hashing thread of a {@link HashPool}: SHA-256 of the pieces the pool
 * copies into its shared slots, one running hash per job.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";

/** From the pool: the slots to read, then pieces of jobs. */
export type HashWorkerRequest =
  | { readonly kind: "slots"; readonly slots: readonly SharedArrayBuffer[] }
  | {
    readonly kind: "piece";
    readonly job: number;
    readonly slot: number;
    readonly length: number;
    readonly last: boolean;
  };

/** To the pool: a slot free again, and the digest when that piece was a job's last. */
export interface HashWorkerReply {
  readonly slot: number;
  readonly job: number;
  readonly digest?: string;
}

declare const self: {
  onmessage: ((event: MessageEvent<HashWorkerRequest>) => void) | null;
  postMessage(message: HashWorkerReply): void;
};

let slots: Uint8Array[] = [];
const running = new Map<number, Hash>();

self.onmessage = (event) => {
  const request = event.data;
  if (request.kind === "slots") {
    slots = request.slots.map((buffer) => new Uint8Array(buffer));
    return;
  }
  let hash = running.get(request.job);
  if (hash === undefined) running.set(request.job, hash = createHash("sha256"));
  hash.update(slots[request.slot]!.subarray(0, request.length));
  const reply: HashWorkerReply = { slot: request.slot, job: request.job };
  if (request.last) {
    running.delete(request.job);
    self.postMessage({ ...reply, digest: hash.digest("hex") });
  } else {
    self.postMessage(reply);
  }
};
