"""LoRA fine-tuning of the nano model for plant question answering, on CPU.

Run by `shopfloor model train` (crates/shopfloor-cli/src/model/train), which
writes the training data, starts this script in the training environment
(.venv-train, installed by scripts/train.sh) and shows its progress. It can
be run by hand with the same arguments:

    python finetune_lora.py --base BASE.gguf --data train.jsonl --out DIR
        [--rank 8] [--alpha 16] [--targets q,v] [--epochs 1] [--lr 1e-3]
        [--batch 8] [--seed 7] [--threads 2] [--checkpoint-every 50]

Data: one JSON object a line, {"prompt": ..., "completion": ...}: the prompt
exactly as the product renders it with the model's chat template (ending in
the assistant's turn), the completion the sentence the model should write.
The loss counts only the completion and the end-of-turn token after it.

The base is the product's own GGUF file (quantized weights, dequantized to
float32 by transformers), so the adapter is trained against the weights it
will run on.

Out: DIR/adapter.gguf (what llama.cpp loads), DIR/training.json (settings,
data and result), DIR/checkpoint.pt while training (removed at the end): a
run stopped at any point resumes from its last checkpoint with the same
arguments and gives the same adapter as an uninterrupted run.

Progress goes to stdout as JSON lines ({"event": "step", ...}) for the CLI;
errors go to stderr with exit status 2 (bad input) or 1 (anything else).
"""

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
from pathlib import Path


def fail(message):
    print(f"finetune_lora: error: {message}", file=sys.stderr)
    sys.exit(2)


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


# HF module name -> llama.cpp tensor name (blk.N.<name>.weight).
GGUF_NAMES = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}
SHORT = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj", "gate": "gate_proj", "up": "up_proj", "down": "down_proj"}


def parse_args(argv):
    p = argparse.ArgumentParser(description="LoRA fine-tuning of a GGUF llama-family model on CPU")
    p.add_argument("--base", required=True, type=Path)
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16.0)
    p.add_argument("--targets", default="q,v")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--checkpoint-every", type=int, default=50)
    args = p.parse_args(argv)
    if not args.base.is_file():
        fail(f"base model {args.base} is not a file")
    if not args.data.is_file():
        fail(f"training data {args.data} is not a file")
    if args.rank < 1 or args.rank > 256:
        fail(f"--rank {args.rank}: expected 1..=256")
    if args.batch < 1 or not (0 < args.epochs <= 100) or not (0 < args.lr < 1):
        fail("--batch must be >= 1, --epochs in (0, 100], --lr in (0, 1)")
    targets = []
    for t in args.targets.split(","):
        t = t.strip()
        if t not in SHORT:
            fail(f"--targets: unknown {t!r}; expected some of {','.join(SHORT)}")
        targets.append(SHORT[t])
    args.target_modules = targets
    return args


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_examples(path):
    examples = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                examples.append((str(item["prompt"]), str(item["completion"])))
            except (ValueError, KeyError, TypeError) as error:
                fail(f"{path}:{number}: not a {{prompt, completion}} object ({error})")
    if not examples:
        fail(f"{path} holds no examples")
    return examples


