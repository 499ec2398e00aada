/* The LSTM recurrence with every variant: forward and hand-written BPTT for one layer and
 * direction. The input projections (one GEMM over all steps) and the weight gradients (one
 * GEMM over all steps, from the buffers saved here) are done by the caller; this file is
 * what must run step by step. Equations as in lstmkit/cells.py, gate order (i, f, g, o), or
 * (i, g, o) under CIFG:
 *
 *   a = xw_t + U (h_{t-1} * rmask)          [layer norm per gate group: a = LN(a) * w + b]
 *   i = σ(a_i + p_i c_{t-1})   f = σ(a_f + p_f c_{t-1}) or 1 - i   g = tanh(a_g)
 *   c = f c_{t-1} + i g        o = σ(a_o + p_o c)                   m = o tanh(LN(c) or c)
 *   h = W_hr m (projection) or m;  zoneout: h_t = z h_{t-1} + (1 - z) h  (and c alike)
 *
 * Per-thread scratch, rows = the thread's share of the batch (M):
 *   h, c      (M, P), (M, H)   the carried states
 *   acc       (M, pad(G*H))    pre-activations, then activations, of the current step
 *   hin       (M, P)           h * rmask, the recurrent GEMM's input
 *   m, cn     (M, H)           o tanh(c) and the new cell before zoneout
 *   hp        (M, pad(P))      the projection W_hr m
 */
#include "common.h"

typedef struct {
    real *uf, *ub, *wf, *wb; /* packed U^T, U, W_hr^T, W_hr */
    real *zero;              /* H zeros: absent peepholes read these */
} Packs;

static void lstm_pack(const RecArgs *a, Packs *pk, int backward) {
    int64_t H = a->H, P = a->P, GH = a->G * H;
    pk->zero = lk_alloc(H);
    if (!backward) {
        pk->uf = lk_alloc(lk_pad(GH, NR) * P);
        lk_pack(pk->uf, CR(a->U), P, GH, 1);
        pk->ub = NULL;
    } else {
        pk->ub = lk_alloc(lk_pad(P, NR) * GH);
        lk_pack(pk->ub, CR(a->U), GH, P, 0);
        pk->uf = NULL;
    }
    pk->wf = pk->wb = NULL;
    if (a->whr && !backward) {
        pk->wf = lk_alloc(lk_pad(P, NR) * H);
        lk_pack(pk->wf, CR(a->whr), H, P, 1);
    } else if (a->whr) {
        pk->wb = lk_alloc(lk_pad(H, NR) * P);
        lk_pack(pk->wb, CR(a->whr), P, H, 0);
    }
}

static void lstm_unpack(Packs *pk) {
    free(pk->uf);
    free(pk->ub);
    free(pk->wf);
    free(pk->wb);
    free(pk->zero);
}

/* Peephole rows (i, f, o); absent ones are zeros so that the gate loops never branch. */
static void peepholes(const RecArgs *a, const Packs *pk, const real **pi, const real **pf,
                      const real **po) {
    const real *w = CR(a->wch);
    int64_t H = a->H;
    *pi = w ? w : pk->zero;
    *pf = w && !a->cifg ? w + H : pk->zero;
    *po = w ? w + (a->cifg ? H : 2 * H) : pk->zero;
}

/* One row's gates from its pre-activations `acc` (overwritten by the activations), the
 * previous cell c, giving the new cell cn and m = o tanh(c shown). */
