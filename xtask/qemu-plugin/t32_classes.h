/*
 * Classes of T32 (Thumb-2, Armv7-M / Armv8.1-M) instructions for the
 * firmware's cycle estimate: pure functions of the instruction's halfwords,
 * shared by the plugin (insn_count.c) and its test (t32_classes_test.c).
 *
 * Decoding follows the Armv8-M Architecture Reference Manual (DDI 0553),
 * "T32 instruction set encoding": 16-bit groups by hw1[15:10], 32-bit groups
 * by op1 = hw1[12:11], op2 = hw1[10:4], op = hw2[15]. The coprocessor space
 * (hw1 = 111x 11xx ...) is classed as MVE (Helium): the firmware is integer
 * only, so the floating-point instructions that share the space occur only
 * in context saves (VPUSH) and FPSCR moves; loads and stores there
 * (hw1[11:9] = 110) are `mve_mem`, the rest `mve_alu`.
 */
#ifndef NYQUIST_T32_CLASSES_H
#define NYQUIST_T32_CLASSES_H

#include <stdint.h>

enum t32_class {
    T32_OTHER,      /* integer data processing, moves, compares, IT, hints */
    T32_MAC,        /* MUL, MLA, SMLAD, SMLABB, SMULL, SMLAL, ... */
    T32_DIV,        /* SDIV, UDIV */
    T32_LOAD_STORE, /* single loads and stores (LDR*, STR*, PLD, LDREX) */
    T32_LDM_STM,    /* LDM, STM, PUSH, POP, LDRD, STRD */
    T32_BRANCH,     /* B, BL, BX, BLX, CBZ, CBNZ, TBB, TBH, SVC, BKPT */
    T32_LOOP_END,   /* LE, LETP (low-overhead loop end) */
    T32_MVE_MEM,    /* vector loads and stores */
    T32_MVE_ALU,    /* every other vector instruction */
    T32_N_CLASSES
};

static const char *const T32_CLASS_NAMES[T32_N_CLASSES] = {
    "other", "mac", "div", "load_store", "ldm_stm", "branch", "loop_end", "mve_mem", "mve_alu",
};

static inline unsigned t32_popcount16(uint32_t x)
{
    return (unsigned)__builtin_popcount(x & 0xFFFFu);
}

/* Whether an instruction starting with halfword `hw1` is 32 bits wide
 * (hw1[15:11] is 11101, 11110 or 11111). */
static inline int t32_is_32bit(uint32_t hw1)
{
    return (hw1 >> 11) >= 0x1D;
}

/* Class of a 16-bit instruction; `*transfers` is set to the registers an
 * LDM/STM/PUSH/POP moves (0 otherwise). */
static inline enum t32_class t32_classify16(uint32_t hw1, unsigned *transfers)
{
    *transfers = 0;
    uint32_t op = hw1 >> 10; /* 6 bits */
    if ((op & 0x30) == 0x00) {
        return T32_OTHER; /* 00xxxx shift, add, sub, move, compare */
    }
    if (op == 0x10) {
        /* 010000 data processing; MUL is opcode 1101 */
        return ((hw1 >> 6) & 0xF) == 0xD ? T32_MAC : T32_OTHER;
    }
    if (op == 0x11) {
        /* 010001 special data; BX/BLX are 0100 0111 */
        return ((hw1 >> 8) & 0x3) == 0x3 ? T32_BRANCH : T32_OTHER;
    }
    if ((op & 0x3E) == 0x12) {
        return T32_LOAD_STORE; /* 01001x LDR (literal) */
    }
    if ((op & 0x3C) == 0x14 || (op & 0x38) == 0x18 || (op & 0x38) == 0x20) {
        return T32_LOAD_STORE; /* 0101xx, 011xxx, 100xxx load/store single */
    }
    if ((op & 0x3C) == 0x28) {
        return T32_OTHER; /* 1010xx ADR, ADD (SP plus immediate) */
    }
    if ((op & 0x3C) == 0x2C) {
        /* 1011xx miscellaneous */
        uint32_t misc = (hw1 >> 9) & 0x7;
        if (misc == 0x2 || misc == 0x6) {
            /* 1011 010x PUSH, 1011 110x POP: low registers plus LR / PC */
            *transfers = t32_popcount16(hw1 & 0xFF) + ((hw1 >> 8) & 1);
            return T32_LDM_STM;
        }
        if ((hw1 & 0x0500) == 0x0100) {
            return T32_BRANCH; /* 1011 x0x1 CBZ, CBNZ */
        }
        if ((hw1 & 0x0F00) == 0x0E00) {
            return T32_BRANCH; /* 1011 1110 BKPT */
        }
        return T32_OTHER; /* IT, hints, extend, reverse, CPS */
    }
    if ((op & 0x3C) == 0x30) {
        /* 11000x STM, 11001x LDM */
        *transfers = t32_popcount16(hw1 & 0xFF);
        return T32_LDM_STM;
    }
    return T32_BRANCH; /* 1101xx conditional branch, UDF, SVC; 11100x B */
}

