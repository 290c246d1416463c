import { parallel } from "./parallel.ts";
import { strategyConformance } from "./_conformance.ts";

strategyConformance(parallel, {
  default: {},
  "one reader": { readers: 1 },
  "small chunks, many readers": { readers: 8, chunkSize: 4096 },
  "odd chunk size": { readers: 3, chunkSize: 10_007 },
});
