"""Writes a tiny random LoRA adapter (GGUF) that fits a given base GGUF model.

Used by tests that need *some* adapter for the base model: one that
llama.cpp's loader (`llama_adapter_lora_init`, src/llama-adapter.cpp)
accepts and that visibly moves the model's next-token distribution. The
values are random, so the adapter teaches the model nothing.

    python make_lora_adapter.py BASE.gguf OUT.gguf [--rank 4] [--alpha 8]
        [--scale-init 0.5] [--seed 7] [--targets attn_q,attn_v,ffn_up]

Same arguments and same base model give a byte-identical OUT.gguf. Write
OUT under target/ (or another ignored folder); never commit the result.
Exit status: 0 on success, 2 on bad input (missing or non-GGUF base, a
target tensor absent from it, bad arguments), with a message on stderr.

What llama.cpp's loader expects, and how this script meets it:

* Metadata: `general.type` must be the string "adapter", `adapter.type`
  the string "lora", and `general.architecture` must equal the base
  model's architecture. `adapter.lora.alpha` is read as a FLOAT32 (a
  different type trips an assertion in ggml's gguf code, so it is written
  as float32 here); absent or 0 means "no alpha scaling".
* Tensors: every tensor name must end in `.lora_a` or `.lora_b` (or
  `_norm.weight`, which is skipped); each pair must be complete, and the
  name without the suffix must be a tensor of the base model.
* Shapes, in ggml order (ne[0] is the fastest-varying dimension): for a
  base weight W with ne = [n_in, n_out], lora_a has ne = [n_in, rank] and
  lora_b has ne = [rank, n_out]. The loader checks W.ne[0] == a.ne[0],
  W.ne[1] == b.ne[1] and a.ne[1] == b.ne[0]. numpy shapes are the reverse
  of ggml's, so the arrays are a: (rank, n_in) and b: (n_out, rank).
* At run time the model computes W·x + s·B·(A·x) with
  s = user_scale · alpha / rank (rank is read from b.ne[0]).
* The loader puts no restriction on the tensor type; the values only go
  through ggml_mul_mat. float32 is used here: it is exact, supported by
  every backend, and the adapter stays small.
"""

import argparse
import os
import sys
import zlib
from pathlib import Path

import numpy as np

import gguf

# Indices into a 2-D ggml shape (ne): ne[IN] is a weight's input width,
# ne[OUT] its output width.
IN, OUT = 0, 1


def fail(message):
    """Report a bad input and exit with status 2."""
    print(f"make_lora_adapter: error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Write a tiny random GGUF LoRA adapter for a base GGUF model."
    )
    p.add_argument("base", type=Path, help="base model, a .gguf file")
    p.add_argument("out", type=Path, help="where to write the adapter .gguf")
    p.add_argument("--rank", type=int, default=4, help="LoRA rank (default 4)")
    p.add_argument(
        "--alpha", type=float, default=8.0,
        help="adapter.lora.alpha; runtime scale is alpha/rank (default 8)",
    )
    p.add_argument(
        "--scale-init", type=float, default=0.5,
        help="std multiplier of the random A and B values (default 0.5)",
    )
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument(
        "--targets", default="attn_q,attn_v,ffn_up",
        help="comma-separated weight names to adapt in every layer, "
             "as in blk.N.<target>.weight (default attn_q,attn_v,ffn_up)",
    )
    # argparse already exits with status 2 on unknown options.
    args = p.parse_args(argv)

    if args.rank < 1:
        fail(f"--rank must be at least 1, got {args.rank}")
    if args.seed < 0:
        fail(f"--seed must not be negative, got {args.seed}")
    if not np.isfinite(args.alpha) or not np.isfinite(args.scale_init):
        fail("--alpha and --scale-init must be finite numbers")
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not targets:
        fail("--targets is empty")
    if len(set(targets)) != len(targets):
        fail(f"--targets names a tensor twice: {args.targets}")
    args.targets = targets
    return args


