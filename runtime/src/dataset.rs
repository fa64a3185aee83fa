//! Labelled and unlabelled image collections, detected from a path:
//!
//! * **ImageFolder**: `DIR/<class>/*.{png,jpg,jpeg,bmp}`. Class folders are
//!   matched to the model's labels by name when every folder name is a label,
//!   else taken in sorted order (the result says which).
//! * **idx** (MNIST / Fashion-MNIST): `DIR/<split>-images-idx3-ubyte[.gz]` and
//!   `DIR/<split>-labels-idx1-ubyte[.gz]`, e.g. Debian's `/usr/share/datasets/fashion-mnist`.
//! * **ImageNet-C**: `DIR/<corruption>/<severity>/<class>/*` — already corrupted
//!   images, read as they are (an optional `DIR/clean/<class>/` gives the clean error).
//! * a **flat folder** of images (no labels): calibration sets, `classify`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::{DynamicImage, GrayImage};
use nyquist_corrupt::Corruption;
use sha2::{Digest, Sha256};

use crate::error::{Result, RuntimeError};

/// File extensions treated as images.
pub const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "bmp", "ppm", "pgm", "webp"];

/// True if the path has an image extension.
pub fn is_image_path(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_lowercase().as_str()))
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|io| RuntimeError::Io {
        path: dir.into(),
        io,
    })?;
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    Ok(v)
}

/// Image files directly in `dir`, sorted by name.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(read_dir_sorted(dir)?
        .into_iter()
        .filter(|p| p.is_file() && is_image_path(p))
        .collect())
}

/// Image files in `dir` and its immediate subfolders, sorted.
pub fn list_images_recursive(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v = list_images(dir)?;
    for sub in read_dir_sorted(dir)?.into_iter().filter(|p| p.is_dir()) {
        v.extend(list_images(&sub)?);
    }
    v.sort();
    Ok(v)
}

/// Decode an idx file (optionally gzip-compressed): `(dims, bytes)`.
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let raw = std::fs::read(path).map_err(|io| RuntimeError::Io {
        path: path.into(),
        io,
    })?;
    let bad = |what: String| RuntimeError::Dataset {
        path: path.into(),
        what,
    };
    let data = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| bad(format!("corrupt gzip: {e}")))?;
        out
    } else {
        raw
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
            u32::from_be_bytes([
                data[4 + 4 * i],
                data[5 + 4 * i],
                data[6 + 4 * i],
                data[7 + 4 * i],
            ]) as usize
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

/// Find `<split>-images-idx3-ubyte[.gz]` and its labels in `dir`.
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

/// Where one image comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An image file.
    File(PathBuf),
    /// Image `index` of an in-memory idx array of `w × h` grayscale images.
    Idx {
        /// All pixels.
        pixels: Arc<Vec<u8>>,
        /// Width.
        w: u32,
        /// Height.
        h: u32,
        /// Image index.
        index: usize,
    },
}

impl Source {
    /// Decode the image.
    pub fn load(&self) -> Result<DynamicImage> {
        match self {
            Source::File(p) => crate::preprocess::open_image(p),
            Source::Idx {
                pixels,
                w,
                h,
                index,
            } => {
                let n = (*w * *h) as usize;
                let px = pixels
                    .get(index * n..(index + 1) * n)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default();
                GrayImage::from_raw(*w, *h, px)
                    .map(DynamicImage::ImageLuma8)
                    .ok_or_else(|| RuntimeError::Config(format!("idx image {index} out of range")))
            }
        }
    }

    /// A name for messages.
    pub fn describe(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Idx { index, .. } => format!("idx image #{index}"),
        }
    }
}

/// One labelled image.
#[derive(Debug, Clone)]
pub struct Item {
    /// Where it is.
    pub source: Source,
    /// Class index in the model's label order.
    pub label: usize,
}

/// How the images are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// `DIR/<class>/*`.
    ImageFolder,
    /// idx pair of a split.
    Idx {
        /// `t10k` / `train`.
        split: String,
    },
    /// `DIR/<corruption>/<severity>/<class>/*`.
    ImageNetC,
}

/// A labelled dataset ready to evaluate.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The path given.
    pub root: PathBuf,
    /// The layout detected.
    pub layout: Layout,
    /// Clean images (for ImageNet-C, `DIR/clean` if present).
    pub clean: Vec<Item>,
    /// Pre-corrupted images (ImageNet-C only).
    pub corrupted: BTreeMap<(Corruption, u8), Vec<Item>>,
    /// How class folders were matched to labels: `by name`, `sorted order`, or `idx labels`.
    pub class_match: String,
    /// Number of classes the labels run over.
    pub classes: usize,
    /// SHA-256 over every file name, label and (idx) pixel, in order.
    pub hash: String,
}

/// Read `path` as a dataset. `model_labels` are used to match class folders by name.
pub fn open(path: &Path, split: &str, model_labels: Option<&[String]>) -> Result<Dataset> {
    let bad = |what: String| RuntimeError::Dataset {
        path: path.into(),
        what,
    };
    if !path.exists() {
        return Err(bad("does not exist".into()));
    }
    if let Some((img, lab)) = idx_pair(path, split) {
        return open_idx(path, &img, &lab, split);
    }
    let subdirs: Vec<PathBuf> = read_dir_sorted(path)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    let is_c = subdirs.iter().any(|d| {
        d.file_name()
            .and_then(|n| n.to_str())
            .and_then(Corruption::from_name)
            .is_some()
    });
    if is_c {
        return open_imagenet_c(path, &subdirs, model_labels);
    }
    if subdirs.is_empty() {
        return Err(bad(format!(
            "no class folders, no `{split}-images-idx3-ubyte[.gz]` and no ImageNet-C corruption folders; expected DIR/<class>/*.png, an idx pair, or DIR/<corruption>/<severity>/<class>/"
        )));
    }
    let (items, class_match, classes, hasher) = image_folder(path, model_labels)?;
    if items.is_empty() {
        return Err(bad("class folders hold no images".into()));
    }
    Ok(Dataset {
        root: path.into(),
        layout: Layout::ImageFolder,
        clean: items,
        corrupted: BTreeMap::new(),
        class_match,
        classes,
        hash: hex(hasher),
    })
}

