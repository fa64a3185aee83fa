//! V4L2 capture (feature `camera`): MJPEG or YUYV frames from `/dev/videoN`
//! through the [`FrameSource`] trait. Only compiled here (no camera on the build
//! machines); the frame decoding it relies on — MJPEG splitting and YUYV → RGB —
//! is tested through [`crate::frames`].

use std::path::Path;

use image::DynamicImage;
use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, FourCC};

use crate::error::{Result, RuntimeError};
use crate::frames::{yuyv_to_rgb, Frame, FrameSource};

/// Pixel formats nyquist decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraFormat {
    /// Motion JPEG.
    Mjpeg,
    /// YUYV 4:2:2.
    Yuyv,
}

impl CameraFormat {
    fn fourcc(self) -> FourCC {
        match self {
            CameraFormat::Mjpeg => FourCC::new(b"MJPG"),
            CameraFormat::Yuyv => FourCC::new(b"YUYV"),
        }
    }
}

/// An open V4L2 capture stream.
pub struct Camera {
    stream: Stream<'static>,
    format: CameraFormat,
    width: u32,
    height: u32,
    index: u64,
    name: String,
}

impl std::fmt::Debug for Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Camera")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("size", &(self.width, self.height))
            .finish()
    }
}

fn cam_err(path: &Path, what: impl Into<String>) -> RuntimeError {
    RuntimeError::Config(format!("camera {}: {}", path.display(), what.into()))
}

impl Camera {
    /// Open `path`, negotiate MJPEG (preferred) or YUYV at about `width × height`.
    pub fn open(
        path: &Path,
        width: u32,
        height: u32,
        prefer: Option<CameraFormat>,
    ) -> Result<Self> {
        if !path.exists() {
            return Err(cam_err(path, "no such device"));
        }
        let dev =
            Device::with_path(path).map_err(|e| cam_err(path, format!("cannot open: {e}")))?;
        let offered: Vec<FourCC> = dev
            .enum_formats()
            .map_err(|e| cam_err(path, format!("cannot list formats: {e}")))?
            .into_iter()
            .map(|f| f.fourcc)
            .collect();
        let order = match prefer {
            Some(f) => vec![f],
            None => vec![CameraFormat::Mjpeg, CameraFormat::Yuyv],
        };
        let Some(format) = order.into_iter().find(|f| offered.contains(&f.fourcc())) else {
            let names: Vec<String> = offered.iter().map(|f| f.to_string()).collect();
            return Err(cam_err(
                path,
                format!("offers {names:?}; nyquist reads MJPG or YUYV"),
            ));
        };
        let mut fmt = dev.format().map_err(|e| cam_err(path, e.to_string()))?;
        fmt.width = width;
        fmt.height = height;
        fmt.fourcc = format.fourcc();
        let fmt = dev.set_format(&fmt).map_err(|e| {
            cam_err(
                path,
                format!("cannot set {width}x{height} {:?}: {e}", format),
            )
        })?;
        let stream = Stream::with_buffers(&dev, Type::VideoCapture, 4)
            .map_err(|e| cam_err(path, format!("cannot start streaming: {e}")))?;
        Ok(Camera {
            stream,
            format,
            width: fmt.width,
            height: fmt.height,
            index: 0,
            name: path.display().to_string(),
        })
    }
}

impl FrameSource for Camera {
    fn next_frame(&mut self) -> Option<Result<Frame>> {
        let (buf, meta) = match self.stream.next() {
            Ok(x) => x,
            Err(e) => {
                return Some(Err(RuntimeError::Config(format!(
                    "camera {}: capture failed: {e}",
                    self.name
                ))))
            }
        };
        let used = &buf[..(meta.bytesused as usize).min(buf.len())];
        self.index += 1;
        let name = format!("{}#{}", self.name, self.index);
        let image = match self.format {
            CameraFormat::Mjpeg => image::load_from_memory(used).map_err(|e| RuntimeError::Image {
                path: name.clone().into(),
                what: e.to_string(),
            }),
            CameraFormat::Yuyv => {
                yuyv_to_rgb(used, self.width, self.height).map(DynamicImage::ImageRgb8)
            }
        };
        Some(image.map(|image| Frame { name, image }))
    }
}
