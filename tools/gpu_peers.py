#!/usr/bin/env python3
"""The peers weightbench is compared with on a GPU machine, on the same file.

Run by bench/cli/gpu_check_command.ts:

    python3 tools/gpu_peers.py --safetensors MODEL.safetensors --pt MODEL.pt --out peers.json

- safetensors.torch.load_file(path, device="cuda:0"), cold and warm page cache;
- torch.load(pt, map_location="cuda:0", mmap=True) on a .pt copy of the same tensors (written
  with torch.save from the safetensors file when missing), cold and warm;
- raw copies through torch: pinned and pageable host-to-device and device-to-host, timed with
  CUDA events (the limits weightbench's own probe is checked against).

Cold: the file's dirty pages written back and its pages dropped with
posix_fadvise(POSIX_FADV_DONTNEED); residency is measured with mincore before each load and
recorded. Throughput is decimal GB/s of tensor bytes. Writes --out after every measurement
(atomically), so a run stopped at its deadline keeps what it measured, and prints the JSON at the
end; a failing peer is recorded in "errors" and the others still run. Without torch, safetensors
or a GPU it writes --out with the reason in "errors" and exits 1.
"""

import argparse
import ctypes
import json
import mmap
import os
import statistics
import struct
import sys
import time


def tensor_bytes(path):
    """Bytes of tensor data in a safetensors file, from its header."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    return sum(v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items() if k != "__metadata__")


def evict(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            os.fdatasync(fd)
        except OSError:
            pass
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def warm_up(path):
    buffer = bytearray(16 << 20)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(view):
            pass


def resident_fraction(path):
    """Fraction of the file's pages in the page cache (mincore), or None where it cannot be read."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        size = os.path.getsize(path)
        if size == 0:
            return 1.0
        page = os.sysconf("SC_PAGE_SIZE")
        with open(path, "rb") as f:
            mapped = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY)
            try:
                address = ctypes.addressof(ctypes.c_char.from_buffer(mapped))
                pages = (size + page - 1) // page
                vector = (ctypes.c_ubyte * pages)()
                libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
                if libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), vector) != 0:
                    return None
                resident = sum(1 for b in vector if b & 1)
                del address
                return resident / pages
            finally:
                try:
                    mapped.close()
                except BufferError:
                    pass
    except Exception:  # noqa: BLE001 - best effort, recorded as unknown
        return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--safetensors", required=True)
    parser.add_argument("--pt", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--raw-bytes", type=int, default=1 << 30)
    args = parser.parse_args()

    result = {"tensorBytes": tensor_bytes(args.safetensors), "loads": {}, "raw": {}, "errors": []}

    def save():
        with open(args.out + ".tmp", "w") as f:
            f.write(json.dumps(result, indent=2) + "\n")
        os.replace(args.out + ".tmp", args.out)

    try:
        import torch
        import safetensors
        from safetensors.torch import load_file
    except ImportError as error:
        result["errors"].append(f"the peers need torch and safetensors: {error}")
        save()
        print(json.dumps(result, indent=2))
        sys.exit(1)
    result.update({"torch": torch.__version__, "safetensors": safetensors.__version__})
    if not torch.cuda.is_available():
        result["errors"].append("no GPU: torch.cuda.is_available() is False")
        save()
        print(json.dumps(result, indent=2))
        sys.exit(1)
    result["device"] = torch.cuda.get_device_name(0)
    save()
    torch.zeros(1, device="cuda:0")
    torch.cuda.synchronize()

    def log(message):
        print(f"peers: {message}", file=sys.stderr, flush=True)

    def measure(name, path, load):
        result["loads"][name] = {}
        for cache in ("cold", "warm"):
            seconds, resident = [], []
            try:
                for _ in range(args.runs):
                    if cache == "cold":
                        evict(path)
                    else:
                        warm_up(path)
                    resident.append(resident_fraction(path))
                    torch.cuda.synchronize()
                    began = time.perf_counter()
                    tensors = load()
                    torch.cuda.synchronize()
                    seconds.append(time.perf_counter() - began)
                    loaded = sum(t.numel() * t.element_size() for t in tensors.values())
                    if loaded != result["tensorBytes"]:
                        raise RuntimeError(f"loaded {loaded} bytes, expected {result['tensorBytes']}")
                    if not all(t.is_cuda for t in tensors.values()):
                        raise RuntimeError("a tensor is not on the GPU")
                    del tensors
                    torch.cuda.empty_cache()
                middle = statistics.median(seconds)
                result["loads"][name][cache] = {
                    "seconds": seconds,
                    "median": middle,
                    "gbps": result["tensorBytes"] / middle / 1e9,
                    "resident": resident,
                }
                log(f"{name} {cache}: {result['tensorBytes'] / middle / 1e9:.2f} GB/s (median of {seconds})")
            except Exception as error:  # noqa: BLE001 - recorded, the other peers still run
                result["errors"].append(f"{name} {cache}: {type(error).__name__}: {error}")
                log(result["errors"][-1])
                torch.cuda.empty_cache()
            save()

    def raw_copies():
        try:
            n = args.raw_bytes
            pinned = torch.empty(n, dtype=torch.uint8, pin_memory=True)
            pinned.fill_(1)
            pageable = torch.ones(n, dtype=torch.uint8)
            device = torch.empty(n, dtype=torch.uint8, device="cuda:0")

            def best(copy, attempts=4):
                fastest = 0.0
                for i in range(attempts):
                    start = torch.cuda.Event(enable_timing=True)
                    end = torch.cuda.Event(enable_timing=True)
                    start.record()
                    copy()
                    end.record()
                    end.synchronize()
                    if i > 0:
                        fastest = max(fastest, n / (start.elapsed_time(end) / 1000) / 1e9)
                return fastest

            result["raw"] = {
                "pinnedH2DGBps": best(lambda: device.copy_(pinned, non_blocking=True)),
                "pageableH2DGBps": best(lambda: device.copy_(pageable)),
                "pinnedD2HGBps": best(lambda: pinned.copy_(device, non_blocking=True)),
                "pageableD2HGBps": best(lambda: pageable.copy_(device)),
            }
            log(f"raw copies: {result['raw']}")
            del pinned, pageable, device
            torch.cuda.empty_cache()
        except Exception as error:  # noqa: BLE001
            result["errors"].append(f"raw copies: {type(error).__name__}: {error}")
        save()

    # Most valuable first: the goals compare with safetensors, the probe with the raw copies;
    # the .pt copy torch.load needs takes a while to write, so it comes last.
    measure("safetensors.load_file", args.safetensors, lambda: load_file(args.safetensors, device="cuda:0"))
    raw_copies()
    try:
        if not os.path.exists(args.pt):
            log(f"writing {args.pt} with torch.save (same tensors as {args.safetensors})")
            began = time.perf_counter()
            tensors = load_file(args.safetensors, device="cpu")
            torch.save(tensors, args.pt + ".tmp")
            os.replace(args.pt + ".tmp", args.pt)
            del tensors
            log(f"wrote {os.path.getsize(args.pt)} bytes in {time.perf_counter() - began:.1f} s")
        measure(
            "torch.load mmap",
            args.pt,
            lambda: torch.load(args.pt, map_location="cuda:0", mmap=True, weights_only=True),
        )
    except Exception as error:  # noqa: BLE001
        result["errors"].append(f"torch.load mmap: {type(error).__name__}: {error}")

    save()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
