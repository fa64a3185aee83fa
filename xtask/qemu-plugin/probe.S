// Self-test of insn_count.c: a program whose executed instructions are
// known by hand. 100 iterations of 10 instructions (2 sdot, 2 smlal, 2 fmla,
// 1 simd_other, 1 load, 1 other, 1 branch), and 8 instructions around the
// loop (3 of them markers): 1,008 in all.
.global _start
_start:
    adr x1, data                      // other
    mov x0, #100                      // other
    hint #100                         // marker (a NOP hint; class branch)
1:
    sdot v0.4s, v1.16b, v2.16b
    sdot v3.4s, v4.16b, v5.4b[1]
    smlal v6.4s, v7.4h, v8.4h
    smlal2 v9.4s, v10.8h, v11.h[3]
    fmla v12.4s, v13.4s, v14.4s
    fmla v15.4s, v16.4s, v17.s[2]
    add v18.4s, v19.4s, v20.4s
    ldr x2, [x1]
    subs x0, x0, #1
    b.ne 1b
    hint #100                         // marker
    hint #100                         // marker
    mov x8, #93                       // other: exit(0)
    mov x0, #0                        // other
    svc #0                            // branch class (exception generation)
.data
data: .quad 0