static void cell_forward(const RecArgs *a, const Packs *pk, real *restrict acc,
                         const real *restrict x, const real *restrict c, real *restrict cn,
                         real *restrict m, int64_t t, int64_t b) {
    int64_t H = a->H, G = a->G, GH = G * H, row = t * a->B + b;
    int save = a->gates != NULL;
    const real *pi, *pf, *po;
    peepholes(a, pk, &pi, &pf, &po);
#pragma omp simd
    for (int64_t k = 0; k < GH; k++) acc[k] += x[k];
    if (a->lng)
        for (int64_t g = 0; g < G; g++)
            lk_layer_norm(acc + g * H, H, CR(a->lng) + g * H, CR(a->lnb) + g * H,
                          save ? R(a->lnhat) + row * GH + g * H : NULL,
                          save ? R(a->lnrstd) + row * G + g : NULL);
    real *ai = acc, *ag = acc + (G - 2) * H, *ao = acc + (G - 1) * H;
    real *af = a->cifg ? NULL : acc + H;
    if (af) {
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            real i = lk_sigmoid(ai[j] + pi[j] * c[j]);
            real f = lk_sigmoid(af[j] + pf[j] * c[j]);
            real g = lk_tanh(ag[j]);
            real cj = f * c[j] + i * g;
            ao[j] = lk_sigmoid(ao[j] + po[j] * cj); /* the output gate peeks at the new cell */
            ai[j] = i, af[j] = f, ag[j] = g, cn[j] = cj;
        }
    } else {
#pragma omp simd
        for (int64_t j = 0; j < H; j++) {
            real i = lk_sigmoid(ai[j] + pi[j] * c[j]);
            real g = lk_tanh(ag[j]);
            real cj = (1 - i) * c[j] + i * g;
            ao[j] = lk_sigmoid(ao[j] + po[j] * cj);
            ai[j] = i, ag[j] = g, cn[j] = cj;
        }
    }
    /* m holds the shown cell, then o tanh of it; the carried cell cn stays raw. */
    memcpy(m, cn, H * sizeof(real));
    if (a->lncg)
        lk_layer_norm(m, H, CR(a->lncg), CR(a->lncb), save ? R(a->cnhat) + row * H : NULL,
                      save ? R(a->cnrstd) + row : NULL);
    real *tc = save ? R(a->tc) + row * H : NULL;
#pragma omp simd
    for (int64_t j = 0; j < H; j++) {
        real th = lk_tanh(m[j]);
        if (tc) tc[j] = th;
        m[j] = ao[j] * th;
    }
    if (save) {
        memcpy(R(a->gates) + row * GH, acc, GH * sizeof(real));
        memcpy(R(a->cprev) + row * H, c, H * sizeof(real));
        memcpy(R(a->cnew) + row * H, cn, H * sizeof(real));
    }
}

static void forward_rows(const RecArgs *a, const Packs *pk, int64_t b0, int64_t b1) {
    int64_t M = b1 - b0, T = a->T, B = a->B, H = a->H, P = a->P, GH = a->G * H;
    int64_t GHp = lk_pad(GH, NR), Pp = lk_pad(P, NR), HP = H > P ? H : P;
    real *h = lk_alloc(M * P), *c = lk_alloc(M * H), *acc = lk_alloc(M * GHp);
    real *hin = lk_alloc(M * P), *m = lk_alloc(M * H), *cn = lk_alloc(M * H);
    real *hp = lk_alloc(M * Pp), *zrate_h = lk_alloc(HP), *zrate_c = lk_alloc(HP);
    for (int64_t j = 0; j < HP; j++) zrate_h[j] = a->zh, zrate_c[j] = a->zc;
    memcpy(h, CR(a->h0) + b0 * P, M * P * sizeof(real));
    memcpy(c, CR(a->c0) + b0 * H, M * H * sizeof(real));
    for (int64_t s = 0; s < T; s++) {
        const real *gin = h;
        if (a->rmask) {
            for (int64_t k = 0; k < M * P; k++) hin[k] = h[k] * CR(a->rmask)[b0 * P + k];
            gin = hin;
        }
        lk_gemm(M, GH, P, gin, P, pk->uf, acc, GHp);
        for (int64_t r = 0; r < M; r++) {
            int64_t b = b0 + r, len = lk_len(a, b);
            if (s >= len) continue;
            int64_t t = lk_time(a, s, len);
            cell_forward(a, pk, acc + r * GHp, CR(a->xw) + (t * B + b) * GH, c + r * H,
                         cn + r * H, m + r * H, t, b);
        }
        if (pk->wf) lk_gemm(M, P, H, m, H, pk->wf, hp, Pp);
        for (int64_t r = 0; r < M; r++) {
            int64_t b = b0 + r, len = lk_len(a, b);
            real *o = R(a->out) + (s * B + b) * P;
            if (s >= len) { /* past the end: output zero, states kept, nothing to save */
                memset(o, 0, P * sizeof(real));
                if (a->hin) memset(R(a->hin) + (s * B + b) * P, 0, P * sizeof(real));
                continue;
            }
            int64_t t = lk_time(a, s, len);
            if (a->hin) memcpy(R(a->hin) + (t * B + b) * P, gin + r * P, P * sizeof(real));
            const real *zh = a->zh ? zrate_h : NULL, *zc = a->zc ? zrate_c : NULL;
            lk_mix(h + r * P, pk->wf ? hp + r * Pp : m + r * H,
                   lk_zrow(a->zmh, s, b, B, P, zh), P);
            lk_mix(c + r * H, cn + r * H, lk_zrow(a->zmc, s, b, B, H, zc), H);
            memcpy(R(a->out) + (t * B + b) * P, h + r * P, P * sizeof(real));
        }
    }
    memcpy(R(a->hT) + b0 * P, h, M * P * sizeof(real));
    memcpy(R(a->cT) + b0 * H, c, M * H * sizeof(real));
    free(h), free(c), free(acc), free(hin), free(m), free(cn), free(hp);
    free(zrate_h), free(zrate_c);
}

