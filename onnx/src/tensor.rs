//! Dense tensors read from and written to `TensorProto`, in every storage form the
//! ONNX spec allows (`raw_data`, the typed repeated fields, external data).

use std::path::Path;

use super::pb::{tensor_proto::DataType, TensorProto};
use crate::error::OnnxError;

/// A dense tensor of one of the element types the converter computes with.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// Elements in row-major order.
    pub data: TensorData,
}

/// Element storage of a [`Tensor`].
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// FLOAT and DOUBLE tensors (DOUBLE is narrowed).
    F32(Vec<f32>),
    /// Every integer type (INT8 … INT64, UINT8 … UINT32, BOOL).
    I64(Vec<i64>),
}

impl Tensor {
    /// A float tensor; panics in debug builds if `dims` does not match `data`.
    pub fn f32(dims: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(dims.iter().product::<usize>(), data.len());
        Tensor {
            dims,
            data: TensorData::F32(data),
        }
    }

    /// An int64 tensor.
    pub fn i64(dims: Vec<usize>, data: Vec<i64>) -> Self {
        debug_assert_eq!(dims.iter().product::<usize>(), data.len());
        Tensor {
            dims,
            data: TensorData::I64(data),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// True when the tensor has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as `f32` (integers are converted).
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            TensorData::F32(v) => v.clone(),
            TensorData::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// The elements as `i64`, or `None` for a float tensor.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            TensorData::I64(v) => Some(v),
            TensorData::F32(_) => None,
        }
    }

    /// The elements as `f32`, or `None` for an integer tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            TensorData::I64(_) => None,
        }
    }

    /// Decode a `TensorProto`. `base_dir` resolves external data locations.
    pub fn from_proto(t: &TensorProto, base_dir: Option<&Path>) -> Result<Tensor, OnnxError> {
        let err = |what: String| OnnxError::Tensor {
            tensor: t.name().to_string(),
            what,
        };
        let dims: Vec<usize> = t
            .dims
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| err(format!("negative dimension {d}"))))
            .collect::<Result<_, _>>()?;
        let n: usize = dims
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| err(format!("dimensions {dims:?} overflow the element count")))?;
        let external;
        let raw: Option<&[u8]> =
            if t.data_location() == super::pb::tensor_proto::DataLocation::External {
                external = read_external(t, base_dir).map_err(err)?;
                Some(&external)
            } else {
                t.raw_data.as_deref().filter(|r| !r.is_empty() || n == 0)
            };
        let dt = DataType::try_from(t.data_type())
            .map_err(|_| err(format!("unknown data type {}", t.data_type())))?;
        let data = match dt {
            DataType::Float => TensorData::F32(match raw {
                Some(r) => le_chunks::<4>(r, n)
                    .map_err(err)?
                    .map(f32::from_le_bytes)
                    .collect(),
                None => t.float_data.clone(),
            }),
            DataType::Double => TensorData::F32(match raw {
                Some(r) => le_chunks::<8>(r, n)
                    .map_err(err)?
                    .map(|b| f64::from_le_bytes(b) as f32)
                    .collect(),
                None => t.double_data.iter().map(|&x| x as f32).collect(),
            }),
            DataType::Int64 => TensorData::I64(match raw {
                Some(r) => le_chunks::<8>(r, n)
                    .map_err(err)?
                    .map(i64::from_le_bytes)
                    .collect(),
                None => t.int64_data.clone(),
            }),
            DataType::Uint64 => TensorData::I64(match raw {
                Some(r) => le_chunks::<8>(r, n)
                    .map_err(err)?
                    .map(|b| u64::from_le_bytes(b) as i64)
                    .collect(),
                None => t.uint64_data.iter().map(|&x| x as i64).collect(),
            }),
            DataType::Int32 => TensorData::I64(match raw {
                Some(r) => le_chunks::<4>(r, n)
                    .map_err(err)?
                    .map(|b| i32::from_le_bytes(b) as i64)
                    .collect(),
                None => t.int32_data.iter().map(|&x| x as i64).collect(),
            }),
            DataType::Uint32 => TensorData::I64(match raw {
                Some(r) => le_chunks::<4>(r, n)
                    .map_err(err)?
                    .map(|b| u32::from_le_bytes(b) as i64)
                    .collect(),
                None => t.uint64_data.iter().map(|&x| x as i64).collect(),
            }),
            DataType::Int8 => TensorData::I64(match raw {
                Some(r) => le_chunks::<1>(r, n)
                    .map_err(err)?
                    .map(|b| b[0] as i8 as i64)
                    .collect(),
                None => t.int32_data.iter().map(|&x| x as i64).collect(),
            }),
            DataType::Uint8 | DataType::Bool => TensorData::I64(match raw {
                Some(r) => le_chunks::<1>(r, n)
                    .map_err(err)?
                    .map(|b| b[0] as i64)
                    .collect(),
                None => t.int32_data.iter().map(|&x| x as i64).collect(),
            }),
            DataType::Int16 => TensorData::I64(match raw {
                Some(r) => le_chunks::<2>(r, n)
                    .map_err(err)?
                    .map(|b| i16::from_le_bytes(b) as i64)
                    .collect(),
                None => t.int32_data.iter().map(|&x| x as i64).collect(),
            }),
            other => {
                return Err(err(format!(
                    "data type {other:?} is not supported by the converter"
                )))
            }
        };
        let len = match &data {
            TensorData::F32(v) => v.len(),
            TensorData::I64(v) => v.len(),
        };
        if len != n {
            return Err(err(format!(
                "shape {dims:?} needs {n} elements, the tensor holds {len}"
            )));
        }
        Ok(Tensor { dims, data })
    }

    /// Encode as a FLOAT / INT64 `TensorProto` with `raw_data`.
    pub fn to_proto(&self, name: &str) -> TensorProto {
        let (data_type, raw) = match &self.data {
            TensorData::F32(v) => (
                DataType::Float,
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            TensorData::I64(v) => (
                DataType::Int64,
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
        };
        TensorProto {
            dims: self.dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(data_type as i32),
            name: Some(name.to_string()),
            raw_data: Some(raw),
            ..Default::default()
        }
    }
}

fn le_chunks<const N: usize>(
    raw: &[u8],
    n: usize,
) -> Result<impl Iterator<Item = [u8; N]> + '_, String> {
    if n.checked_mul(N) != Some(raw.len()) {
        return Err(format!(
            "raw data holds {} bytes, expected {n} elements of {N} bytes",
            raw.len()
        ));
    }
    Ok(raw.chunks_exact(N).map(|c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        a
    }))
}

