/* The GRU's and the Elman RNN's forward with bfloat16 products (AVX-512 BF16), float32 cells.
 *
 * Built as its own library (engines/fused_build.py, family "gru_bf16") and loaded as
 * lstm_bf16.c is. Each step is one GEMM of bf16(h_{t-1} * rmask) with U^T (bfloat16, packed
 * once per call: bf16_gemm.h), accumulated in float32; h_{t-1} is rounded for the product
 * only. The input projections of all steps (xw, with their biases) come from the caller, in
 * float32 (engines/fused_ops.py: one GEMM on W_ih's and x's bfloat16 values, whose products
 * are exact in float32). Everything after the product is gru_rows.h's, the float32 engine's
 * own code: b_hh, the gates, the cell, zoneout and the carried h, all in float32.
 *
 * RecArgs as for lk_gru_forward_f32 (common.h), except that U (G*H,H) points to bfloat16
 * (uint16) data; everything else is float32. `save` writes what the float32 BPTT reads, hin
 * as float32 copies of the bfloat16 values the product used. Threads split the batch rows.
 */
#include "bf16_gemm.h"
#include "gru_rows.h"

typedef struct {
    bf16 *w;    /* U^T (forward) or U (backward), pair-interleaved panels */
    int64_t K2; /* pairs along K: ceil(H / 2) forward, ceil(G*H / 2) backward */
} BfPacks;

static void gru_bf_pack(const RecArgs *a, void *pkv, int64_t part, int64_t parts) {
    BfPacks *pk = pkv;
    bf_pack(pk->w, a->G * a->H, pk->K2, a->U, a->H, 1, 0, a->H, part, parts);
}

/* The step GEMM's input rows bf16(h * rmask) (the pad column of an odd H stays zero); with
 * `save`, also widened into w->hin, the rows hin keeps. */
static void gru_bf_step_input(const RecArgs *a, bf16 *in, int64_t ld, GruRows *w, int64_t b0,
                              int64_t M) {
    int64_t H = a->H;
    for (int64_t r = 0; r < M; r++) {
        const real *h = w->h + r * H, *rm = a->rmask ? CR(a->rmask) + (b0 + r) * H : NULL;
        for (int64_t j = 0; j < H; j++) in[r * ld + j] = bf16_round(rm ? h[j] * rm[j] : h[j]);
        if (a->save)
            for (int64_t j = 0; j < H; j++) w->hin[r * H + j] = bf16_widen(in[r * ld + j]);
    }
}

static void gru_bf_forward_rows(const RecArgs *a, void *pkv, int64_t local, int64_t k,
                                float *unused) {
    (void)unused;
    const BfPacks *pk = pkv;
    int64_t b0, b1;
    lk_rows(a, local, k, &b0, &b1);
    if (b1 <= b0) return;
    int64_t M = b1 - b0, GH = a->G * a->H, ld = 2 * pk->K2;
    GruRows w;
    gru_rows_start(a, &w, b0, M, lk_pad(GH, BNR));
    bf16 *in = lk_alloc((M * ld + 1) / 2);
    for (int64_t s = 0; s < a->T; s++) {
        gru_bf_step_input(a, in, ld, &w, b0, M);
        bf_gemm(M, GH, pk->K2, in, ld, pk->w, w.acc, w.ld_acc);
        gru_rows_step(a, &w, w.hin, s, b0, M);
    }
    gru_rows_end(a, &w, b0, M);
    free(in);
}

/* Entry point: `a` holds the n directions (1 or 2) of one layer, as lk_gru_forward_f32. */
void lk_gru_bf16_forward(const RecArgs *a, int64_t n, int64_t concurrent) {
    BfPacks pk[2];
    void *pkv[2] = {&pk[0], &pk[1]};
    for (int64_t d = 0; d < n; d++) {
        pk[d].K2 = (a[d].H + 1) / 2;
        pk[d].w = lk_alloc(lk_pad(a[d].G * a[d].H, BNR) * pk[d].K2); /* 2 bf16 per float */
    }
    lk_layer(a, n, (int)concurrent, pkv, gru_bf_pack, gru_bf_forward_rows, NULL, 0);
    for (int64_t d = 0; d < n; d++) free(pk[d].w);
}

/* ---- backward: the float32 BPTT (gru_rows.h), its recurrent product in bfloat16 ---- */

static void gru_bf_backward_rows(const RecArgs *a, void *pkv, int64_t local, int64_t k,
                                 float *unused) {
    (void)unused;
    const BfPacks *pk = pkv;
    int64_t b0, b1;
    lk_rows(a, local, k, &b0, &b1);
    if (b1 <= b0) return;
    BfProduct ctx = bf_product(pk->w, pk->K2, b1 - b0);
    gru_rows_backward(a, (StepProduct){bf_recurrent_product, &ctx, BNR}, b0, b1 - b0);
    free(ctx.in);
}

/* U (G*H x H, bfloat16) in panels of its H columns. */
static void gru_bf_pack_back(const RecArgs *a, void *pkv, int64_t part, int64_t parts) {
    BfPacks *pk = pkv;
    bf_pack(pk->w, a->H, pk->K2, a->U, 1, a->H, 0, a->G * a->H, part, parts); /* U^T */
}

/* As lk_gru_backward_f32, with U (G*H, H) pointing to bfloat16 data: the BPTT in float32
 * except d(h_{t-1}) = bf16(dhw_t) U, bfloat16 products accumulated in float32. */
void lk_gru_bf16_backward(const RecArgs *a, int64_t n, int64_t concurrent) {
    BfPacks pk[2];
    void *pkv[2] = {&pk[0], &pk[1]};
    for (int64_t d = 0; d < n; d++) {
        pk[d].K2 = (a[d].G * a[d].H + 1) / 2;
        pk[d].w = lk_alloc(lk_pad(a[d].H, BNR) * pk[d].K2); /* 2 bf16 per float */
    }
    lk_layer(a, n, (int)concurrent, pkv, gru_bf_pack_back, gru_bf_backward_rows, NULL, 0);
    for (int64_t d = 0; d < n; d++) free(pk[d].w);
}
