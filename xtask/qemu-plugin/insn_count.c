/*
 * nyquist insn_count: a QEMU TCG plugin that counts the guest instructions a
 * program executes, in total and by class, and writes them as JSON.
 *
 *   qemu-aarch64 -cpu neoverse-n1 \
 *       -plugin target/qemu-plugin/libinsn_count.so,out=counts.json prog args
 *
 * With `blocks=FILE` too, it also writes one line per translated block,
 * `VADDR INSNS RUNS [RUNS_AT_MARK ...]` (hex, then decimals; a block
 * translated twice has two lines): how often it ran in all and, for every
 * marker executed, how often it had run by then — the raw data of a
 * profile by address, whole-run or between markers (`cargo xtask fw
 * profile` maps it to the firmware's symbols, per inference).
 *
 * Built by xtask (`xtask/src/qemu_plugin.rs`) against the `qemu-plugin.h` of
 * the installed QEMU's own Debian source package (Debian ships no plugins).
 * Counting is done with inline adds registered once per translation block:
 * every block adds its instruction count per class to a counter when it
 * executes, so the counts are exact for single-threaded guests and the
 * instrumentation costs a few host instructions per block, not per insn.
 *
 * Instruction counts are a proxy for time, not time: they ignore the
 * pipeline, the caches and the memory system.
 *
 * Markers (a64 guests): every execution of `hint #100` (an unallocated hint,
 * architecturally a NOP) appends the running total to `marks`, so a guest
 * can bracket regions of interest (`nyquist bench --profile` brackets each
 * node of tract's plan when NYQUIST_PROFILE_MARKERS=1). The total read at a
 * mark includes the whole translation block the mark sits in, an error of a
 * few instructions per region.
 *
 * Markers (T32 guests, the firmware under qemu-system-arm): `hint.w #100`
 * (F3AF 8064), likewise a NOP; each also records the counts by class and the
 * events below, so regions can be costed class by class (`cargo xtask fw
 * bench` brackets each inference with two).
 *
 * Classes (a64 guests):
 *   sdot        SDOT/UDOT (vector and by element): 4 int8 MACs per lane
 *   smlal       SMLAL/SMLAL2/UMLAL (vector and by element): int16 widening MAC
 *   fmla        FMLA (vector and by element): f32/f64 fused multiply-add
 *   simd_other  every other Advanced SIMD / FP data-processing instruction
 *   load_store  loads and stores (scalar and SIMD)
 *   branch      branches, exception generation, system instructions
 *   other       everything else (integer data processing)
 *
 * Classes (T32 guests, Armv7-M / Armv8.1-M; decoding in t32_classes.h):
 *   other, mac, div, load_store, ldm_stm, branch, loop_end, mve_mem, mve_alu
 * and events (counted, not instructions), from the order of instructions
 * inside a translation block:
 *   transfers     registers moved by LDM/STM/PUSH/POP/LDRD/STRD
 *   mem_follows   single loads/stores right after a single load/store (the
 *                 Cortex-M4 pipelines such neighbours: one cycle, not two)
 *   mve_overlaps  vector instructions right after a vector instruction of the
 *                 other group (memory vs arithmetic), which beat-wise
 *                 execution overlaps on a dual-beat core (Cortex-M55)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

#include "t32_classes.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

enum a64_class { SDOT, SMLAL, FMLA, SIMD_OTHER, LOAD_STORE, BRANCH, OTHER, A64_N_CLASSES };

static const char *const A64_CLASS_NAMES[A64_N_CLASSES] = {
    "sdot", "smlal", "fmla", "simd_other", "load_store", "branch", "other",
};

enum event { TRANSFERS, MEM_FOLLOWS, MVE_OVERLAPS, N_EVENTS };

static const char *const EVENT_NAMES[N_EVENTS] = {"transfers", "mem_follows", "mve_overlaps"};

#define MAX_CLASSES 16

/* The guest's classes (a64 or T32), counters and events. */
static const char *const *class_names;
static int n_classes, n_events;
static uint64_t counts[MAX_CLASSES];
static uint64_t events[N_EVENTS];
static char *out_path;
static int is_a64;

/* Per translated block (with `blocks=`): where it starts, its instructions
 * and how often it ran; allocated in slabs that never move (the inline adds
 * hold pointers into them). */
struct block {
    uint64_t vaddr;
    uint64_t insns;
    uint64_t runs;
};
#define SLAB 4096
static struct block **slabs;
static size_t n_blocks, cap_slabs;
static char *blocks_path;
/* The blocks' run counts at every marker (with `blocks=`): a snapshot per
 * marker, of the blocks translated by then. */
static uint64_t **snaps;
static size_t *snap_len;
static size_t n_snaps, cap_snaps;

static void snapshot_blocks(void)
{
    if (n_snaps == cap_snaps) {
        cap_snaps = cap_snaps ? 2 * cap_snaps : 64;
        snaps = realloc(snaps, cap_snaps * sizeof *snaps);
        snap_len = realloc(snap_len, cap_snaps * sizeof *snap_len);
        if (!snaps || !snap_len) {
            abort();
        }
    }
    uint64_t *s = malloc((n_blocks ? n_blocks : 1) * sizeof *s);
    if (!s) {
        abort();
    }
    for (size_t i = 0; i < n_blocks; i++) {
        s[i] = slabs[i / SLAB][i % SLAB].runs;
    }
    snaps[n_snaps] = s;
    snap_len[n_snaps] = n_blocks;
    n_snaps++;
}