/// Where an external tensor lives: `(location, offset, length)` from `external_data`.
pub(crate) fn external_location(t: &TensorProto) -> Option<(String, u64, Option<u64>)> {
    let get = |k: &str| {
        t.external_data
            .iter()
            .find(|e| e.key() == k)
            .map(|e| e.value().to_string())
    };
    let location = get("location")?;
    let offset = get("offset").and_then(|s| s.parse().ok()).unwrap_or(0);
    let length = get("length").and_then(|s| s.parse().ok());
    Some((location, offset, length))
}

fn read_external(t: &TensorProto, base_dir: Option<&Path>) -> Result<Vec<u8>, String> {
    let (location, offset, length) = external_location(t)
        .ok_or_else(|| "external data without a `location` entry".to_string())?;
    let rel = Path::new(&location);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!(
            "external data location `{location}` must be a relative path inside the model folder"
        ));
    }
    let base = base_dir
        .ok_or_else(|| format!("external data `{location}` but the model has no folder"))?;
    let path = base.join(rel);
    let bytes =
        std::fs::read(&path).map_err(|e| format!("external data {}: {e}", path.display()))?;
    let start = usize::try_from(offset).map_err(|_| "offset too large".to_string())?;
    let end = match length {
        Some(l) => start.checked_add(l as usize).ok_or("length overflows")?,
        None => bytes.len(),
    };
    bytes.get(start..end).map(<[u8]>::to_vec).ok_or_else(|| {
        format!(
            "external data {}: bytes {start}..{end} past its end ({})",
            path.display(),
            bytes.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_raw_and_typed_fields_decode_the_same() {
        let t = Tensor::f32(vec![2, 2], vec![1.0, -2.5, 3.25, 0.0]);
        let p = t.to_proto("w");
        assert_eq!(Tensor::from_proto(&p, None).unwrap(), t);
        let typed = TensorProto {
            dims: vec![2, 2],
            data_type: Some(DataType::Float as i32),
            float_data: vec![1.0, -2.5, 3.25, 0.0],
            ..Default::default()
        };
        assert_eq!(Tensor::from_proto(&typed, None).unwrap(), t);
    }

    #[test]
    fn int32_and_int8_widen_to_i64() {
        let p = TensorProto {
            dims: vec![3],
            data_type: Some(DataType::Int8 as i32),
            raw_data: Some(vec![0xff, 0x7f, 0x80]),
            ..Default::default()
        };
        assert_eq!(
            Tensor::from_proto(&p, None).unwrap().as_i64().unwrap(),
            &[-1, 127, -128]
        );
    }

    #[test]
    fn wrong_byte_count_is_an_error_naming_the_tensor() {
        let p = TensorProto {
            name: Some("bad".into()),
            dims: vec![4],
            data_type: Some(DataType::Float as i32),
            raw_data: Some(vec![0; 12]),
            ..Default::default()
        };
        let e = Tensor::from_proto(&p, None).unwrap_err().to_string();
        assert!(e.contains("bad") && e.contains("12 bytes"), "{e}");
    }

    #[test]
    fn external_data_is_read_relative_to_the_model_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = vec![0u8; 8];
        bytes.extend(2.0f32.to_le_bytes());
        std::fs::write(dir.path().join("w.bin"), &bytes).unwrap();
        let kv = |k: &str, v: &str| super::super::pb::StringStringEntryProto {
            key: Some(k.into()),
            value: Some(v.into()),
        };
        let p = TensorProto {
            dims: vec![1],
            data_type: Some(DataType::Float as i32),
            data_location: Some(super::super::pb::tensor_proto::DataLocation::External as i32),
            external_data: vec![
                kv("location", "w.bin"),
                kv("offset", "8"),
                kv("length", "4"),
            ],
            ..Default::default()
        };
        assert_eq!(
            Tensor::from_proto(&p, Some(dir.path()))
                .unwrap()
                .as_f32()
                .unwrap(),
            &[2.0]
        );
        let escape = TensorProto {
            external_data: vec![kv("location", "../w.bin")],
            ..p
        };
        assert!(Tensor::from_proto(&escape, Some(dir.path())).is_err());
    }
}
