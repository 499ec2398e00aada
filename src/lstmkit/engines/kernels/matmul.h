/* The GEMMs over all steps: input projections, d(x), and every weight gradient.
 *
 *   C (M x N, row stride ldc)  =  op(A) B  (+ C with `add`, + bias[n] when bias is given)
 *   op(A) = A (M x K, row stride lda) or, with trans_a, A^T for A stored K x M (stride lda);
 *   B (K x N) with element (k, n) at B[k * b_sk + n * b_sn] (so W^T needs no copy).
 *
 * Why not torch.mm: on this AMD CPU MKL's sgemm ran these shapes at 60-85 GFLOP/s on one
 * core while the register tiles below reach the core's FMA peak (~114 GFLOP/s measured:
 * one 512-bit FMA per cycle). Each thread owns a chunk of C's rows (or, when the rows are
 * too few, a share of the panels) and runs K block by K block: B is packed per panel and
 * block (KC x NR), a transposed A's block is copied first (below). A panel no wider than
 * NR/2 (narrow inputs: d(W_ih), d(x) with I <= 32) gets half-width tiles instead of
 * computing zeros. Included by lstm.c and gru.c.
 */
#define KC 256
#define MCHUNK (16 * MR)
/* A transposed A (the weight gradients' d(gates), T*B x G*H) is read a row segment per K
 * step: segments of 384 columns stream from memory, where 96-column ones ran latency-bound
 * and direct strided reads at half speed (TLB and cache-set misses). */
#define TCHUNK (64 * MR)
#define NH (NR / 2)

