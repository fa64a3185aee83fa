//! [`PackIm2Col`]: the int8 convolution's input packing in two streaming
//! passes, in place of tract's `Im2Col` node.
//!
//! tract's quantized convolution always packs its input eagerly (im2col)
//! into the panel layout of the matmul kernel it picked. For the dot-product
//! kernels (x86 VNNI, aarch64 SDOT) that layout interleaves four `k` rows per
//! lane (`PackedI8K4`), and tract's writer places every byte through a
//! branchy per-element cursor: under `qemu-aarch64 -cpu neoverse-n1` that
//! packing cost more instructions than the int8 matmuls themselves.
//!
//! This operator writes the same bytes straight from the padded input (pad
//! value: the input zero point). Row `k` of the unfolded matrix is (channel,
//! kernel row, kernel column) in tract's order, column `n` an output pixel;
//! both become offset tables into the padded planes, so panel `p` of the
//! output is
//!
//! * tract's `PackedFormat`: `out[p][k][m] = in[koff[k] + noff[p·r + m]]`,
//! * `PackedI8K4`: `out[p][k/4][m][k%4]`, likewise, `k` padded to a multiple
//!   of four with zeros,
//!
//! and when the `r` columns of a panel are one run of the input (stride 1,
//! one output line: the common case) each `k` is one fixed-size copy of `r`
//! bytes, four of which are interleaved for `PackedI8K4`. The unit tests
//! check the bytes against tract's own `Im2Col`.

use tract_linalg::mmm::{EagerPackedInput, PackedExoticFact, PackedMatrixStorage};
use tract_linalg::pack::{PackedFormat, PackedI8K4};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::conv::Im2Col;
use tract_onnx::tract_core::ops::nn::DataFormat;

/// The kernel's panel layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Panels {
    /// `out[p·len + k·r + m]`.
    Plain {
        /// Lanes per panel.
        r: usize,
        /// Bytes per panel.
        len: usize,
        /// Buffer alignment.
        align: usize,
    },
    /// `out[p·len + (k/4)·4r + 4m + k%4]`.
    K4 {
        /// Lanes per panel.
        r: usize,
        /// Bytes per panel.
        len: usize,
        /// Buffer alignment.
        align: usize,
    },
}

impl Panels {
    fn r(&self) -> usize {
        match *self {
            Panels::Plain { r, .. } | Panels::K4 { r, .. } => r,
        }
    }
    fn len(&self) -> usize {
        match *self {
            Panels::Plain { len, .. } | Panels::K4 { len, .. } => len,
        }
    }
    fn align(&self) -> usize {
        match *self {
            Panels::Plain { align, .. } | Panels::K4 { align, .. } => align,
        }
    }
}

/// A 2-D convolution's geometry on a concrete NCHW input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Batch, channels, height, width of the input.
    pub input: [usize; 4],
    /// Groups.
    pub group: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Strides.
    pub strides: [usize; 2],
    /// Dilations.
    pub dilations: [usize; 2],
    /// Padding before (top, left).
    pub pad: [usize; 2],
    /// Output height and width.
    pub output: [usize; 2],
}

impl Geometry {
    fn k(&self) -> usize {
        self.input[1] / self.group * self.kernel[0] * self.kernel[1]
    }
    fn n(&self) -> usize {
        self.output[0] * self.output[1]
    }
    /// Height and width of the padded plane the kernel reads.
    fn padded(&self) -> [usize; 2] {
        [0, 1].map(|d| {
            let reach = (self.output[d] - 1) * self.strides[d]
                + (self.kernel[d] - 1) * self.dilations[d]
                + 1;
            reach.max(self.pad[d] + self.input[2 + d])
        })
    }
}

/// The packing operator (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackIm2Col {
    /// Convolution geometry.
    pub geo: Geometry,
    /// Panel layout of the matmul kernel.
    pub panels: Panels,
    /// The output fact of the node it replaces (packed, opaque).
    fact: TypedFact,
}

impl PackIm2Col {
    /// The padded planes of group `g` of one image (pad value: `pad`).
    fn plane(&self, x: &[i8], g: usize, pad: i8, plane: &mut Vec<i8>) {
        let geo = &self.geo;
        let [_, c, h, w] = geo.input;
        let cg = c / geo.group;
        let [hp, wp] = geo.padded();
        plane.clear();
        plane.resize(cg * hp * wp, pad);
        for ci in 0..cg {
            let src = &x[(g * cg + ci) * h * w..][..h * w];
            let dst = &mut plane[ci * hp * wp..][..hp * wp];
            for (y, line) in src.chunks_exact(w).enumerate() {
                let row = (y + geo.pad[0]) * wp + geo.pad[1];
                dst[row..row + w].copy_from_slice(line);
            }
        }
    }