def main(argv):
    args = parse_args(argv)
    # Imported here so that bad arguments are reported without the wait.
    import numpy as np
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    # Progress goes out as JSON lines; the library's own bars would mix in.
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    started = time.monotonic()
    folder, name = str(args.base.parent), args.base.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if end_of_turn is None or end_of_turn == tokenizer.unk_token_id:
        end_of_turn = tokenizer.eos_token_id
    config = model.config
    emit("loaded", seconds=round(time.monotonic() - started, 1), parameters=sum(p.numel() for p in model.parameters()))

    lora = LoraConfig(
        r=args.rank,
        lora_alpha=args.alpha,
        lora_dropout=0.0,
        target_modules=args.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
        init_lora_weights=True,
    )
    model = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())

    examples = read_examples(args.data)
    encoded = []
    for prompt, completion in examples:
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [end_of_turn]
        encoded.append((prompt_ids, completion_ids))

    # A fixed order from the seed: the same data and seed give the same steps.
    order_rng = random.Random(args.seed)
    steps_per_epoch = math.ceil(len(encoded) / args.batch)
    total_steps = max(1, math.ceil(steps_per_epoch * args.epochs))
    # Batches of similar length (sorted within windows of a shuffled epoch)
    # waste little on padding; the batches' order is shuffled again.
    batches = []
    while len(batches) < total_steps:
        epoch = list(range(len(encoded)))
        order_rng.shuffle(epoch)
        window = args.batch * 16
        for start in range(0, len(epoch), window):
            part = sorted(epoch[start:start + window], key=lambda i: len(encoded[i][0]) + len(encoded[i][1]))
            chunk = [part[i:i + args.batch] for i in range(0, len(part), args.batch)]
            order_rng.shuffle(chunk)
            batches.extend(chunk)

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    warmup = max(1, total_steps // 20)

    def rate(step):
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup))))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)

    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.out / "checkpoint.pt"
    data_sha = sha256_of(args.data)
    base_sha = sha256_of(args.base)
    settings = {
        "rank": args.rank,
        "alpha": args.alpha,
        "targets": args.target_modules,
        "epochs": args.epochs,
        "lr": args.lr,
        "batch": args.batch,
        "seed": args.seed,
        "steps": total_steps,
    }
    first_step = 0
    if checkpoint.is_file():
        saved = torch.load(checkpoint, weights_only=False)
        if saved["settings"] != settings or saved["data_sha256"] != data_sha or saved["base_sha256"] != base_sha:
            fail(f"{checkpoint} is from another run (settings, data or base differ); remove it to start over")
        for p, value in zip(params, saved["params"]):
            p.data.copy_(value)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        first_step = saved["step"]
        emit("resumed", step=first_step)

    inner = model.base_model.model  # LlamaForCausalLM with LoRA layers inside
    model.train()
    emit("start", steps=total_steps, examples=len(encoded), trainable=trainable, total=total)
    train_started = time.monotonic()
    last_loss = None
    for step in range(first_step, total_steps):
        batch = [encoded[i] for i in batches[step]]
        width = max(len(p) + len(c) for p, c in batch)
        ids = torch.full((len(batch), width), tokenizer.eos_token_id or 0, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for row, (p, c) in enumerate(batch):
            sequence = p + c
            ids[row, : len(sequence)] = torch.tensor(sequence)
            mask[row, : len(sequence)] = 1
            labels[row, len(p): len(sequence)] = torch.tensor(c)
        hidden = inner.model(input_ids=ids, attention_mask=mask).last_hidden_state
        # Logits only where a completion token is predicted: the vocabulary
        # projection of every prompt position would be most of the work.
        targets = labels[:, 1:]
        where = targets != -100
        logits = inner.lm_head(hidden[:, :-1][where])
        loss = torch.nn.functional.cross_entropy(logits, targets[where])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        last_loss = loss.item()
        done = step + 1
        elapsed = time.monotonic() - train_started
        emit("step", step=done, of=total_steps, loss=round(last_loss, 4), elapsed_s=round(elapsed, 1))
        if done % args.checkpoint_every == 0 and done < total_steps:
            state = {
                "settings": settings,
                "data_sha256": data_sha,
                "base_sha256": base_sha,
                "params": [p.detach().clone() for p in params],
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "step": done,
            }
            torch.save(state, checkpoint.with_suffix(".tmp"))
            os.replace(checkpoint.with_suffix(".tmp"), checkpoint)
            emit("checkpoint", step=done)

    adapter = args.out / "adapter.gguf"
    write_gguf_adapter(model, config, args, adapter, settings, data_sha, base_sha)
    result = {
        "settings": settings,
        "data": {"path": str(args.data), "sha256": data_sha, "examples": len(encoded)},
        "base": {"path": str(args.base), "sha256": base_sha},
        "trainable_parameters": trainable,
        "model_parameters": total - trainable,
        "final_loss": last_loss,
        "train_seconds": round(time.monotonic() - train_started, 1),
        "peak_rss_mib": peak_rss_mib(),
        "adapter": {"path": str(adapter), "sha256": sha256_of(adapter), "bytes": adapter.stat().st_size},
    }
    (args.out / "training.json").write_text(json.dumps(result, indent=2) + "\n")
    if checkpoint.is_file():
        checkpoint.unlink()
    emit("done", **result)


def peak_rss_mib():
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def permute_rows(weights, n_head):
    """llama.cpp's row order for q and k (convert_hf_to_gguf.py's LlamaModel.permute):
    rotary halves interleaved per head. Applied to lora_b, the rows of B·A."""
    rows = weights.shape[0]
    return weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def write_gguf_adapter(model, config, args, path, settings, data_sha, base_sha):
    """The trained A and B matrices as a llama.cpp LoRA adapter (float16)."""
    import numpy as np

    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(args.alpha))
    writer.add_string("shopfloor.training.settings", json.dumps(settings, sort_keys=True))
    writer.add_string("shopfloor.training.data_sha256", data_sha)
    writer.add_string("shopfloor.training.base_sha256", base_sha)
    state = {name: tensor.detach() for name, tensor in model.named_parameters() if "lora_" in name}
    n_head = config.num_attention_heads
    n_head_kv = getattr(config, "num_key_value_heads", n_head) or n_head
    for layer in range(config.num_hidden_layers):
        for module in args.target_modules:
            group = "self_attn" if module.endswith(("q_proj", "k_proj", "v_proj", "o_proj")) else "mlp"
            stem = f"base_model.model.model.layers.{layer}.{group}.{module}"
            a = state[f"{stem}.lora_A.default.weight"].numpy()  # (rank, n_in)
            b = state[f"{stem}.lora_B.default.weight"].numpy()  # (n_out, rank)
            if module == "q_proj":
                b = permute_rows(b, n_head)
            elif module == "k_proj":
                b = permute_rows(b, n_head_kv)
            name = f"blk.{layer}.{GGUF_NAMES[module]}.weight"
            writer.add_tensor(f"{name}.lora_a", np.ascontiguousarray(a, dtype=np.float16))
            writer.add_tensor(f"{name}.lora_b", np.ascontiguousarray(b, dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        sys.exit(130)
