/* The LSTM's forward, every variant, with bfloat16 products (AVX-512 BF16), float32 gates.
 *
 * Built as its own library (engines/fused_build.py, family "lstm_bf16", with -mavx512bf16)
 * and loaded only where /proc/cpuinfo has avx512_bf16 (engines/select.py), or emulated on
 * request (bf16_ops.h): nothing here is reachable on other CPUs otherwise, and the
 * float32/float64 libraries are compiled as before.
 *
 * Each step is one GEMM of [x_t, h_{t-1} * rmask] (bfloat16) with [W_ih, U]^T (bfloat16,
 * packed once per call: bf16_gemm.h), accumulated in float32. The input part of the product
 * is x_t as given (already bfloat16); h_{t-1} (times the recurrent-dropout mask) is rounded
 * to bfloat16 (round to nearest even, torch's rounding) for the product only. Everything
 * after the product is the float32 engine's own code (lstm_rows.h, lstm_cell.h), in
 * float32: the bias, the pre-activations, every variant's gate math (peepholes, CIFG, layer
 * norms), the cell, the projection W_hr m (float32 weights holding bfloat16 values), zoneout
 * and the carried h and c.
 *
 * RecArgs as for lk_lstm_forward_f32 (common.h), except: x (T,B,I), wih (G*H,I) and U (G*H,P)
 * point to bfloat16 (uint16) data; everything else is float32. Lengths and reversed
 * directions as in lstm.c; `save` writes what the float32 BPTT reads (lstm_rows.h), hin as
 * float32 copies of the bfloat16 values the product used. Threads split the batch rows only.
 */
#include "bf16_gemm.h"
#include "lstm_rows.h"

typedef struct {
    Packs base; /* `zero` (absent peepholes and bias read it) and `wf` (W_hr^T, float32) */
    bf16 *w;    /* [W_ih, U]^T, pair-interleaved panels */
    int64_t K2; /* pairs along K: ceil((I + P) / 2) */
} BfPacks;

/* [W_ih, U]^T in bfloat16 panels, and W_hr^T's float32 panels (lstm.c's packing). */
static void lstm_bf_pack(const RecArgs *a, void *pkv, int64_t part, int64_t parts) {
    BfPacks *pk = pkv;
    int64_t N = a->G * a->H, I = a->I, P = a->P;
    bf_pack(pk->w, N, pk->K2, a->wih, I, 1, 0, I, part, parts);
    bf_pack(pk->w, N, pk->K2, a->U, P, 1, I, P, part, parts);
    lk_pack(pk->base.wf, CR(a->whr), a->H, a->P, 1, part, parts);
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
    lk_layer(a, n, (int)concurrent, pkv, lstm_bf_pack, bf_forward_rows, NULL, 0);
    for (int64_t d = 0; d < n; d++) free(pk[d].base.zero), free(pk[d].base.wf), free(pk[d].w);
}

/* ---- backward: the float32 BPTT (lstm_rows_back.h), its recurrent product in bfloat16 ---- */

static void bf_backward_rows(const RecArgs *a, void *pkv, int64_t local, int64_t k, real *part) {
    const BfPacks *pk = pkv;
    int64_t b0, b1;
    lk_rows(a, local, k, &b0, &b1);
    if (b1 <= b0) return;
    BfProduct ctx = bf_product(pk->w, pk->K2, b1 - b0);
    rows_backward(a, &pk->base, (StepProduct){bf_recurrent_product, &ctx, BNR}, b0, b1 - b0, part);
    free(ctx.in);
}

/* U (G*H x P, bfloat16) in panels of its P columns, and W_hr's float32 panels. */
static void lstm_bf_pack_back(const RecArgs *a, void *pkv, int64_t part, int64_t parts) {
    BfPacks *pk = pkv;
    bf_pack(pk->w, a->P, pk->K2, a->U, 1, a->P, 0, a->G * a->H, part, parts); /* U^T */
    lk_pack(pk->base.wb, CR(a->whr), a->P, a->H, 0, part, parts);
}

/* As lk_lstm_backward_f32, with U (G*H, P) pointing to bfloat16 data: the BPTT in float32
 * except d(h_{t-1}) = bf16(da_t) U, bfloat16 products accumulated in float32. */
void lk_lstm_bf16_backward(const RecArgs *a, int64_t n, int64_t concurrent) {
    BfPacks pk[2];
    void *pkv[2] = {&pk[0], &pk[1]};
    real *parts[2] = {NULL, NULL};
    int64_t nt = lk_threads(a), H = a->H, len = 3 * H + 2 * a->G * H + 2 * H;
    for (int64_t d = 0; d < n; d++) {
        int64_t P = a[d].P, GH = a[d].G * H;
        memset(&pk[d], 0, sizeof(BfPacks));
        pk[d].base.zero = lk_alloc(H);
        pk[d].base.wb = a[d].whr ? lk_alloc(lk_pad(H, NR) * P) : NULL;
        pk[d].K2 = (GH + 1) / 2;
        pk[d].w = lk_alloc(lk_pad(P, BNR) * pk[d].K2); /* 2 bf16 per float */
        parts[d] = lk_alloc(nt * len);
    }
    lk_layer(a, n, (int)concurrent, pkv, lstm_bf_pack_back, bf_backward_rows, parts, len);
    for (int64_t d = 0; d < n; d++) {
        lstm_reduce(a + d, parts[d], nt, len);
        free(pk[d].base.zero), free(pk[d].base.wb), free(pk[d].w), free(parts[d]);
    }
}
