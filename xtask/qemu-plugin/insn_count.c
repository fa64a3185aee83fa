/*
 * nyquist insn_count: a QEMU TCG plugin that counts the guest instructions a
 * program executes, in total and by class, and writes them as JSON.
 *
 *   qemu-aarch64 -cpu neoverse-n1 \
 *       -plugin target/qemu-plugin/libinsn_count.so,out=counts.json prog args
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
 * Classes (a64 guests; other guests are counted in `other` only):
 *   sdot        SDOT/UDOT (vector and by element): 4 int8 MACs per lane
 *   smlal       SMLAL/SMLAL2/UMLAL (vector and by element): int16 widening MAC
 *   fmla        FMLA (vector and by element): f32/f64 fused multiply-add
 *   simd_other  every other Advanced SIMD / FP data-processing instruction
 *   load_store  loads and stores (scalar and SIMD)
 *   branch      branches, exception generation, system instructions
 *   other       everything else (integer data processing)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

enum klass { SDOT, SMLAL, FMLA, SIMD_OTHER, LOAD_STORE, BRANCH, OTHER, N_CLASSES };

static const char *const CLASS_NAMES[N_CLASSES] = {
    "sdot", "smlal", "fmla", "simd_other", "load_store", "branch", "other",
};

static uint64_t counts[N_CLASSES];
static char *out_path;
static int is_a64;

/* hint #100 */
#define MARK_INSN (0xD503201Fu | (100u << 5))
static uint64_t *marks;
static size_t n_marks, cap_marks;

static void on_mark(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    (void)userdata;
    uint64_t total = 0;
    for (int k = 0; k < N_CLASSES; k++) {
        total += counts[k];
    }
    if (n_marks == cap_marks) {
        cap_marks = cap_marks ? 2 * cap_marks : 1024;
        marks = realloc(marks, cap_marks * sizeof *marks);
        if (!marks) {
            abort();
        }
    }
    marks[n_marks++] = total;
}

/* Encodings from the Arm ARM (DDI 0487), "Advanced SIMD three same (FP16,
 * dot product)", "three different" and "vector x indexed element" groups. */
static enum klass classify_a64(uint32_t w)
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
    uint64_t per_class[N_CLASSES] = {0};
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        enum klass k = OTHER;
        if (is_a64 && qemu_plugin_insn_size(insn) == 4) {
            uint32_t w;
            memcpy(&w, qemu_plugin_insn_data(insn), 4);
            k = classify_a64(w);
            if (w == MARK_INSN) {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
            }
        }
        per_class[k]++;
    }
    for (int k = 0; k < N_CLASSES; k++) {
        if (per_class[k]) {
            qemu_plugin_register_vcpu_tb_exec_inline(
                tb, QEMU_PLUGIN_INLINE_ADD_U64, &counts[k], per_class[k]);
        }
    }
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
    (void)id;
    (void)p;
    uint64_t total = 0;
    for (int k = 0; k < N_CLASSES; k++) {
        total += counts[k];
    }
    FILE *f = fopen(out_path, "w");
    if (!f) {
        char msg[512];
        snprintf(msg, sizeof msg, "insn_count: cannot write %s\n", out_path);
        qemu_plugin_outs(msg);
        return;
    }
    fprintf(f, "{\"instructions\": %" PRIu64 ", \"classes\": {", total);
    for (int k = 0; k < N_CLASSES; k++) {
        fprintf(f, "%s\"%s\": %" PRIu64, k ? ", " : "", CLASS_NAMES[k], counts[k]);
    }
    fprintf(f, "}, \"marks\": [");
    for (size_t i = 0; i < n_marks; i++) {
        fprintf(f, "%s%" PRIu64, i ? ", " : "", marks[i]);
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
        } else {
            fprintf(stderr, "insn_count: unknown argument `%s` (expected out=FILE)\n", argv[i]);
            return 1;
        }
    }
    if (!out_path) {
        fprintf(stderr, "insn_count: missing argument out=FILE\n");
        return 1;
    }
    is_a64 = strcmp(info->target_name, "aarch64") == 0;
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
