/*
 * Test of t32_classes.h: each case is an encoding produced by LLVM's
 * assembler (`llvm-mc -triple thumbv8.1m.main-none-eabi -mattr=+mve,+dsp,+lob
 * --show-encoding`; branch offsets set to zero by hand), with the class and
 * transfer count the cycle model needs. Built and run by `cargo xtask ci`
 * (xtask/src/qemu_plugin.rs); exits non-zero on the first mismatch.
 */
#include <stdio.h>

#include "t32_classes.h"

struct case_ {
    const char *asm_;
    unsigned char bytes[4];
    int size;
    enum t32_class want;
    unsigned transfers;
};

static const struct case_ CASES[] = {
    /* Helium */
    {"vldrb.s32 q0, [r0]", {0x90, 0xed, 0x00, 0x0f}, 4, T32_MVE_MEM, 0},
    {"vldrb.u8 q1, [r1], #16", {0xb1, 0xec, 0x10, 0x3e}, 4, T32_MVE_MEM, 0},
    {"vldrb.u8 q1, [r2, q0]", {0x92, 0xfc, 0x00, 0x2e}, 4, T32_MVE_MEM, 0}, /* gather */
    {"veor q0, q0, q7", {0x00, 0xff, 0x5e, 0x01}, 4, T32_MVE_ALU, 0},
    {"vldrw.u32 q2, [r2]", {0x92, 0xed, 0x00, 0x5f}, 4, T32_MVE_MEM, 0},
    {"vstrw.32 q0, [r3]", {0x83, 0xed, 0x00, 0x1f}, 4, T32_MVE_MEM, 0},
    {"vstrb.8 q1, [r4], #16", {0xa4, 0xec, 0x10, 0x3e}, 4, T32_MVE_MEM, 0},
    {"vpush {d8-d15}", {0x2d, 0xed, 0x10, 0x8b}, 4, T32_MVE_MEM, 0},
    {"vmladav.s8 r0, q0, q1", {0xf0, 0xee, 0x02, 0x0f}, 4, T32_MVE_ALU, 0},
    {"vmladava.s8 r2, q1, q2", {0xf2, 0xee, 0x24, 0x2f}, 4, T32_MVE_ALU, 0},
    {"vmlaldav.s16 r0, r1, q0, q1", {0x80, 0xee, 0x02, 0x0e}, 4, T32_MVE_ALU, 0},
    {"vmla.s32 q0, q1, r2", {0x23, 0xee, 0x42, 0x0e}, 4, T32_MVE_ALU, 0},
    {"vmul.i32 q0, q1, q2", {0x22, 0xef, 0x54, 0x09}, 4, T32_MVE_ALU, 0},
    {"vqrdmulh.s32 q0, q1, q2", {0x22, 0xff, 0x44, 0x0b}, 4, T32_MVE_ALU, 0},
    {"vrshl.s32 q0, r1", {0x3b, 0xee, 0x61, 0x1e}, 4, T32_MVE_ALU, 0},
    {"vshr.s32 q0, q1, #3", {0xbd, 0xef, 0x52, 0x00}, 4, T32_MVE_ALU, 0},
    {"vdup.32 q0, r1", {0xa0, 0xee, 0x10, 0x1b}, 4, T32_MVE_ALU, 0},
    {"vmov.i32 q0, #1", {0x80, 0xef, 0x51, 0x00}, 4, T32_MVE_ALU, 0},
    {"vpst", {0x71, 0xfe, 0x4d, 0x0f}, 4, T32_MVE_ALU, 0},
    {"vctp.8 r2", {0x02, 0xf0, 0x01, 0xe8}, 4, T32_MVE_ALU, 0},
    {"vmsr fpscr, r0", {0xe1, 0xee, 0x10, 0x0a}, 4, T32_MVE_ALU, 0},
    /* low-overhead loops */
    {"letp lr, 1b", {0x1f, 0xf0, 0x01, 0xc0}, 4, T32_LOOP_END, 0},
    {"le lr, 1b", {0x0f, 0xf0, 0x01, 0xc0}, 4, T32_LOOP_END, 0},
    {"le 1b", {0x2f, 0xf0, 0x01, 0xc0}, 4, T32_LOOP_END, 0},
    {"wlstp.8 lr, r2, 2f", {0x02, 0xf0, 0x01, 0xc0}, 4, T32_OTHER, 0},
    {"wls lr, r2, 2f", {0x42, 0xf0, 0x01, 0xc0}, 4, T32_OTHER, 0},
    {"dlstp.8 lr, r2", {0x02, 0xf0, 0x01, 0xe0}, 4, T32_OTHER, 0},
    {"dls lr, r2", {0x42, 0xf0, 0x01, 0xe0}, 4, T32_OTHER, 0},
    /* DSP and multiplies */
    {"smlad r0, r1, r2, r3", {0x21, 0xfb, 0x02, 0x30}, 4, T32_MAC, 0},
    {"smlabb r0, r1, r2, r3", {0x11, 0xfb, 0x02, 0x30}, 4, T32_MAC, 0},
    {"smlal r0, r1, r2, r3", {0xc2, 0xfb, 0x03, 0x01}, 4, T32_MAC, 0},
    {"smull r0, r1, r2, r3", {0x82, 0xfb, 0x03, 0x01}, 4, T32_MAC, 0},
    {"mul r0, r1, r2", {0x01, 0xfb, 0x02, 0xf0}, 4, T32_MAC, 0},
    {"mla r0, r1, r2, r3", {0x01, 0xfb, 0x02, 0x30}, 4, T32_MAC, 0},
    {"muls r0, r1, r0", {0x48, 0x43}, 2, T32_MAC, 0},
    {"sdiv r0, r1, r2", {0x91, 0xfb, 0xf2, 0xf0}, 4, T32_DIV, 0},
    {"udiv r0, r1, r2", {0xb1, 0xfb, 0xf2, 0xf0}, 4, T32_DIV, 0},
    {"sxtb16 r0, r1", {0x2f, 0xfa, 0x81, 0xf0}, 4, T32_OTHER, 0},
    {"sxtab16 r0, r1, r2", {0x21, 0xfa, 0x82, 0xf0}, 4, T32_OTHER, 0},
    {"pkhbt r0, r1, r2, lsl #16", {0xc1, 0xea, 0x02, 0x40}, 4, T32_OTHER, 0},
    {"ssat r0, #8, r1", {0x01, 0xf3, 0x07, 0x00}, 4, T32_OTHER, 0},
    /* loads and stores */
    {"ldr r0, [r1, #4]", {0x48, 0x68}, 2, T32_LOAD_STORE, 0},
    {"ldr.w r0, [r1, #400]", {0xd1, 0xf8, 0x90, 0x01}, 4, T32_LOAD_STORE, 0},
    {"ldr r0, [r1], #4", {0x51, 0xf8, 0x04, 0x0b}, 4, T32_LOAD_STORE, 0},
    {"ldrsb r0, [r1, r2]", {0x88, 0x56}, 2, T32_LOAD_STORE, 0},
    {"str r0, [sp, #8]", {0x02, 0x90}, 2, T32_LOAD_STORE, 0},
    {"ldr r0, [pc, #0]", {0x00, 0x48}, 2, T32_LOAD_STORE, 0},
    {"ldrd r0, r1, [r2]", {0xd2, 0xe9, 0x00, 0x01}, 4, T32_LDM_STM, 2},
    {"strd r0, r1, [r2, #8]!", {0xe2, 0xe9, 0x02, 0x01}, 4, T32_LDM_STM, 2},
    {"ldm r0!, {r1, r2, r3}", {0x0e, 0xc8}, 2, T32_LDM_STM, 3},
    {"ldm.w r0, {r1-r9}", {0x90, 0xe8, 0xfe, 0x03}, 4, T32_LDM_STM, 9},
    {"push {r4-r7, lr}", {0xf0, 0xb5}, 2, T32_LDM_STM, 5},
    {"push.w {r4-r11, lr}", {0x2d, 0xe9, 0xf0, 0x4f}, 4, T32_LDM_STM, 9},
    {"pop {r4-r7, pc}", {0xf0, 0xbd}, 2, T32_LDM_STM, 5},
    /* branches */
    {"b .", {0xfe, 0xe7}, 2, T32_BRANCH, 0},
    {"bne .", {0xfe, 0xd1}, 2, T32_BRANCH, 0},
    {"b.w (offset 0)", {0x00, 0xf0, 0x00, 0xb8}, 4, T32_BRANCH, 0},
    {"beq.w (offset 0)", {0x00, 0xf0, 0x00, 0x80}, 4, T32_BRANCH, 0},
    {"bl (offset 0)", {0x00, 0xf0, 0x00, 0xf8}, 4, T32_BRANCH, 0},
    {"bx lr", {0x70, 0x47}, 2, T32_BRANCH, 0},
    {"blx r3", {0x98, 0x47}, 2, T32_BRANCH, 0},
    {"cbz r0, .+8", {0x10, 0xb1}, 2, T32_BRANCH, 0},
    {"tbb [pc, r0]", {0xdf, 0xe8, 0x00, 0xf0}, 4, T32_BRANCH, 0},
    {"tbh [pc, r0, lsl #1]", {0xdf, 0xe8, 0x10, 0xf0}, 4, T32_BRANCH, 0},
    {"svc #0", {0x00, 0xdf}, 2, T32_BRANCH, 0},
    {"bkpt #0xab", {0xab, 0xbe}, 2, T32_BRANCH, 0},
    /* everything else */
    {"it ne", {0x18, 0xbf}, 2, T32_OTHER, 0},
    {"nop", {0x00, 0xbf}, 2, T32_OTHER, 0},
    {"hint.w #100 (the marker)", {0xaf, 0xf3, 0x64, 0x80}, 4, T32_OTHER, 0},
    {"dsb sy", {0xbf, 0xf3, 0x4f, 0x8f}, 4, T32_OTHER, 0},
    {"add r0, r1", {0x08, 0x44}, 2, T32_OTHER, 0},
    {"adds r0, r1, r2", {0x88, 0x18}, 2, T32_OTHER, 0},
    {"add.w r0, r1, r2, lsl #2", {0x01, 0xeb, 0x82, 0x00}, 4, T32_OTHER, 0},
    {"mov.w r0, #1000", {0x4f, 0xf4, 0x7a, 0x70}, 4, T32_OTHER, 0},
    {"cmp r0, #3", {0x03, 0x28}, 2, T32_OTHER, 0},
    {"add r0, sp, #8", {0x02, 0xa8}, 2, T32_OTHER, 0},
};

int main(void)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const struct case_ *c = &CASES[i];
        uint32_t hw1 = c->bytes[0] | (uint32_t)c->bytes[1] << 8;
        uint32_t hw2 = c->bytes[2] | (uint32_t)c->bytes[3] << 8;
        unsigned transfers;
        if (t32_is_32bit(hw1) != (c->size == 4)) {
            fprintf(stderr, "t32_classes: `%s` is %d bytes, not %d\n", c->asm_,
                    t32_is_32bit(hw1) ? 4 : 2, c->size);
            bad++;
        }
        enum t32_class got = c->size == 2 ? t32_classify16(hw1, &transfers)
                                          : t32_classify32(hw1, hw2, &transfers);
        if (got != c->want || transfers != c->transfers) {
            fprintf(stderr, "t32_classes: `%s` is %s/%u, expected %s/%u\n", c->asm_,
                    T32_CLASS_NAMES[got], transfers, T32_CLASS_NAMES[c->want], c->transfers);
            bad++;
        }
    }
    printf("t32_classes: %zu encodings, %d mismatches\n", sizeof CASES / sizeof CASES[0], bad);
    return bad != 0;
}
