/* The LSTM time loops with the hidden units split across threads, for batches too small to
 * split by rows (batch 1 above all). Included by lstm.c, after Packs and lstm_cell.h.
 *
 * At batch 1 a step is a matrix-vector product that streams the whole recurrent weight
 * (256 KB at H = 128) from L2: one core measured 2.3 us per step, bound by L2 bandwidth.
 * Splitting the units halves what each core streams, at the price of one barrier per
 * step. Thread `local` of k owns units [j0, j0 + n) of every row: its columns of U^T
 * (all G gates of its units) packed privately, its slice of c, its gate math. The only
 * shared data are the states h (forward) or the gate gradients da (backward), double
 * buffered in Packs.shared so that one barrier per step suffices: a thread writes buffer
 * (s + 1) % 2 only after every thread has passed the barrier that ends its reads of it.
 * Supports every variant but the layer norms and the projection (lk_threads' callers
 * choose the row split for those: they need whole rows).
 */

/* Columns of one thread's units, all gates: B[k][g * n + j] = [W_ih, U][g * H + j0 + j][k]
 * over k < I + P (forward), or B[k][j] = U[k][j0 + j] over k < G*H (backward). */
static real *pack_units(const RecArgs *a, int64_t j0, int64_t n, int backward) {
    int64_t H = a->H, I = a->I, P = a->P, G = a->G;
    int64_t N = backward ? n : G * n, K = backward ? G * H : I + P;
    real *bp = lk_alloc(lk_pad(N, NR) * K);
    const real *U = CR(a->U), *wih = CR(a->wih);
    for (int64_t c = 0; c < lk_pad(N, NR); c++) {
        int64_t p = c / NR, lane = c % NR, gate_row = c / n * H + j0 + c % n;
        for (int64_t kk = 0; kk < K; kk++) {
            real v = 0;
            if (c < N && backward)
                v = U[kk * P + j0 + c];
            else if (c < N)
                v = kk < I ? wih[gate_row * I + kk] : U[gate_row * P + kk - I];
            bp[(p * K + kk) * NR + lane] = v;
        }
    }
    return bp;
}

static void forward_units(const RecArgs *a, void *pkv, int64_t local, int64_t k, real *unused) {
    (void)unused;
    const Packs *pk = pkv;
    int64_t T = a->T, B = a->B, H = a->H, P = a->P, G = a->G;
    int64_t j0 = H * local / k, n = H * (local + 1) / k - j0, na = lk_pad(G * n, NR);
    int save = (int)a->save, zc_on = a->zmc || a->zc;
    int64_t K = a->I + P;
    real *bp = pack_units(a, j0, n, 0), *acc = lk_alloc(B * na), *in = lk_alloc(B * K);
    real *c = lk_alloc(B * n), *cn = lk_alloc(B * n), *m = lk_alloc(B * n);
    real *zrate_h = lk_alloc(H), *zrate_c = lk_alloc(H);
    for (int64_t j = 0; j < H; j++) zrate_h[j] = a->zh, zrate_c[j] = a->zc;
    const real *zh = a->zh ? zrate_h : NULL, *zc = a->zc ? zrate_c : NULL;
    real *hbuf[2] = {pk->shared, pk->shared + B * P};
    for (int64_t b = 0; b < B; b++) {
        memcpy(hbuf[0] + b * P + j0, CR(a->h0) + b * P + j0, n * sizeof(real));
        memcpy(c + b * n, CR(a->c0) + b * H + j0, n * sizeof(real));
        if (save) memcpy(R(a->cseq) + b * H + j0, c + b * n, n * sizeof(real));
    }
#pragma omp barrier
    for (int64_t s = 0; s < T; s++) {
        const real *h = hbuf[s % 2];
        real *hnext = hbuf[(s + 1) % 2];
        step_input(a, in, h, s, 0, B);
        lk_gemm(B, G * n, K, in, K, bp, acc, na);
        for (int64_t b = 0; b < B; b++) {
            int64_t len = lk_len(a, b);
            real *hn = hnext + b * P + j0;
            if (s >= len) { /* past the end: output zero, states kept */
                memcpy(hn, h + b * P + j0, n * sizeof(real));
                memset(R(a->out) + (s * B + b) * a->out_rs + j0, 0, n * sizeof(real));
                if (save && local == 0) /* the whole row: [x_t, h] */
                    memset(R(a->hin) + (s * B + b) * K, 0, K * sizeof(real));
                continue;
            }
            int64_t row = lk_time(a, s, len) * B + b;
            cell_forward(a, pk, acc + b * na, n, save ? R(a->xw) + row * a->xw_rs : NULL, j0, n,
                         c + b * n, cn + b * n, m + b * n, row);
            if (save) { /* thread 0 also copies x_t */
                int64_t from = local ? a->I + j0 : 0;
                memcpy(R(a->hin) + row * K + from, in + b * K + from,
                       (a->I + j0 + n - from) * sizeof(real));
            }
            memcpy(hn, h + b * P + j0, n * sizeof(real));
            const real *zr = lk_zrow(a->zmh, s, b, B, P, zh), *zcr = lk_zrow(a->zmc, s, b, B, H, zc);
            lk_mix(hn, m + b * n, zr ? zr + j0 : NULL, n);
            lk_mix(c + b * n, cn + b * n, zcr ? zcr + j0 : NULL, n);
            memcpy(R(a->out) + row * a->out_rs + j0, hn, n * sizeof(real));
            if (save) {
                memcpy(R(a->cseq) + ((s + 1) * B + b) * H + j0, c + b * n, n * sizeof(real));
                if (zc_on)
                    memcpy(R(a->cnew) + (s * B + b) * H + j0, cn + b * n, n * sizeof(real));
            }
        }
#pragma omp barrier
    }
    for (int64_t b = 0; b < B; b++) {
        memcpy(R(a->hT) + b * P + j0, hbuf[T % 2] + b * P + j0, n * sizeof(real));
        memcpy(R(a->cT) + b * H + j0, c + b * n, n * sizeof(real));
    }
    free(bp), free(acc), free(in), free(c), free(cn), free(m), free(zrate_h), free(zrate_c);
}

