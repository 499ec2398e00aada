/* The LSTM cell of one row at one step, forward and backward, on a slice of hidden units.
 *
 * A slice is units [j0, j0 + n) of the H; the row-split loops (lstm.c) pass the whole row
 * (j0 = 0, n = H), the unit-split loops (lstm_units.h) each thread's share. `acc` and `da`
 * hold the slice's G gate blocks at stride `na`; the natural-time buffers (xw, cseq, ...)
 * are indexed at full width. Layer norm needs whole rows, so only the row split runs it.
 */
#ifndef LK_LSTM_CELL_H
#define LK_LSTM_CELL_H
#include "gemm.h"

typedef struct {
    real *uf, *ub, *wf, *wb; /* packed U^T, U, W_hr^T, W_hr (NULL where unused) */
    real *zero;              /* H zeros: absent peepholes read these */
    real *shared;            /* unit split: states or gate gradients all threads read */
} Packs;

/* Peephole rows (i, f, o) from unit j0; absent ones are zeros so that loops never branch. */
static void peepholes(const RecArgs *a, const Packs *pk, int64_t j0, const real **pi,
                      const real **pf, const real **po) {
    const real *w = CR(a->wch);
    int64_t H = a->H;
    *pi = w ? w + j0 : pk->zero;
    *pf = w && !a->cifg ? w + H + j0 : pk->zero;
    *po = w ? w + (a->cifg ? H : 2 * H) + j0 : pk->zero;
}

/* The gate math of one slice, fused in one vectorised pass: sources s_*, added input
 * projections x_* (zeros when already summed), destinations d_* (may be the sources). */
#define LK_GATES(CIFG, WITH_M)                                                               \
    _Pragma("omp simd") for (int64_t j = 0; j < n; j++) {                                   \
        real i = lk_sigmoid(si[j] + xi[j] + pi[j] * c[j]);                                  \
        real f = CIFG ? 1 - i : lk_sigmoid(sf[j] + xf[j] + pf[j] * c[j]);                   \
        real g = lk_tanh(sg[j] + xg[j]);                                                    \
        real cj = f * c[j] + i * g;                                                         \
        real o = lk_sigmoid(so[j] + xo[j] + po[j] * cj); /* o peeks at the new cell */      \
        di[j] = i, dg[j] = g, d_o[j] = o, cn[j] = cj;                                       \
        if (!CIFG) df[j] = f;                                                               \
        if (WITH_M) m[j] = o * lk_tanh(cj);                                                 \
    }

/* Gates of one row's slice from its pre-activations acc (gate blocks at stride na; the
 * bias, when given, is added here), overwritten by the activations, which are also stored
 * at `saved` (the row of the activation buffer) when not NULL. Gives the new cell cn and
 * m = o tanh(c shown). `row` is t * B + b in the natural-time buffers. */
static void cell_forward(const RecArgs *a, const Packs *pk, real *acc, int64_t na, real *saved,
                         int64_t j0, int64_t n, const real *restrict c, real *restrict cn,
                         real *restrict m, int64_t row) {
    int64_t H = a->H, G = a->G;
    int save = saved != NULL;
    real *src[4], *dst[4];
    const real *add[4];
    for (int64_t g = 0; g < G; g++) {
        src[g] = dst[g] = acc + g * na;
        add[g] = a->bias ? CR(a->bias) + g * H + j0 : pk->zero;
    }
    if (a->lng) /* layer norm of each gate group's whole pre-activation (n == H here) */
        for (int64_t g = 0; g < G; g++) {
            for (int64_t j = 0; j < H; j++) src[g][j] += add[g][j];
            add[g] = pk->zero;
            lk_layer_norm(src[g], H, CR(a->lng) + g * H, CR(a->lnb) + g * H,
                          save ? R(a->lnhat) + row * G * H + g * H : NULL,
                          save ? R(a->lnrstd) + row * G + g : NULL);
        }
    const real *pi, *pf, *po;
    peepholes(a, pk, j0, &pi, &pf, &po);
    int64_t f_ = a->cifg ? 0 : 1, g_ = G - 2, o_ = G - 1;
    const real *si = src[0], *sf = src[f_], *sg = src[g_], *so = src[o_];
    const real *xi = add[0], *xf = add[f_], *xg = add[g_], *xo = add[o_];
    real *di = dst[0], *df = dst[f_], *dg = dst[g_], *d_o = dst[o_];
    if (a->cifg && !a->lncg) {
        LK_GATES(1, 1)
    } else if (a->cifg) {
        LK_GATES(1, 0)
    } else if (!a->lncg) {
        LK_GATES(0, 1)
    } else {
        LK_GATES(0, 0)
    }
    if (a->lncg) { /* m holds the shown cell, then o tanh of it; the carried cell stays raw */
        memcpy(m, cn, n * sizeof(real));
        lk_layer_norm(m, H, CR(a->lncg), CR(a->lncb), save ? R(a->cnhat) + row * H : NULL,
                      save ? R(a->cnrstd) + row : NULL);
#pragma omp simd
        for (int64_t j = 0; j < n; j++) m[j] = d_o[j] * lk_tanh(m[j]);
    }
    if (save)
        for (int64_t g = 0; g < G; g++) memcpy(saved + g * H + j0, dst[g], n * sizeof(real));
}

