/* The LSTM's BPTT over a thread's batch rows (included by lstm_rows.h): the loop of
 * lstm_cell.h's cell_backward, from the last step to the first, with the recurrent product
 * d(h_{t-1} * rmask) = da_t U left to a StepProduct (float32 tiles in lstm.c, bfloat16 in
 * lstm_bf16.c). Per-thread scratch, M = the thread's rows:
 *   dh, dc      (M, P), (M, H)   gradients of the carried states
 *   da          (M, pad(G*H))    the step's gate gradients (with lengths; else dxw itself)
 *   dhn, dcn    (M, P), (M, H)   their shares of the new states (zoneout splits them)
 *   dhd, dcd    (M, P), (M, H)   and of the old states, through zoneout
 *   dm          (M, pad(H))      d(m) under a projection
 *   dhin        (M, pad(P))      the recurrent product's result (StepProduct.pad)
 */
typedef struct {
    real *dh, *dc, *da, *dhn, *dhd, *dcn, *dcd, *dm, *dhin, *zrate_h, *zrate_c, *dtot, *th;
    const real *zh, *zc;
    int64_t GHp, Pp, Hp;
} BackRows;

static void back_start(const RecArgs *a, BackRows *w, int64_t b0, int64_t M, int64_t pad) {
    int64_t H = a->H, P = a->P, HP = H > P ? H : P;
    w->GHp = lk_pad(a->G * H, NR), w->Pp = lk_pad(P, pad), w->Hp = lk_pad(H, NR);
    w->dh = lk_alloc(M * P), w->dc = lk_alloc(M * H), w->da = lk_alloc(M * w->GHp);
    w->dhn = lk_alloc(M * P), w->dhd = lk_alloc(M * P), w->dcn = lk_alloc(M * H);
    w->dcd = lk_alloc(M * H), w->dm = lk_alloc(M * w->Hp), w->dhin = lk_alloc(M * w->Pp);
    w->zrate_h = lk_alloc(HP), w->zrate_c = lk_alloc(HP), w->dtot = lk_alloc(P);
    w->th = lk_alloc(H);
    for (int64_t j = 0; j < HP; j++) w->zrate_h[j] = a->zh, w->zrate_c[j] = a->zc;
    w->zh = a->zh ? w->zrate_h : NULL, w->zc = a->zc ? w->zrate_c : NULL;
    if (a->dhT) memcpy(w->dh, CR(a->dhT) + b0 * P, M * P * sizeof(real));
    if (a->dcT) memcpy(w->dc, CR(a->dcT) + b0 * H, M * H * sizeof(real));
}

/* Step s: split dh (plus d(out)) and dc between the new and the old states. */
static void back_states(const RecArgs *a, BackRows *w, int64_t s, int64_t b0, int64_t M) {
    int64_t B = a->B, H = a->H, P = a->P, GH = a->G * H;
    int zh_on = a->zmh || a->zh, zc_on = a->zmc || a->zc;
    for (int64_t r = 0; r < M; r++) {
        int64_t b = b0 + r, len = lk_len(a, b);
        real *dhn = w->dhn + r * P;
        if (s >= len) {
            memset(dhn, 0, P * sizeof(real));
            memset(R(a->dxw) + (s * B + b) * a->xw_rs, 0, GH * sizeof(real));
            if (a->dhnew) memset(R(a->dhnew) + (s * B + b) * P, 0, P * sizeof(real));
            if (a->mbuf) memset(R(a->mbuf) + (s * B + b) * H, 0, H * sizeof(real));
            continue;
        }
        int64_t t = lk_time(a, s, len);
        add_dout(a, zh_on ? w->dtot : dhn, w->dh + r * P, t, b, 0, P);
        if (zh_on) lk_unmix(w->dtot, lk_zrow(a->zmh, s, b, B, P, w->zh), dhn, w->dhd + r * P, P);
        if (zc_on)
            lk_unmix(w->dc + r * H, lk_zrow(a->zmc, s, b, B, H, w->zc), w->dcn + r * H,
                     w->dcd + r * H, H);
        if (a->dhnew) memcpy(R(a->dhnew) + (t * B + b) * P, dhn, P * sizeof(real));
    }
}