static struct block *new_block(void)
{
    if (n_blocks == cap_slabs * SLAB) {
        cap_slabs = cap_slabs ? 2 * cap_slabs : 16;
        slabs = realloc(slabs, cap_slabs * sizeof *slabs);
        if (!slabs) {
            abort();
        }
    }
    if (n_blocks % SLAB == 0) {
        slabs[n_blocks / SLAB] = calloc(SLAB, sizeof(struct block));
        if (!slabs[n_blocks / SLAB]) {
            abort();
        }
    }
    struct block *b = &slabs[n_blocks / SLAB][n_blocks % SLAB];
    n_blocks++;
    return b;
}

/* hint #100 (a64) and hint.w #100 (T32, halfwords F3AF 8064) */
#define MARK_INSN (0xD503201Fu | (100u << 5))
#define MARK_T32_HW1 0xF3AFu
#define MARK_T32_HW2 0x8064u

/* One snapshot per executed marker: the classes, then the events. */
struct snapshot {
    uint64_t c[MAX_CLASSES];
    uint64_t e[N_EVENTS];
};
static struct snapshot *marks;
static size_t n_marks, cap_marks;

static void on_mark(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    (void)userdata;
    if (n_marks == cap_marks) {
        cap_marks = cap_marks ? 2 * cap_marks : 1024;
        marks = realloc(marks, cap_marks * sizeof *marks);
        if (!marks) {
            abort();
        }
    }
    memcpy(marks[n_marks].c, counts, sizeof counts);
    memcpy(marks[n_marks].e, events, sizeof events);
    n_marks++;
    if (blocks_path) {
        snapshot_blocks();
    }
}

/* Encodings from the Arm ARM (DDI 0487), "Advanced SIMD three same (FP16,
 * dot product)", "three different" and "vector x indexed element" groups. */
static enum a64_class classify_a64(uint32_t w)
{
    /* SDOT/UDOT vector: 0 Q U 01110 10 0 Rm 1 0010 1 Rn Rd */
    if ((w & 0x9FE0FC00u) == 0x0E809400u) {
        return SDOT;
    }
    /* SDOT/UDOT by element: 0 Q U 01111 10 L M Rm 1110 H 0 Rn Rd */
    if ((w & 0x9FC0F400u) == 0x0F80E000u) {
        return SDOT;
    }
    /* SMLAL{2}/UMLAL{2} vector: 0 Q U 01110 size 1 Rm 1000 00 Rn Rd */
    if ((w & 0x9F20FC00u) == 0x0E208000u) {
        return SMLAL;
    }
    /* SMLAL{2}/UMLAL{2} by element: 0 Q U 01111 size L M Rm 0010 H 0 Rn Rd */
    if ((w & 0x9F00F400u) == 0x0F002000u) {
        return SMLAL;
    }
    /* FMLA vector (single/double): 0 Q 0 01110 0 sz 1 Rm 11001 1 Rn Rd */
    if ((w & 0xBFA0FC00u) == 0x0E20CC00u) {
        return FMLA;
    }
    /* FMLA by element (single/double): 0 Q 0 01111 1 sz L M Rm 0001 H 0 Rn Rd */
    if ((w & 0xBF80F400u) == 0x0F801000u) {
        return FMLA;
    }
    /* Top-level decode on op0 = bits 28:25. */
    uint32_t op0 = (w >> 25) & 0xF;
    if ((op0 & 0x7) == 0x7) {
        return SIMD_OTHER; /* x111: SIMD & FP data processing */
    }
    if ((op0 & 0x5) == 0x4) {
        return LOAD_STORE; /* x1x0 */
    }
    if ((op0 & 0xE) == 0xA) {
        return BRANCH; /* 101x: branches, exceptions, system */
    }
    return OTHER;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    uint64_t per_class[MAX_CLASSES] = {0};
    uint64_t per_event[N_EVENTS] = {0};
    int prev = -1; /* the previous instruction's class in this block */
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uint8_t *d = qemu_plugin_insn_data(insn);
        size_t size = qemu_plugin_insn_size(insn);
        int k;
        int mark = 0;
        if (is_a64) {
            k = OTHER;
            if (size == 4) {
                uint32_t w;
                memcpy(&w, d, 4);
                k = classify_a64(w);
                mark = w == MARK_INSN;
            }
        } else {
            unsigned transfers = 0;
            uint32_t hw1 = d[0] | (uint32_t)d[1] << 8;
            /* The width from the first halfword, not from `size`: QEMU's
             * Thumb translator peeks at the next halfword near a page end
             * and the plugin API reports those bytes as part of a 16-bit
             * instruction. */
            if (!t32_is_32bit(hw1) || size < 4) {
                k = t32_classify16(hw1, &transfers);
            } else {
                uint32_t hw2 = d[2] | (uint32_t)d[3] << 8;
                k = t32_classify32(hw1, hw2, &transfers);
                mark = hw1 == MARK_T32_HW1 && hw2 == MARK_T32_HW2;
            }
            per_event[TRANSFERS] += transfers;
            if (k == T32_LOAD_STORE && prev == T32_LOAD_STORE) {
                per_event[MEM_FOLLOWS]++;
            }
            if ((k == T32_MVE_MEM && prev == T32_MVE_ALU) ||
                (k == T32_MVE_ALU && prev == T32_MVE_MEM)) {
                per_event[MVE_OVERLAPS]++;
            }
        }
        if (mark) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        per_class[k]++;
        prev = k;
    }
    for (int k = 0; k < n_classes; k++) {
        if (per_class[k]) {
            qemu_plugin_register_vcpu_tb_exec_inline(
                tb, QEMU_PLUGIN_INLINE_ADD_U64, &counts[k], per_class[k]);
        }
    }
    for (int e = 0; e < n_events; e++) {
        if (per_event[e]) {
            qemu_plugin_register_vcpu_tb_exec_inline(
                tb, QEMU_PLUGIN_INLINE_ADD_U64, &events[e], per_event[e]);
        }
    }
    if (blocks_path) {
        struct block *b = new_block();
        b->vaddr = qemu_plugin_tb_vaddr(tb);
        b->insns = n;
        qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->runs, 1);
    }
}

