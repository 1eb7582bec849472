/* Counter-based standard-normal values for noisewalk's noise streams.
 *
 * Value i of the stream with key K depends only on (K, i): in block b of 32 values, pair
 * k < 16 (the stream's pair p = 16 b + k) takes the 64 bits SplitMix64(K + (p + 1) GOLDEN),
 * 32 of them for u in (0, 1] and 24 for t in [0, 1), and the Box-Muller transform gives
 * sqrt(-2 ln u) cos(2 pi t) at position 32 b + k and sqrt(-2 ln u) sin(2 pi t) at
 * position 32 b + 16 + k.
 *
 * Every step is a fixed sequence of IEEE single-precision operations (no fused multiply-add,
 * no library calls but sqrt, which IEEE rounds exactly): noisewalk.noise.counter computes the
 * same values bit for bit with torch operations where this file is not built. The logarithm
 * and the sine and cosine are polynomials (the atanh series of ln, Taylor series of sin and
 * cos on a quarter turn), accurate to a few units in the last place.
 *
 * Compile with -O3 -ffp-contract=off -fno-math-errno (setup.py and noisewalk.noise.counter
 * do); no Python API is used: the library is loaded with ctypes, which releases the GIL
 * during the call. On x86-64 Linux the kernel is compiled three times (AVX-512, AVX2, any
 * x86-64) and the loader picks the one the processor runs; all give the same values.
 */

#include <stdint.h>
#include <string.h>
#include <math.h>
#include <pthread.h>

#define NW_GOLDEN 0x9E3779B97F4A7C15ULL
#define NW_BLOCK 32
#define NW_PAIRS 16
#define NW_MAX_THREADS 64
#define NW_MIN_BLOCKS_PER_THREAD 1024 /* about 15 microseconds of work: less does not pay for a thread */

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(NW_NO_CLONES)
#define NW_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define NW_CLONES
#endif

