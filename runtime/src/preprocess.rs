//! From a decoded image to the model's input tensor, in two stages:
//!
//! 1. [`Preprocess::geometry`]: to an 8-bit RGB image of the model's input size
//!    (pad / resize / shorter-side resize + centre crop). ImageNet-C corrupts
//!    images at this stage (after resize and crop, before normalisation), and so
//!    does `nyquist eval`.
//! 2. [`Preprocess::normalize`]: channel order or grayscale (ITU-R 601 luma, as
//!    PIL's `convert("L")`), `/255`, `(x − mean) / std`, NCHW.

use image::{imageops, DynamicImage, Rgb, RgbImage};

use crate::error::{Result, RuntimeError};
use crate::meta::{parse_list, ModelInfo};

/// Channel layout the model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// One luma channel.
    Gray,
    /// R, G, B.
    Rgb,
    /// B, G, R.
    Bgr,
}

/// How an image of any size becomes `H × W`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Geometry {
    /// Centre it on an `H × W` canvas of `value` (cropping the centre if larger).
    Pad {
        /// Canvas value, 0–255.
        value: u8,
    },
    /// Stretch to `H × W` (antialiased triangle filter).
    Resize,
    /// Resize the shorter side to `shorter` (aspect kept), then centre-crop `H × W`.
    ShorterCrop {
        /// Target length of the shorter side.
        shorter: u32,
    },
}

/// The preprocessing of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    /// Input shape `[N, C, H, W]`.
    pub shape: [usize; 4],
    /// Channel layout.
    pub color: Color,
    /// Size normalisation.
    pub geometry: Geometry,
    /// Per-channel mean on pixels / 255.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation on pixels / 255.
    pub std: Vec<f32>,
}

impl Preprocess {
    /// Read the preprocessing from a model's metadata; missing keys default to
    /// the graph's input shape, gray for 1 channel / RGB for 3, stretch resize,
    /// mean 0 and std 1.
    pub fn from_info(info: &ModelInfo) -> Result<Self> {
        let shape = info.input_shape()?;
        let shape: [usize; 4] = shape.clone().try_into().map_err(|_| {
            RuntimeError::Config(format!(
                "image models take a 4-D NCHW input, this one takes {shape:?}"
            ))
        })?;
        let c = shape[1];
        let color = match info.get("nyquist.input.color") {
            Some("gray") => Color::Gray,
            Some("rgb") => Color::Rgb,
            Some("bgr") => Color::Bgr,
            Some(other) => {
                return Err(RuntimeError::Config(format!(
                    "nyquist.input.color `{other}`: expected gray, rgb or bgr"
                )))
            }
            None if c == 1 => Color::Gray,
            None => Color::Rgb,
        };
        let geometry = match info.get("nyquist.input.geometry") {
            Some("pad") => Geometry::Pad {
                value: info.get("nyquist.input.pad_value").map_or(Ok(0), |v| {
                    v.parse().map_err(|_| {
                        RuntimeError::Config(format!(
                            "nyquist.input.pad_value `{v}`: expected 0–255"
                        ))
                    })
                })?,
            },
            Some("resize") | None => Geometry::Resize,
            Some("shorter_crop") => Geometry::ShorterCrop {
                shorter: info
                    .get("nyquist.input.resize_shorter")
                    .ok_or_else(|| {
                        RuntimeError::Config(
                            "geometry shorter_crop needs nyquist.input.resize_shorter".into(),
                        )
                    })
                    .and_then(|v| parse_list::<u32>(v, "nyquist.input.resize_shorter"))?[0],
            },
            Some(other) => {
                return Err(RuntimeError::Config(format!(
                    "nyquist.input.geometry `{other}`: expected pad, resize or shorter_crop"
                )))
            }
        };
        let per_channel = |key: &str, default: f32| -> Result<Vec<f32>> {
            let v = match info.get(key) {
                Some(s) => parse_list::<f32>(s, key)?,
                None => vec![default; c],
            };
            match v.len() {
                1 => Ok(vec![v[0]; c]),
                n if n == c => Ok(v),
                n => Err(RuntimeError::Config(format!(
                    "{key} has {n} values for {c} channels"
                ))),
            }
        };
        let p = Preprocess {
            shape,
            color,
            geometry,
            mean: per_channel("nyquist.input.mean", 0.0)?,
            std: per_channel("nyquist.input.std", 1.0)?,
        };
        p.check()?;
        Ok(p)
    }