    /// Offsets into the padded planes: of each row `k` of the unfolded
    /// matrix (channel, kernel row, kernel column), and of each column `n`
    /// (output pixel).
    fn offsets(&self) -> (Vec<usize>, Vec<usize>) {
        let geo = &self.geo;
        let cg = geo.input[1] / geo.group;
        let [hp, wp] = geo.padded();
        let mut koff = Vec::with_capacity(geo.k());
        for ci in 0..cg {
            for ky in 0..geo.kernel[0] {
                for kx in 0..geo.kernel[1] {
                    koff.push(ci * hp * wp + ky * geo.dilations[0] * wp + kx * geo.dilations[1]);
                }
            }
        }
        let mut noff = Vec::with_capacity(geo.n());
        for yo in 0..geo.output[0] {
            for xo in 0..geo.output[1] {
                noff.push(yo * geo.strides[0] * wp + xo * geo.strides[1]);
            }
        }
        (koff, noff)
    }

    /// Write the panels straight from the padded planes.
    fn pack(&self, plane: &[i8], koff: &[usize], noff: &[usize], out: &mut [i8]) {
        match (self.panels, self.panels.r()) {
            (Panels::Plain { .. }, 8) => self.pack_plain::<8>(plane, koff, noff, out),
            (Panels::Plain { .. }, 16) => self.pack_plain::<16>(plane, koff, noff, out),
            (Panels::K4 { .. }, 8) => self.pack_k4::<8>(plane, koff, noff, out),
            (Panels::K4 { .. }, 16) => self.pack_k4::<16>(plane, koff, noff, out),
            _ => self.pack_any(plane, koff, noff, out),
        }
    }

    /// True when the `R` columns from `first` are one contiguous run of the
    /// input (stride 1 along x, all in one output line).
    fn contiguous<const R: usize>(&self, first: usize) -> bool {
        let wo = self.geo.output[1];
        self.geo.strides[1] == 1 && first % wo + R <= wo
    }

    fn pack_plain<const R: usize>(
        &self,
        plane: &[i8],
        koff: &[usize],
        noff: &[usize],
        out: &mut [i8],
    ) {
        let len = self.panels.len();
        for (p, panel) in out
            .chunks_exact_mut(len)
            .enumerate()
            .take(noff.len().div_ceil(R))
        {
            let first = p * R;
            if first + R <= noff.len() && self.contiguous::<R>(first) {
                let base = noff[first];
                for (dst, &ko) in panel.chunks_exact_mut(R).zip(koff) {
                    let src: &[i8; R] = plane[ko + base..][..R].try_into().expect("R lanes");
                    dst.copy_from_slice(src);
                }
            } else {
                let cols = &noff[first..noff.len().min(first + R)];
                for (dst, &ko) in panel.chunks_exact_mut(R).zip(koff) {
                    for (d, &no) in dst.iter_mut().zip(cols) {
                        *d = plane[ko + no];
                    }
                }
            }
        }
    }

    fn pack_k4<const R: usize>(
        &self,
        plane: &[i8],
        koff: &[usize],
        noff: &[usize],
        out: &mut [i8],
    ) {
        let len = self.panels.len();
        let k = koff.len();
        // Row offsets padded to a multiple of four with a row of zeros
        // placed after the planes.
        let zero = plane.len();
        let mut ext = Vec::with_capacity(plane.len() + noff.last().map_or(0, |&n| n) + R);
        ext.extend_from_slice(plane);
        ext.resize(plane.len() + noff.last().map_or(0, |&n| n) + R, 0);
        let koff4: Vec<usize> = (0..k.div_ceil(4) * 4)
            .map(|i| koff.get(i).copied().unwrap_or(zero))
            .collect();
        let kmax = koff4.iter().copied().max().unwrap_or(0);
        for (p, panel) in out
            .chunks_exact_mut(len)
            .enumerate()
            .take(noff.len().div_ceil(R))
        {
            let first = p * R;
            if first + R <= noff.len() && self.contiguous::<R>(first) {
                k4_panel::<R>(&ext, &koff4, kmax, noff[first], panel);
            } else {
                let cols = &noff[first..noff.len().min(first + R)];
                for (kk, &ko) in koff.iter().enumerate() {
                    let block = &mut panel[(kk / 4) * 4 * R..][..4 * R];
                    for (m, &no) in cols.iter().enumerate() {
                        block[m * 4 + kk % 4] = plane[ko + no];
                    }
                }
            }
        }
    }

