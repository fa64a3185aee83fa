// Shared by the fuzz targets (`include!`d): load a blob and, when it loads,
// run it on a few inputs. Any panic, overflow (debug assertions are on) or
// out-of-bounds access is a finding; an `Err` is the expected outcome.

/// Arenas above this are skipped (a fuzzer-made header can ask for gigabytes).
const MAX_ARENA: usize = 1 << 20;

fn load_and_run(blob: &[u8]) {
    use nyquist_firmware::Run;
    let Ok(m) = nyquist_firmware::Model::from_bytes(blob) else {
        return;
    };
    if m.arena_size > MAX_ARENA || m.input.len() > MAX_ARENA || m.output.len() > MAX_ARENA {
        return;
    }
    let mut arena = vec![0i8; m.arena_size];
    let mut out = vec![0i8; m.output.len()];
    for fill in [0i8, -128, 127] {
        let input = vec![fill; m.input.len()];
        let _ = m.run(&mut arena, &input, &mut out);
    }
    // Wrong sizes must be errors, not panics.
    let _ = m.run(&mut arena[..m.arena_size / 2], &vec![0; m.input.len()], &mut out);
    let _ = m.run(&mut arena, &vec![0; m.input.len() + 1], &mut out);
}