void SFX(lk_lstm_forward)(const RecArgs *a) {
    Packs pk;
    lstm_pack(a, &pk, 0);
    int64_t nt = lk_threads(a);
#pragma omp parallel num_threads(nt)
    {
        int64_t b0, b1;
        lk_rows(a, lk_thread_id(), nt, &b0, &b1);
        if (b1 > b0) forward_rows(a, &pk, b0, b1);
    }
    lstm_unpack(&pk);
}

/* ---- backward ---------------------------------------------------------------------------
 * Each step's derivatives sit in the order of the forward equations, read bottom-up:
 *   m = o th           ->  do = dm th,  dth = dm o,  d(shown c) = dth (1 - th²)
 *   o = σ(a_o + p_o c) ->  da_o = do o (1 - o),  dc += da_o p_o,  dp_o += da_o c
 *   c = f c' + i g     ->  di = dc g,  dg = dc i,  df = dc c',  dc' = dc f
 *   CIFG f = 1 - i     ->  di -= df
 *   i, f, g            ->  da_i = di i (1 - i),  da_f = df f (1 - f),  da_g = dg (1 - g²)
 *   peepholes on c'    ->  dc' += da_i p_i + da_f p_f
 * Per-thread gradient partials `part`: peepholes (3H), gate LN (2 G*H), cell LN (2H).
 */
