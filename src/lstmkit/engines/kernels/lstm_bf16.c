/* The plain LSTM's forward with bfloat16 products (AVX-512 BF16, vdpbf16ps), float32 gates.
 *
 * Built as its own library (engines/fused_build.py, family "lstm_bf16", with -mavx512bf16)
 * and loaded only where /proc/cpuinfo has avx512_bf16 (engines/select.py): nothing here is
 * reachable on other CPUs, and the float32/float64 libraries are compiled as before.
 *
 * Each step is one GEMM of [x_t, h_{t-1} * rmask] (bfloat16) with [W_ih, U]^T (bfloat16,
 * packed once per call), accumulated in float32: vdpbf16ps multiplies pairs of bfloat16
 * along K and adds both products into one float32 lane, so the weights are packed
 * pair-interleaved, Bp[panel][k / 2][column][k % 2], and a row of the input is broadcast a
 * (k, k + 1) pair at a time (one 32-bit lane). The input part of the product is x_t as
 * given (already bfloat16); h_{t-1} (times the recurrent-dropout mask) is rounded to
 * bfloat16 (round to nearest even, torch's rounding) for the product only. Everything after
 * the product is the float32 engine's own code (lstm_rows.h, lstm_cell.h), in float32: the
 * bias, the pre-activations, every variant's gate math (peepholes, CIFG, layer norms), the
 * cell, the projection W_hr m (float32 weights holding bfloat16 values), zoneout and the
 * carried h and c.
 *
 * RecArgs as for lk_lstm_forward_f32 (common.h), except: x (T,B,I), wih (G*H,I) and U (G*H,P)
 * point to bfloat16 (uint16) data; everything else is float32. Lengths and reversed
 * directions as in lstm.c; `save` writes what the float32 BPTT reads (lstm_rows.h), hin as
 * float32 copies of the bfloat16 values the product used. Threads split the batch rows only.
 */
#include "bf16_ops.h"
#include "lstm_rows.h"

typedef uint16_t bf16;
#define BNV 4             /* zmm accumulators per tile row: 4 x 16 float32 columns */
#define BNR (BNV * 16)    /* columns per packed panel */
#define BMR 6             /* rows per tile: 24 accumulators + 4 of B + 1 broadcast */

typedef struct {
    Packs base; /* `zero` (absent peepholes and bias read it) and `wf` (W_hr^T, float32) */
    bf16 *w;    /* [W_ih, U]^T, pair-interleaved panels */
    int64_t K2; /* pairs along K: ceil((I + P) / 2) */
} BfPacks;

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

/* Panels p = part, part + parts, ...: Bp[p][k2][c][e] = W[p * BNR + c][2 * k2 + e], zero
 * beyond N = G*H columns and K = I + P; and W_hr^T's float32 panels (lstm.c's packing). */
static void bf_pack(const RecArgs *a, void *pkv, int64_t part, int64_t parts) {
    BfPacks *pk = pkv;
    int64_t I = a->I, P = a->P, K = I + P, N = a->G * a->H, K2 = pk->K2;
    const bf16 *wih = a->wih, *U = a->U;
    for (int64_t p = part; p < lk_pad(N, BNR) / BNR; p += parts)
        for (int64_t k2 = 0; k2 < K2; k2++)
            for (int64_t c = 0; c < BNR; c++)
                for (int64_t e = 0; e < 2; e++) {
                    int64_t n = p * BNR + c, k = 2 * k2 + e;
                    bf16 v = n >= N || k >= K ? 0 : k < I ? wih[n * I + k] : U[n * P + k - I];
                    pk->w[((p * K2 + k2) * BNR + c) * 2 + e] = v;
                }
    lk_pack(pk->base.wf, CR(a->whr), a->H, P, 1, part, parts);
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

/* The step GEMM's input rows [x_t, bf16(h * rmask)] for rows [b0, b0 + M) at processing
 * step s (the pad column of an odd I + P stays zero from the allocation); with `save`, also
 * widened into w->in, the row hin keeps. */
static void bf_step_input(const RecArgs *a, bf16 *in, int64_t ld, Rows *w, int64_t s,
                          int64_t b0, int64_t M) {
    int64_t B = a->B, I = a->I, P = a->P, K = I + P;
    for (int64_t r = 0; r < M; r++) {
        int64_t b = b0 + r, len = lk_len(a, b), t = s < len ? lk_time(a, s, len) : s;
        bf16 *row = in + r * ld;
        const real *h = w->h + r * P, *rm = a->rmask ? CR(a->rmask) + b * P : NULL;
        memcpy(row, (const bf16 *)a->x + (t * B + b) * I, I * sizeof(bf16));
        for (int64_t j = 0; j < P; j++) row[I + j] = bf16_round(rm ? h[j] * rm[j] : h[j]);
        if (a->save)
            for (int64_t k = 0; k < K; k++) w->in[r * K + k] = bf16_widen(row[k]);
    }
}

static void bf_forward_rows(const RecArgs *a, void *pkv, int64_t local, int64_t k, float *unused) {
    (void)unused;
    const BfPacks *pk = pkv;
    int64_t b0, b1;
    lk_rows(a, local, k, &b0, &b1);
    if (b1 <= b0) return;
    int64_t M = b1 - b0, GH = a->G * a->H, ld = 2 * pk->K2;
    Rows w;
    rows_start(a, &w, b0, M, lk_pad(GH, BNR));
    bf16 *in = lk_alloc((M * ld + 1) / 2);
    for (int64_t s = 0; s < a->T; s++) {
        bf_step_input(a, in, ld, &w, s, b0, M);
        bf_gemm(M, GH, pk->K2, in, ld, pk->w, w.acc, w.ld_acc);
        rows_step(a, &pk->base, &w, s, b0, M);
    }
    rows_end(a, &w, b0, M);
    free(in);
}

/* Entry point: `a` holds the n directions (1 or 2) of one layer, as lk_lstm_forward_f32. */
void lk_lstm_bf16_forward(const RecArgs *a, int64_t n, int64_t concurrent) {
    BfPacks pk[2];
    void *pkv[2] = {&pk[0], &pk[1]};
    for (int64_t d = 0; d < n; d++) {
        int64_t H = a[d].H, P = a[d].P;
        memset(&pk[d], 0, sizeof(BfPacks));
        pk[d].base.zero = lk_alloc(H);
        pk[d].base.wf = a[d].whr ? lk_alloc(lk_pad(P, NR) * H) : NULL;
        pk[d].K2 = (a[d].I + P + 1) / 2;
        pk[d].w = lk_alloc(lk_pad(a[d].G * H, BNR) * pk[d].K2); /* 2 bf16 per float */
    }
    lk_layer(a, n, (int)concurrent, pkv, bf_pack, bf_forward_rows, NULL, 0);
    for (int64_t d = 0; d < n; d++) free(pk[d].base.zero), free(pk[d].base.wf), free(pk[d].w);
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
