/* The GRU and Elman RNN recurrences (one state h): forward and hand-written BPTT for one
 * layer and direction, torch's equations (lstmkit/cells.py), gate order (r, z, n):
 *
 *   hw = U (h_{t-1} * rmask) + b_hh
 *   GRU: r = σ(xw_r + hw_r)  z = σ(xw_z + hw_z)  n = tanh(xw_n + r hw_n)
 *        h = (1 - z) n + z h_{t-1}
 *   RNN: h = tanh(xw + hw) or relu(xw + hw)      (b_hh is folded into xw by the caller)
 *   zoneout: h_t = z h_{t-1} + (1 - z) h
 *
 * Saved with `save` (natural time order): the activations in place of xw (GRU: r, z, n;
 * RNN: the new h), GRU's U_n h + b_hn as hn (T,B,H), the recurrent GEMM's input hin (T,B,H),
 * and GRU's h_{t-1} as hprev when recurrent dropout makes it differ from hin.
 * The row loops (forward and BPTT) are gru_rows.h's, shared with the bfloat16 kernel.
 */
#include "gru_rows.h"
#include "matmul.h"

typedef struct {
    real *uf, *ub; /* packed U^T (forward) or U (backward) */
} Packs;

static void gru_pack(const RecArgs *a, void *pkv, int64_t part, int64_t parts) {
    Packs *pk = pkv;
    int64_t H = a->H, GH = a->G * H;
    lk_pack(pk->uf, CR(a->U), H, GH, 1, part, parts);
    lk_pack(pk->ub, CR(a->U), GH, H, 0, part, parts);
}

static void forward_rows(const RecArgs *a, void *pkv, int64_t local, int64_t k, real *unused) {
    (void)unused;
    const Packs *pk = pkv;
    int64_t b0, b1;
    lk_rows(a, local, k, &b0, &b1);
    if (b1 <= b0) return;
    int64_t M = b1 - b0, H = a->H, GH = a->G * H;
    GruRows w;
    gru_rows_start(a, &w, b0, M, lk_pad(GH, NR));
    for (int64_t s = 0; s < a->T; s++) {
        const real *gin = w.h;
        if (a->rmask) {
            for (int64_t k = 0; k < M * H; k++) w.hin[k] = w.h[k] * CR(a->rmask)[b0 * H + k];
            gin = w.hin;
        }
        lk_gemm(M, GH, H, gin, H, pk->uf, w.acc, w.ld_acc);
        gru_rows_step(a, &w, gin, s, b0, M);
    }
    gru_rows_end(a, &w, b0, M);
}

/* Entry points: `a` holds the n directions (1 or 2) of one layer. */
void SFX(lk_gru_forward)(const RecArgs *a, int64_t n, int64_t concurrent) {
    Packs pk[2] = {{NULL, NULL}, {NULL, NULL}};
    void *pkv[2] = {&pk[0], &pk[1]};
    for (int64_t d = 0; d < n; d++) pk[d].uf = lk_alloc(lk_pad(a[d].G * a[d].H, NR) * a[d].H);
    lk_layer(a, n, (int)concurrent, pkv, gru_pack, forward_rows, NULL, 0);
    for (int64_t d = 0; d < n; d++) free(pk[d].uf);
}

static void recurrent_product(const RecArgs *a, const void *pkv, int64_t M, const real *da,
                              int64_t ld, real *out, int64_t ldo) {
    const Packs *pk = pkv;
    lk_gemm(M, a->H, a->G * a->H, da, ld, pk->ub, out, ldo);
}

static void backward_rows(const RecArgs *a, void *pkv, int64_t local, int64_t k,
                          real *unused) {
    (void)unused;
    int64_t b0, b1;
    lk_rows(a, local, k, &b0, &b1);
    if (b1 <= b0) return;
    gru_rows_backward(a, (StepProduct){recurrent_product, pkv, NR}, b0, b1 - b0);
}

void SFX(lk_gru_backward)(const RecArgs *a, int64_t n, int64_t concurrent) {
    Packs pk[2] = {{NULL, NULL}, {NULL, NULL}};
    void *pkv[2] = {&pk[0], &pk[1]};
    for (int64_t d = 0; d < n; d++) pk[d].ub = lk_alloc(lk_pad(a[d].H, NR) * a[d].G * a[d].H);
    lk_layer(a, n, (int)concurrent, pkv, gru_pack, backward_rows, NULL, 0);
    for (int64_t d = 0; d < n; d++) free(pk[d].ub);
}