/* ---- backward ---------------------------------------------------------------------------
 * Each step's derivatives sit in the order of the forward equations, read bottom-up:
 *   m = o th           ->  do = dm th,  dth = dm o,  d(shown c) = dth (1 - th²)
 *   o = σ(a_o + p_o c) ->  da_o = do o (1 - o),  dc += da_o p_o,  dp_o += da_o c
 *   c = f c' + i g     ->  di = dc g,  dg = dc i,  df = dc c',  dc' = dc f
 *   CIFG f = 1 - i     ->  di -= df
 *   i, f, g            ->  da_i = di i (1 - i),  da_f = df f (1 - f),  da_g = dg (1 - g²)
 *   peepholes on c'    ->  dc' += da_i p_i + da_f p_f
 * Gradient partials `part` (full width, per thread): peepholes (3H), gate LN (2 G*H), cell
 * LN (2H). `th` is scratch for tanh of the shown cell, recomputed rather than stored.
 */
static void cell_backward(const RecArgs *a, const Packs *pk, real *restrict dm,
                          const real *dcn_in, real *restrict da, int64_t na, real *dcp,
                          real *restrict part, real *restrict th, int64_t s,
                          int64_t row, int64_t b, int64_t j0, int64_t n) {
    int64_t H = a->H, G = a->G, GH = G * H, B = a->B;
    const real *gt = CR(a->xw) + row * a->xw_rs + j0, *c = CR(a->cseq) + (s * B + b) * H + j0;
    const real *cn = (a->zmc || a->zc ? CR(a->cnew) + (s * B + b) * H
                                      : CR(a->cseq) + ((s + 1) * B + b) * H) + j0;
    const real *gi = gt, *gg = gt + (G - 2) * H, *go = gt + (G - 1) * H;
    const real *gf = a->cifg ? NULL : gt + H;
    const real *pi, *pf, *po;
    peepholes(a, pk, j0, &pi, &pf, &po);
    real *dpi = part + j0, *dpf = part + H + j0, *dpo = part + 2 * H + j0;
    real *dai = da, *dag = da + (G - 2) * na, *dao = da + (G - 1) * na, *daf = da + na;
    if (a->lncg) {
        const real *hat = CR(a->cnhat) + row * H, *w = CR(a->lncg), *bias = CR(a->lncb);
#pragma omp simd
        for (int64_t j = 0; j < n; j++) th[j] = lk_tanh(hat[j] * w[j] + bias[j]);
    } else {
#pragma omp simd
        for (int64_t j = 0; j < n; j++) th[j] = lk_tanh(cn[j]);
    }
    if (a->mbuf) { /* m = o tanh(c shown), for dW_hr = sum dh^T m */
        real *mb = R(a->mbuf) + row * H;
        for (int64_t j = 0; j < n; j++) mb[j] = go[j] * th[j];
    }
#pragma omp simd
    for (int64_t j = 0; j < n; j++) {
        real o = go[j];
        dao[j] = dm[j] * th[j] * o * (1 - o);
        dm[j] = dm[j] * o * (1 - th[j] * th[j]); /* now d(shown cell) */
    }
    if (a->lncg) {
        real *dw = part + 3 * H + 2 * GH;
        lk_layer_norm_back(dm, CR(a->cnhat) + row * H, CR(a->cnrstd)[row], H, CR(a->lncg), dw,
                           dw + H);
    }
#pragma omp simd
    for (int64_t j = 0; j < n; j++) {
        real dc = dcn_in[j] + dm[j] + dao[j] * po[j];
        real i = gi[j], g = gg[j], f = gf ? gf[j] : 1 - i;
        real di = dc * g, df = dc * c[j];
        real dai_ = (gf ? di : di - df) * i * (1 - i);
        real daf_ = gf ? df * f * (1 - f) : 0;
        dpo[j] += dao[j] * cn[j];
        dpi[j] += dai_ * c[j];
        dpf[j] += daf_ * c[j];
        dcp[j] = dc * f + dai_ * pi[j] + daf_ * pf[j];
        dag[j] = dc * i * (1 - g * g);
        dai[j] = dai_;
        if (gf) daf[j] = daf_;
    }
    if (a->lng) {
        real *dw = part + 3 * H;
        for (int64_t g = 0; g < G; g++)
            lk_layer_norm_back(da + g * H, CR(a->lnhat) + row * GH + g * H,
                               CR(a->lnrstd)[row * G + g], H, CR(a->lng) + g * H, dw + g * H,
                               dw + GH + g * H);
    }
}

/* dst = dh + d(out) of row (t, b), units [j0, j0 + n): dout may have any strides. */
static inline void add_dout(const RecArgs *a, real *restrict dst, const real *restrict dh,
                            int64_t t, int64_t b, int64_t j0, int64_t n) {
    const real *d = CR(a->dout) + t * a->dout_st + b * a->dout_sb + j0 * a->dout_sf;
    int64_t sf = a->dout_sf;
    for (int64_t j = 0; j < n; j++) dst[j] = dh[j] + d[j * sf];
}

/* Sum the threads' partials of one direction into its parameter gradients. */
static void lstm_reduce(const RecArgs *a, const real *parts, int64_t nt, int64_t n) {
    int64_t H = a->H, GH = a->G * H;
    real *sum = lk_alloc(n);
    lk_reduce(sum, parts, nt, n);
    if (a->dwch) { /* peephole partials are (i, f, o); the parameter holds (i, o) under CIFG */
        memcpy(R(a->dwch), sum, H * sizeof(real));
        if (a->cifg)
            memcpy(R(a->dwch) + H, sum + 2 * H, H * sizeof(real));
        else
            memcpy(R(a->dwch) + H, sum + H, 2 * H * sizeof(real));
    }
    if (a->dlng) {
        memcpy(R(a->dlng), sum + 3 * H, GH * sizeof(real));
        memcpy(R(a->dlnb), sum + 3 * H + GH, GH * sizeof(real));
    }
    if (a->dlncg) {
        memcpy(R(a->dlncg), sum + 3 * H + 2 * GH, H * sizeof(real));
        memcpy(R(a->dlncb), sum + 4 * H + 2 * GH, H * sizeof(real));
    }
    free(sum);
}

#endif