static void backward_units(const RecArgs *a, void *pkv, int64_t local, int64_t k, real *part) {
    const Packs *pk = pkv;
    int64_t T = a->T, B = a->B, H = a->H, P = a->P, G = a->G, GH = G * H;
    int64_t j0 = H * local / k, n = H * (local + 1) / k - j0, np = lk_pad(n, NR);
    real *bp = pack_units(a, j0, n, 1), *dh = lk_alloc(B * n), *dc = lk_alloc(B * n);
    real *dhn = lk_alloc(n), *dhd = lk_alloc(B * n), *dcn = lk_alloc(n), *dcd = lk_alloc(n);
    real *da = lk_alloc(G * n), *dhin = lk_alloc(B * np), *dtot = lk_alloc(n), *th = lk_alloc(n);
    real *zrate_h = lk_alloc(H), *zrate_c = lk_alloc(H);
    for (int64_t j = 0; j < H; j++) zrate_h[j] = a->zh, zrate_c[j] = a->zc;
    const real *zh = a->zh ? zrate_h : NULL, *zc = a->zc ? zrate_c : NULL;
    real *dabuf[2] = {pk->shared, pk->shared + B * GH};
    for (int64_t b = 0; b < B; b++) {
        if (a->dhT) memcpy(dh + b * n, CR(a->dhT) + b * P + j0, n * sizeof(real));
        if (a->dcT) memcpy(dc + b * n, CR(a->dcT) + b * H + j0, n * sizeof(real));
    }
    for (int64_t s = T - 1; s >= 0; s--) {
        real *dall = dabuf[s % 2];
        for (int64_t b = 0; b < B; b++) {
            int64_t len = lk_len(a, b);
            if (s >= len) { /* nothing flows: zero gate gradients, states' gradients kept */
                for (int64_t g = 0; g < G; g++) {
                    memset(dall + b * GH + g * H + j0, 0, n * sizeof(real));
                    memset(R(a->dxw) + (s * B + b) * a->xw_rs + g * H + j0, 0, n * sizeof(real));
                }
                continue;
            }
            int64_t t = lk_time(a, s, len), row = t * B + b;
            const real *zr = lk_zrow(a->zmh, s, b, B, P, zh), *zcr = lk_zrow(a->zmc, s, b, B, H, zc);
            add_dout(a, dtot, dh + b * n, t, b, j0, n);
            lk_unmix(dtot, zr ? zr + j0 : NULL, dhn, dhd + b * n, n);
            lk_unmix(dc + b * n, zcr ? zcr + j0 : NULL, dcn, dcd, n);
            cell_backward(a, pk, dhn, dcn, da, n, dc + b * n, part, th, s, row, b, j0, n);
            for (int64_t j = 0; j < n; j++) dc[b * n + j] += dcd[j];
            for (int64_t g = 0; g < G; g++) {
                memcpy(dall + b * GH + g * H + j0, da + g * n, n * sizeof(real));
                memcpy(R(a->dxw) + row * a->xw_rs + g * H + j0, da + g * n, n * sizeof(real));
            }
        }
#pragma omp barrier
        lk_gemm(B, n, GH, dall, GH, bp, dhin, np);
        for (int64_t b = 0; b < B; b++) {
            if (s >= lk_len(a, b)) continue;
            const real *rm = a->rmask ? CR(a->rmask) + b * P + j0 : NULL;
            for (int64_t j = 0; j < n; j++)
                dh[b * n + j] = dhin[b * np + j] * (rm ? rm[j] : 1) + dhd[b * n + j];
        }
    }
    for (int64_t b = 0; b < B; b++) {
        memcpy(R(a->dh0) + b * P + j0, dh + b * n, n * sizeof(real));
        memcpy(R(a->dc0) + b * H + j0, dc + b * n, n * sizeof(real));
    }
    free(bp), free(dh), free(dc), free(dhn), free(dhd), free(dcn), free(dcd), free(da);
    free(dhin), free(dtot), free(th), free(zrate_h), free(zrate_c);
}
