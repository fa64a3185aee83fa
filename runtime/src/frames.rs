//! Where images come from: a [`FrameSource`] yields frames one at a time, so
//! files, folders, image sequences, an MJPEG / PNG stream on stdin, recorded raw
//! YUYV frames and (with the `camera` feature) a V4L2 device all go through the
//! same classification path.

use std::io::Read;
use std::path::{Path, PathBuf};

use image::{DynamicImage, RgbImage};

use crate::dataset::{is_image_path, list_images};
use crate::error::{Result, RuntimeError};
use crate::preprocess::open_image;

/// One frame and a name for it (file path, `stdin#3`, `/dev/video0#12`).
#[derive(Debug, Clone)]
pub struct Frame {
    /// Where it came from.
    pub name: String,
    /// The decoded image.
    pub image: DynamicImage,
}

/// A stream of frames. `None` ends the stream; an `Err` is one bad frame (the
/// caller reports it and may continue).
pub trait FrameSource {
    /// The next frame.
    fn next_frame(&mut self) -> Option<Result<Frame>>;
}

/// Image files (a list; folders are expanded one level, sorted).
#[derive(Debug)]
pub struct Files {
    paths: std::vec::IntoIter<PathBuf>,
}

impl Files {
    /// Expand `inputs` (files and folders) into image files. Non-image files
    /// named explicitly are kept, so they are reported when they fail to decode.
    pub fn new(inputs: &[PathBuf]) -> Result<Self> {
        let mut v = Vec::new();
        for p in inputs {
            if p.is_dir() {
                let mut here = list_images(p)?;
                for sub in std::fs::read_dir(p)
                    .map_err(|io| RuntimeError::Io {
                        path: p.clone(),
                        io,
                    })?
                    .flatten()
                {
                    if sub.path().is_dir() {
                        here.extend(list_images(&sub.path())?);
                    }
                }
                // Files that are not images, inside the folder: report them too.
                for f in std::fs::read_dir(p)
                    .map_err(|io| RuntimeError::Io {
                        path: p.clone(),
                        io,
                    })?
                    .flatten()
                {
                    let fp = f.path();
                    if fp.is_file()
                        && !is_image_path(&fp)
                        && !fp
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                    {
                        here.push(fp);
                    }
                }
                here.sort();
                v.extend(here);
            } else {
                v.push(p.clone());
            }
        }
        Ok(Files {
            paths: v.into_iter(),
        })
    }

    /// The paths that remain, consuming the source.
    pub fn into_paths(self) -> Vec<PathBuf> {
        self.paths.collect()
    }
}

impl FrameSource for Files {
    fn next_frame(&mut self) -> Option<Result<Frame>> {
        let p = self.paths.next()?;
        Some(open_image(&p).map(|image| Frame {
            name: p.display().to_string(),
            image,
        }))
    }
}

/// Split a byte stream of concatenated JPEG (MJPEG) or PNG images.
#[derive(Debug)]
pub struct ImageStream<R: Read> {
    reader: R,
    buf: Vec<u8>,
    index: usize,
    label: String,
    done: bool,
}

impl<R: Read> ImageStream<R> {
    /// A stream read from `reader`, frames named `label#N`.
    pub fn new(reader: R, label: &str) -> Self {
        ImageStream {
            reader,
            buf: Vec::new(),
            index: 0,
            label: label.into(),
            done: false,
        }
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 1 << 16];
        match self.reader.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Length of the complete image at the start of the buffer, if there is one.
    fn frame_len(&self) -> Option<usize> {
        let b = &self.buf;
        if b.starts_with(&[0xFF, 0xD8]) {
            // JPEG: up to the EOI marker (entropy-coded data never contains FF D9).
            return b
                .windows(2)
                .skip(2)
                .position(|w| w == [0xFF, 0xD9])
                .map(|p| p + 4);
        }
        if b.starts_with(b"\x89PNG\r\n\x1a\n") {
            // PNG: chunks until IEND.
            let mut i = 8;
            while i + 12 <= b.len() {
                let len = u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
                let end = i + 12 + len;
                if &b[i + 4..i + 8] == b"IEND" {
                    return (end <= b.len()).then_some(end);
                }
                i = end;
            }
            return None;
        }
        None
    }
}

impl<R: Read> FrameSource for ImageStream<R> {
    fn next_frame(&mut self) -> Option<Result<Frame>> {
        if self.done {
            return None;
        }
        loop {
            if let Some(n) = self.frame_len() {
                let bytes: Vec<u8> = self.buf.drain(..n).collect();
                self.index += 1;
                let name = format!("{}#{}", self.label, self.index);
                return Some(
                    image::load_from_memory(&bytes)
                        .map(|image| Frame {
                            name: name.clone(),
                            image,
                        })
                        .map_err(|e| RuntimeError::Image {
                            path: name.into(),
                            what: e.to_string(),
                        }),
                );
            }
            if !self.buf.is_empty()
                && !self.buf.starts_with(&[0xFF, 0xD8])
                && !self.buf.starts_with(&[0x89])
            {
                self.done = true;
                return Some(Err(RuntimeError::Image {
                    path: self.label.clone().into(),
                    what: "stream is neither MJPEG nor PNG".into(),
                }));
            }
            if !self.fill() {
                self.done = true;
                return (!self.buf.is_empty()).then(|| {
                    Err(RuntimeError::Image {
                        path: self.label.clone().into(),
                        what: format!("{} trailing bytes of an incomplete frame", self.buf.len()),
                    })
                });
            }
        }
    }
}

