import { streamed } from "./streamed.ts";
import { strategyConformance } from "./_conformance.ts";

strategyConformance(streamed, {
  default: {},
  "double buffering, small chunks, one reader": { buffers: 2, chunkSize: 4096, readers: 1 },
  "odd chunk size, many readers, reused staging": {
    chunkSize: 10_007,
    readers: 5,
    buffers: 4,
    staging: "reused",
  },
  "O_DIRECT": { direct: true, chunkSize: 1 << 20 },
  "O_DIRECT, one-block chunks": { direct: true, chunkSize: 4096, buffers: 3, readers: 2 },
});