    /// Check internal consistency.
    pub fn check(&self) -> Result<()> {
        let c = self.shape[1];
        let want = if self.color == Color::Gray { 1 } else { 3 };
        if c != want {
            return Err(RuntimeError::Config(format!(
                "color {:?} needs {want} input channels, the model has {c}",
                self.color
            )));
        }
        if self.std.iter().any(|&s| s <= 0.0 || !s.is_finite()) {
            return Err(RuntimeError::Config(format!(
                "std {:?} must be positive",
                self.std
            )));
        }
        Ok(())
    }

    /// Input height and width.
    pub fn hw(&self) -> (u32, u32) {
        (self.shape[2] as u32, self.shape[3] as u32)
    }

    /// The model inputs of the first `limit` images of a flat or one-level
    /// folder (`crate::dataset::list_images_recursive`, sorted), e.g. a
    /// calibration set. Refused, naming the file: an image with another
    /// channel count than the model's, one larger than the input under
    /// geometry `pad`, one that does not decode; naming the folder: a folder
    /// without images.
    pub fn folder_tensors(&self, dir: &std::path::Path, limit: usize) -> Result<Vec<Vec<f32>>> {
        let files = crate::dataset::list_images_recursive(dir)?;
        if files.is_empty() {
            return Err(RuntimeError::Dataset {
                path: dir.into(),
                what: "no images (png, jpg, bmp) in the folder or its subfolders".into(),
            });
        }
        let (h, w) = self.hw();
        let want = if self.color == Color::Gray { 1 } else { 3 };
        files
            .iter()
            .take(limit)
            .map(|f| {
                let img = open_image(f)?;
                let ch = match img.color().channel_count().min(3) {
                    2 => 1,
                    c => c as usize,
                };
                let bad = |what: String| RuntimeError::Dataset {
                    path: f.clone(),
                    what,
                };
                if ch != want {
                    return Err(bad(format!("{ch} channel(s), the model takes {want}")));
                }
                if matches!(self.geometry, Geometry::Pad { .. })
                    && (img.width() > w || img.height() > h)
                {
                    return Err(bad(format!(
                        "{}x{} is larger than the model input {w}x{h} (geometry `pad`)",
                        img.width(),
                        img.height()
                    )));
                }
                Ok(self.tensor(&img))
            })
            .collect()
    }

    /// Stage 1: an 8-bit RGB image of the input size.
    pub fn geometry(&self, img: &DynamicImage) -> RgbImage {
        self.geometry_shifted(img, (0, 0))
    }

    /// How far [`Preprocess::geometry_shifted`] can move the image in each
    /// direction and keep it whole: the padding around it (`pad`), or half
    /// the margin the centre crop leaves (`shorter_crop`: every crop of the
    /// resized image is reachable). `None` for `resize` (nothing to shift).
    pub fn max_shift(&self, image_size: (u32, u32)) -> Option<u32> {
        let (h, w) = self.hw();
        let (iw, ih) = image_size;
        match self.geometry {
            Geometry::Resize => None,
            Geometry::Pad { .. } => Some(w.saturating_sub(iw).min(h.saturating_sub(ih)) / 2),
            Geometry::ShorterCrop { shorter } => {
                let scale = shorter as f64 / iw.min(ih).max(1) as f64;
                let (nw, nh) = (
                    ((iw as f64 * scale).round() as u32).max(w),
                    ((ih as f64 * scale).round() as u32).max(h),
                );
                Some((nw - w).min(nh - h) / 2)
            }
        }
    }

    /// Stage 1 with the image moved by `(dx, dy)` pixels (right, down) on
    /// its canvas (`pad`: what leaves the canvas is cut, what it uncovers is
    /// the pad value) or the crop window moved the other way (`shorter_crop`,
    /// clamped to the resized image). `resize` ignores the shift. The shifts
    /// of shift-consistency (Zhang 2019).
    pub fn geometry_shifted(&self, img: &DynamicImage, (dx, dy): (i32, i32)) -> RgbImage {
        let (h, w) = self.hw();
        let rgb = img.to_rgb8();
        match self.geometry {
            Geometry::Resize => imageops::resize(&rgb, w, h, imageops::FilterType::Triangle),
            Geometry::Pad { value } => {
                let mut canvas = RgbImage::from_pixel(w, h, Rgb([value; 3]));
                let (iw, ih) = rgb.dimensions();
                let (ox, sx) = offsets(iw, w);
                let (oy, sy) = offsets(ih, h);
                for y in 0..ih.min(h) {
                    for x in 0..iw.min(w) {
                        let (tx, ty) = (
                            x as i64 + ox as i64 + dx as i64,
                            y as i64 + oy as i64 + dy as i64,
                        );
                        if (0..w as i64).contains(&tx) && (0..h as i64).contains(&ty) {
                            canvas.put_pixel(tx as u32, ty as u32, *rgb.get_pixel(x + sx, y + sy));
                        }
                    }
                }
                canvas
            }
            Geometry::ShorterCrop { shorter } => {
                let (iw, ih) = rgb.dimensions();
                let scale = shorter as f64 / iw.min(ih) as f64;
                let (nw, nh) = (
                    ((iw as f64 * scale).round() as u32).max(w),
                    ((ih as f64 * scale).round() as u32).max(h),
                );
                let r = imageops::resize(&rgb, nw, nh, imageops::FilterType::Triangle);
                // The image moves right when the window moves left.
                let cx = ((nw - w) as i64 / 2 - dx as i64).clamp(0, (nw - w) as i64) as u32;
                let cy = ((nh - h) as i64 / 2 - dy as i64).clamp(0, (nh - h) as i64) as u32;
                imageops::crop_imm(&r, cx, cy, w, h).to_image()
            }
        }
    }

