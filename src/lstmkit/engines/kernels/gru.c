/* The GRU and Elman RNN recurrences (one state h): forward and hand-written BPTT for one
 * layer and direction, torch's equations (lstmkit/cells.py), gate order (r, z, n):
 *
 *   hw = U (h_{t-1} * rmask) + b_hh
 *   GRU: r = σ(xw_r + hw_r)  z = σ(xw_z + hw_z)  n = tanh(xw_n + r hw_n)
 *        h = (1 - z) n + z h_{t-1}
 *   RNN: h = tanh(xw + hw) or relu(xw + hw)      (b_hh is folded into xw by the caller)
 *   zoneout: h_t = z h_{t-1} + (1 - z) h
 *
 * Saved per step (natural time order): GRU gates (r, z, n, hw_n) as (T,B,4H); RNN the new
 * h as (T,B,H); the recurrent GEMM's input hin (T,B,H), and GRU's h_{t-1} when it differs
 * from hin (recurrent dropout). Per-thread scratch as in lstm.c: h, hin (M,H), acc (M,pad(GH)).
 */
#include "common.h"

static void cell_forward(const RecArgs *a, real *restrict acc, const real *restrict x,
                         const real *restrict hprev, real *restrict hn, int64_t row) {
    int64_t H = a->H;
    if (a->cell == LK_GRU) {
        const real *bh = CR(a->bhh);
        real *r = acc, *z = acc + H, *n = acc + 2 * H;
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            real rj = lk_sigmoid(x[j] + r[j] + bh[j]);
            real zj = lk_sigmoid(x[H + j] + z[j] + bh[H + j]);
            real hw = n[j] + bh[2 * H + j];
            real nj = lk_tanh(x[2 * H + j] + rj * hw);
            hn[j] = (1 - zj) * nj + zj * hprev[j];
            r[j] = rj, z[j] = zj, n[j] = nj, acc[3 * H + j] = hw;
        }
        if (a->gates) memcpy(R(a->gates) + row * 4 * H, acc, 4 * H * sizeof(real));
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
    if (a->gates) memcpy(R(a->gates) + row * H, hn, H * sizeof(real));
}

static void forward_rows(const RecArgs *a, const real *uf, int64_t b0, int64_t b1) {
    int64_t M = b1 - b0, T = a->T, B = a->B, H = a->H, GH = a->G * H;
    int64_t GHp = lk_pad(lk_pad(GH, NR) + (a->cell == LK_GRU ? H : 0), NR);
    real *h = lk_alloc(M * H), *hin = lk_alloc(M * H), *acc = lk_alloc(M * GHp);
    real *hn = lk_alloc(M * H), *zrate = lk_alloc(H);
    for (int64_t j = 0; j < H; j++) zrate[j] = a->zh;
    memcpy(h, CR(a->h0) + b0 * H, M * H * sizeof(real));
    for (int64_t s = 0; s < T; s++) {
        const real *gin = h;
        if (a->rmask) {
            for (int64_t k = 0; k < M * H; k++) hin[k] = h[k] * CR(a->rmask)[b0 * H + k];
            gin = hin;
        }
        lk_gemm(M, GH, H, gin, H, uf, acc, GHp);
        for (int64_t r = 0; r < M; r++) {
            int64_t b = b0 + r, len = lk_len(a, b);
            if (s >= len) {
                memset(R(a->out) + (s * B + b) * H, 0, H * sizeof(real));
                if (a->hin) memset(R(a->hin) + (s * B + b) * H, 0, H * sizeof(real));
                continue;
            }
            int64_t t = lk_time(a, s, len), row = t * B + b;
            cell_forward(a, acc + r * GHp, CR(a->xw) + row * GH, h + r * H, hn + r * H, row);
            if (a->hin) memcpy(R(a->hin) + row * H, gin + r * H, H * sizeof(real));
            lk_mix(h + r * H, hn + r * H, lk_zrow(a->zmh, s, b, B, H, a->zh ? zrate : NULL), H);
            memcpy(R(a->out) + row * H, h + r * H, H * sizeof(real));
        }
    }
    memcpy(R(a->hT) + b0 * H, h, M * H * sizeof(real));
    free(h), free(hin), free(acc), free(hn), free(zrate);
}

void SFX(lk_gru_forward)(const RecArgs *a) {
    int64_t H = a->H, GH = a->G * H;
    real *uf = lk_alloc(lk_pad(GH, NR) * H);
    lk_pack(uf, CR(a->U), H, GH, 1);
    int64_t nt = lk_threads(a);
#pragma omp parallel num_threads(nt)
    {
        int64_t b0, b1;
        lk_rows(a, lk_thread_id(), nt, &b0, &b1);
        if (b1 > b0) forward_rows(a, uf, b0, b1);
    }
    free(uf);
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
    if (a->cell == LK_GRU) {
        const real *g = CR(a->gates) + row * 4 * H;
        const real *r = g, *z = g + H, *n = g + 2 * H, *hw = g + 3 * H;
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
    const real *h = CR(a->gates) + row * H;
    if (a->cell == LK_RNN_TANH) {
#pragma omp simd
        for (int64_t j = 0; j < H; j++) dx[j] = dw[j] = d[j] * (1 - h[j] * h[j]);
    } else {
#pragma omp simd
        for (int64_t j = 0; j < H; j++) dx[j] = dw[j] = h[j] > 0 ? d[j] : 0;
    }
}

static void backward_rows(const RecArgs *a, const real *ub, int64_t b0, int64_t b1) {
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
                memset(R(a->dxw) + (s * B + b) * GH, 0, GH * sizeof(real));
                if (a->dhw) memset(R(a->dhw) + (s * B + b) * GH, 0, GH * sizeof(real));
                continue;
            }
            int64_t t = lk_time(a, s, len), row = t * B + b;
            const real *dout = CR(a->dout) + row * H;
            for (int64_t j = 0; j < H; j++) dtot[j] = dh[r * H + j] + dout[j];
            lk_unmix(dtot, lk_zrow(a->zmh, s, b, B, H, a->zh ? zrate : NULL), dn,
                     dold + r * H, H);
            const real *hp = CR(a->hprev ? a->hprev : a->hin) + row * H;
            cell_backward(a, dn, R(a->dxw) + row * GH, dw + r * GHp, dold + r * H, hp, row);
            if (a->dhw) memcpy(R(a->dhw) + row * GH, dw + r * GHp, GH * sizeof(real));
        }
        lk_gemm(M, H, GH, dw, GHp, ub, dhin, Hp);
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

void SFX(lk_gru_backward)(const RecArgs *a) {
    int64_t H = a->H, GH = a->G * H;
    real *ub = lk_alloc(lk_pad(H, NR) * GH);
    lk_pack(ub, CR(a->U), GH, H, 0);
    int64_t nt = lk_threads(a);
#pragma omp parallel num_threads(nt)
    {
        int64_t b0, b1;
        lk_rows(a, lk_thread_id(), nt, &b0, &b1);
        if (b1 > b0) backward_rows(a, ub, b0, b1);
    }
    free(ub);
}
