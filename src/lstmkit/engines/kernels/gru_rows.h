/* The GRU and RNN forward's time loop over a thread's batch rows, around its step product.
 *
 * Shared by the float32/float64 kernel (gru.c, the product in `real`) and the bfloat16
 * kernel (gru_bf16.c, the product in bfloat16): each computes acc = (h * rmask) U^T its own
 * way, and everything after it is here, the same code for both: the cell, zoneout, the
 * outputs, and with `save` the buffers of the backward pass (`gin` is the product's input
 * rows as it used them, for hin). Per-thread scratch, M = the thread's rows:
 *   h, hin    (M, H)           the carried state; h * rmask (the product's input)
 *   acc       (M, ld_acc)      U h of the current step
 *   hn        (M, H)           the new state before zoneout
 */
#ifndef LK_GRU_ROWS_H
#define LK_GRU_ROWS_H
#include "gemm.h"

static void cell_forward(const RecArgs *a, real *restrict acc, real *restrict x,
                         const real *restrict hprev, real *restrict hn, int64_t row) {
    int64_t H = a->H;
    int save = (int)a->save;
    if (a->cell == LK_GRU) {
        const real *bh = CR(a->bhh);
        real *hwn = save ? R(a->hn) + row * H : NULL;
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            real r = lk_sigmoid(x[j] + acc[j] + bh[j]);
            real z = lk_sigmoid(x[H + j] + acc[H + j] + bh[H + j]);
            real hw = acc[2 * H + j] + bh[2 * H + j];
            real n = lk_tanh(x[2 * H + j] + r * hw);
            hn[j] = (1 - z) * n + z * hprev[j];
            if (save) x[j] = r, x[H + j] = z, x[2 * H + j] = n, hwn[j] = hw;
        }
        if (a->hprev) memcpy(R(a->hprev) + row * H, hprev, H * sizeof(real));
        return;
    }
    if (a->cell == LK_RNN_TANH) {
#pragma omp simd
        for (int64_t j = 0; j < H; j++) hn[j] = lk_tanh(acc[j] + x[j]);
    } else {
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            real v = acc[j] + x[j];
            hn[j] = v > 0 ? v : 0;
        }
    }
    if (save) memcpy(x, hn, H * sizeof(real));
}

typedef struct {
    real *h, *hin, *acc, *hn, *zrate;
    int64_t ld_acc;
} GruRows;

/* Scratch for rows [b0, b0 + M), the state set from h0. */
static void gru_rows_start(const RecArgs *a, GruRows *w, int64_t b0, int64_t M, int64_t ld_acc) {
    int64_t H = a->H;
    w->ld_acc = ld_acc;
    w->h = lk_alloc(M * H), w->hin = lk_alloc(M * H), w->acc = lk_alloc(M * ld_acc);
    w->hn = lk_alloc(M * H), w->zrate = lk_alloc(H);
    for (int64_t j = 0; j < H; j++) w->zrate[j] = a->zh;
    memcpy(w->h, CR(a->h0) + b0 * H, M * H * sizeof(real));
}

/* After step s's product (w->acc) of the rows gin: cells, zoneout, outputs and buffers. */
static void gru_rows_step(const RecArgs *a, GruRows *w, const real *gin, int64_t s, int64_t b0,
                          int64_t M) {
    int64_t B = a->B, H = a->H;
    for (int64_t r = 0; r < M; r++) {
        int64_t b = b0 + r, len = lk_len(a, b);
        if (s >= len) {
            memset(R(a->out) + (s * B + b) * a->out_rs, 0, H * sizeof(real));
            if (a->save) memset(R(a->hin) + (s * B + b) * H, 0, H * sizeof(real));
            continue;
        }
        int64_t row = lk_time(a, s, len) * B + b;
        real *h = w->h + r * H, *hn = w->hn + r * H;
        cell_forward(a, w->acc + r * w->ld_acc, R(a->xw) + row * a->xw_rs, h, hn, row);
        if (a->save) memcpy(R(a->hin) + row * H, gin + r * H, H * sizeof(real));
        lk_mix(h, hn, lk_zrow(a->zmh, s, b, B, H, a->zh ? w->zrate : NULL), H);
        memcpy(R(a->out) + row * a->out_rs, h, H * sizeof(real));
    }
}

/* The final states of rows [b0, b0 + M), and the scratch freed. */
static void gru_rows_end(const RecArgs *a, GruRows *w, int64_t b0, int64_t M) {
    memcpy(R(a->hT) + b0 * a->H, w->h, M * a->H * sizeof(real));
    free(w->h), free(w->hin), free(w->acc), free(w->hn), free(w->zrate);
}

#endif
