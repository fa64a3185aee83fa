//! Labelled and unlabelled image collections.
//!
//! * **ImageFolder**: `DIR/<class>/*.{png,jpg,jpeg,bmp}`.
//! * **flat folder**: `DIR/*.{png,…}` (no labels; calibration sets, `classify`).
//! * **idx** (MNIST / Fashion-MNIST): `DIR/<split>-images-idx3-ubyte[.gz]` and
//!   `DIR/<split>-labels-idx1-ubyte[.gz]`.

use std::io::Read;
use std::path::{Path, PathBuf};

use image::{DynamicImage, GrayImage};

use crate::error::{Result, RuntimeError};

/// File extensions treated as images.
pub const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "bmp", "ppm", "pgm"];

/// True if the path has an image extension.
pub fn is_image_path(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_lowercase().as_str()))
}

/// Image files directly in `dir`, sorted by name.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|source| RuntimeError::Io {
        path: dir.into(),
        source,
    })?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_image_path(p))
        .collect();
    v.sort();
    Ok(v)
}

/// Image files in `dir` and its subfolders (one level), sorted.
pub fn list_images_recursive(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v = list_images(dir)?;
    for sub in subdirs(dir)? {
        v.extend(list_images(&sub)?);
    }
    v.sort();
    Ok(v)
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|source| RuntimeError::Io {
        path: dir.into(),
        source,
    })?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    Ok(v)
}

/// Decode an idx file (optionally gzip-compressed): `(dims, bytes)`.
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let raw = std::fs::read(path).map_err(|source| RuntimeError::Io {
        path: path.into(),
        source,
    })?;
    let data = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| RuntimeError::Dataset {
                path: path.into(),
                what: format!("corrupt gzip: {e}"),
            })?;
        out
    } else {
        raw
    };
    let bad = |what: String| RuntimeError::Dataset {
        path: path.into(),
        what,
    };
    if data.len() < 4 || data[0] != 0 || data[1] != 0 || data[2] != 0x08 {
        return Err(bad("not an unsigned-byte idx file (bad magic)".into()));
    }
    let nd = data[3] as usize;
    if data.len() < 4 + 4 * nd {
        return Err(bad("truncated idx header".into()));
    }
    let dims: Vec<usize> = (0..nd)
        .map(|i| {
            u32::from_be_bytes(data[4 + 4 * i..8 + 4 * i].try_into().unwrap_or([0; 4])) as usize
        })
        .collect();
    let n: usize = dims.iter().product();
    let body = &data[4 + 4 * nd..];
    if body.len() != n {
        return Err(bad(format!(
            "header says {dims:?} ({n} bytes), body has {} bytes",
            body.len()
        )));
    }
    Ok((dims, body.to_vec()))
}

/// Find `<split>-images-idx3-ubyte[.gz]` / labels in `dir`.
pub fn idx_pair(dir: &Path, split: &str) -> Option<(PathBuf, PathBuf)> {
    let find = |stem: &str| {
        [format!("{stem}.gz"), stem.to_string()]
            .into_iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
    };
    Some((
        find(&format!("{split}-images-idx3-ubyte"))?,
        find(&format!("{split}-labels-idx1-ubyte"))?,
    ))
}

/// All images of an idx pair as grayscale images with their labels.
pub fn load_idx(images: &Path, labels: &Path) -> Result<Vec<(DynamicImage, usize)>> {
    let (d, px) = read_idx(images)?;
    let (dl, lb) = read_idx(labels)?;
    if d.len() != 3 || dl.len() != 1 || d[0] != dl[0] {
        return Err(RuntimeError::Dataset {
            path: images.into(),
            what: format!(
                "images {d:?} and labels {dl:?} ({}) do not pair up",
                labels.display()
            ),
        });
    }
    let (h, w) = (d[1], d[2]);
    Ok(px
        .chunks_exact(h * w)
        .zip(lb)
        .map(|(p, l)| {
            let img =
                GrayImage::from_raw(w as u32, h as u32, p.to_vec()).map(DynamicImage::ImageLuma8);
            (
                img.unwrap_or_else(|| DynamicImage::new_luma8(w as u32, h as u32)),
                l as usize,
            )
        })
        .collect())
}
