//! Shard tensors as `.npy` bytes: float32, C order, shape `[tickets, dim]`. numpy reads them
//! with `np.load`, which is what users of the object store will do.

use ndarray::Array2;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};

pub fn to_npy(vectors: &Array2<f32>) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(vectors.len() * 4 + 128);
    vectors.write_npy(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

pub fn from_npy(bytes: &[u8]) -> Result<Array2<f32>, String> {
    Array2::<f32>::read_npy(bytes).map_err(|e| format!("not a float32 2-d .npy: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let a = Array2::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) as f32 / 7.0);
        let back = from_npy(&to_npy(&a).expect("write")).expect("read");
        assert_eq!(a, back);
        assert!(from_npy(b"not npy").is_err());
    }
}
