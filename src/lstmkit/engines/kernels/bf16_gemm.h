/* The bfloat16 kernels' step GEMM: bfloat16 products accumulated in float32 (vdpbf16ps, or
 * its emulation: bf16_ops.h), on weights packed once per call. Included by lstm_bf16.c and
 * gru_bf16.c (each its own library, built only where the CPU has AVX-512 BF16, or emulated).
 *
 * vdpbf16ps multiplies pairs of bfloat16 along K and adds both products into one float32
 * lane, so the weights are packed pair-interleaved, Bp[panel][k / 2][column][k % 2], and a
 * row of the input is broadcast a (k, k + 1) pair at a time (one 32-bit lane).
 */
#ifndef LK_BF16_GEMM_H
#define LK_BF16_GEMM_H
#include "bf16_ops.h"
#include "common.h"

typedef uint16_t bf16;
#define BNV 4             /* zmm accumulators per tile row: 4 x 16 float32 columns */
#define BNR (BNV * 16)    /* columns per packed panel */
#define BMR 6             /* rows per tile: 24 accumulators + 4 of B + 1 broadcast */

/* float32 -> bfloat16, round to nearest even; NaN stays a (quiet) NaN. */
static inline bf16 bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (bf16)(u >> 16);
}

static inline float bf16_widen(bf16 v) {
    uint32_t u = (uint32_t)v << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Columns [k0, k0 + K) of W's panels p = part, part + parts, ...: Bp[p][k / 2][c][k % 2] =
 * W[p * BNR + c][k], W's element (n, k - k0) read at src[n * sn + (k - k0) * sk] (so W or a
 * transposed one, and [W_ih, U] in two calls). Rows beyond N and the pad column of an odd
 * K2 * 2 keep the zeros of the buffer (lk_alloc). */
static void bf_pack(bf16 *bp, int64_t N, int64_t K2, const bf16 *src, int64_t sn, int64_t sk,
                    int64_t k0, int64_t K, int64_t part, int64_t parts) {
    for (int64_t p = part; p < lk_pad(N, BNR) / BNR; p += parts)
        for (int64_t c = 0; c < BNR && p * BNR + c < N; c++)
            for (int64_t k = k0; k < k0 + K; k++) {
                const bf16 *row = src + (p * BNR + c) * sn;
                bp[((p * K2 + k / 2) * BNR + c) * 2 + k % 2] = row[(k - k0) * sk];
            }
}

/* One register tile: ROWS rows of C (float32, row stride ldc) = A (bfloat16 pairs, row
 * stride lda elements, even) times one packed panel, over K2 pairs. */
#define BF_TILE(ROWS)                                                                     \
    static inline void bf_tile_##ROWS(int64_t K2, const bf16 *restrict A, int64_t lda,    \
                                      const bf16 *restrict bp, float *restrict C,         \
                                      int64_t ldc) {                                      \
        bf_acc acc[ROWS][BNV];                                                            \
        for (int r = 0; r < ROWS; r++)                                                    \
            for (int v = 0; v < BNV; v++) acc[r][v] = bf_zero();                          \
        for (int64_t k = 0; k < K2; k++) {                                                \
            bf_pairs b[BNV];                                                              \
            for (int v = 0; v < BNV; v++)                                                 \
                b[v] = bf_load_pairs(bp + (k * BNR + v * 16) * 2);                        \
            for (int r = 0; r < ROWS; r++) {                                              \
                int32_t pair;                                                             \
                memcpy(&pair, A + r * lda + 2 * k, 4);                                    \
                bf_pairs x = bf_set1_pair(pair);                                          \
                for (int v = 0; v < BNV; v++)                                             \
                    acc[r][v] = bf_dot(acc[r][v], x, b[v]);                               \
            }                                                                             \
        }                                                                                 \
        for (int r = 0; r < ROWS; r++)                                                    \
            for (int v = 0; v < BNV; v++) bf_store(C + r * ldc + v * 16, acc[r][v]);      \
    }
BF_TILE(1)
BF_TILE(2)
BF_TILE(3)
BF_TILE(4)
BF_TILE(5)
BF_TILE(6)

/* C (M x pad(N, BNR), row stride ldc) = A (M x 2*K2 bfloat16, row stride lda) B. */
static void bf_gemm(int64_t M, int64_t N, int64_t K2, const bf16 *A, int64_t lda,
                    const bf16 *bp, float *C, int64_t ldc) {
    for (int64_t p = 0; p < lk_pad(N, BNR) / BNR; p++) {
        const bf16 *b = bp + p * K2 * BNR * 2;
        float *c = C + p * BNR;
        int64_t m = 0;
        for (; m + BMR <= M; m += BMR) bf_tile_6(K2, A + m * lda, lda, b, c + m * ldc, ldc);
        const bf16 *am = A + m * lda;
        float *cm = c + m * ldc;
        switch (M - m) {
        case 5: bf_tile_5(K2, am, lda, b, cm, ldc); break;
        case 4: bf_tile_4(K2, am, lda, b, cm, ldc); break;
        case 3: bf_tile_3(K2, am, lda, b, cm, ldc); break;
        case 2: bf_tile_2(K2, am, lda, b, cm, ldc); break;
        case 1: bf_tile_1(K2, am, lda, b, cm, ldc); break;
        default: break;
        }
    }
}

/* The backward loops' recurrent product in bfloat16 (a StepProduct, common.h): U's panels
 * (N = P, K = G*H, U read transposed), and a thread's scratch for its rows of da. */
typedef struct {
    const bf16 *w;
    int64_t K2;
    bf16 *in;
} BfProduct;

static BfProduct bf_product(const bf16 *w, int64_t K2, int64_t M) {
    return (BfProduct){w, K2, lk_alloc((M * 2 * K2 + 1) / 2)}; /* 2 bf16 per float */
}

/* out (M x pad(P, BNR)) = bf16(da) U: da's rows rounded to bfloat16, float32 accumulation. */
static void bf_recurrent_product(const RecArgs *a, const void *ctx, int64_t M, const float *da,
                                 int64_t ld, float *out, int64_t ldo) {
    const BfProduct *c = ctx;
    int64_t GH = a->G * a->H, ldi = 2 * c->K2;
    for (int64_t r = 0; r < M; r++)
        for (int64_t j = 0; j < GH; j++) c->in[r * ldi + j] = bf16_round(da[r * ld + j]);
    bf_gemm(M, a->P, c->K2, c->in, ldi, c->w, out, ldo);
}

/* 1 when vdpbf16ps computes 1.5 * 2 + 0.5 * 4 + 1 = 6 in every lane (a check at load). */
int64_t lk_bf16_selftest(void) {
    bf_pairs x = bf_set1_pair((int32_t)(0x3fc0u | (0x3f00u << 16))); /* (1.5, 0.5) */
    bf_pairs y = bf_set1_pair((int32_t)(0x4000u | (0x4080u << 16))); /* (2, 4) */
    float out[16];
    bf_store(out, bf_dot(bf_set1(1.0f), x, y));
    for (int i = 0; i < 16; i++)
        if (out[i] != 6.0f) return 0;
    return 1;
}

#endif
