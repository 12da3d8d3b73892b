"""Writes a tiny random-weight vision-language model: a llama-architecture
language model and an `mlp` image projector (`mmproj`) that fit each other,
plus two projectors that do not, for the tests that must refuse a bad pair.

No real small VLM installs without a model hub, and the vision path needs
*some* model pair that llama.cpp's multimodal library (mtmd) loads and runs.
These weights are random: the words such a model writes mean nothing, so
tests assert the structure of its output (grammar-constrained JSON), never
its content.

    python make_tiny_vlm.py TOKENIZER.gguf OUT_DIR [--seed 7]

TOKENIZER.gguf is any llama-architecture GGUF whose tokenizer is copied
(SmolLM2-135M-Instruct, which scripts/setup.sh installs, with its chat
template). Writes, in OUT_DIR:

* `tiny-vlm.gguf`: language model, 2 layers, width 64, 4 heads, F16.
* `tiny-vlm-mmproj.gguf`: projector `mlp` (LLaVA style): a 2-layer ViT
  (width 32, 2 heads) over a 32x32 image in 8x8 patches (16 image tokens),
  then linear-GELU-linear to width 64.
* `tiny-vlm-mmproj-wrong-width.gguf`: the same, projecting to width 96:
  mtmd refuses it (the language model's width is 64).
* `tiny-vlm-mmproj-idefics3.gguf`: a header that says `idefics3`, whose
  image framing needs special tokens SmolLM2's vocabulary lacks (llama.cpp
  aborts the process on this pair; the node must refuse it before).

Same arguments give byte-identical files. Write OUT_DIR under target/ (or
another ignored folder); never commit the result. Exit status 0 on success,
2 on bad input, with a message on stderr.

What llama.cpp expects (llama.cpp's src/llama-model.cpp for the language
model, tools/mtmd/clip.cpp and clip-impl.h for the projector), and how
this script meets it:

* numpy shapes are the reverse of ggml's `ne`: a weight with ne = [n_in,
  n_out] is a numpy (n_out, n_in) array.
* Language model: `general.architecture` = llama and the llama.* shape keys;
  `token_embd`, `output_norm` and per block `attn_norm`, `attn_q/k/v`,
  `attn_output`, `ffn_norm`, `ffn_gate/up/down`; no `output` tensor (tied
  to `token_embd`). Matrices F16, norms F32.
* Projector: `general.architecture` = clip, `clip.has_vision_encoder`,
  `clip.projector_type` = mlp, `clip.vision.{image_size, patch_size,
  embedding_length, feed_forward_length, block_count, projection_dim,
  attention.head_count, attention.layer_norm_epsilon, image_mean,
  image_std}`. Tensors `v.patch_embd.weight` (conv kernel, ne = [p, p, 3,
  width]), `v.position_embd.weight` (one row per patch: no class token),
  per block `v.blk.N.{attn_q,attn_k,attn_v,attn_out,ffn_up,ffn_down}`
  with biases and `ln1`/`ln2`, then `mm.0` and `mm.2` (weight and bias).
  The output width mtmd compares with the language model's is mm.2's.
  `ffn_down` has ne[0] = feed-forward width (64) != width (32), so clip.cpp
  does not take it for a legacy swapped up/down pair.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

import gguf

TEXT_WIDTH = 64
TEXT_LAYERS = 2
TEXT_HEADS = 4
TEXT_FF = 128
VISION_WIDTH = 32
VISION_LAYERS = 2
VISION_HEADS = 2
VISION_FF = 64
IMAGE_SIZE = 32
PATCH_SIZE = 8
PROJECTOR_HIDDEN = 64


def fail(message):
    """Report a bad input and exit with status 2."""
    print(f"make_tiny_vlm: error: {message}", file=sys.stderr)
    sys.exit(2)


def tokenizer_fields(path):
    """The tokenizer.* key-value fields of a GGUF file, with their types."""
    try:
        reader = gguf.GGUFReader(path)
    except (OSError, ValueError) as error:
        fail(f"{path}: not a readable GGUF file ({error})")
    fields = []
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        sub_type = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        fields.append((key, field.contents(), vtype, sub_type))
    if not any(key == "tokenizer.ggml.tokens" for key, *_ in fields):
        fail(f"{path}: has no tokenizer.ggml.tokens")
    vocab = next(len(value) for key, value, *_ in fields if key == "tokenizer.ggml.tokens")
    return fields, vocab


def weights(rng, *shape, scale=0.02):
    """Random F16 weights."""
    return (rng.standard_normal(shape) * scale).astype(np.float16)


def vector(rng, n, scale=0.02, base=0.0):
    """A random F32 vector (biases, norm scales)."""
    return (base + rng.standard_normal(n) * scale).astype(np.float32)


def write_language_model(path, tokenizer, vocab, rng):
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("tiny-vlm (random weights, tests only)")
    writer.add_uint32("general.file_type", 1)  # mostly F16
    writer.add_uint32("llama.context_length", 2048)
    writer.add_uint32("llama.embedding_length", TEXT_WIDTH)
    writer.add_uint32("llama.block_count", TEXT_LAYERS)
    writer.add_uint32("llama.feed_forward_length", TEXT_FF)
    writer.add_uint32("llama.attention.head_count", TEXT_HEADS)
    writer.add_uint32("llama.attention.head_count_kv", TEXT_HEADS)
    writer.add_uint32("llama.rope.dimension_count", TEXT_WIDTH // TEXT_HEADS)
    writer.add_float32("llama.rope.freq_base", 10000.0)
    writer.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    writer.add_uint32("llama.vocab_size", vocab)
    for key, value, vtype, sub_type in tokenizer:
        writer.add_key_value(key, value, vtype, sub_type)
    writer.add_tensor("token_embd.weight", weights(rng, vocab, TEXT_WIDTH, scale=0.5))
    writer.add_tensor("output_norm.weight", vector(rng, TEXT_WIDTH, base=1.0))
    for block in range(TEXT_LAYERS):
        name = f"blk.{block}"
        writer.add_tensor(f"{name}.attn_norm.weight", vector(rng, TEXT_WIDTH, base=1.0))
        for part in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"{name}.{part}.weight", weights(rng, TEXT_WIDTH, TEXT_WIDTH))
        writer.add_tensor(f"{name}.ffn_norm.weight", vector(rng, TEXT_WIDTH, base=1.0))
        writer.add_tensor(f"{name}.ffn_gate.weight", weights(rng, TEXT_FF, TEXT_WIDTH))
        writer.add_tensor(f"{name}.ffn_up.weight", weights(rng, TEXT_FF, TEXT_WIDTH))
        writer.add_tensor(f"{name}.ffn_down.weight", weights(rng, TEXT_WIDTH, TEXT_FF))
    finish(writer)


def write_projector(path, rng, projector_type, output_width):
    writer = gguf.GGUFWriter(path, "clip")
    writer.add_name(f"tiny-vlm projector ({projector_type}, random weights, tests only)")
    writer.add_uint32("general.file_type", 1)
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_bool("clip.use_gelu", True)
    writer.add_string("clip.projector_type", projector_type)
    writer.add_uint32("clip.vision.image_size", IMAGE_SIZE)
    writer.add_uint32("clip.vision.patch_size", PATCH_SIZE)
    writer.add_uint32("clip.vision.embedding_length", VISION_WIDTH)
    writer.add_uint32("clip.vision.feed_forward_length", VISION_FF)
    writer.add_uint32("clip.vision.block_count", VISION_LAYERS)
    writer.add_uint32("clip.vision.projection_dim", output_width)
    writer.add_uint32("clip.vision.attention.head_count", VISION_HEADS)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    patches = (IMAGE_SIZE // PATCH_SIZE) ** 2
    writer.add_tensor("v.patch_embd.weight", weights(rng, VISION_WIDTH, 3, PATCH_SIZE, PATCH_SIZE))
    writer.add_tensor("v.position_embd.weight", weights(rng, patches, VISION_WIDTH))
    for block in range(VISION_LAYERS):
        name = f"v.blk.{block}"
        for part in ("attn_q", "attn_k", "attn_v", "attn_out"):
            writer.add_tensor(f"{name}.{part}.weight", weights(rng, VISION_WIDTH, VISION_WIDTH))
            writer.add_tensor(f"{name}.{part}.bias", vector(rng, VISION_WIDTH))
        for norm in ("ln1", "ln2"):
            writer.add_tensor(f"{name}.{norm}.weight", vector(rng, VISION_WIDTH, base=1.0))
            writer.add_tensor(f"{name}.{norm}.bias", vector(rng, VISION_WIDTH))
        writer.add_tensor(f"{name}.ffn_up.weight", weights(rng, VISION_FF, VISION_WIDTH))
        writer.add_tensor(f"{name}.ffn_up.bias", vector(rng, VISION_FF))
        writer.add_tensor(f"{name}.ffn_down.weight", weights(rng, VISION_WIDTH, VISION_FF))
        writer.add_tensor(f"{name}.ffn_down.bias", vector(rng, VISION_WIDTH))
    writer.add_tensor("mm.0.weight", weights(rng, PROJECTOR_HIDDEN, VISION_WIDTH))
    writer.add_tensor("mm.0.bias", vector(rng, PROJECTOR_HIDDEN))
    writer.add_tensor("mm.2.weight", weights(rng, output_width, PROJECTOR_HIDDEN))
    writer.add_tensor("mm.2.bias", vector(rng, output_width))
    finish(writer)


def finish(writer):
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tokenizer", type=Path, help="GGUF file whose tokenizer is copied")
    parser.add_argument("out_dir", type=Path, help="folder for the files (created)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if not args.tokenizer.is_file():
        fail(f"{args.tokenizer}: no such file")
    tokenizer, vocab = tokenizer_fields(args.tokenizer)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    # One generator per file, so that each file depends on the seed alone.
    write_language_model(args.out_dir / "tiny-vlm.gguf", tokenizer, vocab, np.random.default_rng(args.seed))
    write_projector(args.out_dir / "tiny-vlm-mmproj.gguf", np.random.default_rng(args.seed + 1), "mlp", TEXT_WIDTH)
    write_projector(
        args.out_dir / "tiny-vlm-mmproj-wrong-width.gguf", np.random.default_rng(args.seed + 2), "mlp", TEXT_WIDTH + 32
    )
    write_projector(
        args.out_dir / "tiny-vlm-mmproj-idefics3.gguf", np.random.default_rng(args.seed + 3), "idefics3", TEXT_WIDTH
    )


if __name__ == "__main__":
    main(sys.argv[1:])
