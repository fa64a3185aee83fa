//! RGB565 frame → the model's int8 input, one row at a time: luma (ITU-R 601
//! integer weights, as the runtime's PIL-compatible path), box-average of the
//! centre square onto `src × src`, centre placement on the `size × size` canvas
//! (the `pad` geometry of the bundled models), then a 256-entry table from pixel
//! value to quantized, normalised input.

/// How a frame becomes the input tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputSpec {
    /// Canvas side (model input height = width), e.g. 32.
    pub size: u16,
    /// Side of the image area inside the canvas (e.g. 28 for Fashion-MNIST).
    pub src: u16,
    /// Pixel value of the padding (0–255).
    pub pad_value: u8,
    /// Normalisation mean on pixels / 255.
    pub mean: f32,
    /// Normalisation standard deviation on pixels / 255.
    pub std: f32,
    /// Input quantization scale.
    pub scale: f32,
    /// Input quantization zero point.
    pub zero_point: i32,
}

impl InputSpec {
    /// Bytes of input.
    pub fn len(&self) -> usize {
        self.size as usize * self.size as usize
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// `table[p]` = the int8 input for pixel value `p`.
    pub fn table(&self) -> [i8; 256] {
        let mut t = [0i8; 256];
        for (p, v) in t.iter_mut().enumerate() {
            let x = (p as f32 / 255.0 - self.mean) / self.std;
            let q = nyquist_firmware::arith::round_half_away((x / self.scale) as f64) as i32
                + self.zero_point;
            *v = q.clamp(-128, 127) as i8;
        }
        t
    }
}

/// ITU-R 601 luma of an RGB565 pixel (big-endian in the FIFO), PIL's integer form.
pub fn luma565(hi: u8, lo: u8) -> u8 {
    let v = u16::from_be_bytes([hi, lo]);
    let r = ((v >> 11) & 0x1F) as u32 * 255 / 31;
    let g = ((v >> 5) & 0x3F) as u32 * 255 / 63;
    let b = (v & 0x1F) as u32 * 255 / 31;
    ((r * 299 + g * 587 + b * 114 + 500) / 1000) as u8
}

/// Accumulates a streamed `w × h` RGB565 frame into `src × src` box sums.
#[derive(Debug)]
pub struct Downsampler<'a> {
    w: usize,
    h: usize,
    src: usize,
    crop: usize,
    x0: usize,
    y0: usize,
    row: usize,
    sums: &'a mut [u32],
}

impl<'a> Downsampler<'a> {
    /// For a `w × h` frame; `sums` needs `2·src²` entries (sums and counts, zeroed here).
    pub fn new(w: usize, h: usize, src: usize, sums: &'a mut [u32]) -> Option<Self> {
        let crop = w.min(h);
        if src == 0 || crop < src || sums.len() < 2 * src * src {
            return None;
        }
        sums.iter_mut().for_each(|s| *s = 0);
        Some(Downsampler {
            w,
            h,
            src,
            crop,
            x0: (w - crop) / 2,
            y0: (h - crop) / 2,
            row: 0,
            sums,
        })
    }

    /// Feed the next row (`2·w` bytes of RGB565).
    pub fn row(&mut self, bytes: &[u8]) {
        let y = self.row;
        self.row += 1;
        if y < self.y0 || y >= self.y0 + self.crop || y >= self.h {
            return;
        }
        let ty = (y - self.y0) * self.src / self.crop;
        for x in self.x0..(self.x0 + self.crop).min(self.w) {
            let (Some(&hi), Some(&lo)) = (bytes.get(2 * x), bytes.get(2 * x + 1)) else {
                break;
            };
            let tx = (x - self.x0) * self.src / self.crop;
            let k = ty * self.src + tx;
            self.sums[k] += luma565(hi, lo) as u32;
            self.sums[self.src * self.src + k] += 1;
        }
    }

    /// Write the input tensor: box means through `table`, centred on the canvas.
    pub fn finish(&self, spec: &InputSpec, table: &[i8; 256], out: &mut [i8]) {
        let size = spec.size as usize;
        let off = (size.saturating_sub(self.src)) / 2;
        let n = self.src * self.src;
        for (i, v) in out.iter_mut().enumerate().take(size * size) {
            let (y, x) = (i / size, i % size);
            let inside = y >= off && y < off + self.src && x >= off && x < off + self.src;
            let p = if inside {
                let k = (y - off) * self.src + (x - off);
                let c = self.sums[n + k].max(1);
                (self.sums[k] + c / 2) / c
            } else {
                spec.pad_value as u32
            };
            *v = table[p.min(255) as usize];
        }
    }
}