static inline uint64_t nw_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline float nw_float(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline uint32_t nw_bits(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* sqrt(-2 ln u) * (cos 2 pi t, sin 2 pi t) for the 48 random bits of one pair, without
 * branches (selections are bit masks, so that the compiler vectorizes the block) */
static inline __attribute__((always_inline)) void nw_pair(uint64_t r, float *zc, float *zs) {
    /* u = (a + 1) 2^-32 in (0, 1], a the high 32 bits, rounded once to float (through an
     * exact double); ln u = e ln 2 + ln m with m in [sqrt(1/2), sqrt(2)) */
    int32_t a = (int32_t)((uint32_t)(r >> 32) ^ 0x80000000u);
    uint32_t ub = nw_bits((float)(((double)a + 2147483649.0) * 0x1p-32));
    uint32_t mant = ub & 0x7FFFFFu;
    uint32_t big = mant > 0x3504F3u; /* the mantissa of sqrt(2): m / 2 instead of m */
    int32_t e = (int32_t)(ub >> 23) - 127 + (int32_t)big;
    float m = nw_float(mant | (0x3F800000u - (big << 23)));
    float s = (m - 1.0f) / (m + 1.0f);
    float s2 = s * s;
    float p = (((s2 * 0x1.c71c72p-4f + 0x1.24924ap-3f) * s2 + 0x1.99999ap-3f) * s2 + 0x1.555556p-2f) * s2 + 1.0f;
    float ln = (float)e * 0x1.62e430p-1f + (2.0f * s) * p;
    float rad = sqrtf(-2.0f * ln);

    /* t = b 2^-24: quarter turn q, and g in [-1/2, 1/2) of a quarter turn around it */
    int32_t b = (int32_t)((r >> 8) & 0xFFFFFFu);
    int32_t rest = b & 0x3FFFFF;
    int32_t up = rest >> 21;
    uint32_t q = (uint32_t)((b >> 22) + up) & 3u;
    float g = (float)(rest - (up << 22)) * 0x1p-22f;
    float x = g * 0x1.921fb6p+0f;
    float x2 = x * x;
    float sx = (((0x1.71de3ap-19f * x2 + -0x1.a01a02p-13f) * x2 + 0x1.111112p-7f) * x2 + -0x1.555556p-3f) * x2 * x + x;
    float cx = ((((-0x1.27e4fcp-22f * x2 + 0x1.a01a02p-16f) * x2 + -0x1.6c16c2p-10f) * x2 + 0x1.555556p-5f) * x2 + -0.5f) * x2 + 1.0f;
    /* the quarter turn: q = 0 (s, c), 1 (c, -s), 2 (-s, -c), 3 (-c, s) as (sin, cos) */
    uint32_t swap = 0u - (q & 1u);
    uint32_t sb = nw_bits(sx), cb = nw_bits(cx);
    uint32_t sin_b = ((cb & swap) | (sb & ~swap)) ^ ((q >> 1) << 31);
    uint32_t cos_b = ((sb & swap) | (cb & ~swap)) ^ (((q ^ (q >> 1)) & 1u) << 31);
    *zc = rad * nw_float(cos_b);
    *zs = rad * nw_float(sin_b);
}

/* The BLOCK values of block `blk` (pairs PAIRS * blk ... PAIRS * blk + PAIRS - 1) into z */
static inline __attribute__((always_inline)) void nw_block(float *z, uint64_t key, uint64_t blk) {
    uint64_t base = key + (blk * NW_PAIRS + 1) * NW_GOLDEN;
    for (int k = 0; k < NW_PAIRS; k++) {
        nw_pair(nw_mix(base + (uint64_t)k * NW_GOLDEN), z + k, z + NW_PAIRS + k);
    }
}

/* How values are added: out = x + scale * z, with one scale, or with scales[r] for the r-th
 * run of `row` values (one scale per sample of a batch laid out sample after sample) */
struct nw_add {
    const float *x;      /* NULL: out = z */
    float scale;
    const float *scales; /* NULL: `scale` for every value */
    int64_t row;
};

/* out[i + j] for j < m from the block's values z */
static inline __attribute__((always_inline)) void nw_put(float *out, const float *z, int64_t i, int64_t m, const struct nw_add *a) {
    if (a->x == NULL) {
        memcpy(out + i, z, (size_t)m * sizeof(float));
        return;
    }
    const float *x = a->x;
    if (a->scales == NULL) {
        float s = a->scale;
        for (int64_t j = 0; j < m; j++) out[i + j] = x[i + j] + s * z[j];
        return;
    }
    for (int64_t j = 0; j < m;) {
        int64_t r = (i + j) / a->row, end = (r + 1) * a->row - i;
        float s = a->scales[r];
        if (end > m) end = m;
        for (; j < end; j++) out[i + j] = x[i + j] + s * z[j];
    }
}

/* Values [lo, hi) of a request (lo a multiple of BLOCK) whose value 0 is the first of block
 * `first` */
NW_CLONES
static void nw_range(float *out, const struct nw_add *a, int64_t lo, int64_t hi, uint64_t key, uint64_t first) {
    float z[NW_BLOCK];
    for (int64_t i = lo; i < hi; i += NW_BLOCK) {
        int64_t m = hi - i < NW_BLOCK ? hi - i : NW_BLOCK;
        uint64_t blk = first + (uint64_t)(i / NW_BLOCK);
        if (a->x == NULL && m == NW_BLOCK) {
            nw_block(out + i, key, blk);
            continue;
        }
        nw_block(z, key, blk);
        nw_put(out, z, i, m, a);
    }
}

struct nw_job {
    float *out;
    const struct nw_add *add;
    int64_t lo, hi;
    uint64_t key, first;
};

static void *nw_run(void *arg) {
    struct nw_job *j = (struct nw_job *)arg;
    nw_range(j->out, j->add, j->lo, j->hi, j->key, j->first);
    return NULL;
}

/* The whole request on `threads` threads (this one and threads - 1 started for the call),
 * each taking a contiguous run of blocks: the values do not depend on the thread count. */
static void nw_request(float *out, const struct nw_add *a, int64_t n, uint64_t key, uint64_t block, int threads) {
    int64_t nblocks = (n + NW_BLOCK - 1) / NW_BLOCK;
    if (threads > NW_MAX_THREADS) threads = NW_MAX_THREADS;
    if (threads > 1 && nblocks / threads < NW_MIN_BLOCKS_PER_THREAD) threads = (int)(nblocks / NW_MIN_BLOCKS_PER_THREAD);
    if (threads < 2) {
        nw_range(out, a, 0, n, key, block);
        return;
    }
    struct nw_job jobs[NW_MAX_THREADS];
    pthread_t ids[NW_MAX_THREADS];
    int started[NW_MAX_THREADS] = {0};
    for (int t = 0; t < threads; t++) {
        int64_t lo = nblocks * t / threads * NW_BLOCK, hi = nblocks * (t + 1) / threads * NW_BLOCK;
        jobs[t] = (struct nw_job){out, a, lo, hi < n ? hi : n, key, block};
    }
    for (int t = 1; t < threads; t++) started[t] = pthread_create(&ids[t], NULL, nw_run, &jobs[t]) == 0;
    nw_run(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t]) pthread_join(ids[t], NULL);
        else nw_run(&jobs[t]); /* no thread to be had: this one does the work */
    }
}

/* out[0:n] = the n values of the stream `key` from block `block` on */
void nw_normal_fill(float *out, int64_t n, uint64_t key, uint64_t block, int threads) {
    struct nw_add a = {NULL, 1.0f, NULL, 1};
    nw_request(out, &a, n, key, block, threads);
}

/* out[0:n] = x[0:n] + s * (the same values), s = scales[i / row] for value i where scales is
 * not NULL, else scale; out may be x */
void nw_normal_add(float *out, const float *x, float scale, const float *scales, int64_t row, int64_t n, uint64_t key,
                   uint64_t block, int threads) {
    struct nw_add a = {x, scale, scales, row > 0 ? row : 1};
    nw_request(out, &a, n, key, block, threads);
}

/* The interface and layout this file implements (noisewalk checks it when loading the
 * library): 3 = the stream of layout 2, nw_normal_add with per-row scales. */
int nw_normal_version(void) { return 3; }
