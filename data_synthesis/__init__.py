"""Iterative reasoning synthesis (Facial-R1 stage 3, FEA-20K / Emo-CFG corpora).

The current model writes reasoning for samples whose labels are known; the rewards check it;
rejected items are retried with feedback naming what was wrong; accepted samples join a growing,
deduplicated corpus; optionally the model is retrained on it before the next round.
`affectllm synth` (`data_synthesis.cli`) runs it, resumably.

Modules, one job each:

- `config`: the YAML config, checked with errors naming the file and key;
- `acceptance`: acceptance rules (reward thresholds) and the choice of the best candidate;
- `feedback`: the retry feedback (missing/extra AUs, wrong label, bad format, ...);
- `prompting`: the prompt of one item and attempt (ground-truth hint + feedback);
- `scoring`: calling the rewards, score distributions;
- `candidates`: one chunk of items through generate -> score -> accept -> retry;
- `corpus`: accepted samples, merge + dedup, self-contained media;
- `manifest`: the resumable run state;
- `stats`: round statistics and the summary table;
- `retrain`: the SFT recipe between rounds;
- `inputs`: items, data root and base model (with the ``tiny:`` / ``toyfaces:`` shorthands);
- `loop`: the round driver and the output layout.

Only `affectllm.cli` imports this package.
"""
