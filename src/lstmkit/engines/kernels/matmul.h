/* The GEMMs over all steps: input projections, d(x), and every weight gradient.
 *
 *   C (M x N, row stride ldc)  =  op(A) B  (+ C with `add`, + bias[n] when bias is given)
 *   op(A) = A (M x K, row stride lda) or, with trans_a, A^T for A stored K x M (stride lda);
 *   B (K x N) with element (k, n) at B[k * b_sk + n * b_sn] (so W^T needs no copy).
 *
 * Why not torch.mm: on this AMD CPU MKL's sgemm ran these shapes at 60-85 GFLOP/s on one
 * core while the register tiles below reach the core's FMA peak (~114 GFLOP/s measured:
 * one 512-bit FMA per cycle). B is packed per panel and K block (KC x NR, L1-sized), and
 * the panels x row-chunks are shared among the threads. Included by lstm.c and gru.c.
 */
#define KC 256
#define MCHUNK (16 * MR)

/* Tiles reading A transposed: element (r, k) at A[k * lda + r], MR rows contiguous per k. */
#define LK_TILE_T(ROWS) LK_TILE_BODY(lk_tile_t##ROWS, ROWS, k * lda + r)
LK_TILE_T(1)
LK_TILE_T(2)
LK_TILE_T(3)
LK_TILE_T(4)
LK_TILE_T(5)
LK_TILE_T(6)

static void mm_panel(int trans, int64_t M, int64_t K, const real *A, int64_t lda,
                     const real *b, real *c, int64_t ldc, int add) {
    if (!trans) {
        lk_panel(M, K, A, lda, b, c, ldc, add);
        return;
    }
    int64_t m = 0;
    for (; m + MR <= M; m += MR) lk_tile_t6(K, A + m, lda, b, c + m * ldc, ldc, add);
    switch (M - m) {
    case 5: lk_tile_t5(K, A + m, lda, b, c + m * ldc, ldc, add); break;
    case 4: lk_tile_t4(K, A + m, lda, b, c + m * ldc, ldc, add); break;
    case 3: lk_tile_t3(K, A + m, lda, b, c + m * ldc, ldc, add); break;
    case 2: lk_tile_t2(K, A + m, lda, b, c + m * ldc, ldc, add); break;
    case 1: lk_tile_t1(K, A + m, lda, b, c + m * ldc, ldc, add); break;
    default: break;
    }
}

/* One panel of NR columns (p) over rows [m0, m1), all K blocks. */
static void mm_item(int trans, int64_t m0, int64_t m1, int64_t p, int64_t N, int64_t K,
                    const real *A, int64_t lda, const real *B, int64_t b_sk, int64_t b_sn,
                    const real *bias, real *C, int64_t ldc, int add, real *bp) {
    int64_t width = N - p * NR < NR ? N - p * NR : NR;
    real tile[MR * NR];
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        int64_t kc = K - k0 < KC ? K - k0 : KC;
        for (int64_t kk = 0; kk < kc; kk++)
            for (int64_t c = 0; c < NR; c++)
                bp[kk * NR + c] = c < width ? B[(k0 + kk) * b_sk + (p * NR + c) * b_sn] : 0;
        int acc = add || k0 > 0;
        const real *a = trans ? A + k0 * lda : A + k0;
        if (width == NR) {
            real *c = C + m0 * ldc + p * NR;
            mm_panel(trans, m1 - m0, kc, trans ? a + m0 : a + m0 * lda, lda, bp, c, ldc, acc);
            if (bias && k0 == 0) /* while the rows are still in cache */
                for (int64_t m = m0; m < m1; m++)
#pragma omp simd
                    for (int64_t q = 0; q < NR; q++) C[m * ldc + p * NR + q] += bias[p * NR + q];
            continue;
        }
        for (int64_t m = m0; m < m1; m += MR) { /* a partial panel goes through a tile */
            int64_t rows = m1 - m < MR ? m1 - m : MR;
            mm_panel(trans, rows, kc, trans ? a + m : a + m * lda, lda, bp, tile, NR, 0);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < width; c++) {
                    real *dst = C + (m + r) * ldc + p * NR + c;
                    real v = tile[r * NR + c] + (bias && k0 == 0 ? bias[p * NR + c] : 0);
                    *dst = acc ? *dst + v : v;
                }
        }
    }
}

void SFX(lk_matmul)(int64_t trans_a, int64_t M, int64_t N, int64_t K, const real *A,
                    int64_t lda, const real *B, int64_t b_sk, int64_t b_sn, const real *bias,
                    real *C, int64_t ldc, int64_t add, int64_t nthreads) {
    int64_t panels = lk_pad(N, NR) / NR, chunks = (M + MCHUNK - 1) / MCHUNK;
    int64_t items = panels * chunks, nt = nthreads < 1 ? 1 : nthreads;
    if (nt > items) nt = items > 0 ? items : 1;
    if (K == 0) { /* an empty sum */
        for (int64_t r = 0; r < M && !add; r++)
            for (int64_t c = 0; c < N; c++) C[r * ldc + c] = bias ? bias[c] : 0;
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        real *bp = lk_alloc(KC * NR);
#pragma omp for schedule(static)
        for (int64_t item = 0; item < items; item++) {
            int64_t p = item / chunks, m0 = item % chunks * MCHUNK;
            int64_t m1 = m0 + MCHUNK < M ? m0 + MCHUNK : M;
            mm_item((int)trans_a, m0, m1, p, N, K, A, lda, B, b_sk, b_sn, bias, C, ldc, (int)add,
                    bp);
        }
        free(bp);
    }
}