/// YUYV (YUY2, 4:2:2) to RGB with the BT.601 limited-range integer formulas
/// V4L2 cameras use.
pub fn yuyv_to_rgb(data: &[u8], w: u32, h: u32) -> Result<RgbImage> {
    let need = (w * h * 2) as usize;
    if data.len() != need || !w.is_multiple_of(2) {
        return Err(RuntimeError::Shape {
            tensor: "YUYV frame".into(),
            expected: format!("{need} bytes for {w}x{h} (even width)"),
            got: format!("{} bytes", data.len()),
        });
    }
    let clamp = |v: i32| v.clamp(0, 255) as u8;
    let mut out = RgbImage::new(w, h);
    for (i, px) in data.chunks_exact(4).enumerate() {
        let (y0, u, y1, v) = (
            px[0] as i32,
            px[1] as i32 - 128,
            px[2] as i32,
            px[3] as i32 - 128,
        );
        for (k, y) in [y0, y1].into_iter().enumerate() {
            let c = 298 * (y - 16);
            let rgb = [
                clamp((c + 409 * v + 128) >> 8),
                clamp((c - 100 * u - 208 * v + 128) >> 8),
                clamp((c + 516 * u + 128) >> 8),
            ];
            let p = (2 * i + k) as u32;
            out.put_pixel(p % w, p / w, image::Rgb(rgb));
        }
    }
    Ok(out)
}

/// RGB to YUYV (BT.601 limited range), e.g. to record test frames.
pub fn rgb_to_yuyv(img: &RgbImage) -> Vec<u8> {
    let y_of = |p: &image::Rgb<u8>| {
        ((66 * p[0] as i32 + 129 * p[1] as i32 + 25 * p[2] as i32 + 128) >> 8) + 16
    };
    let mut out = Vec::with_capacity((img.width() * img.height() * 2) as usize);
    for row in 0..img.height() {
        for x in (0..img.width()).step_by(2) {
            let (a, b) = (
                img.get_pixel(x, row),
                img.get_pixel((x + 1).min(img.width() - 1), row),
            );
            let r = (a[0] as i32 + b[0] as i32) / 2;
            let g = (a[1] as i32 + b[1] as i32) / 2;
            let bl = (a[2] as i32 + b[2] as i32) / 2;
            let u = ((-38 * r - 74 * g + 112 * bl + 128) >> 8) + 128;
            let v = ((112 * r - 94 * g - 18 * bl + 128) >> 8) + 128;
            out.extend([
                y_of(a).clamp(0, 255) as u8,
                u.clamp(0, 255) as u8,
                y_of(b).clamp(0, 255) as u8,
                v.clamp(0, 255) as u8,
            ]);
        }
    }
    out
}

/// Recorded raw YUYV frames of one size, back to back (what
/// `v4l2-ctl --stream-to` writes).
#[derive(Debug)]
pub struct YuyvFile {
    data: Vec<u8>,
    w: u32,
    h: u32,
    index: usize,
    label: String,
}

impl YuyvFile {
    /// Open a recording of `w × h` frames.
    pub fn open(path: &Path, w: u32, h: u32) -> Result<Self> {
        let data = std::fs::read(path).map_err(|io| RuntimeError::Io {
            path: path.into(),
            io,
        })?;
        let frame = (w * h * 2) as usize;
        if frame == 0 || data.len() % frame != 0 {
            return Err(RuntimeError::Shape {
                tensor: format!("{} (YUYV recording)", path.display()),
                expected: format!("a multiple of {frame} bytes ({w}x{h} frames)"),
                got: format!("{} bytes", data.len()),
            });
        }
        Ok(YuyvFile {
            data,
            w,
            h,
            index: 0,
            label: path.display().to_string(),
        })
    }
}

impl FrameSource for YuyvFile {
    fn next_frame(&mut self) -> Option<Result<Frame>> {
        let frame = (self.w * self.h * 2) as usize;
        let chunk = self
            .data
            .get(self.index * frame..(self.index + 1) * frame)?;
        self.index += 1;
        Some(yuyv_to_rgb(chunk, self.w, self.h).map(|rgb| Frame {
            name: format!("{}#{}", self.label, self.index),
            image: DynamicImage::ImageRgb8(rgb),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_round_trip_is_close() {
        let img = RgbImage::from_fn(8, 4, |x, y| {
            image::Rgb([(x * 30) as u8, (y * 60) as u8, 128])
        });
        let back = yuyv_to_rgb(&rgb_to_yuyv(&img), 8, 4).unwrap();
        let worst = img
            .as_raw()
            .iter()
            .zip(back.as_raw())
            .map(|(a, b)| (*a as i32 - *b as i32).abs())
            .max()
            .unwrap();
        assert!(worst <= 20, "worst channel error {worst}"); // chroma is shared by pixel pairs
        assert!(yuyv_to_rgb(&[0; 10], 8, 4).is_err());
    }

    #[test]
    fn mjpeg_and_png_streams_split_into_frames() {
        let mut stream = Vec::new();
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(16, 16, image::Rgb([200, 10, 10])));
        for fmt in [
            image::ImageFormat::Jpeg,
            image::ImageFormat::Png,
            image::ImageFormat::Jpeg,
        ] {
            let mut c = std::io::Cursor::new(Vec::new());
            img.write_to(&mut c, fmt).unwrap();
            stream.extend(c.into_inner());
        }
        let mut s = ImageStream::new(&stream[..], "stdin");
        let frames: Vec<_> = std::iter::from_fn(|| s.next_frame()).collect();
        assert_eq!(frames.len(), 3);
        assert!(frames
            .iter()
            .all(|f| f.as_ref().is_ok_and(|f| f.image.width() == 16)));
        let mut bad = ImageStream::new(&b"GIF89a..."[..], "stdin");
        assert!(bad.next_frame().unwrap().is_err());
        assert!(bad.next_frame().is_none());
    }
}
