/* The LSTM's time loops over a thread's batch rows, around their step products.
 *
 * Shared by the float32/float64 kernel (lstm.c, the products in `real`) and the bfloat16
 * kernel (lstm_bf16.c, the products in bfloat16). Forward: each computes acc = [x_t,
 * h * rmask] [W_ih, U]^T its own way, and everything after it is here, the same code for
 * both: the gates and cell (lstm_cell.h), the projection, zoneout, the outputs, and with
 * `save` the buffers of the backward pass (`in` must then hold the step's input row as the
 * product used it, for hin). Backward (`rows_backward`): the BPTT of lstm_cell.h, with
 * d(h_{t-1} * rmask) = da_t U by the caller's `StepProduct`. Forward scratch, M = the
 * thread's rows:
 *   h, c      (M, P), (M, H)   the carried states
 *   acc       (M, ld_acc)      pre-activations, then activations, of the current step
 *   in        (M, I + P)       [x_t, h * rmask], the step GEMM's input
 *   m, cn     (M, H)           o tanh(c) and the new cell before zoneout
 *   hp        (M, pad(P))      the projection W_hr m
 */
#ifndef LK_LSTM_ROWS_H
#define LK_LSTM_ROWS_H
#include "lstm_cell.h"

typedef struct {
    real *h, *c, *acc, *in, *m, *cn, *hp, *zrate_h, *zrate_c;
    const real *zh, *zc; /* eval-mode zoneout rates per unit, or NULL */
    int64_t ld_acc, Pp;
} Rows;

/* Scratch for rows [b0, b0 + M), the states set from h0 and c0 (and cseq's first row). */
static void rows_start(const RecArgs *a, Rows *w, int64_t b0, int64_t M, int64_t ld_acc) {
    int64_t H = a->H, P = a->P, K = a->I + P, HP = H > P ? H : P;
    w->ld_acc = ld_acc, w->Pp = lk_pad(P, NR);
    w->h = lk_alloc(M * P), w->c = lk_alloc(M * H), w->acc = lk_alloc(M * ld_acc);
    w->in = lk_alloc(M * K), w->m = lk_alloc(M * H), w->cn = lk_alloc(M * H);
    w->hp = lk_alloc(M * w->Pp), w->zrate_h = lk_alloc(HP), w->zrate_c = lk_alloc(HP);
    for (int64_t j = 0; j < HP; j++) w->zrate_h[j] = a->zh, w->zrate_c[j] = a->zc;
    w->zh = a->zh ? w->zrate_h : NULL, w->zc = a->zc ? w->zrate_c : NULL;
    memcpy(w->h, CR(a->h0) + b0 * P, M * P * sizeof(real));
    memcpy(w->c, CR(a->c0) + b0 * H, M * H * sizeof(real));
    if (a->save) memcpy(R(a->cseq) + b0 * H, w->c, M * H * sizeof(real));
}

/* After step s's product (w->acc): gates, projection, zoneout, outputs and buffers. */
static void rows_step(const RecArgs *a, const Packs *pk, Rows *w, int64_t s, int64_t b0,
                      int64_t M) {
    int64_t B = a->B, H = a->H, P = a->P, K = a->I + P;
    int save = (int)a->save, zc_on = a->zmc || a->zc;
    for (int64_t r = 0; r < M; r++) {
        int64_t b = b0 + r, len = lk_len(a, b);
        if (s >= len) continue;
        int64_t row = lk_time(a, s, len) * B + b;
        cell_forward(a, pk, w->acc + r * w->ld_acc, H, save ? R(a->xw) + row * a->xw_rs : NULL,
                     0, H, w->c + r * H, w->cn + r * H, w->m + r * H, row);
    }
    if (pk->wf) lk_gemm(M, P, H, w->m, H, pk->wf, w->hp, w->Pp);
    for (int64_t r = 0; r < M; r++) {
        int64_t b = b0 + r, len = lk_len(a, b);
        if (s >= len) { /* past the end: output zero, states kept */
            memset(R(a->out) + (s * B + b) * a->out_rs, 0, P * sizeof(real));
            if (save) memset(R(a->hin) + (s * B + b) * K, 0, K * sizeof(real));
            continue;
        }
        int64_t row = lk_time(a, s, len) * B + b;
        real *h = w->h + r * P, *c = w->c + r * H, *cn = w->cn + r * H;
        if (save) memcpy(R(a->hin) + row * K, w->in + r * K, K * sizeof(real));
        lk_mix(h, pk->wf ? w->hp + r * w->Pp : w->m + r * H, lk_zrow(a->zmh, s, b, B, P, w->zh),
               P);
        lk_mix(c, cn, lk_zrow(a->zmc, s, b, B, H, w->zc), H);
        memcpy(R(a->out) + row * a->out_rs, h, P * sizeof(real));
        if (save) {
            memcpy(R(a->cseq) + ((s + 1) * B + b) * H, c, H * sizeof(real));
            if (zc_on) memcpy(R(a->cnew) + (s * B + b) * H, cn, H * sizeof(real));
        }
    }
}

/* The final states of rows [b0, b0 + M), and the scratch freed. */
static void rows_end(const RecArgs *a, Rows *w, int64_t b0, int64_t M) {
    memcpy(R(a->hT) + b0 * a->P, w->h, M * a->P * sizeof(real));
    memcpy(R(a->cT) + b0 * a->H, w->c, M * a->H * sizeof(real));
    free(w->h), free(w->c), free(w->acc), free(w->in), free(w->m), free(w->cn), free(w->hp);
    free(w->zrate_h), free(w->zrate_c);
}

#include "lstm_rows_back.h"

#endif
