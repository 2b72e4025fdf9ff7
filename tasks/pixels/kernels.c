/* The one-pass whole-image steps of kernels.py, each the very arithmetic (float32, round half to even) of the
 * numpy expression kernels.py names beside it; kernels.py falls back to that expression when this library cannot
 * be built. Compiled on first use as fastlut.c is (fastlut.py: -O2 -march=native, into __pycache__) and called
 * through ctypes, which lets go of the GIL: the photo threads run them at once. None of them multiplies and adds
 * in one expression, so a fused multiply-add cannot change a result. n: values (pixels for add_clipped). */

#pragma GCC optimize("O3", "no-trapping-math")   /* vectorised (no trapping: the clamps become selects):
                                                 * 3-6x faster than -O2 here; no gathers, unlike fastlut.c */

#include <math.h>
#include <stdint.h>

static inline float clampf(float v, float hi) { return v < 0.0f ? 0.0f : (v > hi ? hi : v); }

/* x = rint(clip(x * 65535, 0, 65535)) / 65535, in place: the values a 16-bit working TIFF gives back */
void round_stored(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] = rintf(clampf(x[i] * 65535.0f, 65535.0f)) / 65535.0f;
}

/* out = rint(clip(x, 0, 1) * 65535) as uint16 */
void to_u16(const float *x, uint16_t *out, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        out[i] = (uint16_t)(int32_t)rintf(clampf(x[i], 1.0f) * 65535.0f);
}

/* out = codes / 65535 */
void from_u16(const uint16_t *codes, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        out[i] = (float)codes[i] / 65535.0f;
}

/* out = codes * factor */
void times_u16(const uint16_t *codes, float *out, int64_t n, float factor) {
    for (int64_t i = 0; i < n; i++)
        out[i] = (float)codes[i] * factor;
}

/* out = table[codes] (a 65536-entry table) */
void look_up(const float *table, const uint16_t *codes, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        out[i] = table[codes[i]];
}

/* out = clip(image + plane[..., None], 0, 1), RGB; out may be image */
void add_clipped(const float *image, const float *plane, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float d = plane[i];
        for (int c = 0; c < 3; c++)
            out[3 * i + c] = clampf(image[3 * i + c] + d, 1.0f);
    }
}