    fn pack_any(&self, plane: &[i8], koff: &[usize], noff: &[usize], out: &mut [i8]) {
        let (r, len) = (self.panels.r(), self.panels.len());
        for (p, panel) in out
            .chunks_exact_mut(len)
            .enumerate()
            .take(noff.len().div_ceil(r))
        {
            let cols = &noff[p * r..noff.len().min(p * r + r)];
            for (kk, &ko) in koff.iter().enumerate() {
                for (m, &no) in cols.iter().enumerate() {
                    let at = match self.panels {
                        Panels::Plain { .. } => kk * r + m,
                        Panels::K4 { .. } => (kk / 4) * 4 * r + m * 4 + kk % 4,
                    };
                    panel[at] = plane[ko + no];
                }
            }
        }
    }
}

/// One `PackedI8K4` panel of `R` contiguous columns: for every group of
/// four rows `kb`, `out[kb·4R + 4m + i] = src[koff4[4kb + i] + base + m]`.
/// `kmax` must be the largest of `koff4` (the caller computes it once per
/// convolution; checked in debug builds). NEON `ld1` + `st4` on aarch64, SSE2
/// unpacks on x86-64, [`k4_panel_scalar`] elsewhere (and as the reference
/// the tests hold the SIMD versions to).
pub(crate) fn k4_panel<const R: usize>(
    src: &[i8],
    koff4: &[usize],
    kmax: usize,
    base: usize,
    out: &mut [i8],
) {
    // Every read below is at koff4[j] + base + [0, R) ≤ kmax + base + R,
    // every write below 4R·(koff4.len()/4): both checked once here.
    assert!(koff4.len().is_multiple_of(4) && out.len() >= koff4.len() * R);
    debug_assert!(koff4.iter().all(|&o| o <= kmax));
    assert!(kmax + base + R <= src.len());
    #[cfg(target_arch = "aarch64")]
    if R.is_multiple_of(8) {
        use core::arch::aarch64::{int8x8x4_t, vld1_s8, vst4_s8};
        let (s, o) = (src.as_ptr(), out.as_mut_ptr());
        for (kb, rows) in koff4.chunks_exact(4).enumerate() {
            for c in 0..R / 8 {
                // SAFETY: reads of 8 bytes at rows[i] + base + 8c < kmax + base + R
                // ≤ src.len(), writes of 32 bytes at 4R·kb + 32c < 4R·(kb + 1) ≤
                // out.len() (both asserted above). NEON is baseline on aarch64.
                unsafe {
                    let v = int8x8x4_t(
                        vld1_s8(s.add(rows[0] + base + 8 * c)),
                        vld1_s8(s.add(rows[1] + base + 8 * c)),
                        vld1_s8(s.add(rows[2] + base + 8 * c)),
                        vld1_s8(s.add(rows[3] + base + 8 * c)),
                    );
                    vst4_s8(o.add(4 * R * kb + 32 * c), v);
                }
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if R.is_multiple_of(8) {
        use core::arch::x86_64::{
            __m128i, _mm_loadl_epi64, _mm_storeu_si128, _mm_unpackhi_epi16, _mm_unpacklo_epi16,
            _mm_unpacklo_epi8,
        };
        let (s, o) = (src.as_ptr(), out.as_mut_ptr());
        for (kb, rows) in koff4.chunks_exact(4).enumerate() {
            for c in 0..R / 8 {
                // SAFETY: the same bounds as for aarch64 (asserted above);
                // unaligned loads and stores; SSE2 is baseline on x86-64.
                unsafe {
                    let ld = |r: usize| _mm_loadl_epi64(s.add(r + base + 8 * c) as *const __m128i);
                    let ab = _mm_unpacklo_epi8(ld(rows[0]), ld(rows[1]));
                    let cd = _mm_unpacklo_epi8(ld(rows[2]), ld(rows[3]));
                    let dst = o.add(4 * R * kb + 32 * c) as *mut __m128i;
                    _mm_storeu_si128(dst, _mm_unpacklo_epi16(ab, cd));
                    _mm_storeu_si128(dst.add(1), _mm_unpackhi_epi16(ab, cd));
                }
            }
        }
        return;
    }
    k4_panel_scalar::<R>(src, koff4, base, out)
}

/// The scalar twin of [`k4_panel`].
pub(crate) fn k4_panel_scalar<const R: usize>(
    src: &[i8],
    koff4: &[usize],
    base: usize,
    out: &mut [i8],
) {
    for (kb, rows) in koff4.chunks_exact(4).enumerate() {
        let block = &mut out[4 * R * kb..][..4 * R];
        for (i, &ko) in rows.iter().enumerate() {
            for m in 0..R {
                block[4 * m + i] = src[ko + base + m];
            }
        }
    }
}

impl Op for PackIm2Col {
    fn name(&self) -> StaticName {
        "NyquistPackIm2Col".into()
    }
    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?} {:?}", self.geo, self.panels)])
    }
    op_as_typed_op!();
}

impl EvalOp for PackIm2Col {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x_view = inputs[0].try_as_plain_ram()?;
        let x = x_view.as_slice::<i8>()?;
        let pad = match inputs.get(1) {
            Some(z) => z.cast_to_scalar::<i32>()?.clamp(-128, 127) as i8,
            None => 0,
        };
        let geo = &self.geo;
        let [batch, c, h, w] = geo.input;
        ensure!(
            x.len() == batch * c * h * w,
            "PackIm2Col: input of {} values, expected {:?}",
            x.len(),
            geo.input
        );
        let n = geo.n();
        let panels = n.div_ceil(self.panels.r());
        let (koff, noff) = self.offsets();
        let mut plane = Vec::new();
        let mut values: TVec<Box<dyn tract_linalg::mmm::MMMInputValue>> = tvec!();
        for b in 0..batch {
            let xb = &x[b * c * h * w..][..c * h * w];
            for g in 0..geo.group {
                self.plane(xb, g, pad, &mut plane);
                let mut data = unsafe {
                    Tensor::uninitialized_aligned_dt(
                        i8::datum_type(),
                        &[panels * self.panels.len()],
                        self.panels.align(),
                    )?
                };
                {
                    let mut view = data.try_as_plain_ram_mut()?;
                    let out = view.as_slice_mut::<i8>()?;
                    out.fill(0);
                    self.pack(&plane, &koff, &noff, out);
                }
                let fact = self
                    .fact
                    .exotic_fact()
                    .and_then(|f| f.downcast_ref::<PackedExoticFact>())
                    .context("PackIm2Col: packed fact")?
                    .clone();
                values.push(Box::new(EagerPackedInput {
                    fact,
                    packed: data.into_blob()?.into(),
                    panel_bytes: self.panels.len(),
                    mn: n,
                }));
            }
        }
        let storage = PackedMatrixStorage::new_batched(&[batch, geo.group], values);
        Ok(tvec!(storage.into_tensor(i8::datum_type()).into_tvalue()))
    }
    op_out_of_plan!();
}