    /// Stage 2: normalised CHW floats of one sample (appended to `out`).
    pub fn normalize_into(&self, img: &RgbImage, out: &mut Vec<f32>) {
        let (h, w) = self.hw();
        debug_assert_eq!(img.dimensions(), (w, h));
        let plane = (h * w) as usize;
        let start = out.len();
        out.resize(start + plane * self.shape[1], 0.0);
        let o = &mut out[start..];
        for (i, p) in img.pixels().enumerate() {
            let [r, g, b] = p.0;
            match self.color {
                Color::Gray => {
                    let l = (r as u32 * 299 + g as u32 * 587 + b as u32 * 114 + 500) / 1000;
                    o[i] = (l as f32 / 255.0 - self.mean[0]) / self.std[0];
                }
                Color::Rgb | Color::Bgr => {
                    let ch = if self.color == Color::Rgb {
                        [r, g, b]
                    } else {
                        [b, g, r]
                    };
                    for c in 0..3 {
                        o[c * plane + i] = (ch[c] as f32 / 255.0 - self.mean[c]) / self.std[c];
                    }
                }
            }
        }
    }

    /// Stage 2 for one image.
    pub fn normalize(&self, img: &RgbImage) -> Vec<f32> {
        let mut v = Vec::with_capacity(self.shape[1..].iter().product());
        self.normalize_into(img, &mut v);
        v
    }

    /// Both stages.
    pub fn tensor(&self, img: &DynamicImage) -> Vec<f32> {
        self.normalize(&self.geometry(img))
    }
}

/// (destination offset, source offset) that centre a length `n` in a length `m`.
fn offsets(n: u32, m: u32) -> (u32, u32) {
    if n <= m {
        ((m - n) / 2, 0)
    } else {
        (0, (n - m) / 2)
    }
}