fn hex(h: Sha256) -> String {
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// [`Dataset::class_match`] when class folders were numbered in sorted order
/// (no labels, or folder names that are not the labels).
pub const SORTED_ORDER: &str = "sorted order";

/// Match folder names to labels: by name when all match, else sorted order.
fn class_map(folders: &[String], model_labels: Option<&[String]>) -> (Vec<usize>, String) {
    if let Some(labels) = model_labels {
        let norm = |s: &str| {
            s.to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
        };
        let by_name: Option<Vec<usize>> = folders
            .iter()
            .map(|f| labels.iter().position(|l| norm(l) == norm(f)))
            .collect();
        if let Some(v) = by_name {
            return (v, "by name".into());
        }
    }
    ((0..folders.len()).collect(), SORTED_ORDER.into())
}

fn image_folder(
    root: &Path,
    model_labels: Option<&[String]>,
) -> Result<(Vec<Item>, String, usize, Sha256)> {
    let dirs: Vec<PathBuf> = read_dir_sorted(root)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    let names: Vec<String> = dirs
        .iter()
        .map(|d| {
            d.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let (map, how) = class_map(&names, model_labels);
    let mut items = Vec::new();
    let mut hasher = Sha256::new();
    for (d, &label) in dirs.iter().zip(&map) {
        for f in list_images(d)? {
            let bytes = std::fs::read(&f).map_err(|io| RuntimeError::Io {
                path: f.clone(),
                io,
            })?;
            hasher.update(
                f.strip_prefix(root)
                    .unwrap_or(&f)
                    .to_string_lossy()
                    .as_bytes(),
            );
            hasher.update(label.to_le_bytes());
            hasher.update(Sha256::digest(&bytes));
            items.push(Item {
                source: Source::File(f),
                label,
            });
        }
    }
    let classes = model_labels.map_or(names.len(), |l| l.len().max(names.len()));
    Ok((items, how, classes, hasher))
}

fn open_idx(root: &Path, images: &Path, labels: &Path, split: &str) -> Result<Dataset> {
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
    let mut hasher = Sha256::new();
    hasher.update(&px);
    hasher.update(&lb);
    let pixels = Arc::new(px);
    let (h, w) = (d[1] as u32, d[2] as u32);
    let classes = lb.iter().copied().max().map_or(0, |m| m as usize + 1);
    let clean = lb
        .iter()
        .enumerate()
        .map(|(index, &l)| Item {
            source: Source::Idx {
                pixels: pixels.clone(),
                w,
                h,
                index,
            },
            label: l as usize,
        })
        .collect();
    Ok(Dataset {
        root: root.into(),
        layout: Layout::Idx {
            split: split.into(),
        },
        clean,
        corrupted: BTreeMap::new(),
        class_match: "idx labels".into(),
        classes,
        hash: hex(hasher),
    })
}

fn open_imagenet_c(
    root: &Path,
    subdirs: &[PathBuf],
    model_labels: Option<&[String]>,
) -> Result<Dataset> {
    let mut corrupted = BTreeMap::new();
    let mut hasher = Sha256::new();
    let mut how = String::new();
    let mut classes = 0;
    for d in subdirs {
        let Some(c) = d
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(Corruption::from_name)
        else {
            continue;
        };
        for s in 1..=5u8 {
            let sd = d.join(s.to_string());
            if !sd.is_dir() {
                continue;
            }
            let (items, m, k, h) = image_folder(&sd, model_labels)?;
            hasher.update(format!("{c}/{s}").as_bytes());
            hasher.update(hex(h).as_bytes());
            how = m;
            classes = classes.max(k);
            corrupted.insert((c, s), items);
        }
    }
    let clean = if root.join("clean").is_dir() {
        let (items, _, k, h) = image_folder(&root.join("clean"), model_labels)?;
        hasher.update(hex(h).as_bytes());
        classes = classes.max(k);
        items
    } else {
        Vec::new()
    };
    Ok(Dataset {
        root: root.into(),
        layout: Layout::ImageNetC,
        clean,
        corrupted,
        class_match: how,
        classes,
        hash: hex(hasher),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_folders_match_labels_by_normalised_name_or_fall_back_to_sorted() {
        let labels: Vec<String> = ["T-shirt/top", "Trouser", "Bag"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (m, how) = class_map(
            &["bag".into(), "tshirttop".into(), "trouser".into()],
            Some(&labels),
        );
        assert_eq!((m, how.as_str()), (vec![2, 0, 1], "by name"));
        let (m, how) = class_map(&["a".into(), "b".into()], Some(&labels));
        assert_eq!((m, how.as_str()), (vec![0, 1], "sorted order"));
    }

    #[test]
    fn idx_errors_name_the_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t10k-images-idx3-ubyte");
        std::fs::write(
            &p,
            [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3],
        )
        .unwrap();
        let e = read_idx(&p).unwrap_err().to_string();
        assert!(
            e.contains("t10k-images") && e.contains("body has 3 bytes"),
            "{e}"
        );
    }
}