static void cell_backward(const RecArgs *a, const Packs *pk, real *restrict dm,
                          const real *restrict dcn_in, real *restrict da, real *restrict dcp,
                          real *restrict part, int64_t t, int64_t b) {
    int64_t H = a->H, G = a->G, GH = G * H, row = t * a->B + b;
    const real *gt = CR(a->gates) + row * GH, *c = CR(a->cprev) + row * H;
    const real *cn = CR(a->cnew) + row * H, *tc = CR(a->tc) + row * H;
    const real *gi = gt, *gg = gt + (G - 2) * H, *go = gt + (G - 1) * H;
    const real *gf = a->cifg ? NULL : gt + H;
    const real *pi, *pf, *po;
    peepholes(a, pk, &pi, &pf, &po);
    real *dpi = part, *dpf = part + H, *dpo = part + 2 * H;
    real *dai = da, *dag = da + (G - 2) * H, *dao = da + (G - 1) * H, *daf = da + H;
#pragma omp simd
    for (int64_t j = 0; j < H; j++) {
        real o = go[j], th = tc[j];
        dao[j] = dm[j] * th * o * (1 - o);
        dm[j] = dm[j] * o * (1 - th * th); /* now d(shown cell) */
    }
    if (a->lncg) {
        real *dw = part + 3 * H + 2 * GH;
        lk_layer_norm_back(dm, CR(a->cnhat) + row * H, CR(a->cnrstd)[row], H, CR(a->lncg), dw,
                           dw + H);
    }
#pragma omp simd
    for (int64_t j = 0; j < H; j++) {
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

static void backward_rows(const RecArgs *a, const Packs *pk, int64_t b0, int64_t b1,
                          real *part) {
    int64_t M = b1 - b0, T = a->T, B = a->B, H = a->H, P = a->P, GH = a->G * H;
    int64_t GHp = lk_pad(GH, NR), Pp = lk_pad(P, NR), Hp = lk_pad(H, NR), HP = H > P ? H : P;
    real *dh = lk_alloc(M * P), *dc = lk_alloc(M * H), *da = lk_alloc(M * GHp);
    real *dhn = lk_alloc(M * P), *dhd = lk_alloc(M * P), *dcn = lk_alloc(M * H);
    real *dcd = lk_alloc(M * H), *dm = lk_alloc(M * Hp), *dhin = lk_alloc(M * Pp);
    real *zrate_h = lk_alloc(HP), *zrate_c = lk_alloc(HP), *dtot = lk_alloc(P);
    for (int64_t j = 0; j < HP; j++) zrate_h[j] = a->zh, zrate_c[j] = a->zc;
    if (a->dhT) memcpy(dh, CR(a->dhT) + b0 * P, M * P * sizeof(real));
    if (a->dcT) memcpy(dc, CR(a->dcT) + b0 * H, M * H * sizeof(real));
    for (int64_t s = T - 1; s >= 0; s--) {
        for (int64_t r = 0; r < M; r++) { /* split dh, dc between the new and old states */
            int64_t b = b0 + r, len = lk_len(a, b);
            real *dhn_r = dhn + r * P;
            if (s >= len) {
                memset(dhn_r, 0, P * sizeof(real));
                memset(R(a->dxw) + (s * B + b) * GH, 0, GH * sizeof(real));
                if (a->dhnew) memset(R(a->dhnew) + (s * B + b) * P, 0, P * sizeof(real));
                if (a->mbuf) memset(R(a->mbuf) + (s * B + b) * H, 0, H * sizeof(real));
                continue;
            }
            int64_t t = lk_time(a, s, len);
            const real *dout = CR(a->dout) + (t * B + b) * P;
            for (int64_t j = 0; j < P; j++) dtot[j] = dh[r * P + j] + dout[j];
            const real *zh = a->zh ? zrate_h : NULL, *zc = a->zc ? zrate_c : NULL;
            lk_unmix(dtot, lk_zrow(a->zmh, s, b, B, P, zh), dhn_r, dhd + r * P, P);
            lk_unmix(dc + r * H, lk_zrow(a->zmc, s, b, B, H, zc), dcn + r * H, dcd + r * H, H);
            if (a->dhnew) memcpy(R(a->dhnew) + (t * B + b) * P, dhn_r, P * sizeof(real));
        }
        if (pk->wb)
            lk_gemm(M, H, P, dhn, P, pk->wb, dm, Hp);
        else
            for (int64_t r = 0; r < M; r++) memcpy(dm + r * Hp, dhn + r * P, P * sizeof(real));
        for (int64_t r = 0; r < M; r++) {
            int64_t b = b0 + r, len = lk_len(a, b);
            if (s >= len) {
                memset(da + r * GHp, 0, GH * sizeof(real));
                continue;
            }
            int64_t t = lk_time(a, s, len), row = t * B + b;
            if (a->mbuf) { /* m = o tanh(c shown), for dW_hr = sum dh^T m */
                const real *go = CR(a->gates) + row * GH + (a->G - 1) * H;
                const real *tc = CR(a->tc) + row * H;
                for (int64_t j = 0; j < H; j++) R(a->mbuf)[row * H + j] = go[j] * tc[j];
            }
            cell_backward(a, pk, dm + r * Hp, dcn + r * H, da + r * GHp, dc + r * H, part, t, b);
            for (int64_t j = 0; j < H; j++) dc[r * H + j] += dcd[r * H + j];
            memcpy(R(a->dxw) + row * GH, da + r * GHp, GH * sizeof(real));
        }
        lk_gemm(M, P, GH, da, GHp, pk->ub, dhin, Pp);
        for (int64_t r = 0; r < M; r++) {
            int64_t b = b0 + r;
            if (s >= lk_len(a, b)) continue;
            const real *rm = a->rmask ? CR(a->rmask) + b * P : NULL;
            for (int64_t j = 0; j < P; j++)
                dh[r * P + j] = dhin[r * Pp + j] * (rm ? rm[j] : 1) + dhd[r * P + j];
        }
    }
    memcpy(R(a->dh0) + b0 * P, dh, M * P * sizeof(real));
    memcpy(R(a->dc0) + b0 * H, dc, M * H * sizeof(real));
    free(dh), free(dc), free(da), free(dhn), free(dhd), free(dcn), free(dcd), free(dm);
    free(dhin), free(zrate_h), free(zrate_c), free(dtot);
}

void SFX(lk_lstm_backward)(const RecArgs *a) {
    Packs pk;
    lstm_pack(a, &pk, 1);
    int64_t nt = lk_threads(a), H = a->H, GH = a->G * H, n = 3 * H + 2 * GH + 2 * H;
    real *parts = lk_alloc(nt * n);
#pragma omp parallel num_threads(nt)
    {
        int64_t tid = lk_thread_id(), b0, b1;
        lk_rows(a, tid, nt, &b0, &b1);
        if (b1 > b0) backward_rows(a, &pk, b0, b1, parts + tid * n);
    }
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
    free(sum), free(parts);
    lstm_unpack(&pk);
}
