/* The GRU's and RNN's time loops over a thread's batch rows, around their step products.
 *
 * Shared by the float32/float64 kernel (gru.c, the products in `real`) and the bfloat16
 * kernel (gru_bf16.c, the products in bfloat16). Forward: each computes acc = (h * rmask)
 * U^T its own way, and everything after it is here, the same code for both: the cell,
 * zoneout, the outputs, and with `save` the buffers of the backward pass (`gin` is the
 * product's input rows as it used them, for hin). Backward (`gru_rows_backward`): the BPTT,
 * with d(h_{t-1} * rmask) = dhw_t U by the caller's StepProduct. Forward scratch, M = the
 * thread's rows:
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

/* Derivatives beside their equations (GRU), d = d(h new):
 *   h = (1 - z) n + z h'  ->  dn = d (1 - z),  dz = d (h' - n),  dh' += d z
 *   n = tanh(xw_n + r hw_n)  ->  da_n = dn (1 - n²),  dhw_n = da_n r,  dr = da_n hw_n
 *   r, z = σ(.)           ->  da_r = dr r (1 - r),  da_z = dz z (1 - z)
 * The input side gets (da_r, da_z, da_n), the recurrent side (da_r, da_z, dhw_n).
 * RNN: da = d (1 - h²) for tanh, d [h > 0] for relu, the same on both sides.
 */
static void cell_backward(const RecArgs *a, const real *restrict d, real *restrict dx,
                          real *restrict dw, real *restrict dold, const real *restrict hprev,
                          int64_t row) {
    int64_t H = a->H;
    const real *g = CR(a->xw) + row * a->xw_rs;
    if (a->cell == LK_GRU) {
        const real *r = g, *z = g + H, *n = g + 2 * H, *hw = CR(a->hn) + row * H;
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            real dan = d[j] * (1 - z[j]) * (1 - n[j] * n[j]);
            real dar = dan * hw[j] * r[j] * (1 - r[j]);
            real daz = d[j] * (hprev[j] - n[j]) * z[j] * (1 - z[j]);
            dold[j] += d[j] * z[j];
            dx[j] = dw[j] = dar;
            dx[H + j] = dw[H + j] = daz;
            dx[2 * H + j] = dan;
            dw[2 * H + j] = dan * r[j];
        }
        return;
    }
    if (a->cell == LK_RNN_TANH) {
#pragma omp simd
        for (int64_t j = 0; j < H; j++) dx[j] = dw[j] = d[j] * (1 - g[j] * g[j]);
    } else {
#pragma omp simd
        for (int64_t j = 0; j < H; j++) dx[j] = dw[j] = g[j] > 0 ? d[j] : 0;
    }
}

/* The BPTT of rows [b0, b0 + M): d(xw), dhw (GRU), dh0. Scratch: dh, dold (M, H), dw
 * (M, pad(G*H)) the recurrent side's gradients, dhin (M, pad(H)) the product's result. */
static void gru_rows_backward(const RecArgs *a, StepProduct product, int64_t b0, int64_t M) {
    int64_t T = a->T, B = a->B, H = a->H, GH = a->G * H;
    int64_t GHp = lk_pad(GH, NR), Hp = lk_pad(H, product.pad);
    real *dh = lk_alloc(M * H), *dw = lk_alloc(M * GHp), *dhin = lk_alloc(M * Hp);
    real *dn = lk_alloc(H), *dtot = lk_alloc(H), *dold = lk_alloc(M * H), *zrate = lk_alloc(H);
    for (int64_t j = 0; j < H; j++) zrate[j] = a->zh;
    if (a->dhT) memcpy(dh, CR(a->dhT) + b0 * H, M * H * sizeof(real));
    for (int64_t s = T - 1; s >= 0; s--) {
        for (int64_t r = 0; r < M; r++) {
            int64_t b = b0 + r, len = lk_len(a, b);
            if (s >= len) {
                memset(dw + r * GHp, 0, GH * sizeof(real));
                memset(R(a->dxw) + (s * B + b) * a->xw_rs, 0, GH * sizeof(real));
                if (a->dhw) memset(R(a->dhw) + (s * B + b) * GH, 0, GH * sizeof(real));
                continue;
            }
            int64_t t = lk_time(a, s, len), row = t * B + b;
            const real *dout = CR(a->dout) + t * a->dout_st + b * a->dout_sb;
            for (int64_t j = 0; j < H; j++) dtot[j] = dh[r * H + j] + dout[j * a->dout_sf];
            lk_unmix(dtot, lk_zrow(a->zmh, s, b, B, H, a->zh ? zrate : NULL), dn,
                     dold + r * H, H);
            const real *hp = CR(a->hprev ? a->hprev : a->hin) + row * H;
            cell_backward(a, dn, R(a->dxw) + row * a->xw_rs, dw + r * GHp, dold + r * H, hp,
                          row);
            if (a->dhw) memcpy(R(a->dhw) + row * GH, dw + r * GHp, GH * sizeof(real));
        }
        product.run(a, product.ctx, M, dw, GHp, dhin, Hp);
        for (int64_t r = 0; r < M; r++) {
            int64_t b = b0 + r;
            if (s >= lk_len(a, b)) continue;
            const real *rm = a->rmask ? CR(a->rmask) + b * H : NULL;
            for (int64_t j = 0; j < H; j++)
                dh[r * H + j] = dhin[r * Hp + j] * (rm ? rm[j] : 1) + dold[r * H + j];
        }
    }
    memcpy(R(a->dh0) + b0 * H, dh, M * H * sizeof(real));
    free(dh), free(dw), free(dhin), free(dn), free(dtot), free(dold), free(zrate);
}

#endif
