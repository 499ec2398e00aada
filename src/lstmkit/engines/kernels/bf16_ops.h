/* The vector operations of the bfloat16 kernel's GEMM: AVX-512 BF16, or the same in float32.
 *
 * lstm_bf16.c needs a float32 accumulator of 16 lanes (bf_acc), 16 lanes of bfloat16 pairs
 * (bf_pairs: lane n holds elements 2n and 2n + 1, the low one even) and, per lane,
 *   acc + a.odd * b.odd + a.even * b.even        (vdpbf16ps, `bf_dot`).
 *
 * With -DLK_BF16_EMULATE (engines/fused_build.py, suffix "bf16emu") these are written with
 * GCC vector extensions in float32 arithmetic instead: a bfloat16 is the high half of a
 * float32, so a shift or a mask widens it exactly, and the product of two is exact in
 * float32. The kernel's packing, tiles, rows, lengths and threads then run, and are tested,
 * on any CPU (LSTMKIT_BF16_EMULATE=1; several times slower, never chosen otherwise). The
 * sums may round differently from the instruction (it flushes denormals, and a CPU may add
 * the two products in another order); the tests' tolerances cover either.
 */
#ifndef LK_BF16_OPS_H
#define LK_BF16_OPS_H
#include <stdint.h>
#include <string.h>

#ifdef LK_BF16_EMULATE
typedef float bf_acc __attribute__((vector_size(64)));
typedef int32_t bf_pairs __attribute__((vector_size(64)));

static inline bf_acc bf_zero(void) { return (bf_acc){0}; }
static inline bf_acc bf_set1(float v) { return (bf_acc){0} + v; }
static inline bf_pairs bf_set1_pair(int32_t pair) { return (bf_pairs){0} + pair; }

static inline bf_pairs bf_load_pairs(const void *p) {
    bf_pairs v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void bf_store(float *p, bf_acc v) { memcpy(p, &v, sizeof v); }

static inline bf_acc bf_dot(bf_acc acc, bf_pairs a, bf_pairs b) {
    const int32_t high = -65536; /* 0xffff0000: the odd element, in place */
    acc += (bf_acc)(a & high) * (bf_acc)(b & high);
    return acc + (bf_acc)(a << 16) * (bf_acc)(b << 16);
}

#else
#if !defined(__AVX512BF16__) || !defined(__AVX512F__) || !defined(__AVX512BW__)
#error "lstm_bf16.c needs AVX-512 BF16 (-mavx512bf16 -mavx512f -mavx512bw) or -DLK_BF16_EMULATE"
#endif
#include <immintrin.h>
typedef __m512 bf_acc;
typedef __m512i bf_pairs;

static inline bf_acc bf_zero(void) { return _mm512_setzero_ps(); }
static inline bf_acc bf_set1(float v) { return _mm512_set1_ps(v); }
static inline bf_pairs bf_set1_pair(int32_t pair) { return _mm512_set1_epi32(pair); }
static inline bf_pairs bf_load_pairs(const void *p) { return _mm512_loadu_si512(p); }
static inline void bf_store(float *p, bf_acc v) { _mm512_storeu_ps(p, v); }

static inline bf_acc bf_dot(bf_acc acc, bf_pairs a, bf_pairs b) {
    return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}
#endif

#endif