/* Step s: through the projection and the cell to the gate gradients, rows of da0. */
static void back_gates(const RecArgs *a, const Packs *pk, BackRows *w, int64_t s, int64_t b0,
                       int64_t M, real *da0, int64_t da_ld, real *part) {
    int64_t B = a->B, H = a->H, P = a->P, GH = a->G * H;
    int zc_on = a->zmc || a->zc, direct = !a->lengths;
    /* without a projection, dm (the gradient of m = h before projection) is dhn itself */
    real *dmv = pk->wb ? w->dm : w->dhn;
    int64_t dm_ld = pk->wb ? w->Hp : P;
    if (pk->wb) lk_gemm(M, H, P, w->dhn, P, pk->wb, w->dm, w->Hp);
    for (int64_t r = 0; r < M; r++) {
        int64_t b = b0 + r, len = lk_len(a, b);
        if (s >= len) {
            memset(w->da + r * w->GHp, 0, GH * sizeof(real));
            continue;
        }
        int64_t row = lk_time(a, s, len) * B + b;
        real *dc = w->dc + r * H;
        cell_backward(a, pk, dmv + r * dm_ld, zc_on ? w->dcn + r * H : dc, da0 + r * da_ld, H,
                      dc, part, w->th, s, row, b, 0, H);
        if (zc_on)
            for (int64_t j = 0; j < H; j++) dc[j] += w->dcd[r * H + j];
        if (!direct) memcpy(R(a->dxw) + row * a->xw_rs, w->da + r * w->GHp, GH * sizeof(real));
    }
}

/* Step s: dh of the step before, from the recurrent product (dhin), rmask and zoneout. */
static void back_recurrent(const RecArgs *a, BackRows *w, int64_t s, int64_t b0, int64_t M) {
    int64_t P = a->P;
    int zh_on = a->zmh || a->zh;
    for (int64_t r = 0; r < M; r++) {
        int64_t b = b0 + r;
        if (s >= lk_len(a, b)) continue;
        const real *rm = a->rmask ? CR(a->rmask) + b * P : NULL, *dhin = w->dhin + r * w->Pp;
        real *dh = w->dh + r * P;
        if (!rm && !zh_on) {
            memcpy(dh, dhin, P * sizeof(real));
            continue;
        }
        for (int64_t j = 0; j < P; j++)
            dh[j] = dhin[j] * (rm ? rm[j] : 1) + (zh_on ? w->dhd[r * P + j] : 0);
    }
}

/* The BPTT of rows [b0, b0 + M): d(xw), dh0, dc0, and the parameter partials in `part`. */
static void rows_backward(const RecArgs *a, const Packs *pk, StepProduct product, int64_t b0,
                          int64_t M, real *part) {
    BackRows w;
    back_start(a, &w, b0, M, product.pad);
    int direct = !a->lengths; /* without lengths, the gate gradients go straight to dxw */
    for (int64_t s = a->T - 1; s >= 0; s--) {
        back_states(a, &w, s, b0, M);
        real *da0 = direct ? R(a->dxw) + (lk_time(a, s, a->T) * a->B + b0) * a->xw_rs : w.da;
        int64_t da_ld = direct ? a->xw_rs : w.GHp;
        back_gates(a, pk, &w, s, b0, M, da0, da_ld, part);
        product.run(a, product.ctx, M, da0, da_ld, w.dhin, w.Pp);
        back_recurrent(a, &w, s, b0, M);
    }
    memcpy(R(a->dh0) + b0 * a->P, w.dh, M * a->P * sizeof(real));
    memcpy(R(a->dc0) + b0 * a->H, w.dc, M * a->H * sizeof(real));
    free(w.dh), free(w.dc), free(w.da), free(w.dhn), free(w.dhd), free(w.dcn), free(w.dcd);
    free(w.dm), free(w.dhin), free(w.zrate_h), free(w.zrate_c), free(w.dtot), free(w.th);
}