/* Class of a 32-bit instruction (first halfword `hw1`, second `hw2`);
 * `*transfers` as for t32_classify16 (2 for LDRD/STRD). */
static inline enum t32_class t32_classify32(uint32_t hw1, uint32_t hw2, unsigned *transfers)
{
    *transfers = 0;
    uint32_t op1 = (hw1 >> 11) & 0x3;
    uint32_t op2 = (hw1 >> 4) & 0x7F;
    int coproc = (hw1 & 0x0C00) == 0x0C00 && op1 != 0x2; /* 111x 11xx */
    if (coproc) {
        return (hw1 & 0x0E00) == 0x0C00 ? T32_MVE_MEM : T32_MVE_ALU;
    }
    if (op1 == 0x1) {
        if ((op2 & 0x64) == 0x00) {
            /* 00xx0xx load/store multiple */
            *transfers = t32_popcount16(hw2);
            return T32_LDM_STM;
        }
        if ((op2 & 0x64) == 0x04) {
            /* 00xx1xx load/store dual or exclusive, table branch */
            if ((hw1 & 0xFFF0) == 0xE8D0 && (hw2 & 0xFFE0) == 0xF000) {
                return T32_BRANCH; /* TBB, TBH */
            }
            if ((hw1 & 0x0160) == 0x0040 || (hw1 & 0x01E0) == 0x00C0) {
                return T32_LOAD_STORE; /* LDREX/STREX family (P = 0, W = 0) */
            }
            *transfers = 2;
            return T32_LDM_STM; /* LDRD, STRD */
        }
        return T32_OTHER; /* 01xxxxx data processing (shifted register) */
    }
    if (op1 == 0x2) {
        if (!(hw2 & 0x8000)) {
            return T32_OTHER; /* data processing (immediate) */
        }
        if ((hw2 & 0x5000) == 0x4000) {
            /* hw2 = 1x0x: the Armv8.1-M low-overhead-branch space */
            if ((hw1 & 0xFFC0) == 0xF000 && hw2 == 0xE801) {
                return T32_MVE_ALU; /* VCTP */
            }
            if ((hw2 & 0xF000) == 0xC000 && (hw1 & 0xFFCF) == 0xF00F) {
                return T32_LOOP_END; /* LE (F00F, F02F), LETP (F01F) */
            }
            return T32_OTHER; /* DLS, DLSTP, WLS, WLSTP */
        }
        if ((hw2 & 0x5000) == 0x0000 && (hw1 & 0x0380) == 0x0380) {
            return T32_OTHER; /* hints, barriers, MSR, MRS */
        }
        return T32_BRANCH; /* B, BL */
    }
    /* op1 == 3 */
    if ((op2 & 0x60) == 0x00) {
        return T32_LOAD_STORE; /* 00xxxxx store single, load byte/half/word, PLD */
    }
    if ((op2 & 0x70) == 0x20) {
        return T32_OTHER; /* 010xxxx data processing (register): SXTB16, QADD16, ... */
    }
    if ((op2 & 0x78) == 0x30) {
        return T32_MAC; /* 0110xxx multiply, multiply-accumulate, USAD8 */
    }
    if ((op2 & 0x78) == 0x38) {
        /* 0111xxx long multiply (accumulate) and divide */
        return ((op2 & 0x5) == 0x1 && (hw2 & 0xF0) == 0xF0) ? T32_DIV : T32_MAC;
    }
    return T32_OTHER;
}

#endif
