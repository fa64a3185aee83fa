//! Colour conversions with scikit-image's and OpenCV's formulas.

/// skimage `rgb2hsv` for one pixel (values in [0, 1]); when several channels tie
/// for the maximum, blue wins over green over red, as in skimage.
pub fn rgb2hsv(r: f64, g: f64, b: f64) -> (f64, f64, f64) {
    let v = r.max(g).max(b);
    let delta = v - r.min(g).min(b);
    let s = if delta == 0.0 { 0.0 } else { delta / v };
    if delta == 0.0 {
        return (0.0, s, v);
    }
    let mut h = 0.0;
    if r == v {
        h = (g - b) / delta;
    }
    if g == v {
        h = 2.0 + (b - r) / delta;
    }
    if b == v {
        h = 4.0 + (r - g) / delta;
    }
    let h = (h / 6.0).rem_euclid(1.0);
    (h, s, v)
}

/// skimage `hsv2rgb` for one pixel.
pub fn hsv2rgb(h: f64, s: f64, v: f64) -> (f64, f64, f64) {
    let hi = libm::floor(h * 6.0);
    let f = h * 6.0 - hi;
    let p = v * (1.0 - s);
    let q = v * (1.0 - f * s);
    let t = v * (1.0 - (1.0 - f) * s);
    match (hi as i64).rem_euclid(6) {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

/// OpenCV `COLOR_RGB2GRAY` weights.
pub const CV_GRAY: [f64; 3] = [0.299, 0.587, 0.114];
/// The `rgb2gray` weights of imagecorruptions' frost / spatter (gray branches).
pub const IC_GRAY: [f64; 3] = [0.2989, 0.5870, 0.1140];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsv_round_trip() {
        for &(r, g, b) in &[
            (0.2, 0.4, 0.6),
            (1.0, 0.0, 0.0),
            (0.5, 0.5, 0.5),
            (0.1, 0.9, 0.9),
            (0.3, 0.2, 0.25),
        ] {
            let (h, s, v) = rgb2hsv(r, g, b);
            let (r2, g2, b2) = hsv2rgb(h, s, v);
            assert!(
                (r - r2).abs() < 1e-12 && (g - g2).abs() < 1e-12 && (b - b2).abs() < 1e-12,
                "{r} {g} {b}"
            );
        }
        // pure red: h = 0, s = 1, v = 1; cyan h = 0.5
        assert_eq!(rgb2hsv(1.0, 0.0, 0.0), (0.0, 1.0, 1.0));
        assert!((rgb2hsv(0.0, 1.0, 1.0).0 - 0.5).abs() < 1e-12);
    }
}
