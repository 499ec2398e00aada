/* The LSTM recurrence with every variant: forward and hand-written BPTT for one layer and
 * direction. Each step is one GEMM of [x_t, h_{t-1}] with [W_ih, U]^T (so no projection of
 * all inputs goes through memory and back), then the fused gate math. The weight gradients
 * (one GEMM over all steps, d([W_ih, U]) = sum_t da_t^T [x_t, h_{t-1}], from the rows saved
 * in hin) are done by the caller. Equations as in lstmkit/cells.py, gate order (i, f, g, o),
 * or (i, g, o) under CIFG:
 *
 *   a = W_ih x_t + U (h_{t-1} * rmask) + b  [layer norm per gate group: a = LN(a) * w + b]
 *   i = σ(a_i + p_i c_{t-1})   f = σ(a_f + p_f c_{t-1}) or 1 - i   g = tanh(a_g)
 *   c = f c_{t-1} + i g        o = σ(a_o + p_o c)                   m = o tanh(LN(c) or c)
 *   h = W_hr m (projection) or m;  zoneout: h_t = z h_{t-1} + (1 - z) h  (and c alike)
 *
 * Saved with `save` (see common.h): the activations in xw, the cell sequence cseq
 * (and cnew under zoneout), hin, and the layer norms' normalised values and 1/sigma; tanh
 * of the shown cell is recomputed in the backward pass rather than stored.
 *
 * Threads split the batch rows (lstm_rows.h, shared with the bfloat16 kernel) or, for
 * batches too small to share, the hidden units (lstm_units.h).
 */
#include "lstm_rows.h"
#include "matmul.h"

static void lstm_alloc(const RecArgs *a, Packs *pk, int backward) {
    int64_t H = a->H, P = a->P, GH = a->G * H, units = a->units;
    pk->zero = lk_alloc(H);
    pk->uf = backward || units ? NULL : lk_alloc(lk_pad(GH, NR) * (a->I + P));
    pk->ub = !backward || units ? NULL : lk_alloc(lk_pad(P, NR) * GH);
    pk->wf = a->whr && !backward ? lk_alloc(lk_pad(P, NR) * H) : NULL;
    pk->wb = a->whr && backward ? lk_alloc(lk_pad(H, NR) * P) : NULL;
    /* unit split: two states (forward) or two rows of gate gradients (backward) per row */
    pk->shared = units ? lk_alloc(2 * a->B * (backward ? GH : P)) : NULL;
}

/* [W_ih, U]^T (K = I + P rows, G*H columns) in panels, every parts-th one from `part`. */
static void pack_input(real *bp, const RecArgs *a, int64_t part, int64_t parts) {
    int64_t I = a->I, P = a->P, K = I + P, N = a->G * a->H;
    const real *wih = CR(a->wih), *U = CR(a->U);
    for (int64_t p = part; bp && p < lk_pad(N, NR) / NR; p += parts)
        for (int64_t k = 0; k < K; k++)
            for (int64_t c = 0; c < NR; c++) {
                int64_t n = p * NR + c;
                bp[(p * K + k) * NR + c] = n >= N ? 0 : k < I ? wih[n * I + k] : U[n * P + k - I];
            }
}

static void lstm_pack(const RecArgs *a, void *pkv, int64_t part, int64_t parts) {
    Packs *pk = pkv;
    int64_t H = a->H, P = a->P, GH = a->G * H;
    pack_input(pk->uf, a, part, parts);
    lk_pack(pk->ub, CR(a->U), GH, P, 0, part, parts);
    lk_pack(pk->wf, CR(a->whr), H, P, 1, part, parts);
    lk_pack(pk->wb, CR(a->whr), P, H, 0, part, parts);
}

static void lstm_free(Packs *pk) {
    free(pk->uf);
    free(pk->ub);
    free(pk->wf);
    free(pk->wb);
    free(pk->zero);
    free(pk->shared);
}

/* The step GEMM's input rows: [x_t, h * rmask] for rows [b0, b0 + M) at step s. */
static void step_input(const RecArgs *a, real *in, const real *h, int64_t s, int64_t b0,
                       int64_t M) {
    int64_t B = a->B, I = a->I, P = a->P, K = I + P;
    for (int64_t r = 0; r < M; r++) {
        int64_t b = b0 + r, len = lk_len(a, b), t = s < len ? lk_time(a, s, len) : s;
        memcpy(in + r * K, CR(a->x) + (t * B + b) * I, I * sizeof(real));
        if (!a->rmask) {
            memcpy(in + r * K + I, h + r * P, P * sizeof(real));
            continue;
        }
        const real *rm = CR(a->rmask) + b * P;
        for (int64_t j = 0; j < P; j++) in[r * K + I + j] = h[r * P + j] * rm[j];
    }
}

#include "lstm_units.h"

static void forward_rows(const RecArgs *a, void *pkv, int64_t local, int64_t k, real *unused) {
    (void)unused;
    const Packs *pk = pkv;
    int64_t b0, b1;
    lk_rows(a, local, k, &b0, &b1);
    if (b1 <= b0) return;
    int64_t M = b1 - b0, GH = a->G * a->H, K = a->I + a->P;
    Rows w;
    rows_start(a, &w, b0, M, lk_pad(GH, NR));
    for (int64_t s = 0; s < a->T; s++) {
        step_input(a, w.in, w.h, s, b0, M);
        lk_gemm(M, GH, K, w.in, K, pk->uf, w.acc, w.ld_acc);
        rows_step(a, pk, &w, s, b0, M);
    }
    rows_end(a, &w, b0, M);
}

/* Entry points: `a` holds the n directions (1 or 2) of one layer. */
void SFX(lk_lstm_forward)(const RecArgs *a, int64_t n, int64_t concurrent) {
    Packs pk[2];
    void *pkv[2] = {&pk[0], &pk[1]};
    for (int64_t d = 0; d < n; d++) lstm_alloc(a + d, &pk[d], 0);
    lk_layer(a, n, (int)concurrent, pkv, lstm_pack, a->units ? forward_units : forward_rows,
             NULL, 0);
    for (int64_t d = 0; d < n; d++) lstm_free(&pk[d]);
}

static void recurrent_product(const RecArgs *a, const void *pkv, int64_t M, const real *da,
                              int64_t ld, real *out, int64_t ldo) {
    const Packs *pk = pkv;
    lk_gemm(M, a->P, a->G * a->H, da, ld, pk->ub, out, ldo);
}

static void backward_rows(const RecArgs *a, void *pkv, int64_t local, int64_t k, real *part) {
    int64_t b0, b1;
    lk_rows(a, local, k, &b0, &b1);
    if (b1 <= b0) return;
    rows_backward(a, pkv, (StepProduct){recurrent_product, pkv, NR}, b0, b1 - b0, part);
}

void SFX(lk_lstm_backward)(const RecArgs *a, int64_t n, int64_t concurrent) {
    Packs pk[2];
    void *pkv[2] = {&pk[0], &pk[1]};
    real *parts[2] = {NULL, NULL};
    int64_t nt = lk_threads(a), H = a->H, len = 3 * H + 2 * a->G * H + 2 * H;
    for (int64_t d = 0; d < n; d++) {
        lstm_alloc(a + d, &pk[d], 1);
        parts[d] = lk_alloc(nt * len);
    }
    lk_layer(a, n, (int)concurrent, pkv, lstm_pack, a->units ? backward_units : backward_rows,
             parts, len);
    for (int64_t d = 0; d < n; d++) {
        lstm_reduce(a + d, parts[d], nt, len);
        lstm_free(&pk[d]);
        free(parts[d]);
    }
}
