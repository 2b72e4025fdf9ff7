/* The fused per-pixel pass in C: the same arithmetic as fastlut.py's numba kernel, which stays as
 * the fallback when no C compiler is at hand. fastlut.py compiles this file on first use with the
 * system's C compiler (-O2 -march=native; -O3 vectorised it into gathers, 1.7x slower here) into __pycache__ and calls it through ctypes, one call per
 * band of rows on each thread: a ctypes call lets go of the GIL.
 *
 * Why not only numba: a process's first numba call costs 0.2-0.45 s of set-up (its typing and
 * lowering registries, scipy's BLAS probe), every worker process pays it, and a batch of a few
 * images per worker feels it. Loading this library costs about a millisecond.
 *
 * src: uint16 rows of width*3 (linear Rec.2020); index/fraction: each 16-bit code's grid cell and
 * position in it; flat: the (size^3 x 4) table, already times `scale`; second/third: the offsets of
 * a tetrahedron's second and third vertices by the order code of the fractions; gain_x/gain_y/gains:
 * the vignette (gain_steps < 0: none); out_kind: 0 uint8, 1 uint16, 2 float32. */

#include <stdint.h>
#include <string.h>

typedef float v4 __attribute__((vector_size(16)));

static inline v4 vertex(const float *flat, int32_t at) {
    v4 v;
    memcpy(&v, flat + at, sizeof v);            /* one 16-byte load: the vertex's 3 channels + pad */
    return v;
}

static inline float max3(float a, float b, float c) { float m = a > b ? a : b; return m > c ? m : c; }
static inline float min3(float a, float b, float c) { float m = a < b ? a : b; return m < c ? m : c; }
static inline float clampf(float v, float hi) { return v < 0.0f ? 0.0f : (v > hi ? hi : v); }

/* The loop, inlined into one copy per (tetrahedral, vignette, clamp, out_kind): each copy's inner
 * loop has no tests of its own options. */
static inline __attribute__((always_inline)) void rows(
        const uint16_t *src, const int32_t *index, const float *fraction, const float *flat, int32_t size,
        const int tetrahedral, const int32_t *second, const int32_t *third, const float *gain_x,
        const float *gain_y, const float *gains, int32_t gain_steps, const int vignette, const int clamp,
        void *out, const int out_kind, float scale, float offset, int64_t width, int64_t y0, int64_t y1) {
    const int32_t sb = 4, sg = 4 * size, sr = 4 * size * size, far = sr + sg + sb;
    for (int64_t y = y0; y < y1; y++) {
        const uint16_t *row = src + y * width * 3;
        const float across = vignette ? gain_y[y] : 0.0f;
        for (int64_t x = 0; x < width; x++) {
            const uint16_t cr = row[3 * x], cg = row[3 * x + 1], cb = row[3 * x + 2];
            const float dr = fraction[cr], dg = fraction[cg], db = fraction[cb];
            const int32_t base = index[cr] * sr + index[cg] * sg + index[cb] * sb;
            v4 v;
            if (tetrahedral) {
                const float hi = max3(dr, dg, db), lo = min3(dr, dg, db), mid = dr + dg + db - hi - lo;
                const int order = (dr >= dg) << 2 | (dg >= db) << 1 | (dr >= db);
                v = vertex(flat, base) * (1.0f - hi) + vertex(flat, base + second[order]) * (hi - mid)
                    + vertex(flat, base + third[order]) * (mid - lo) + vertex(flat, base + far) * lo;
            } else {
                const float er = 1.0f - dr, eg = 1.0f - dg, eb = 1.0f - db;
                v = vertex(flat, base) * (er * eg * eb) + vertex(flat, base + sb) * (er * eg * db)
                    + vertex(flat, base + sg) * (er * dg * eb) + vertex(flat, base + sg + sb) * (er * dg * db)
                    + vertex(flat, base + sr) * (dr * eg * eb) + vertex(flat, base + sr + sb) * (dr * eg * db)
                    + vertex(flat, base + sr + sg) * (dr * dg * eb) + vertex(flat, base + far) * (dr * dg * db);
            }
            float v0 = v[0], v1 = v[1], v2 = v[2];
            if (vignette) {
                const float gain = gains[(int32_t)((gain_x[x] + across) * (float)gain_steps + 0.5f)];
                v0 *= gain;
                v1 *= gain;
                v2 *= gain;
            }
            if (clamp) {
                v0 = clampf(v0, scale);
                v1 = clampf(v1, scale);
                v2 = clampf(v2, scale);
            }
            const int64_t i = (y * width + x) * 3;
            if (out_kind == 0) {
                uint8_t *dst = (uint8_t *)out + i;
                dst[0] = (uint8_t)(v0 + offset);
                dst[1] = (uint8_t)(v1 + offset);
                dst[2] = (uint8_t)(v2 + offset);
            } else if (out_kind == 1) {
                uint16_t *dst = (uint16_t *)out + i;
                dst[0] = (uint16_t)(v0 + offset);
                dst[1] = (uint16_t)(v1 + offset);
                dst[2] = (uint16_t)(v2 + offset);
            } else {
                float *dst = (float *)out + i;
                dst[0] = v0 + offset;
                dst[1] = v1 + offset;
                dst[2] = v2 + offset;
            }
        }
    }
}

#define ROWS(T, V, C, K) rows(src, index, fraction, flat, size, T, second, third, gain_x, gain_y, gains, \
                              gain_steps, V, C, out, K, scale, offset, width, y0, y1)
#define BY_KIND(T, V, C) do { if (out_kind == 0) ROWS(T, V, C, 0); else if (out_kind == 1) ROWS(T, V, C, 1); \
                              else ROWS(T, V, C, 2); } while (0)
#define BY_CLAMP(T, V) do { if (clamp) BY_KIND(T, V, 1); else BY_KIND(T, V, 0); } while (0)
#define BY_VIGNETTE(T) do { if (gain_steps >= 0) BY_CLAMP(T, 1); else BY_CLAMP(T, 0); } while (0)

void fastlut_rows(const uint16_t *src, const int32_t *index, const float *fraction, const float *flat,
                  int32_t size, int32_t tetrahedral, const int32_t *second, const int32_t *third,
                  const float *gain_x, const float *gain_y, const float *gains, int32_t gain_steps,
                  int32_t clamp, void *out, int32_t out_kind, float scale, float offset,
                  int64_t width, int64_t y0, int64_t y1) {
    if (tetrahedral)
        BY_VIGNETTE(1);
    else
        BY_VIGNETTE(0);
}
