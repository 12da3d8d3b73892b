//! Sizes of what llama.cpp allocates besides the weights, from the model's
//! shape, so the memory budget is checked before anything is allocated.

use crate::profile::EngineProfile;
use llama_cpp_2::model::LlamaModel;

use super::model_file::ModelShape;

/// The shape of a loaded model (used when the file's header lacked it).
pub fn shape_of(model: &LlamaModel) -> ModelShape {
    let n_embd = u64::try_from(model.n_embd()).unwrap_or(0);
    let n_head = u64::from(model.n_head().max(1));
    let architecture = model.meta_val_str("general.architecture").unwrap_or_default();
    let key_length =
        model.meta_val_str(&format!("{architecture}.attention.key_length")).ok().and_then(|v| v.parse().ok());
    ModelShape {
        n_layer: u64::from(model.n_layer()),
        n_embd,
        n_head,
        n_head_kv: u64::from(model.n_head_kv()),
        head_dim: key_length.unwrap_or(n_embd / n_head),
        n_vocab: u64::try_from(model.n_vocab()).unwrap_or(0),
    }
}

/// Bytes the KV cache takes for the profile's context, parallel sequences
/// ([`EngineProfile::kv_cells`]) and cache type.
pub fn kv_cache_bytes(shape: &ModelShape, engine: &EngineProfile) -> u64 {
    kv_bytes(
        shape.n_layer,
        shape.head_dim,
        shape.n_head_kv,
        u64::from(engine.kv_cells()),
        engine.kv_cache_type.bytes_per_value(),
    )
}

fn kv_bytes(n_layer: u64, head_dim: u64, n_head_kv: u64, n_ctx: u64, bytes_per_value: f64) -> u64 {
    let values = 2 * n_layer * head_dim * n_head_kv * n_ctx; // keys + values
    (values as f64 * bytes_per_value).ceil() as u64
}

/// An estimate of llama.cpp's compute buffer: the logits of one micro-batch
/// plus activations of a few layers' width. Measured RSS in
/// docs/benchmarks.md shows how close it comes.
pub fn compute_bytes_estimate(shape: &ModelShape, engine: &EngineProfile) -> u64 {
    compute_estimate(u64::from(engine.batch_size), shape.n_vocab, shape.n_embd)
}

fn compute_estimate(n_ubatch: u64, n_vocab: u64, n_embd: u64) -> u64 {
    4 * n_ubatch * (n_vocab + 16 * n_embd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smollm2_135m_kv_cache_at_2048_tokens_is_45_mib_in_f16() {
        // 30 layers, 576 wide, 9 heads, 3 KV heads: 2 * 30 * 64 * 3 * 2048 * 2 bytes.
        assert_eq!(kv_bytes(30, 64, 3, 2048, 2.0), 47_185_920);
        assert_eq!(kv_bytes(30, 64, 3, 2048, 34.0 / 32.0), 25_067_520);
    }

    #[test]
    fn gemma3_270m_heads_are_wider_than_width_over_heads() {
        // 18 layers, 640 wide, 4 heads but key_length 256, 1 KV head: 2 * 18 * 256 * 1 * 2048 * 2 bytes.
        assert_eq!(kv_bytes(18, 256, 1, 2048, 2.0), 37_748_736);
    }

    #[test]
    fn the_compute_estimate_grows_with_the_batch() {
        assert!(compute_estimate(512, 49_152, 576) > compute_estimate(64, 49_152, 576));
    }
}
