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
 * The forward's row loop is gru_rows.h's, shared with the bfloat16 kernel.
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

static void backward_rows(const RecArgs *a, void *pkv, int64_t local, int64_t k,
                          real *unused) {
    (void)unused;
    const Packs *pk = pkv;
    int64_t b0, b1;
    lk_rows(a, local, k, &b0, &b1);
    if (b1 <= b0) return;
    int64_t M = b1 - b0, T = a->T, B = a->B, H = a->H, GH = a->G * H;
    int64_t GHp = lk_pad(GH, NR), Hp = lk_pad(H, NR);
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
        lk_gemm(M, H, GH, dw, GHp, pk->ub, dhin, Hp);
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

void SFX(lk_gru_backward)(const RecArgs *a, int64_t n, int64_t concurrent) {
    Packs pk[2] = {{NULL, NULL}, {NULL, NULL}};
    void *pkv[2] = {&pk[0], &pk[1]};
    for (int64_t d = 0; d < n; d++) pk[d].ub = lk_alloc(lk_pad(a[d].H, NR) * a[d].G * a[d].H);
    lk_layer(a, n, (int)concurrent, pkv, gru_pack, backward_rows, NULL, 0);
    for (int64_t d = 0; d < n; d++) free(pk[d].ub);
}