/// Decode an image file with a clear error.
pub fn open_image(path: &std::path::Path) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).map_err(|io| RuntimeError::Io {
        path: path.into(),
        io,
    })?;
    image::load_from_memory(&bytes).map_err(|e| RuntimeError::Image {
        path: path.into(),
        what: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pairs: &[(&str, &str)]) -> ModelInfo {
        ModelInfo {
            props: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn fashion_mnist_pad_geometry_and_normalisation() {
        let p = Preprocess::from_info(&info(&[
            ("nyquist.input.shape", "1,1,32,32"),
            ("nyquist.input.geometry", "pad"),
            ("nyquist.input.mean", "0.2860"),
            ("nyquist.input.std", "0.3530"),
        ]))
        .unwrap();
        let img = DynamicImage::ImageLuma8(image::GrayImage::from_fn(28, 28, |x, y| {
            image::Luma([(x + y) as u8 * 4])
        }));
        let t = p.tensor(&img);
        assert_eq!(t.len(), 32 * 32);
        let px = |x: usize, y: usize| t[y * 32 + x];
        // Padding: 2 px of zero on each side, i.e. (0 - mean) / std.
        assert!((px(0, 0) - (-0.2860 / 0.3530)).abs() < 1e-6);
        assert!((px(31, 31) - (-0.2860 / 0.3530)).abs() < 1e-6);
        // Source (5, 7) lands at (7, 9): value (5+7)*4 = 48.
        assert!((px(7, 9) - ((48.0 / 255.0 - 0.2860) / 0.3530)).abs() < 1e-6);
    }

    #[test]
    fn folder_tensors_reads_sorted_images_and_names_the_bad_one() {
        let p = Preprocess {
            shape: [1, 1, 8, 8],
            color: Color::Gray,
            geometry: Geometry::Pad { value: 0 },
            mean: vec![0.0],
            std: vec![1.0],
        };
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            p.folder_tensors(dir.path(), 10),
            Err(RuntimeError::Dataset { .. })
        ));
        let gray = |v: u8| image::GrayImage::from_pixel(4, 4, image::Luma([v]));
        gray(10).save(dir.path().join("b.png")).unwrap();
        gray(200).save(dir.path().join("a.png")).unwrap();
        let t = p.folder_tensors(dir.path(), 10).unwrap();
        assert_eq!(t.len(), 2);
        // Sorted by name: a.png (200) first, centred on the padded canvas.
        assert!((t[0][2 * 8 + 2] - 200.0 / 255.0).abs() < 1e-6);
        assert_eq!(p.folder_tensors(dir.path(), 1).unwrap().len(), 1);
        image::RgbImage::from_pixel(4, 4, image::Rgb([1, 2, 3]))
            .save(dir.path().join("c.png"))
            .unwrap();
        let err = p.folder_tensors(dir.path(), 10).unwrap_err().to_string();
        assert!(
            err.contains("c.png") && err.contains("3 channel(s)"),
            "{err}"
        );
        image::GrayImage::from_pixel(9, 9, image::Luma([1]))
            .save(dir.path().join("0.png"))
            .unwrap();
        let err = p.folder_tensors(dir.path(), 1).unwrap_err().to_string();
        assert!(
            err.contains("0.png") && err.contains("larger than"),
            "{err}"
        );
    }

    #[test]
    fn shifts_move_the_image_on_its_canvas_or_the_crop_window() {
        let p = Preprocess {
            shape: [1, 1, 8, 8],
            color: Color::Gray,
            geometry: Geometry::Pad { value: 0 },
            mean: vec![0.0],
            std: vec![1.0],
        };
        let img = DynamicImage::ImageLuma8(image::GrayImage::from_fn(4, 4, |x, y| {
            image::Luma([1 + (x + 4 * y) as u8])
        }));
        assert_eq!(p.max_shift((4, 4)), Some(2));
        let at = |g: &RgbImage, x: u32, y: u32| g.get_pixel(x, y).0[0];
        let centred = p.geometry(&img);
        assert_eq!(at(&centred, 2, 2), 1); // source (0, 0) at offset (2, 2)
        let moved = p.geometry_shifted(&img, (2, -1));
        assert_eq!(at(&moved, 4, 1), 1); // (2 + 2, 2 − 1)
        assert_eq!(at(&moved, 7, 4), 16); // source (3, 3)
        assert_eq!(at(&moved, 2, 2), 0); // uncovered: pad value
                                         // Beyond the padding, what leaves the canvas is cut.
        let far = p.geometry_shifted(&img, (5, 0));
        assert_eq!(at(&far, 7, 2), 1);
        // shorter_crop: a 12 × 12 image resized to 12 keeps 2 px of margin
        // each side around the 8 × 8 crop; the image moves right when the
        // window moves left.
        let q = Preprocess {
            geometry: Geometry::ShorterCrop { shorter: 12 },
            ..p.clone()
        };
        let big = DynamicImage::ImageLuma8(image::GrayImage::from_fn(12, 12, |x, y| {
            image::Luma([(x + 12 * y) as u8])
        }));
        assert_eq!(q.max_shift((12, 12)), Some(2));
        assert_eq!(at(&q.geometry(&big), 0, 0), 2 + 12 * 2);
        assert_eq!(at(&q.geometry_shifted(&big, (1, 2)), 0, 0), 1);
        assert_eq!(at(&q.geometry_shifted(&big, (9, 9)), 0, 0), 0); // clamped
    }

    #[test]
    fn luma_matches_pil_convert_l() {
        let p = Preprocess {
            shape: [1, 1, 1, 1],
            color: Color::Gray,
            geometry: Geometry::Resize,
            mean: vec![0.0],
            std: vec![1.0],
        };
        let img = RgbImage::from_pixel(1, 1, Rgb([200, 100, 50]));
        // PIL: (200*299 + 100*587 + 50*114 + 500) // 1000 = 124
        assert!((p.normalize(&img)[0] - 124.0 / 255.0).abs() < 1e-7);
    }

    #[test]
    fn wrong_channel_count_is_a_config_error() {
        let e = Preprocess::from_info(&info(&[
            ("nyquist.input.shape", "1,3,8,8"),
            ("nyquist.input.color", "gray"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("needs 1 input channels"), "{e}");
    }
}
