"""The policy: one HF causal LM with its tokenizer, sampling and per-token log-probs.

Everything the rest of the node does with the model goes through `Policy`: load it (a preset, a
local folder or, when allowed, a hub id), sample L completions per question through the chat
template, re-tokenize any node's completion text into a `TokenBatch`, and compute log-probs with grad.

    >>> policy = Policy.load(ModelConfig(name="tiny-0.5m"))  # doctest: +SKIP
    >>> [g.text for g in policy.generate(["... 4 - 1 ="], num_completions=2, seed=7)[0]]  # doctest: +SKIP
    ['3', '2']

Sampling is our own short decode loop over the KV cache rather than `model.generate`: each row
(question i, sample j) draws its randomness from its own generator seeded by (seed, i, j), so a
rollout can be reproduced on its own, whatever else was in the batch (up to float rounding). The loop
is `node/decode.py`'s, eager or compiled (`config.generation`); rows go through it in micro-batches
that halve on an out-of-memory error (`node/oom.py`). With `config.lora` only adapters train and the
sampling copy holds the merged weights (`node/models/lora.py`).

Mixed precision: weights always stay float32 and `config.dtype` is the dtype forward passes compute
in (bfloat16 on cuda by default). Adam updates of bfloat16 weights are rounded away: bfloat16 keeps
8 bits of mantissa, so at lr 1e-6 one update moved 1.6% of the weights of a tiny model and of a 494M
one, and left the rest untouched (tests/unit/test_policy.py, benchmarks/gpu_round.py). Log-probs for
training run under `torch.autocast`; generation runs on a copy of the weights in the compute dtype,
refreshed whenever a weight changed, like an inference engine's copy (494M model on an H100: 64 x 256
tokens in 5.70 s against 6.24 s under autocast and 5.94 s for HF `generate`; a refresh takes 7 ms).

References: nanoGPT `model.py` (one file owns the model), nanochat `engine.py` (decode loop) and
`scripts/chat_rl.py` (per-sample seeds), TRL `grpo_trainer.py` `_get_per_token_logps`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
import transformers
from transformers import DynamicCache

from node.config import ModelConfig
from node.decode import CompiledDecoder, EagerDecoder, Sampling, build_decoder, cache_kwarg, left_pad
from node.models import FamiliesLike, lora
from node.models.loading import load_pretrained, pick_device, pick_dtype
from node.oom import MicroBatch
from node.types import Generation, ScoredGroup, TokenBatch

logger = logging.getLogger(__name__)

MAX_COMPLETION_TOKENS = 1024
"""Re-tokenized completions longer than this are cut (a peer's text can be long in our tokens)."""
_SEED_MIX = 1_000_003


def row_seed(seed: int, question: int, sample: int) -> int:
    """Seed of one rollout, from (the caller's seed, question index, sample index)."""
    return ((seed * _SEED_MIX + question) * _SEED_MIX + sample) % (2**63)


def sample_from(logits: torch.Tensor, uniforms: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """Inverse-CDF sampling: one uniform per row picks a token from softmax(logits / T), top-p cut."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    order = None
    if top_p < 1.0:
        probs, order = probs.sort(dim=-1, descending=True)
        outside = probs.cumsum(-1) - probs >= top_p  # the top token always stays in
        probs = probs.masked_fill(outside, 0.0)
    cdf = probs.cumsum(-1)
    picks = torch.searchsorted(cdf, (uniforms * cdf[:, -1]).unsqueeze(1).contiguous(), right=True)
    picks = picks.clamp_(max=probs.shape[-1] - 1)
    return (picks if order is None else order.gather(1, picks)).squeeze(1)


@dataclass
class Policy:
    """A model and tokenizer on one device, with generation settings from `ModelConfig`.

    `compute_dtype` is what forward passes run in; the weights themselves are float32.
    """

    name: str
    model: transformers.PreTrainedModel
    tokenizer: transformers.PreTrainedTokenizerBase
    device: torch.device
    config: ModelConfig
    compute_dtype: torch.dtype = torch.float32
    _sampler: transformers.PreTrainedModel | None = field(default=None, init=False, repr=False)
    _sampler_versions: list[int] = field(default_factory=list, init=False, repr=False)
    decoder: EagerDecoder | CompiledDecoder = field(init=False, repr=False)
    """The decode loop of `config.generation`, kept for the life of the process (a compiled step is reused)."""
    generate_batch: MicroBatch = field(init=False, repr=False)
    """Rows per decode call (`config.generate_micro_batch`), halved on an out-of-memory error."""

    def __post_init__(self) -> None:
        self.decoder = build_decoder(self.config.generation, self.device)
        self.generate_batch = MicroBatch(self.config.generate_micro_batch, what="generation", model=self.name,
                                         device=self.device, on_oom=self.decoder.release)

    # -- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, config: ModelConfig, seed: int = 0, *, families: FamiliesLike = None) -> "Policy":
        """Load `config.name`: a preset (built on first use), a local HF folder, or a hub id.

        A hub id is fetched only if `config.allow_download`; otherwise it must already be in the local
        HF cache, else `ModelUnavailableError`. `seed` and `families` shape tiny presets only (their
        init, warm start and tokenizer); nodes meant to start alike pass the same values.
        """
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        device = pick_device(config.device)
        compute_dtype = pick_dtype(config.dtype, device)
        model, tokenizer, wire_name = load_pretrained(config, torch.float32, seed, families)
        plain = None
        if config.lora is not None:  # generation runs on a plain copy; peft rewrites `model` in place
            plain = copy.deepcopy(model).requires_grad_(False).to(compute_dtype).to(device).eval()
            model = lora.add_lora(model, config.lora)
        model.to(device).eval()  # eval: no dropout, so generation and log-probs see the same model
        logger.info("loaded %s (%.1fM parameters) on %s, computing in %s, %s generation", wire_name,
                    sum(p.numel() for p in model.parameters()) / 1e6, device, compute_dtype, config.generation)
        policy = cls(wire_name, model, tokenizer, device, config, compute_dtype)
        policy._sampler = plain  # merged from the adapters on first use (`sampling_model`)
        return policy

    def autocast(self) -> contextlib.AbstractContextManager:
        """Forward passes in `compute_dtype` (a no-op for float32)."""
        if self.compute_dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.compute_dtype)

    @property
    def end_token_id(self) -> int:
        """The end-of-turn token closing every completion (the tokenizer's eos)."""
        return self.tokenizer.eos_token_id

    def prompt_ids(self, question: str) -> list[int]:
        """The question as a user turn plus the assistant-turn opening, in this node's tokens."""
        messages = [{"role": "user", "content": question}]
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    # -- generation ----------------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, questions: list[str], num_completions: int, seed: int) -> list[list[Generation]]:
        """`num_completions` sampled completions per question, decoded without special tokens.

        Rows are sampled in micro-batches (`config.generate_micro_batch`, halved on a CUDA out-of-memory
        error); row (i, j) uses `row_seed(seed, i, j)`, so the split does not change what a row samples.
        token_count counts the generated tokens including the end-of-turn token when one was produced.
        """
        rendered = [self.prompt_ids(q) for q in questions]  # once per question, not once per row
        prompts = [ids for ids in rendered for _ in range(num_completions)]
        if not prompts:
            return []
        steps = self.config.max_new_tokens
        uniforms = torch.stack([
            torch.rand(steps, generator=torch.Generator().manual_seed(row_seed(seed, i // num_completions,
                                                                             i % num_completions)))
            for i in range(len(prompts))
        ]).to(self.device)
        model = self.sampling_model()
        rows = self.generate_batch.run(lambda size: self._decode_rows(model, prompts, uniforms, size), len(prompts))
        flat = [self._to_generation(row) for row in rows]
        return [flat[i : i + num_completions] for i in range(0, len(flat), num_completions)]

    def sampling_model(self) -> transformers.PreTrainedModel:
        """The model generation runs: `model` itself in float32, else its weights in `compute_dtype`; with
        LoRA, a plain copy of the base model holding the merged weights W + (alpha / r) B A.

        The copy is refreshed when any weight changed in place since the last copy (an optimizer step,
        `load_state_dict`): torch counts in-place writes in each tensor's `_version`. It is refreshed
        in place, so a compiled decode step keeps reading the same tensors.
        """
        if self.compute_dtype == torch.float32 and self._sampler is None:
            return self.model
        versions = [p._version for p in self.model.parameters()]
        if self._sampler is None:
            self._sampler = copy.deepcopy(self.model).requires_grad_(False)
            for parameter in self._sampler.parameters():
                parameter.grad = None
            self._sampler.to(self.compute_dtype)
        elif versions != self._sampler_versions:
            with torch.no_grad():
                if lora.is_lora(self.model):
                    lora.merge_into(self._sampler, self.model)
                else:
                    for target, source in zip(self._sampler.parameters(), self.model.parameters()):
                        target.copy_(source)
        self._sampler_versions = versions
        return self._sampler

    def _decode_rows(self, model: transformers.PreTrainedModel, prompts: list[list[int]], uniforms: torch.Tensor,
                     size: int) -> list[list[int]]:
        """Every row's sampled ids, `size` rows per decode call."""
        sampling = Sampling(lambda logits, u: sample_from(logits, u, self.config.temperature, self.config.top_p),
                            tuple(sorted(self._stop_ids())), self._pad_id())
        extra = {"batch": size} if isinstance(self.decoder, CompiledDecoder) else {}
        rows: list[list[int]] = []
        for start in range(0, len(prompts), size):
            part = slice(start, start + size)
            rows += self.decoder.decode(model, prompts[part], uniforms[part], sampling, **extra).tolist()
        return rows

    def _to_generation(self, row: list[int]) -> Generation:
        stops = self._stop_ids()
        end = next((k + 1 for k, t in enumerate(row) if t in stops), len(row))
        text = self.tokenizer.decode(row[:end], skip_special_tokens=True)
        return Generation(text=text, token_count=end, token_ids=tuple(row[:end]))

    def _stop_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        extra = eos if isinstance(eos, (list, tuple)) else [eos]
        return {self.end_token_id, *(t for t in extra if t is not None)}

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return self.end_token_id if pad is None else pad

    # -- training inputs -----------------------------------------------------------------------

    def build_batch(self, groups: Sequence[ScoredGroup]) -> TokenBatch:
        """Every (question, completion) in this node's tokens, right-padded: a local group's completions as the
        ids it sampled (on-policy, `ScoredGroup.token_ids`), a peer's re-tokenized from its text with an
        end-of-turn token appended. completion_mask (float) is 1 on completion tokens only.
        """
        prompts = {q: self.prompt_ids(q) for q in dict.fromkeys(g.task.question for g in groups)}
        peer_texts = list(dict.fromkeys(t for g in groups if not g.token_ids for t in g.texts))
        peer_ids = self.tokenizer(peer_texts, add_special_tokens=False)["input_ids"] if peer_texts else []
        retokenized = {text: ids + [self.end_token_id] for text, ids in zip(peer_texts, peer_ids)}  # each text once
        rows, group_index, rewards = [], [], []
        for g, group in enumerate(groups):
            prompt = prompts[group.task.question]
            completions = [list(ids) for ids in group.token_ids] if group.token_ids else [retokenized[t] for t in group.texts]
            for completion, reward in zip(completions, group.rewards):
                rows.append((prompt, completion[:MAX_COMPLETION_TOKENS]))
                group_index.append(g)
                rewards.append(float(reward))
        width = max((len(p) + len(c) for p, c in rows), default=0)
        pad = self._pad_id()
        ids = torch.tensor([p + c + [pad] * (width - len(p) - len(c)) for p, c in rows], dtype=torch.long).reshape(len(rows), width)
        positions = torch.arange(width)
        prompt_end = torch.tensor([len(p) for p, _ in rows], dtype=torch.long).unsqueeze(1)
        row_end = prompt_end + torch.tensor([len(c) for _, c in rows], dtype=torch.long).unsqueeze(1)
        attention = (positions < row_end).long()
        completion_mask = ((positions >= prompt_end) & (positions < row_end)).float()
        return TokenBatch(
            input_ids=ids.to(self.device), attention_mask=attention.to(self.device),
            completion_mask=completion_mask.to(self.device),
            group_index=torch.tensor(group_index, dtype=torch.long, device=self.device),
            rewards=torch.tensor(rewards, dtype=torch.float32, device=self.device),
        )

    def token_logprobs(self, batch: TokenBatch, *, share_prompts: bool | None = None) -> torch.Tensor:
        """[B, T] log pi(input_ids[b, t] | input_ids[b, :t]) with grad on every completion column
        (`completion_mask` 1), 0 in column 0 (no context).

        When rows share a prompt (a group's completions do) and `share_prompts` (default:
        `config.shared_prompt_updates`) is on, each distinct prompt runs once, its keys and values serve every
        row with it, and the prompt's columns are 0: only completion columns are computed. Otherwise every
        column is, each row running whole.
        """
        share = self.config.shared_prompt_updates if share_prompts is None else share_prompts
        split = self._prompt_split(batch) if share else None
        if split is not None:
            return self._shared_prompt_token_logprobs(batch, *split)
        with self.autocast():
            logits = self.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        logits = logits[:, :-1].float()  # position t predicts token t + 1
        targets = batch.input_ids[:, 1:].unsqueeze(-1)
        logprobs = logits.gather(-1, targets).squeeze(-1) - logits.logsumexp(-1)
        return F.pad(logprobs, (1, 0), value=0.0)

    def _prompt_split(self, batch: TokenBatch
                      ) -> tuple[list[list[int]], torch.Tensor, torch.Tensor, list[list[int]]] | None:
        """(distinct prompts, owner [B] indexing them, prompt end [B], each row's completion ids), or None when no
        two rows share a prompt, or a row has no completion token or no prompt (nothing to gain, place or share).
        Rows are `build_batch`'s: prompt, then completion (`completion_mask` 1), then padding."""
        completion = batch.completion_mask.detach().cpu() > 0
        if not bool(completion.any(1).all()) or bool(completion[:, 0].any()):
            return None
        prompt_end = completion.to(torch.uint8).argmax(1)  # the first completion column
        spans = list(zip(prompt_end.tolist(), (prompt_end + completion.sum(1)).tolist()))
        ids = batch.input_ids.detach().cpu()
        index: dict[tuple[int, ...], int] = {}
        owner = [index.setdefault(tuple(ids[r, :start].tolist()), len(index)) for r, (start, _) in enumerate(spans)]
        if len(index) == len(owner):
            return None
        completions = [ids[r, start:end].tolist() for r, (start, end) in enumerate(spans)]
        return [list(p) for p in index], torch.tensor(owner, device=self.device), prompt_end, completions

    def _shared_prompt_token_logprobs(self, batch: TokenBatch, prompts: list[list[int]], owner: torch.Tensor,
                                      prompt_end: torch.Tensor, completions: list[list[int]]) -> torch.Tensor:
        """`token_logprobs` with each distinct prompt run once: completion columns filled, the rest 0."""
        scores = self._shared_prompt_logprobs(prompts, owner, completions)  # [B, C], C = the longest completion
        rows, width = batch.input_ids.shape
        span = torch.arange(scores.shape[1], device=self.device)
        filled = span < torch.tensor([len(c) for c in completions], device=self.device).unsqueeze(1)
        columns = prompt_end.to(self.device).unsqueeze(1) + span  # where each completion token sits in the row
        placed = torch.zeros(rows, width + scores.shape[1], dtype=scores.dtype, device=self.device)
        return placed.scatter(1, columns, torch.where(filled, scores, 0.0))[:, :width]

    @torch.no_grad()
    def completion_logprobs(self, pairs: Sequence[tuple[str, str]], questions_per_pass: int = 64) -> list[list[float]]:
        """Per-token log-probs of each (question, completion), end-of-turn token included, no grad.

        The tokens are `build_batch`'s (completion re-tokenized here, end token appended), but each distinct
        question's prompt runs once and its KV cache serves all of that question's completions: peers send many
        completions per question, and the prompt is most of each row.
        """
        rows_of: dict[str, list[int]] = {}
        for r, (question, _) in enumerate(pairs):
            rows_of.setdefault(question, []).append(r)
        questions, out = list(rows_of), [[] for _ in pairs]
        for start in range(0, len(questions), questions_per_pass):
            chunk = questions[start:start + questions_per_pass]
            rows = [r for q in chunk for r in rows_of[q]]
            owner = torch.tensor([i for i, q in enumerate(chunk) for _ in rows_of[q]], device=self.device)
            completions = [(c + [self.end_token_id])[:MAX_COMPLETION_TOKENS]
                           for c in self.tokenizer([pairs[r][1] for r in rows], add_special_tokens=False)["input_ids"]]
            scores = self._shared_prompt_logprobs([self.prompt_ids(q) for q in chunk], owner, completions)
            for i, r in enumerate(rows):
                out[r] = scores[i, :len(completions[i])].tolist()
        return out

    def _shared_prompt_logprobs(self, prompts: list[list[int]], owner: torch.Tensor, completions: list[list[int]]
                                ) -> torch.Tensor:
        """[R, C] log-probs of each completion's tokens after its prompt (`owner[r]` indexes `prompts`)."""
        ids, mask = left_pad(prompts, self._pad_id(), self.device)
        positions = (mask.cumsum(-1) - 1).clamp_(min=0)
        cache = DynamicCache(config=self.model.config)
        with self.autocast():
            head = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                              logits_to_keep=1, **{cache_kwarg(self.model): cache})
        first = head.logits[:, -1].float().log_softmax(-1)[owner]  # [R, V]: the first completion token's
        width = max(map(len, completions))
        tokens = torch.full((len(completions), width), self._pad_id(), dtype=torch.long)
        filled = torch.zeros_like(tokens)
        for r, completion in enumerate(completions):
            tokens[r, :len(completion)], filled[r, :len(completion)] = torch.tensor(completion), 1
        tokens, filled = tokens.to(self.device), filled.to(self.device)
        cache.reorder_cache(owner)  # each row gets its question's prompt cache (repeated indices copy it)
        with self.autocast():
            tail = self.model(input_ids=tokens, attention_mask=torch.cat([mask[owner], filled], dim=1),
                              position_ids=positions[owner, -1:] + 1 + torch.arange(width, device=self.device),
                              use_cache=True, **{cache_kwarg(self.model): cache}).logits[:, :-1].float()
        later = tail.gather(-1, tokens[:, 1:, None]).squeeze(-1) - tail.logsumexp(-1)
        return torch.cat([first.gather(1, tokens[:, :1]), later], dim=1)

    # -- parameters ----------------------------------------------------------------------------

    def parameters(self) -> Iterator[torch.nn.Parameter]:
        """The parameters the update trains: all of them, or with LoRA only the adapters."""
        return (p for p in self.model.parameters() if p.requires_grad)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, sd: dict) -> None:
        self.model.load_state_dict(sd)

