/* lstmkit fused kernels: the shared argument block, vector math and the small packed GEMM.
 *
 * Compiled once per dtype: -DLK_DOUBLE gives float64, otherwise float32. Every function
 * exported from the .so takes one `RecArgs *`, mirrored field by field by the ctypes
 * Structure in lstmkit/engines/fused_build.py (keep the two in the same order).
 *
 * Layout conventions (all row-major, contiguous):
 *   T steps, B sequences, H hidden units, P = h's size (proj_size or H), G gate groups.
 *   Time-major buffers (T, B, n) are indexed by the *natural* time t of row b; with
 *   `reverse`, processing step s of row b reads and writes t = len_b - 1 - s, so reversed
 *   directions need no gather. Zoneout masks and the cell sequence are indexed by the
 *   processing step s, as the autograd engine draws and carries them. A layer's directions
 *   share xw, dxw and out (row strides xw_rs, out_rs): no concatenation is ever copied.
 */
#ifndef LK_COMMON_H
#define LK_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* `vec` is exactly one register of the target the build compiles for (-march=native, and
 * the cache key holds the CPU flags): zmm with AVX-512, ymm with AVX/AVX2, 16 bytes
 * elsewhere. A 64-byte type on AVX2 is split by GCC into ymm pairs that go through the
 * stack at every scalar-times-vector product: the tiles then ran at ~1 GFLOP/s. */
#if defined(__AVX512F__)
#define LK_VBYTES 64
#elif defined(__AVX__)
#define LK_VBYTES 32
#else
#define LK_VBYTES 16
#endif
#ifdef LK_DOUBLE
typedef double real;
#define VL (LK_VBYTES / 8)
#define SFX(name) name##_f64
#else
typedef float real;
#define VL (LK_VBYTES / 4)
#define SFX(name) name##_f32
#endif
typedef real vec __attribute__((vector_size(LK_VBYTES)));

#define LK_LSTM 0
#define LK_GRU 1
#define LK_RNN_TANH 2
#define LK_RNN_RELU 3
#define LN_EPS 1e-5

typedef struct {
    int64_t cell, T, B, H, P, G;  /* G: gate groups (4, or 3 under CIFG; 3 GRU; 1 RNN) */
    int64_t I;                    /* LSTM: input features of x, projected inside the step GEMM */
    int64_t cifg, reverse, nthreads, save;
    int64_t units;                /* split the hidden units, not the rows, across threads */
    int64_t xw_rs, out_rs;        /* row strides of xw/dxw and out: the layer's directions share them */
    int64_t dout_st, dout_sb, dout_sf; /* strides of dout (any layout, even expanded) */
    double zh, zc;                /* eval-mode zoneout rates (0 = off) */
    const int64_t *lengths;       /* (B,) or NULL when every row has T steps */
    void *xw;                     /* (T,B,G*H): GRU/RNN: input projections (+ b_hh for the RNN)
                                     in; with `save`, the activations out (GRU: r, z, n; RNN: h;
                                     LSTM: i, f, g, o; the LSTM projects its input itself) */
    const void *x, *wih, *bias;   /* LSTM: (T,B,I) input, (G*H,I) W_ih, (G*H,) b_ih + b_hh */
    const void *h0, *c0;          /* (B,P), (B,H) */
    const void *U, *bhh, *whr;    /* (G*H,P) recurrent weight, (G*H,) GRU's b_hh, (P,H) projection */
    const void *wch;              /* (K*H,) peepholes, or NULL */
    const void *lng, *lnb, *lncg, *lncb; /* layer norm (G*H,) x2 and (H,) x2, or NULL */
    const void *rmask;            /* (B,P) recurrent dropout mask, or NULL */
    const void *zmh, *zmc;        /* (T,B,P), (T,B,H) zoneout keep-masks (training), or NULL */
    void *out, *hT, *cT;          /* (T,B,P) zero past each length, (B,P), (B,H) */
    /* saved for the backward pass (with `save`) */
    void *cseq;                   /* (T+1,B,H) processing order: c_0, then the state after step s */
    void *cnew;                   /* (T,B,H) processing order: c before zoneout (zoneout only) */
    void *hin, *hprev;            /* the step GEMM's input: LSTM (T,B,I+P) [x_t, h * rmask],
                                     GRU/RNN (T,B,H) h * rmask; GRU's h_{t-1} if masked */
    void *hn;                     /* (T,B,H) GRU's U_n h + b_hn */
    void *lnhat, *lnrstd;         /* (T,B,G*H) normalised pre-activations, (T,B,G) */
    void *cnhat, *cnrstd;         /* (T,B,H), (T,B) */
    /* backward */
    const void *dout, *dhT, *dcT; /* (T,B,P) strided, (B,P), (B,H); dhT/dcT may be NULL */
    void *dxw, *dhw;              /* (T,B,G*H) d(input projection), row stride xw_rs; GRU: d(U h + b_hh) */
    void *dh0, *dc0;              /* (B,P), (B,H) */
    void *dwch, *dlng, *dlnb, *dlncg, *dlncb; /* parameter gradients, overwritten */
    void *dhnew, *mbuf;           /* (T,B,P), (T,B,H) for the projection's weight gradient */
} RecArgs;

