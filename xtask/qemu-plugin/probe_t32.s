@ The T32 probe for the insn_count plugin's self-test: a bare-metal
@ Cortex-M55 program (QEMU mps3-an547) whose instructions, classes, events
@ and markers are counted by hand below. Assembled with binutils
@ (`arm-linux-gnueabihf-as -march=armv8.1-m.main+mve`) and linked at 0.
@
@ setup (10): load_store 3, other 7; mem_follows 1 (the two first loads)
@ loop, 10 times (12 each): load_store 2, mac 1, div 1, ldm_stm 3
@   (transfers 2 + 3 + 3), mve_mem 2, mve_alu 1, other 1 (the marker),
@   loop_end 1; mem_follows 1, mve_overlaps 2
@ exit (3): other 1, load_store 1, branch 1 (bkpt)
@ total 133 instructions: other 18, mac 10, div 10, load_store 24,
@ ldm_stm 30, branch 1, loop_end 10, mve_mem 20, mve_alu 10; transfers 80, mem_follows 11, mve_overlaps 20;
@ 10 markers, one loop iteration (12 instructions) apart.
    .syntax unified
    .thumb
    .section .vectors, "a"
    .word 0x20010000            @ initial stack pointer (DTCM)
    .word _start + 1            @ reset vector (Thumb)

    .text
    .global _start
    .thumb_func
_start:
    ldr r0, =0xE000ED88         @ CPACR: enable CP10/CP11 (FP and MVE)
    ldr r1, [r0]
    orr r1, r1, #(0xF << 20)
    str r1, [r0]
    dsb
    isb
    mov.w r5, #0x20000000
    movs r6, #7
    mov r0, #10
    dls lr, r0
1:  ldr r1, [r5]
    ldr r2, [r5, #4]
    smlad r3, r1, r2, r3
    sdiv r4, r1, r6
    strd r1, r2, [r5, #8]
    push {r1, r2, r3}
    pop {r1, r2, r3}
    vldrb.s32 q0, [r5]
    vmladava.s8 r4, q0, q0
    vldrb.s32 q1, [r5]
    .inst.w 0xf3af8064          @ marker: hint.w #100
    le lr, 1b
    mov r0, #0x18               @ semihosting SYS_EXIT
    ldr r1, =0x20026            @ ADP_Stopped_ApplicationExit
    bkpt 0xab
    .ltorg
