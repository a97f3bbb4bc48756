"""BLEU as the PyTorch seq2seq tutorials score Multi30k: hypotheses and references cut into
lower-cased words by spaCy's English tokenizer, then corpus BLEU-4 (uniform weights, no
smoothing, brevity penalty), as torchtext's `bleu_score` computes it.

Used to check that `seq2seq eval`'s "tutorial protocol" (its own tokenizer, no spaCy) scores the
same output the same way:

    python3 tools/multi30k/tutorial_bleu.py HYPOTHESES.txt REFERENCES.txt

Needs `pip install spacy` (the blank English pipeline: its tokenizer is en_core_web_sm's, and no
model download is needed).
"""

import collections
import math
import sys

import spacy


def ngrams(tokens, n):
    return collections.Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(hypotheses, references, max_n=4):
    matches, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references):
        hyp_len += len(hyp)
        ref_len += len(ref)
        for n in range(1, max_n + 1):
            h, r = ngrams(hyp, n), ngrams(ref, n)
            matches[n - 1] += sum(min(c, r[g]) for g, c in h.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    if min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = min(1.0, math.exp(1 - ref_len / hyp_len))
    return 100 * brevity * math.exp(log_precision)


def main():
    nlp = spacy.blank("en")
    read = lambda path: [l.rstrip("\n") for l in open(path, encoding="utf-8")]
    cut = lambda lines: [[t.text.lower() for t in nlp.tokenizer(l) if not t.is_space] for l in lines]
    hyps, refs = cut(read(sys.argv[1])), cut(read(sys.argv[2]))
    assert len(hyps) == len(refs), f"{len(hyps)} hypotheses, {len(refs)} references"
    print(f"tutorial BLEU (spaCy tokens, lower-cased): {corpus_bleu(hyps, refs):.2f}")


if __name__ == "__main__":
    main()
