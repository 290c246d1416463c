// weightbench's GPU dequantization kernels: GGUF Q8_0, Q4_0 and Q4_K blocks
// to FP16, bit for bit what bench/quant/reference.ts computes (ggml's
// dequantize_row_* in float32, then rounded to FP16 to nearest even; a NaN
// comes out as the canonical 0x7e00).
//
// Compiled to PTX with `deno task kernels` (tools/build_kernels.ts runs
// `nvcc -ptx -arch=compute_80`, so the driver JIT-compiles it for sm_80 and
// newer: A100, H100, H200), committed as dequant.ptx and loaded at run time
// with cuModuleLoadData. tools/build_kernels_test.ts checks that the PTX is current.
//
// Every kernel takes (const uint8_t *src, uint16_t *dst, uint64_t n), where
// n is the number of threads that do work; launch ceil(n / 256) blocks of
// 256 threads. Sources are read byte by byte, so no alignment is assumed.

#include <cuda_fp16.h>
#include <stdint.h>

#define CANONICAL_NAN_F16 0x7e00u

__device__ __forceinline__ float load_half(const uint8_t *p) {
  const unsigned short bits = (unsigned short)(p[0] | (p[1] << 8));
  return __half2float(__ushort_as_half(bits));
}

__device__ __forceinline__ uint16_t to_half_bits(float v) {
  if (isnan(v)) return CANONICAL_NAN_F16;
  return __half_as_ushort(__float2half_rn(v));
}

// Q8_0: 34 bytes per 32 elements (d, then 32 x int8). One thread per element:
// n = blocks * 32.
extern "C" __global__ void dequant_q8_0_f16(const uint8_t *__restrict__ src,
                                            uint16_t *__restrict__ dst, uint64_t n) {
  const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const uint64_t block = i >> 5;
  const unsigned j = (unsigned)(i & 31);
  const uint8_t *b = src + block * 34;
  const float d = load_half(b);
  const int q = (int)(int8_t)b[2 + j];
  dst[i] = to_half_bits(__fmul_rn((float)q, d));
}

// Q4_0: 18 bytes per 32 elements (d, then 16 bytes of nibbles). One thread per
// byte of nibbles, writing elements j and j + 16: n = blocks * 16.
extern "C" __global__ void dequant_q4_0_f16(const uint8_t *__restrict__ src,
                                            uint16_t *__restrict__ dst, uint64_t n) {
  const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const uint64_t block = i >> 4;
  const unsigned j = (unsigned)(i & 15);
  const uint8_t *b = src + block * 18;
  const float d = load_half(b);
  const unsigned byte = b[2 + j];
  uint16_t *y = dst + block * 32;
  y[j] = to_half_bits(__fmul_rn((float)((int)(byte & 0x0f) - 8), d));
  y[j + 16] = to_half_bits(__fmul_rn((float)((int)(byte >> 4) - 8), d));
}

// ggml's get_scale_min_k4.
__device__ __forceinline__ void scale_min_k4(int j, const uint8_t *q, unsigned *d, unsigned *m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Q4_K: 144 bytes per 256 elements (d, dmin, 12 bytes of 6-bit scales and
// mins, 128 bytes of nibbles). One thread per byte of nibbles: byte l of group
// g (0-3) holds element g*64 + l in its low nibble and g*64 + 32 + l in its
// high nibble: n = blocks * 128.
extern "C" __global__ void dequant_q4_k_f16(const uint8_t *__restrict__ src,
                                            uint16_t *__restrict__ dst, uint64_t n) {
  const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const uint64_t block = i >> 7;
  const unsigned r = (unsigned)(i & 127);
  const unsigned g = r >> 5;
  const unsigned l = r & 31;
  const uint8_t *b = src + block * 144;
  const float d = load_half(b);
  const float dmin = load_half(b + 2);
  unsigned sc1, m1, sc2, m2;
  scale_min_k4((int)(2 * g), b + 4, &sc1, &m1);
  scale_min_k4((int)(2 * g + 1), b + 4, &sc2, &m2);
  // d1 * q is exact in float32, so a fused multiply-add would round the same;
  // the _rn intrinsics keep the compiler from fusing anyway.
  const float d1 = __fmul_rn(d, (float)sc1);
  const float min1 = __fmul_rn(dmin, (float)m1);
  const float d2 = __fmul_rn(d, (float)sc2);
  const float min2 = __fmul_rn(dmin, (float)m2);
  const unsigned byte = b[16 + r];
  uint16_t *y = dst + block * 256 + g * 64;
  y[l] = to_half_bits(__fsub_rn(__fmul_rn(d1, (float)(byte & 0x0f)), min1));
  y[32 + l] = to_half_bits(__fsub_rn(__fmul_rn(d2, (float)(byte >> 4)), min2));
}