def read_base(path):
    """Open the base model; return (reader, architecture, layer count)."""
    if not path.is_file():
        fail(f"base model not found: {path}")
    try:
        reader = gguf.GGUFReader(path)
    except Exception as e:  # bad magic, truncated file, unsupported version
        fail(f"{path} is not a readable GGUF file: {e}")

    field = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    if field is None:
        fail(f"{path} has no {gguf.Keys.General.ARCHITECTURE} key")
    arch = field.contents()
    if not isinstance(arch, str) or not arch:
        fail(f"{path}: {gguf.Keys.General.ARCHITECTURE} is not a string")

    # `<arch>.block_count` is the number of layers; every layer must carry
    # every target, so the count matters (a missing one is an error).
    field = reader.get_field(gguf.Keys.LLM.BLOCK_COUNT.format(arch=arch))
    if field is None:
        fail(f"{path} has no {arch}.block_count key")
    n_layer = int(field.contents())
    if n_layer < 1:
        fail(f"{path}: {arch}.block_count is {n_layer}")
    return reader, arch, n_layer


def target_shapes(reader, path, n_layer, targets):
    """Return [(name, n_in, n_out)] for every blk.N.<target>.weight, in
    layer order, then in the order the targets were given."""
    # ReaderTensor.shape is in ggml order: shape[0] == ne[0] (the input
    # width of a weight, the row length), shape[1] == ne[1] (the output
    # width). It is the logical shape even for quantized types (the
    # reader's .data array has a byte-level numpy shape instead; not used).
    by_name = {t.name: t for t in reader.tensors}
    found = []
    for il in range(n_layer):
        for target in targets:
            name = f"blk.{il}.{target}.weight"
            t = by_name.get(name)
            if t is None:
                fail(f"{path} has no tensor {name}")
            ne = [int(d) for d in t.shape]
            if len(ne) != 2 or min(ne) < 1:
                fail(f"{name} has shape {ne}; only 2-D weights can take a LoRA")
            found.append((name, ne[IN], ne[OUT]))
    return found


def random_pair(seed, name, n_in, n_out, rank, scale_init):
    """Random (A, B) for one weight, as numpy float32 arrays
    A: (rank, n_in) == ggml ne [n_in, rank], B: (n_out, rank) == ggml ne
    [rank, n_out].

    Each tensor gets its own generator, seeded from (seed, crc32(name)), so
    its values do not depend on which other targets were asked for.
    Scales: A·x has entries of about scale_init·rms(x), and B·(A·x) about
    scale_init² · rms(x); times alpha/rank at run time. With the defaults
    (0.5, alpha 8, rank 4) that is ~0.5·rms(x) per output: enough to change
    the next-token distribution, far from overflow.
    """
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    a = rng.standard_normal((rank, n_in)) * (scale_init / np.sqrt(n_in))
    b = rng.standard_normal((n_out, rank)) * (scale_init / np.sqrt(rank))
    return a.astype(np.float32), b.astype(np.float32)


def main(argv):
    args = parse_args(argv)
    reader, arch, n_layer = read_base(args.base)
    weights = target_shapes(reader, args.base, n_layer, args.targets)
    for name, n_in, n_out in weights:
        if args.rank > min(n_in, n_out):
            fail(f"--rank {args.rank} exceeds the smaller side of {name} "
                 f"(ne [{n_in}, {n_out}])")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Write next to OUT, then rename: a failed run leaves no half file.
    tmp = args.out.with_name(args.out.name + ".partial")

    # GGUFWriter writes general.architecture itself. It writes keys and
    # tensors in the order they are added and stamps no time or host, so
    # the file depends on the arguments only.
    w = gguf.GGUFWriter(tmp, arch)
    w.add_type(gguf.GGUFType.ADAPTER)  # general.type = "adapter"
    w.add_name(f"random LoRA r{args.rank} seed {args.seed} for {args.base.stem}")
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")  # adapter.type
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, args.alpha)  # adapter.lora.alpha

    for name, n_in, n_out in weights:
        a, b = random_pair(args.seed, name, n_in, n_out, args.rank, args.scale_init)
        w.add_tensor(name + ".lora_a", a)  # ggml ne [n_in, rank]
        w.add_tensor(name + ".lora_b", b)  # ggml ne [rank, n_out]

    try:
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.replace(tmp, args.out)
    except BaseException:
        w.close()
        tmp.unlink(missing_ok=True)
        raise

    print(f"wrote {args.out}: arch {arch}, {len(weights)} weights x 2 tensors, "
          f"rank {args.rank}, alpha {args.alpha:g}, {args.out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
