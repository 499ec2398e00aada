/* The small packed GEMM of the step loops: register tiles over panels of packed weights.
 * Included through lstm_cell.h and gru.c, after common.h.
 */
#ifndef LK_GEMM_H
#define LK_GEMM_H
#include "common.h"

/* ---- packed GEMM -----------------------------------------------------------------------
 * C (M x N, row stride ldc >= pad(N, NR)) = A (M x K, row stride lda) * B (K x N), with B
 * packed once per call into column panels of NR: Bp[panel][k][NR], zero beyond N. A tile of
 * MR rows x NR columns stays in registers over the whole K loop (MR*NV accumulators + NV
 * for B + 1 broadcast: 29 of AVX-512's 32 vector registers with NV = 4, 15 of AVX2's 16
 * with NV = 2). Every per-step product of the recurrence goes through here: M is a
 * thread's share of the batch (often 1-64 rows), where library GEMMs pay call and threading
 * overheads each step (the numba prototype's 60-160 GFLOP/s).
 */
#if defined(__AVX512F__)
#define NV 4
#else
#define NV 2
#endif
#define NR (NV * VL)
#define MR 6
/* Independent k sets of the one-row tile: KU * NV FMA chains (8) hide the FMA latency. */
#define KU (8 / NV)

/* Pack B (K x N) into panels; `trans` reads B[k][n] from src[n * K + k] (src is N x K).
 * Thread `part` of `parts` packs every parts-th panel. */
static void lk_pack(real *restrict bp, const real *restrict src, int64_t K, int64_t N, int trans,
                    int64_t part, int64_t parts) {
    if (!bp) return;
    int64_t panels = lk_pad(N, NR) / NR;
    for (int64_t p = part; p < panels; p += parts)
        for (int64_t k = 0; k < K; k++) {
            real *dst = bp + (p * K + k) * NR;
            for (int64_t c = 0; c < NR; c++) {
                int64_t n = p * NR + c;
                dst[c] = n >= N ? 0 : (trans ? src[n * K + k] : src[k * N + n]);
            }
        }
}

static inline vec lk_load(const real *p) {
    vec v;
    memcpy(&v, p, sizeof(vec));
    return v;
}

static inline void lk_store(real *p, vec v) { memcpy(p, &v, sizeof(vec)); }

/* One register tile: ROWS rows of C times a packed panel of B, NVS vectors wide, over K.
 * A_AT indexes A's element (row r, step k): r * lda + k, or k * lda + r to read A
 * transposed. */
#define LK_TILE_BODY(NAME, ROWS, NVS, A_AT)                                             \
    static inline void NAME(int64_t K, const real *restrict A, int64_t lda,             \
                                      const real *restrict bp, real *restrict C,        \
                                      int64_t ldc, int add) {                           \
        vec acc[ROWS][NVS];                                                             \
        for (int r = 0; r < ROWS; r++)                                                  \
            for (int v = 0; v < NVS; v++) acc[r][v] = (vec){0};                         \
        for (int64_t k = 0; k < K; k++) {                                               \
            vec b[NVS];                                                                 \
            for (int v = 0; v < NVS; v++) b[v] = lk_load(bp + k * NVS * VL + v * VL);   \
            for (int r = 0; r < ROWS; r++) {                                            \
                real x = A[A_AT];                                                       \
                for (int v = 0; v < NVS; v++) acc[r][v] += x * b[v];                    \
            }                                                                           \
        }                                                                               \
        for (int r = 0; r < ROWS; r++)                                                  \
            for (int v = 0; v < NVS; v++) {                                             \
                real *dst = C + r * ldc + v * VL;                                       \
                lk_store(dst, add ? lk_load(dst) + acc[r][v] : acc[r][v]);              \
            }                                                                           \
    }
#define LK_TILE(ROWS) LK_TILE_BODY(lk_tile_##ROWS, ROWS, NV, r * lda + k)
LK_TILE(2)
LK_TILE(3)
LK_TILE(4)
LK_TILE(5)
LK_TILE(6)

/* One row (a GEMV, batch 1): KU accumulator sets over k modulo KU, so that eight
 * independent FMA chains hide the FMA latency. */
static inline void lk_tile_1(int64_t K, const real *restrict A, int64_t lda,
                             const real *restrict bp, real *restrict C, int64_t ldc, int add) {
    (void)lda;
    (void)ldc;
    vec s[KU][NV];
    for (int u = 0; u < KU; u++)
        for (int v = 0; v < NV; v++) s[u][v] = (vec){0};
    int64_t k = 0;
    for (; k + KU <= K; k += KU)
        for (int u = 0; u < KU; u++) {
            real x = A[k + u];
            for (int v = 0; v < NV; v++) s[u][v] += x * lk_load(bp + (k + u) * NR + v * VL);
        }
    for (; k < K; k++)
        for (int v = 0; v < NV; v++) s[0][v] += A[k] * lk_load(bp + k * NR + v * VL);
    for (int v = 0; v < NV; v++) {
        vec sum = s[0][v];
        for (int u = 1; u < KU; u++) sum += s[u][v];
        lk_store(C + v * VL, add ? lk_load(C + v * VL) + sum : sum);
    }
}

/* C (M rows of one NR-wide panel) = or += A B. */
static void lk_panel(int64_t M, int64_t K, const real *A, int64_t lda, const real *b, real *c,
                     int64_t ldc, int add) {
    int64_t m = 0;
    for (; m + MR <= M; m += MR) lk_tile_6(K, A + m * lda, lda, b, c + m * ldc, ldc, add);
    switch (M - m) {
    case 5: lk_tile_5(K, A + m * lda, lda, b, c + m * ldc, ldc, add); break;
    case 4: lk_tile_4(K, A + m * lda, lda, b, c + m * ldc, ldc, add); break;
    case 3: lk_tile_3(K, A + m * lda, lda, b, c + m * ldc, ldc, add); break;
    case 2: lk_tile_2(K, A + m * lda, lda, b, c + m * ldc, ldc, add); break;
    case 1: lk_tile_1(K, A + m * lda, lda, b, c + m * ldc, ldc, add); break;
    default: break;
    }
}

/* C = A B over whole panels: C's rows must have room for pad(N, NR) columns. */
__attribute__((unused)) static void lk_gemm(int64_t M, int64_t N, int64_t K, const real *A, int64_t lda,
                    const real *bp, real *C, int64_t ldc) {
    for (int64_t p = 0; p < lk_pad(N, NR) / NR; p++)
        lk_panel(M, K, A, lda, bp + p * K * NR, C + p * NR, ldc, 0);
}

/* C += A B on exactly N columns (C may be a slice of a wider buffer, e.g. xw rows). */
__attribute__((unused)) static void lk_gemm_add(int64_t M, int64_t N, int64_t K, const real *A, int64_t lda,
                        const real *bp, real *C, int64_t ldc) {
    int64_t full = N / NR;
    for (int64_t p = 0; p < full; p++) lk_panel(M, K, A, lda, bp + p * K * NR, C + p * NR, ldc, 1);
    if (N == full * NR) return;
    real tile[MR * NR];  /* the last, partial panel: through a tile, MR rows at a time */
    for (int64_t m = 0; m < M; m += MR) {
        int64_t rows = M - m < MR ? M - m : MR;
        lk_panel(rows, K, A + m * lda, lda, bp + full * K * NR, tile, NR, 0);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < N - full * NR; c++) C[(m + r) * ldc + full * NR + c] += tile[r * NR + c];
    }
}

#endif
