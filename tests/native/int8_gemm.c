/*
 * Whole int8 GEMM with the real instructions, in the blocked weight layout:
 * C[M x N] (s32) = A[M x K] (u8) x W[K x N] (s8).
 *
 *   int8_gemm PATH M K N A.bin WP.bin C.bin
 *
 * WP holds N/16 x K/4 registers of 64 bytes: register (nb, kb) lane j (bytes
 * 4j..4j+3) = W[4kb..4kb+3, 16nb+j].  For each row of A the 4 bytes
 * A[m, 4kb..4kb+3] are broadcast to all 16 dword lanes.
 * PATH avx512  VPMADDUBSW -> VPMADDWD (with ones) -> VPADDD
 *      vnni    VPDPBUSD
 *      vnnis   VPDPBUSDS
 * K must be a multiple of 4 and N of 16 (the caller pads with zeros).
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
    if (argc != 8) { fprintf(stderr, "usage: int8_gemm PATH M K N A.bin WP.bin C.bin\n"); return 2; }
    const char *path = argv[1];
    size_t M = strtoull(argv[2], NULL, 10), K = strtoull(argv[3], NULL, 10), N = strtoull(argv[4], NULL, 10);
    if (K % 4 || N % 16) { fprintf(stderr, "K %% 4 and N %% 16 must be 0\n"); return 2; }
    int mode = !strcmp(path, "avx512") ? 0 : !strcmp(path, "vnni") ? 1 : !strcmp(path, "vnnis") ? 2 : -1;
    if (mode < 0) { fprintf(stderr, "unknown PATH %s\n", path); return 2; }
    size_t KB = K / 4, NB = N / 16;
    uint8_t *A = read_all(argv[5], M * K);
    int8_t *WP = read_all(argv[6], NB * KB * 64);
    int32_t *C = malloc(M * N * sizeof(int32_t) + 1);
    const __m512i ones = _mm512_set1_epi16(1);

    for (size_t m = 0; m < M; m++) {
        for (size_t nb = 0; nb < NB; nb++) {
            __m512i acc = _mm512_setzero_si512();
            for (size_t kb = 0; kb < KB; kb++) {
                int32_t a4;
                memcpy(&a4, A + m * K + 4 * kb, 4);
                __m512i a = _mm512_set1_epi32(a4);
                __m512i w = _mm512_loadu_si512((const void *)(WP + (nb * KB + kb) * 64));
                if (mode == 0) {
                    __m512i s16 = _mm512_maddubs_epi16(a, w);
                    __m512i s32 = _mm512_madd_epi16(s16, ones);
                    acc = _mm512_add_epi32(acc, s32);
                } else if (mode == 1) {
                    acc = _mm512_dpbusd_epi32(acc, a, w);
                } else {
                    acc = _mm512_dpbusds_epi32(acc, a, w);
                }
            }
            _mm512_storeu_si512((void *)(C + m * N + nb * 16), acc);
        }
    }
    FILE *f = fopen(argv[7], "wb");
    if (!f || fwrite(C, sizeof(int32_t), M * N, f) != M * N) { perror(argv[7]); return 2; }
    fclose(f);
    return 0;
}