#define R(p) ((real *)(p))
#define CR(p) ((const real *)(p))

/* What this build targets, for lstmkit's engine choice (select.py's fused_is_fast): the
 * vector width in bits, plus 1 when the multiply-adds compile to FMA instructions. */
int64_t SFX(lk_target)(void) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
    return LK_VBYTES * 8 + 1;
#else
    return LK_VBYTES * 8;
#endif
}

static inline int64_t lk_len(const RecArgs *a, int64_t b) {
    return a->lengths ? a->lengths[b] : a->T;
}

/* Natural time of processing step s in row b (valid steps only). */
static inline int64_t lk_time(const RecArgs *a, int64_t s, int64_t len) {
    return a->reverse ? len - 1 - s : s;
}

static inline int64_t lk_pad(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

static inline void *lk_alloc(int64_t count) {
    size_t bytes = (size_t)lk_pad(count > 0 ? count : 1, 16) * sizeof(real);
    void *p = aligned_alloc(64, lk_pad((int64_t)bytes, 64));
    if (p) memset(p, 0, bytes);
    return p;
}

/* ---- elementwise math ------------------------------------------------------------------
 * exp, sigmoid and tanh written so that GCC vectorises them inside `omp simd` loops (libm's
 * scalar calls block vectorisation without -ffast-math, which we avoid to keep NaN/Inf
 * semantics). Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, Taylor series for e^r - 1
 * (degree 8 for float, 13 for double: truncation below one ulp), 2^n built in the exponent
 * bits. tanh uses expm1 so that it keeps full relative precision near 0.
 */
#ifdef LK_DOUBLE
#define X_LO (-708.0)
#define X_HI 709.0
#define LN2_HI 6.93147180369123816490e-01
#define LN2_LO 1.90821492927058770002e-10
#define MAGIC 6755399441055744.0 /* 1.5 * 2^52: adding it rounds to an integer */
static inline real lk_pow2(real shifted) {
    int64_t bits;
    memcpy(&bits, &shifted, 8);
    bits = (bits - 0x4338000000000000LL + 1023) << 52;
    real s;
    memcpy(&s, &bits, 8);
    return s;
}
static inline real lk_poly(real r) { /* e^r - 1 */
    real p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    return p * r;
}
#else
#define X_LO (-87.0f)
#define X_HI 88.0f
#define LN2_HI 0.693145751953125f
#define LN2_LO 1.428606765330187e-06f
#define MAGIC 12582912.0f /* 1.5 * 2^23 */
static inline real lk_pow2(real shifted) {
    int32_t bits;
    memcpy(&bits, &shifted, 4);
    bits = (bits - 0x4B400000 + 127) << 23;
    real s;
    memcpy(&s, &bits, 4);
    return s;
}
static inline real lk_poly(real r) {
    real p = 1.0f / 40320.0f;
    p = p * r + 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    return p * r;
}
#endif

/* e^x - 1 on the clamped range; NaN passes through the clamp (comparisons are false). */
static inline real lk_expm1(real x) {
    x = x < X_LO ? X_LO : (x > X_HI ? X_HI : x);
    real shifted = x * (real)1.4426950408889634 + MAGIC;
    real n = shifted - MAGIC;
    real r = x - n * LN2_HI - n * LN2_LO;
    real s = lk_pow2(shifted);
    return lk_poly(r) * s + (s - 1);
}

static inline real lk_sigmoid(real x) { return 1 / (lk_expm1(-x) + 2); }

static inline real lk_tanh(real x) {
    real e = lk_expm1(2 * x);
    return e / (e + 2);
}

/* ---- threads: each takes a contiguous share of the batch rows ----------------------------
 * Rows of a batch are independent sequences, so a thread runs the whole time loop for its
 * rows with no barrier per step, and a row's arithmetic is the same whatever the thread
 * count (results are bitwise independent of it, except the in-kernel parameter-gradient
 * sums). The OpenMP runtime is torch's own libgomp (same soname, already loaded), so torch
 * and these kernels share one thread pool.
 */
static inline int64_t lk_threads(const RecArgs *a) {
    int64_t nt = a->nthreads < 1 ? 1 : a->nthreads, most = a->units ? a->H / 16 : a->B;
    return nt > most ? (most > 0 ? most : 1) : nt;
}

static inline void lk_rows(const RecArgs *a, int64_t tid, int64_t nt, int64_t *b0, int64_t *b1) {
    *b0 = a->B * tid / nt;
    *b1 = a->B * (tid + 1) / nt;
}

static inline int lk_thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Run the n directions of a layer (n = 1 or 2). `concurrent`: each direction on its own group
 * of k threads at once (a bidirectional layer keeps one direction's weights in each core's
 * cache); otherwise one after the other. Each thread first packs its share of the weights,
 * then runs the whole time loop for its share (`work` gets its index among the k threads
 * of its direction). `parts[d]` holds one gradient partial of `part_len` per thread of
 * direction d (NULL in the forward pass).
 */
typedef void (*lk_pack_fn)(const RecArgs *a, void *pk, int64_t part, int64_t parts);
typedef void (*lk_work_fn)(const RecArgs *a, void *pk, int64_t local, int64_t k, real *part);

static void lk_layer(const RecArgs *a, int64_t n, int concurrent, void **pk, lk_pack_fn pack,
                     lk_work_fn work, real **parts, int64_t part_len) {
    if (!concurrent && n > 1) {
        for (int64_t d = 0; d < n; d++)
            lk_layer(a + d, 1, 1, pk + d, pack, work, parts ? parts + d : NULL, part_len);
        return;
    }
    int64_t k = lk_threads(a);
#pragma omp parallel num_threads(n * k)
    {
        int64_t tid = lk_thread_id(), d = tid / k, local = tid % k;
        pack(a + d, pk[d], local, k);
#pragma omp barrier
        work(a + d, pk[d], local, k, parts ? parts[d] + local * part_len : NULL);
    }
}

/* A backward loop's recurrent product, out (M x pad(P, pad)) = da (M x G*H, row stride ld)
 * U, computed by the kernel that runs the loop (float32 tiles, or bfloat16 ones). */
typedef struct {
    void (*run)(const RecArgs *a, const void *ctx, int64_t M, const real *da, int64_t ld,
                real *out, int64_t ldo);
    const void *ctx;
    int64_t pad; /* the columns its output rows need: P rounded up to its tiles' width */
} StepProduct;

/* Zoneout coefficient row: the keep-mask of step s (training), the eval rate, or NULL. */
static inline const real *lk_zrow(const void *mask, int64_t s, int64_t b, int64_t B, int64_t n,
                                  const real *rate_row) {
    return mask ? CR(mask) + (s * B + b) * n : rate_row;
}

/* state = z * old + (1 - z) * new, in place in `old`; z NULL means no zoneout. */
static inline void lk_mix(real *restrict old, const real *restrict new_, const real *z,
                          int64_t n) {
    if (!z) {
        memcpy(old, new_, n * sizeof(real));
        return;
    }
#pragma omp simd
    for (int64_t j = 0; j < n; j++) old[j] = z[j] * old[j] + (1 - z[j]) * new_[j];
}

/* Split a state gradient g between the new value (returned in g_new) and the old state. */
static inline void lk_unmix(const real *restrict g, const real *z, real *restrict g_new,
                            real *restrict g_old, int64_t n) {
    if (!z) {
        memcpy(g_new, g, n * sizeof(real));
        memset(g_old, 0, n * sizeof(real));
        return;
    }
#pragma omp simd
    for (int64_t j = 0; j < n; j++) {
        g_new[j] = (1 - z[j]) * g[j];
        g_old[j] = z[j] * g[j];
    }
}

/* Layer norm of one row in place: x <- (x - mean) / sqrt(var + eps) * w + b (biased var,
 * eps inside the root, as F.layer_norm); saves the normalised row and 1/sigma when asked. */
static inline void lk_layer_norm(real *restrict x, int64_t n, const real *restrict w,
                                 const real *restrict b, real *hat, real *rstd_out) {
    real mean = 0, var = 0;
#pragma omp simd reduction(+ : mean)
    for (int64_t j = 0; j < n; j++) mean += x[j];
    mean /= n;
#pragma omp simd reduction(+ : var)
    for (int64_t j = 0; j < n; j++) var += (x[j] - mean) * (x[j] - mean);
    real rstd = 1 / sqrt((double)(var / n) + LN_EPS);
#pragma omp simd
    for (int64_t j = 0; j < n; j++) {
        real xh = (x[j] - mean) * rstd;
        if (hat) hat[j] = xh;
        x[j] = xh * w[j] + b[j];
    }
    if (rstd_out) *rstd_out = rstd;
}

/* Backward of lk_layer_norm for one row: d is d(output) on entry and d(input) on exit;
 * the gain and bias gradients accumulate into dw and db. */
static inline void lk_layer_norm_back(real *restrict d, const real *restrict hat, real rstd,
                                      int64_t n, const real *restrict w, real *restrict dw,
                                      real *restrict db) {
    real m1 = 0, m2 = 0;
#pragma omp simd reduction(+ : m1, m2)
    for (int64_t j = 0; j < n; j++) {
        dw[j] += d[j] * hat[j];
        db[j] += d[j];
        real dh = d[j] * w[j];
        m1 += dh;
        m2 += dh * hat[j];
    }
    m1 /= n;
    m2 /= n;
#pragma omp simd
    for (int64_t j = 0; j < n; j++) d[j] = rstd * (d[j] * w[j] - m1 - hat[j] * m2);
}

/* Sum per-thread partial gradients (nt rows of n) into out. */
static inline void lk_reduce(real *out, const real *parts, int64_t nt, int64_t n) {
    if (!out) return;
    memset(out, 0, n * sizeof(real));
    for (int64_t t = 0; t < nt; t++)
        for (int64_t j = 0; j < n; j++) out[j] += parts[t * n + j];
}

#endif
