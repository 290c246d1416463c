import { pinned } from "./pinned.ts";
import { strategyConformance } from "./_conformance.ts";

strategyConformance(pinned, {
  default: {},
  "reused staging": { staging: "reused" },
  "one reader, small chunks, tensor by tensor": { readers: 1, chunkSize: 4096, transfer: "tensor" },
});