/* Half-width tiles, and tiles reading A transposed (element (r, k) at A[k * lda + r]). */
#define LK_TILES(FAMILY, NVS, A_AT)                          \
    LK_TILE_BODY(lk_##FAMILY##1, 1, NVS, A_AT)               \
    LK_TILE_BODY(lk_##FAMILY##2, 2, NVS, A_AT)               \
    LK_TILE_BODY(lk_##FAMILY##3, 3, NVS, A_AT)               \
    LK_TILE_BODY(lk_##FAMILY##4, 4, NVS, A_AT)               \
    LK_TILE_BODY(lk_##FAMILY##5, 5, NVS, A_AT)               \
    LK_TILE_BODY(lk_##FAMILY##6, 6, NVS, A_AT)
LK_TILES(tile_t, NV, k * lda + r)
LK_TILES(half_, NV / 2, r * lda + k)
LK_TILES(half_t, NV / 2, k * lda + r)

typedef void (*mm_tile)(int64_t, const real *, int64_t, const real *, real *, int64_t, int);
/* [trans][narrow][rows] */
static const mm_tile MM_TILES[2][2][MR + 1] = {
    {{NULL, lk_tile_1, lk_tile_2, lk_tile_3, lk_tile_4, lk_tile_5, lk_tile_6},
     {NULL, lk_half_1, lk_half_2, lk_half_3, lk_half_4, lk_half_5, lk_half_6}},
    {{NULL, lk_tile_t1, lk_tile_t2, lk_tile_t3, lk_tile_t4, lk_tile_t5, lk_tile_t6},
     {NULL, lk_half_t1, lk_half_t2, lk_half_t3, lk_half_t4, lk_half_t5, lk_half_t6}},
};

/* C (M rows, one packed panel of B) = or += op(A) B, a tile of up to MR rows at a time. */
static void mm_panel(int trans, int narrow, int64_t M, int64_t K, const real *A, int64_t lda,
                     const real *b, real *c, int64_t ldc, int add) {
    for (int64_t m = 0; m < M; m += MR) {
        int64_t rows = M - m < MR ? M - m : MR;
        MM_TILES[trans][narrow][rows](K, trans ? A + m : A + m * lda, lda, b, c + m * ldc, ldc,
                                      add);
    }
}

/* The row stride of a copied block of A^T: an odd number of cache lines, so that its K
 * rows spread over every L1 set (at power-of-two strides they shared two). */
static int64_t mm_packed_ld(int64_t rows) {
    int64_t lines = lk_pad(rows, 16) / 16;
    return (lines % 2 ? lines : lines + 1) * 16;
}

/* One K block of one panel (p) for rows [m0, m1): pack B, then sweep the rows. */
static void mm_block(int trans, const real *a, int64_t ld, int64_t m0, int64_t m1, int64_t p,
                     int64_t N, int64_t k0, int64_t kc, const real *B, int64_t b_sk,
                     int64_t b_sn, const real *bias, real *C, int64_t ldc, int acc, real *bp) {
    int64_t width = N - p * NR < NR ? N - p * NR : NR, narrow = width <= NH, w = narrow ? NH : NR;
    for (int64_t kk = 0; kk < kc; kk++)
        for (int64_t c = 0; c < w; c++)
            bp[kk * w + c] = c < width ? B[(k0 + kk) * b_sk + (p * NR + c) * b_sn] : 0;
    if (width == w) {
        real *c = C + m0 * ldc + p * NR;
        mm_panel(trans, (int)narrow, m1 - m0, kc, a, ld, bp, c, ldc, acc);
        if (bias && k0 == 0) /* while the rows are still in cache */
            for (int64_t m = m0; m < m1; m++)
#pragma omp simd
                for (int64_t q = 0; q < w; q++) C[m * ldc + p * NR + q] += bias[p * NR + q];
        return;
    }
    real tile[MR * NR];
    for (int64_t m = m0; m < m1; m += MR) { /* a partial panel goes through a tile */
        int64_t rows = m1 - m < MR ? m1 - m : MR;
        mm_panel(trans, (int)narrow, rows, kc, trans ? a + (m - m0) : a + (m - m0) * ld, ld, bp,
                 tile, w, 0);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < width; c++) {
                real *dst = C + (m + r) * ldc + p * NR + c;
                real v = tile[r * w + c] + (bias && k0 == 0 ? bias[p * NR + c] : 0);
                *dst = acc ? *dst + v : v;
            }
    }
}

/* Rows [m0, m1) of C over panels [p0, p1), K block by K block; A^T's block is copied into
 * ap first. */
static void mm_item(int trans, int64_t m0, int64_t m1, int64_t p0, int64_t p1, int64_t N,
                    int64_t K, const real *A, int64_t lda, const real *B, int64_t b_sk,
                    int64_t b_sn, const real *bias, real *C, int64_t ldc, int add, real *bp,
                    real *ap) {
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        int64_t kc = K - k0 < KC ? K - k0 : KC, ld = trans ? mm_packed_ld(m1 - m0) : lda;
        for (int64_t kk = 0; trans && kk < kc; kk++)
            memcpy(ap + kk * ld, A + (k0 + kk) * lda + m0, (m1 - m0) * sizeof(real));
        const real *a = trans ? ap : A + m0 * lda + k0;
        for (int64_t p = p0; p < p1; p++)
            mm_block(trans, a, ld, m0, m1, p, N, k0, kc, B, b_sk, b_sn, bias, C, ldc,
                     add || k0 > 0, bp);
    }
}

void SFX(lk_matmul)(int64_t trans_a, int64_t M, int64_t N, int64_t K, const real *A,
                    int64_t lda, const real *B, int64_t b_sk, int64_t b_sn, const real *bias,
                    real *C, int64_t ldc, int64_t add, int64_t nthreads) {
    int64_t nt = nthreads < 1 ? 1 : nthreads, panels = lk_pad(N, NR) / NR;
    if (M == 0 || N == 0) return;
    if (K == 0) { /* an empty sum */
        for (int64_t r = 0; r < M && !add; r++)
            for (int64_t c = 0; c < N; c++) C[r * ldc + c] = bias ? bias[c] : 0;
        return;
    }
    /* Row chunks of at most `most` rows, as many per thread (where the rows allow; else the
     * panels are split too). */
    int64_t most = trans_a ? TCHUNK : MCHUNK, each = (M + nt * most - 1) / (nt * most);
    int64_t rows = lk_pad((M + nt * each - 1) / (nt * each), MR);
    int64_t chunks = (M + rows - 1) / rows, groups = chunks < nt ? nt : 1;
    groups = groups > panels ? panels : groups;
    int64_t items = chunks * groups;
    nt = nt > items ? items : nt;
#pragma omp parallel num_threads(nt)
    {
        real *bp = lk_alloc(KC * NR), *ap = trans_a ? lk_alloc(KC * mm_packed_ld(rows)) : NULL;
#pragma omp for schedule(static)
        for (int64_t item = 0; item < items; item++) {
            int64_t m0 = item / groups * rows, m1 = m0 + rows < M ? m0 + rows : M;
            int64_t g = item % groups, p0 = g * panels / groups, p1 = (g + 1) * panels / groups;
            mm_item((int)trans_a, m0, m1, p0, p1, N, K, A, lda, B, b_sk, b_sn, bias, C, ldc,
                    (int)add, bp, ap);
        }
        free(bp);
        free(ap);
    }
}
