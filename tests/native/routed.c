/*
 * The routed N:M int8 product with the real instructions:
 *
 *   routed PATH RB T G BLOCKS.bin ACT.bin C.bin
 *
 * BLOCKS: RB x T x 128 bytes - per 16-row block and step, 64 kept s8 values (4 per
 * dword lane) then 64 VPSHUFB control bytes.  ACT: G x T x 16 x 8 bytes - per group
 * of 16 activation columns and step, 8 unsigned activation bytes per column.
 * For every (block, group), column n: VPBROADCASTQ the 8 bytes, VPSHUFB with the
 * controls (the multiplexer), then
 *   PATH vnni    VPDPBUSD into the accumulator
 *   PATH avx512  VPMADDUBSW (s16 saturation) -> VPMADDWD with ones -> VPADDD.
 * C: G x RB x 16 x 16 int32 (group, block, column, lane).
 * Built by the test-suite with: gcc -O2 -mavx512f -mavx512bw -mavx512vl -mavx512vnni
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *read_all(const char *path, size_t bytes)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    void *buf = malloc(bytes ? bytes : 1);
    if (fread(buf, 1, bytes, f) != bytes) { fprintf(stderr, "%s: short read\n", path); exit(2); }
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 8) { fprintf(stderr, "usage: routed PATH RB T G BLOCKS.bin ACT.bin C.bin\n"); return 2; }
    int vnni = !strcmp(argv[1], "vnni");
    if (!vnni && strcmp(argv[1], "avx512")) { fprintf(stderr, "unknown PATH %s\n", argv[1]); return 2; }
    size_t RB = strtoull(argv[2], NULL, 10), T = strtoull(argv[3], NULL, 10), G = strtoull(argv[4], NULL, 10);
    const int8_t *blocks = read_all(argv[5], RB * T * 128);
    const uint8_t *act = read_all(argv[6], G * T * 16 * 8);
    int32_t *C = malloc(G * RB * 16 * 16 * sizeof(int32_t) + 1);
    const __m512i ones = _mm512_set1_epi16(1);
    for (size_t g = 0; g < G; g++)
        for (size_t rb = 0; rb < RB; rb++)
            for (size_t n = 0; n < 16; n++) {
                __m512i acc = _mm512_setzero_si512();
                for (size_t t = 0; t < T; t++) {
                    const int8_t *step = blocks + (rb * T + t) * 128;
                    __m512i vals = _mm512_loadu_si512((const void *)step);
                    __m512i ctrl = _mm512_loadu_si512((const void *)(step + 64));
                    int64_t q;
                    memcpy(&q, act + ((g * T + t) * 16 + n) * 8, 8);
                    __m512i routed = _mm512_shuffle_epi8(_mm512_set1_epi64(q), ctrl);
                    if (vnni)
                        acc = _mm512_dpbusd_epi32(acc, routed, vals);
                    else
                        acc = _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(routed, vals), ones));
                }
                _mm512_storeu_si512((void *)(C + ((g * RB + rb) * 16 + n) * 16), acc);
            }
    FILE *f = fopen(argv[7], "wb");
    size_t count = G * RB * 256;
    if (!f || fwrite(C, sizeof(int32_t), count, f) != count) { perror(argv[7]); return 2; }
    fclose(f);
    return 0;
}