static void write_blocks(void)
{
    FILE *f = fopen(blocks_path, "w");
    if (!f) {
        char msg[512];
        snprintf(msg, sizeof msg, "insn_count: cannot write %s\n", blocks_path);
        qemu_plugin_outs(msg);
        return;
    }
    for (size_t i = 0; i < n_blocks; i++) {
        const struct block *b = &slabs[i / SLAB][i % SLAB];
        if (b->runs) {
            fprintf(f, "%" PRIx64 " %" PRIu64 " %" PRIu64, b->vaddr, b->insns, b->runs);
            for (size_t j = 0; j < n_snaps; j++) {
                fprintf(f, " %" PRIu64, i < snap_len[j] ? snaps[j][i] : 0);
            }
            fputc('\n', f);
        }
    }
    fclose(f);
}

/* {"instructions": N, "classes": {...}, "events": {...}} */
static void write_counts(FILE *f, const uint64_t *c, const uint64_t *e)
{
    uint64_t total = 0;
    for (int k = 0; k < n_classes; k++) {
        total += c[k];
    }
    fprintf(f, "{\"instructions\": %" PRIu64 ", \"classes\": {", total);
    for (int k = 0; k < n_classes; k++) {
        fprintf(f, "%s\"%s\": %" PRIu64, k ? ", " : "", class_names[k], c[k]);
    }
    fprintf(f, "}, \"events\": {");
    for (int k = 0; k < n_events; k++) {
        fprintf(f, "%s\"%s\": %" PRIu64, k ? ", " : "", EVENT_NAMES[k], e[k]);
    }
    fprintf(f, "}");
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
    (void)id;
    (void)p;
    if (blocks_path) {
        write_blocks();
    }
    FILE *f = fopen(out_path, "w");
    if (!f) {
        char msg[512];
        snprintf(msg, sizeof msg, "insn_count: cannot write %s\n", out_path);
        qemu_plugin_outs(msg);
        return;
    }
    write_counts(f, counts, events);
    fprintf(f, ", \"marks\": [");
    for (size_t i = 0; i < n_marks; i++) {
        uint64_t total = 0;
        for (int k = 0; k < n_classes; k++) {
            total += marks[i].c[k];
        }
        fprintf(f, "%s%" PRIu64, i ? ", " : "", total);
    }
    fprintf(f, "], \"mark_counts\": [");
    for (size_t i = 0; i < n_marks; i++) {
        fprintf(f, "%s", i ? ", " : "");
        write_counts(f, marks[i].c, marks[i].e);
        fprintf(f, "}");
    }
    fprintf(f, "]}\n");
    fclose(f);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
                                           const qemu_info_t *info,
                                           int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            out_path = strdup(argv[i] + 4);
        } else if (strncmp(argv[i], "blocks=", 7) == 0) {
            blocks_path = strdup(argv[i] + 7);
        } else {
            fprintf(stderr, "insn_count: unknown argument `%s` (expected out=FILE, blocks=FILE)\n", argv[i]);
            return 1;
        }
    }
    if (!out_path) {
        fprintf(stderr, "insn_count: missing argument out=FILE\n");
        return 1;
    }
    is_a64 = strcmp(info->target_name, "aarch64") == 0;
    if (is_a64) {
        class_names = A64_CLASS_NAMES;
        n_classes = A64_N_CLASSES;
        n_events = 0;
    } else if (strcmp(info->target_name, "arm") == 0) {
        class_names = T32_CLASS_NAMES;
        n_classes = T32_N_CLASSES;
        n_events = N_EVENTS;
    } else {
        fprintf(stderr, "insn_count: guest `%s` is neither aarch64 nor arm\n", info->target_name);
        return 1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
