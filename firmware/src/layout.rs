//! The engine's activation layout is HWC (channels last); ONNX and the
//! runtime's preprocessing produce CHW. Host tools convert inputs with
//! [`chw_to_hwc`] (a no-op for one channel, as the bundled Fashion-MNIST model).

/// Write the `c × h × w` CHW tensor `src` into `dst` in HWC order. Returns
/// `None` when either slice is not `c·h·w` long.
pub fn chw_to_hwc<T: Copy>(src: &[T], c: usize, h: usize, w: usize, dst: &mut [T]) -> Option<()> {
    let n = c.checked_mul(h)?.checked_mul(w)?;
    if src.len() != n || dst.len() != n {
        return None;
    }
    for (ch, plane) in src.chunks_exact(h * w).enumerate() {
        for (p, &v) in plane.iter().enumerate() {
            dst[p * c + ch] = v;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_channels_interleave() {
        let src = [1, 2, 3, 4, 10, 20, 30, 40];
        let mut dst = [0; 8];
        super::chw_to_hwc(&src, 2, 2, 2, &mut dst).unwrap();
        assert_eq!(dst, [1, 10, 2, 20, 3, 30, 4, 40]);
        assert!(super::chw_to_hwc(&src, 3, 2, 2, &mut dst).is_none());
    }
}
