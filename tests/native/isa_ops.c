/*
 * Runs one real x86 integer multiply-add instruction over N registers read from
 * raw binary files and writes the result registers to a raw binary file.
 *
 *   isa_ops OP BITS N OUT IN1 IN2 [IN3]
 *
 * OP   maddubs (IN1 u8, IN2 s8 -> s16)      VPMADDUBSW
 *      madd    (IN1 s16, IN2 s16 -> s32)    VPMADDWD
 *      add     (IN1 s32, IN2 s32 -> s32)    VPADDD
 *      dpbusd  (IN1 acc s32, IN2 u8, IN3 s8) VPDPBUSD
 *      dpbusds (IN1 acc s32, IN2 u8, IN3 s8) VPDPBUSDS
 * BITS 512 (zmm) or 256 (ymm; the VNNI forms are EVEX.256 from AVX512_VNNI+VL)
 *
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

static void write_all(const char *path, const void *buf, size_t bytes)
{
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    if (fwrite(buf, 1, bytes, f) != bytes) { fprintf(stderr, "%s: short write\n", path); exit(2); }
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: isa_ops OP BITS N OUT IN1 IN2 [IN3]\n");
        return 2;
    }
    const char *op = argv[1];
    int bits = atoi(argv[2]);
    size_t n = strtoull(argv[3], NULL, 10);
    size_t rb = (size_t)bits / 8; /* bytes per register */
    if (bits != 512 && bits != 256) { fprintf(stderr, "BITS must be 512 or 256\n"); return 2; }
    int three = strncmp(op, "dpbusd", 6) == 0;
    if (three && argc < 8) { fprintf(stderr, "%s needs three inputs\n", op); return 2; }
    uint8_t *x = read_all(argv[5], n * rb);
    uint8_t *y = read_all(argv[6], n * rb);
    uint8_t *z = three ? read_all(argv[7], n * rb) : NULL;
    uint8_t *out = malloc(n * rb + 1);

    for (size_t r = 0; r < n; r++) {
        const uint8_t *px = x + r * rb, *py = y + r * rb, *pz = three ? z + r * rb : NULL;
        uint8_t *po = out + r * rb;
        if (bits == 512) {
            __m512i a = _mm512_loadu_si512((const void *)px);
            __m512i b = _mm512_loadu_si512((const void *)py);
            __m512i c = three ? _mm512_loadu_si512((const void *)pz) : _mm512_setzero_si512();
            __m512i d;
            if (!strcmp(op, "maddubs")) d = _mm512_maddubs_epi16(a, b);
            else if (!strcmp(op, "madd")) d = _mm512_madd_epi16(a, b);
            else if (!strcmp(op, "add")) d = _mm512_add_epi32(a, b);
            else if (!strcmp(op, "dpbusd")) d = _mm512_dpbusd_epi32(a, b, c);
            else if (!strcmp(op, "dpbusds")) d = _mm512_dpbusds_epi32(a, b, c);
            else { fprintf(stderr, "unknown OP %s\n", op); return 2; }
            _mm512_storeu_si512((void *)po, d);
        } else {
            __m256i a = _mm256_loadu_si256((const __m256i *)px);
            __m256i b = _mm256_loadu_si256((const __m256i *)py);
            __m256i c = three ? _mm256_loadu_si256((const __m256i *)pz) : _mm256_setzero_si256();
            __m256i d;
            if (!strcmp(op, "maddubs")) d = _mm256_maddubs_epi16(a, b);
            else if (!strcmp(op, "madd")) d = _mm256_madd_epi16(a, b);
            else if (!strcmp(op, "add")) d = _mm256_add_epi32(a, b);
            else if (!strcmp(op, "dpbusd")) d = _mm256_dpbusd_epi32(a, b, c);
            else if (!strcmp(op, "dpbusds")) d = _mm256_dpbusds_epi32(a, b, c);
            else { fprintf(stderr, "unknown OP %s\n", op); return 2; }
            _mm256_storeu_si256((__m256i *)po, d);
        }
    }
    /* maddubs/madd outputs halve the lane count but keep the register width */
    write_all(argv[4], out, n * rb);
    return 0;
}