impl TypedOp for PackIm2Col {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.fact.clone()))
    }
    as_op!();
}

/// The replacement for one `Im2Col` node, when the case is covered: int8
/// NCHW input of concrete shape, 2-D kernel, one of the two panel layouts.
pub(crate) fn replacement(
    model: &TypedModel,
    node: &TypedNode,
    op: &Im2Col,
) -> TractResult<Option<PackIm2Col>> {
    let input = model.outlet_fact(node.inputs[0])?;
    let Some(shape) = input.shape.as_concrete() else {
        return Ok(None);
    };
    let ps = &op.pool_spec;
    if input.datum_type != i8::datum_type()
        || ps.data_format != DataFormat::NCHW
        || shape.len() != 4
        || ps.kernel_shape.len() != 2
    {
        return Ok(None);
    }
    let fact = model.outlet_fact(node.id.into())?.clone();
    let Some(packed) = fact
        .exotic_fact()
        .and_then(|f| f.downcast_ref::<PackedExoticFact>())
    else {
        return Ok(None);
    };
    let dims = ps.computed_padding(&shape[2..]);
    let geo = Geometry {
        input: [shape[0], shape[1], shape[2], shape[3]],
        group: op.group,
        kernel: [ps.kernel_shape[0], ps.kernel_shape[1]],
        strides: [ps.strides()[0], ps.strides()[1]],
        dilations: [ps.dilations()[0], ps.dilations()[1]],
        pad: [dims[0].pad_before, dims[1].pad_before],
        output: [dims[0].convoluted, dims[1].convoluted],
    };
    if geo.k() != packed.k || geo.output.contains(&0) {
        return Ok(None);
    }
    let panels = if let Some(pf) = packed.format.downcast_ref::<PackedFormat>() {
        if pf.dt != i8::datum_type() {
            return Ok(None);
        }
        Panels::Plain {
            r: pf.r,
            len: pf.single_panel_len(geo.k()),
            align: pf.alignment(),
        }
    } else if let Some(p4) = packed.format.downcast_ref::<PackedI8K4>() {
        Panels::K4 {
            r: p4.r,
            len: p4.single_panel_len(geo.k()),
            align: p4.alignment(),
        }
    } else {
        return Ok(None);
    };
    Ok(Some(PackIm2Col { geo, panels, fact }))
}

/// Replace every covered `Im2Col` node of an optimized model.
pub fn replace(model: &mut TypedModel) -> TractResult<()> {
    for id in 0..model.nodes.len() {
        let new = match model.nodes[id].op_as::<Im2Col>() {
            Some(op) => replacement(model, &model.nodes[id], op)?,
            None => None,
        };
        if let Some(new) = new {
            model.nodes[id].op = Box::new(new);
        }
    }
    Ok(())
}
