//! seq2seq: BLEU agrees with sacreBLEU, padding changes nothing, step-by-step decoding agrees
//! with the teacher-forced pass, beam search is ordered and reduces to greedy at width 1, a
//! small model learns to reverse digit strings, tokenizers round-trip, the dictionary never
//! leaks held-out sentences, and bad input gets a clear error.

use datasets::pairs::Pair;
use dl_core::nn::CellKind;
use dl_core::optim::{Optimizer, OptimizerConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seq2seq::beam;
use seq2seq::bleu::{corpus_bleu, tokenize_13a};
use seq2seq::data::{self, Batching, Corpus, Direction, Example, Tokenized};
use seq2seq::evaluate;
use seq2seq::infer::{self, Translator};
use seq2seq::lexicon::Lexicon;
use seq2seq::model::{AttentionKind, ModelSpec, Seq2Seq};
use seq2seq::tokenize::{self, TokenizerKind, Vocab, EOS, PAD, UNK};
use seq2seq::train::{self, RunOptions, TrainConfig};
use tch::{nn::VarStore, Device, Kind, Tensor};

// Expected values from sacreBLEU 2.5.1, `sacrebleu.corpus_bleu(hyps, [refs], lowercase=True)`
// (13a tokenization, exp smoothing), and its `Tokenizer13a` for the tokenizations.
#[test]
fn bleu_agrees_with_sacrebleu() {
    let bleu = |h: &[&str], r: &[&str]| corpus_bleu(h, r, true).score;
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    // Identical: every precision 1 → 100.
    assert!(close(bleu(&["the cat sat on the mat."], &["the cat sat on the mat."]), 100.0));
    // Disjoint: nothing matches → 0 (not a smoothed value).
    assert_eq!(bleu(&["a b c d"], &["e f g h"]), 0.0);
    // Partial: matches 5/7, 3/6, 2/5, 1/4, hypothesis longer than the reference (BP = 1).
    // By hand: exp((ln 5/7 + ln 3/6 + ln 2/5 + ln 1/4) / 4) = 0.43472...
    assert!(close(
        bleu(&["the cat sat on a mat today"], &["the cat sat on the mat"]),
        43.47208719449914
    ));
    // Brevity: all 5/5, 4/4, 3/3, 2/2 match, but 5 tokens against 6: BP = exp(1 - 6/5).
    assert!(close(bleu(&["the cat sat on the"], &["the cat sat on the mat"]), 81.87307530779823));
    // No 4-gram at all in the hypothesis: 0.
    assert_eq!(bleu(&["the cat sat"], &["the cat sat on the mat"]), 0.0);
    // A corpus of two, with punctuation split off, case folded and a zero 4-gram count
    // smoothed to 1/2 of a match.
    assert!(close(
        bleu(
            &["Der Hund bellt laut , sehr laut .", "ein Satz"],
            &["der hund bellt sehr laut.", "ein anderer Satz"]
        ),
        33.98088489694247
    ));
    assert!(close(
        bleu(
            &["Hello, world! It costs 3.50 dollars, ok.", "The U.S.A. (and others)"],
            &["hello world! it costs 3.50 dollars ok.", "the u.s.a. and others"]
        ),
        58.402012196687394
    ));
    for (line, want) in [
        (
            "Hello, world! It costs 3.50 dollars, ok.",
            "Hello , world ! It costs 3.50 dollars , ok .",
        ),
        ("The U.S.A. (and others)", "The U . S . A . ( and others )"),
        (
            "it's 1-2 o'clock.. a,b 3,4 x-y &amp; \"q\"",
            "it's 1 - 2 o'clock . . a , b 3,4 x-y & \" q \"",
        ),
        ("Größe: 5-mal; €5", "Größe : 5 - mal ; €5"),
    ] {
        assert_eq!(tokenize_13a(line).join(" "), want, "{line}");
    }
}

fn spec(attention: AttentionKind, cell: CellKind, vocab: i64) -> ModelSpec {
    ModelSpec {
        cell,
        src_vocab: vocab,
        tgt_vocab: vocab,
        embedding: 16,
        encoder_hidden: 12,
        decoder_hidden: 20,
        layers: 2,
        attention,
        attention_dim: 10,
        dropout: 0.0,
        readout: 0,
        tie_embeddings: false,
    }
}

/// `readout` for [`with_readout`]: a read-out as wide as the embedding, tied to it.
const TIED: i64 = -1;

/// The spec with a read-out layer `readout` wide (0: none; [`TIED`]: tied embeddings).
fn with_readout(spec: ModelSpec, readout: i64) -> ModelSpec {
    match readout {
        TIED => ModelSpec { readout: spec.embedding, tie_embeddings: true, ..spec },
        width => ModelSpec { readout: width, ..spec },
    }
}

#[test]
fn tied_embeddings_are_one_matrix_for_reading_and_writing() {
    tch::manual_seed(5);
    let base = with_readout(spec(AttentionKind::Bahdanau, CellKind::Gru, 16), 16);
    let tied = with_readout(base, TIED);
    // The output projection (16 tokens x 16 wide) is gone; a bias of 16 stays.
    assert_eq!(Seq2Seq::parameters(base) - Seq2Seq::parameters(tied), 16 * 16);
    let owned = examples();
    let refs: Vec<&Tokenized> = owned.iter().collect();
    let b = data::batch(&refs, Device::Cpu);
    let read = b.tgt_in.flatten(0, 1).max().int64_value(&[]);
    for (spec, name) in [(base, "untied"), (tied, "tied")] {
        let vs = VarStore::new(Device::Cpu);
        let model = Seq2Seq::new(&vs.root(), spec);
        let encoded = model.encode(&b.src, &b.src_lengths, false);
        let (logits, _) = model.decode_teacher(&encoded, &b.tgt_in, false);
        evaluate::token_loss(&logits, &b.tgt_out, 0.0, tch::Reduction::Mean).backward();
        // Token 15 is never a decoder input: its embedding learns only by scoring, when tied.
        assert!(read < 15, "examples read token {read}");
        let grad = vs.variables()["tgt_embed.weight"].grad().get(15).abs().sum(Kind::Float);
        let grad = grad.double_value(&[]);
        match spec.tie_embeddings {
            true => assert!(grad > 0.0, "{name}: the output's gradient missed the embedding"),
            false => assert_eq!(grad, 0.0, "{name}: an unread embedding row got a gradient"),
        }
    }
}

/// A dictionary pair, German first.
fn ding(de: &str, en: &str) -> Pair {
    Pair { first: de.into(), second: en.into() }
}

fn examples() -> Vec<Tokenized> {
    vec![
        Tokenized { source: vec![5, 6, 7, 8, 9], target: vec![10, 11, 12] },
        Tokenized { source: vec![9, 4], target: vec![5, 6, 7, 8, 9, 10] },
        Tokenized { source: vec![7, 7, 7], target: vec![4] },
    ]
}

/// Appends `extra` padding columns to a `[batch, len]` id tensor.
fn pad_more(t: &Tensor, extra: i64) -> Tensor {
    let pad = Tensor::full([t.size()[0], extra], PAD, (Kind::Int64, Device::Cpu));
    Tensor::cat(&[t, &pad], 1)
}

#[test]
fn padding_changes_neither_loss_nor_attention() {
    tch::manual_seed(3);
    for (attention, readout) in [
        (AttentionKind::None, 0),
        (AttentionKind::Bahdanau, 0),
        (AttentionKind::Luong, 0),
        (AttentionKind::Bahdanau, TIED),
    ] {
        let vs = VarStore::new(Device::Cpu);
        let model =
            Seq2Seq::new(&vs.root(), with_readout(spec(attention, CellKind::Gru, 16), readout));
        let owned = examples();
        let refs: Vec<&Tokenized> = owned.iter().collect();
        let b = data::batch(&refs, Device::Cpu);
        let run = |src: &Tensor, tgt_in: &Tensor, tgt_out: &Tensor| {
            let encoded = model.encode(src, &b.src_lengths, false);
            let (logits, weights) = model.decode_teacher(&encoded, tgt_in, false);
            let loss = evaluate::token_loss(&logits, tgt_out, 0.1, tch::Reduction::Mean);
            (loss.double_value(&[]), weights)
        };
        let (loss, weights) = run(&b.src, &b.tgt_in, &b.tgt_out);
        let (loss2, weights2) =
            run(&pad_more(&b.src, 3), &pad_more(&b.tgt_in, 2), &pad_more(&b.tgt_out, 2));
        assert!(
            (loss - loss2).abs() < 1e-6,
            "{attention}: loss {loss} vs {loss2} with more padding"
        );
        let (steps, src_len) = (weights.size()[1], weights.size()[2]);
        let same = weights2.narrow(1, 0, steps).narrow(2, 0, src_len);
        assert!(weights.allclose(&same, 1e-6, 1e-6, false), "{attention}: attention moved");
        let on_padding = weights2.narrow(2, src_len, 3).abs().max().double_value(&[]);
        assert_eq!(on_padding, 0.0, "{attention}: attention on padding columns");
        if attention != AttentionKind::None {
            // Row 1's source has 2 tokens: its weights beyond them are 0, and sum to 1.
            let row = weights.get(1);
            assert_eq!(row.narrow(1, 2, src_len - 2).abs().max().double_value(&[]), 0.0);
            let sums = row.sum_dim_intlist(-1, false, Kind::Float);
            assert!(sums.allclose(&sums.ones_like(), 1e-5, 1e-5, false));
        }
    }
}

#[test]
fn one_step_decoding_matches_the_teacher_forced_pass() {
    tch::manual_seed(4);
    for (attention, cell, readout) in [
        (AttentionKind::None, CellKind::Gru, 0),
        (AttentionKind::Bahdanau, CellKind::Gru, 0),
        (AttentionKind::Luong, CellKind::Lstm, 0),
        (AttentionKind::Bahdanau, CellKind::Lstm, 0),
        (AttentionKind::Luong, CellKind::Gru, 10),
        (AttentionKind::Bahdanau, CellKind::Gru, TIED),
    ] {
        let vs = VarStore::new(Device::Cpu);
        let model = Seq2Seq::new(&vs.root(), with_readout(spec(attention, cell, 16), readout));
        let owned = examples();
        let refs: Vec<&Tokenized> = owned.iter().collect();
        let b = data::batch(&refs, Device::Cpu);
        let encoded = model.encode(&b.src, &b.src_lengths, false);
        let (logits, weights) = model.decode_teacher(&encoded, &b.tgt_in, false);
        let mut state = model.initial_state(&encoded);
        for t in 0..b.tgt_in.size()[1] {
            let step = model.step(&encoded, &b.tgt_in.select(1, t), &state, false);
            let (want, got) = (logits.select(1, t), &step.logits);
            assert!(
                want.allclose(got, 1e-5, 1e-5, false),
                "{attention} {cell}: logits at step {t}"
            );
            assert!(weights.select(1, t).allclose(&step.attention, 1e-6, 1e-6, false));
            state = step.state;
        }
    }
}

#[test]
fn beam_search_is_ordered_and_reduces_to_greedy() {
    tch::manual_seed(5);
    let vs = VarStore::new(Device::Cpu);
    let model = Seq2Seq::new(&vs.root(), spec(AttentionKind::Bahdanau, CellKind::Gru, 12));
    for source in [vec![4i64, 5, 6], vec![7, 8, 9, 10, 11], vec![5]] {
        let one = [Tokenized { source: source.clone(), target: vec![4] }];
        let b = data::batch(&[&one[0]], Device::Cpu);
        let encoded = model.encode(&b.src, &b.src_lengths, false);
        let greedy = beam::greedy(&model, &encoded, 12).remove(0);
        let beam1 = beam::beam_search(&model, &encoded, 1, 12, 0.0).remove(0);
        assert_eq!(greedy.tokens, beam1.tokens, "beam 1 is greedy");
        assert!((greedy.log_prob - beam1.log_prob).abs() < 1e-4);
        let beams = beam::beam_search(&model, &encoded, 4, 12, 1.0);
        assert!(!beams.is_empty() && beams.len() <= 4);
        assert!(beams.windows(2).all(|w| w[0].score >= w[1].score), "sorted by normalised score");
        for h in &beams {
            let length = (h.tokens.len() + usize::from(h.tokens.len() < 12)) as f64;
            assert!((h.score - h.log_prob / length).abs() < 1e-9, "score = log p / length");
            assert!(!h.tokens.contains(&EOS));
            assert_eq!(h.attention.len() as f64, length);
        }
        // With raw log-probabilities, the best beam is at least as likely as the greedy path.
        let best = beam::beam_search(&model, &encoded, 4, 12, 0.0).remove(0);
        assert!(best.log_prob >= greedy.log_prob - 1e-6);
    }
}

#[test]
fn an_ensemble_averages_its_models_probabilities() {
    tch::manual_seed(8);
    let (vs_a, vs_b) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
    let a = Seq2Seq::new(&vs_a.root(), spec(AttentionKind::Bahdanau, CellKind::Gru, 16));
    let b = Seq2Seq::new(&vs_b.root(), spec(AttentionKind::Luong, CellKind::Gru, 16));
    let owned = examples();
    let refs: Vec<&Tokenized> = owned.iter().collect();
    let batch = data::batch(&refs, Device::Cpu);
    let read = |m: &Seq2Seq| m.encode(&batch.src, &batch.src_lengths, false);
    // A model with itself decodes as the model alone: the same tokens, the same probabilities.
    let alone = beam::greedy(&a, &read(&a), 10);
    let twice = beam::greedy_ensemble(&[&a, &a], &[read(&a), read(&a)], 10);
    for (x, y) in alone.iter().zip(&twice) {
        assert_eq!(x.tokens, y.tokens);
        assert!((x.log_prob - y.log_prob).abs() < 1e-4, "{} vs {}", x.log_prob, y.log_prob);
    }
    // Two models: the first step's best token has the log of the mean of their probabilities.
    let first = beam::greedy_ensemble(&[&a, &b], &[read(&a), read(&b)], 1);
    let bos = Tensor::full([batch.src.size()[0]], tokenize::BOS, (Kind::Int64, Device::Cpu));
    let probs = |m: &Seq2Seq| {
        let encoded = read(m);
        m.step(&encoded, &bos, &m.initial_state(&encoded), false).logits.softmax(-1, Kind::Double)
    };
    let mean = (probs(&a) + probs(&b)) / 2.0;
    let (best, ids) = mean.max_dim(-1, false);
    for (row, h) in first.iter().enumerate() {
        let row = row as i64;
        assert!(h.tokens.is_empty() || h.tokens[0] == ids.int64_value(&[row]));
        assert!((h.log_prob - best.double_value(&[row]).ln()).abs() < 1e-5);
    }
    // The loss of the ensemble is the loss of the mean probabilities: below the models' mean
    // loss (Jensen), where averaging log-probabilities would equal it.
    let loss = |models: &[&Seq2Seq]| evaluate::loss_on(models, &owned, 8, Device::Cpu);
    let (loss_a, loss_b, loss_ab) = (loss(&[&a]), loss(&[&b]), loss(&[&a, &b]));
    assert!(loss_ab < (loss_a + loss_b) / 2.0 - 1e-4, "{loss_ab} vs {loss_a} and {loss_b}");
    let row0 = Tensor::from_slice(&[0i64]);
    let one = [read(&a).index_select(&row0), read(&b).index_select(&row0)];
    let beams = beam::beam_search_ensemble(&[&a, &b], &one, 3, 10, 1.0);
    assert!(!beams.is_empty() && beams.windows(2).all(|w| w[0].score >= w[1].score));
}

#[test]
fn a_small_model_learns_to_reverse_digit_strings() {
    tch::manual_seed(6);
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let example = |rng: &mut ChaCha8Rng| {
        let len = rng.random_range(3..=6);
        let source: Vec<i64> = (0..len).map(|_| rng.random_range(4..14)).collect();
        let target = source.iter().rev().copied().collect();
        Tokenized { source, target }
    };
    let train_set: Vec<Tokenized> = (0..2000).map(|_| example(&mut rng)).collect();
    let test_set: Vec<Tokenized> = (0..100).map(|_| example(&mut rng)).collect();
    let vs = VarStore::new(Device::Cpu);
    let spec = ModelSpec {
        embedding: 32,
        encoder_hidden: 48,
        decoder_hidden: 64,
        layers: 1,
        attention_dim: 32,
        ..spec(AttentionKind::Bahdanau, CellKind::Gru, 14)
    };
    let model = Seq2Seq::new(&vs.root(), spec);
    let mut opt = Optimizer::new(OptimizerConfig::adam(3e-3), &vs).unwrap();
    let config = TrainConfig { label_smoothing: 0.0, clip: 1.0, ..TrainConfig::default() };
    let mut step_rng = ChaCha8Rng::seed_from_u64(7);
    for epoch in 0..10 {
        for indices in data::epoch_batches(
            &train_set,
            (0..train_set.len()).collect(),
            Batching::Pairs(32),
            1,
            epoch,
        ) {
            let refs: Vec<&Tokenized> = indices.iter().map(|&i| &train_set[i]).collect();
            train::update(
                &model,
                &mut opt,
                &data::batch(&refs, Device::Cpu),
                &config,
                &mut step_rng,
                Default::default(),
            )
            .unwrap();
        }
    }
    let refs: Vec<&Tokenized> = test_set.iter().collect();
    let b = data::batch(&refs, Device::Cpu);
    let encoded = model.encode(&b.src, &b.src_lengths, false);
    let out = beam::greedy(&model, &encoded, 12);
    let exact = out.iter().zip(&test_set).filter(|(h, e)| h.tokens == e.target).count();
    for (h, e) in out.iter().zip(&test_set).filter(|(h, e)| h.tokens != e.target).take(5) {
        eprintln!("{:?} -> {:?} (want {:?})", e.source, h.tokens, e.target);
    }
    assert!(exact >= 95, "{exact}/100 reversed exactly");
}

#[test]
fn word_tokens_are_joined_back_as_text_writes_them() {
    let text = "don’t take the well-known (and cheap) air/ether, please! “yes”, he said: 5% – ok?!";
    let vocab = Vocab::train(TokenizerKind::Word, 100, true, &[text]).unwrap();
    let ids = vocab.encode(text);
    assert_eq!(vocab.tokens(&ids)[..3], ["don", "’", "t"], "the tokenizer splits at ’");
    assert_eq!(vocab.decode(&ids), text);
    // A hyphen or slash with a space beside it stays spaced.
    assert_eq!(tokenize::join_words(&["a", "-", "b", "/", "."]), "a-b /.");
}

#[test]
fn an_unknown_output_word_translates_or_copies_the_unknown_source_word_it_looked_at() {
    let src = Vocab::train(TokenizerKind::Word, 100, true, &["ich sehe das haus"]).unwrap();
    let tgt = Vocab::train(TokenizerKind::Word, 100, true, &["i see the house ."]).unwrap();
    let (ids, text) = src.encode_with_text("Ich sehe Quaxburg");
    assert_eq!(ids[2], UNK);
    assert_eq!(text, ["Ich", "sehe", "Quaxburg"], "the words as written");
    let id = |w: &str| tgt.encode(w)[0];
    // "i see [UNK] [UNK] ." looking at Quaxburg (unknown: copied), then at sehe (known: left out).
    let hypothesis = beam::Hypothesis {
        tokens: vec![id("i"), id("see"), UNK, UNK, id(".")],
        log_prob: 0.0,
        score: 0.0,
        attention: vec![
            vec![0.9, 0.1, 0.0],
            vec![0.1, 0.8, 0.1],
            vec![0.1, 0.2, 0.7],
            vec![0.1, 0.6, 0.3],
            vec![0.3, 0.3, 0.4],
        ],
    };
    assert_eq!(infer::output_text(&tgt, None, &hypothesis, &ids, &text), "i see Quaxburg.");
    // With a dictionary, the word looked at is translated, known or not; an unknown word the
    // dictionary lacks is still copied, a known one still left out.
    let dictionary = [ding("Quaxburg", "Quax Castle"), ding("sehe", "look")];
    let text_with = |entries: &[Pair]| {
        let lexicon = Lexicon::new(entries, Direction::DeEn);
        infer::output_text(&tgt, Some(&lexicon), &hypothesis, &ids, &text)
    };
    assert_eq!(text_with(&dictionary[..1]), "i see Quax Castle.");
    assert_eq!(text_with(&dictionary), "i see Quax Castle look.");
    assert_eq!(text_with(&dictionary[1..]), "i see Quaxburg look.");
    let lexicon = Lexicon::new(&dictionary, Direction::DeEn);
    // Subword output spells rare words itself: nothing is copied or translated.
    let bpe = Vocab::train(TokenizerKind::Bpe, 60, true, &["i see the house ."]).unwrap();
    let pieces = bpe.encode("i see");
    let hypothesis = beam::Hypothesis { tokens: pieces.clone(), ..hypothesis };
    let out = infer::output_text(&bpe, Some(&lexicon), &hypothesis, &ids, &text);
    assert_eq!(out, bpe.decode(&pieces));
}

#[test]
fn tokenizers_round_trip_and_survive_unknown_words() {
    let sentences =
        ["Das ist ein Haus.", "Das Haus ist groß.", "Ein kleines Haus.", "Ist das groß?"];
    for kind in
        [TokenizerKind::Char, TokenizerKind::Word, TokenizerKind::Bpe, TokenizerKind::Unigram]
    {
        let vocab = Vocab::train(kind, 60, true, &sentences).unwrap();
        let reloaded = Vocab::from_json(&vocab.to_json()).unwrap();
        for s in sentences.iter().chain(&["Xylophon zügig!"]) {
            assert_eq!(vocab.encode(s), reloaded.encode(s), "{kind}: {s}");
        }
        let ids = vocab.encode("das haus ist groß.");
        assert!(!ids.is_empty() && !ids.contains(&UNK), "{kind}: known text has no [UNK]: {ids:?}");
        assert_eq!(vocab.decode(&ids), "das haus ist groß.", "{kind} detokenizes");
        // Unseen characters and words become [UNK] (or known pieces), never a failure.
        let unknown = vocab.encode("Quaxq ÿ");
        assert!(!unknown.is_empty(), "{kind}");
        assert!(unknown.contains(&UNK), "{kind}: {unknown:?}");
    }
    let err = Vocab::from_json("{\"not\": \"a tokenizer\"}").unwrap_err();
    assert!(err.to_string().contains("not a tokenizer"), "{err}");
}

#[test]
fn the_dictionary_never_brings_held_out_sentences() {
    let ex = |s: &str, t: &str| Example { source: s.into(), target: t.into() };
    let mut corpus = Corpus {
        train: vec![ex("Das Haus.", "The house.")],
        valid: vec![ex("Er war ein Opfer der Umstände.", "He was a victim of circumstance.")],
        test: vec![ex("Guten Morgen.", "Good morning.")],
        dictionary_pairs: 0,
    };
    let dictionary = [
        ding("Haus", "house"),
        ding("er war ein opfer der  umstände.", "He was a victim of circumstances."),
        ding("Guten Tag", "Good morning."),
        ding("das haus.", "the house."),
        ding("Haus", "house"),
    ];
    let added = data::add_dictionary(&mut corpus, &dictionary, Direction::DeEn);
    assert_eq!(added, 1, "only Haus → house is new and held-out-free");
    assert_eq!(corpus.train.last().unwrap(), &ex("Haus", "house"));
    let mut reverse = Corpus { dictionary_pairs: 0, ..corpus.clone() };
    reverse.train.truncate(1);
    assert_eq!(data::add_dictionary(&mut reverse, &dictionary[..1], Direction::EnDe), 1);
    assert_eq!(reverse.train.last().unwrap(), &ex("house", "Haus"), "oriented en → de");
}

#[test]
fn token_batches_hold_many_short_pairs_or_few_long_ones_within_the_budget() {
    // 200 sentences of 20 tokens and 1,000 dictionary-like pairs of 2.
    let pair = |n: usize| Tokenized { source: vec![5; n], target: vec![6; n] };
    let data: Vec<Tokenized> = (0..1200).map(|i| pair(if i < 200 { 20 } else { 2 })).collect();
    let batches = data::epoch_batches(&data, (0..1200).collect(), Batching::Tokens(210), 3, 0);
    let mut seen: Vec<usize> = batches.concat();
    seen.sort_unstable();
    assert_eq!(seen, (0..1200).collect::<Vec<_>>(), "every pair exactly once");
    for batch in &batches {
        // The width of a batch is its longest side, the target counting its EOS.
        let width = batch.iter().map(|&i| data[i].target.len() + 1).max().unwrap();
        assert!(batch.len() * width <= 210, "{} pairs of width {width}", batch.len());
        match width {
            21 => assert!(batch.len() <= 10),
            _ => assert!(batch.len() > 10, "short pairs share a batch with a long one"),
        }
    }
    // 200 long pairs fill 20 batches of 10; 1,000 short ones (width 3) at most 70 a batch.
    let long = batches.iter().filter(|b| data[b[0]].source.len() == 20).count();
    assert_eq!(long, 20);
    assert!(batches.len() - long >= 1000usize.div_ceil(70));
}

#[test]
fn each_epoch_draws_fresh_dictionary_pairs_beside_every_sentence() {
    // 10 sentence pairs (indices 0..10), 100 dictionary pairs (10..110), 2 per sentence.
    let draw = |epoch| data::epoch_examples(10, 100, 2.0, 7, epoch);
    let first = draw(0);
    assert_eq!(first.len(), 30);
    assert_eq!(&first[..10], &(0..10).collect::<Vec<_>>()[..], "every sentence, every epoch");
    let mut dict: Vec<usize> = first[10..].to_vec();
    assert!(dict.iter().all(|&i| (10..110).contains(&i)));
    dict.sort_unstable();
    dict.dedup();
    assert_eq!(dict.len(), 20, "drawn without replacement");
    assert_eq!(draw(0), first, "deterministic");
    assert_ne!(draw(1)[10..], first[10..], "fresh each epoch");
    assert_eq!(data::epoch_examples(10, 5, 2.0, 7, 0).len(), 15, "at most the whole dictionary");
}

/// `n` numbered pairs (`number 3 is here` / `Zahl 3 ist hier`) written to `dir/pairs.tsv`.
pub(crate) fn numbered_pairs(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let pairs = dir.join("pairs.tsv");
    let lines: String =
        (0..n).map(|i| format!("number {i} is here\tZahl {i} ist hier\n")).collect();
    std::fs::write(&pairs, lines).unwrap();
    pairs
}

/// A tiny word-level model trained for two epochs on `pairs` alone.
pub(crate) fn tiny_config(pairs: &std::path::Path) -> TrainConfig {
    TrainConfig {
        pairs: Some(pairs.to_path_buf()),
        dictionary: false,
        tokenizer: TokenizerKind::Word,
        vocab_size: 100,
        src_vocab_size: Some(60),
        embedding: 16,
        encoder_hidden: 16,
        decoder_hidden: 24,
        attention_dim: 8,
        epochs: 2,
        batch_size: 16,
        schedule: dl_core::optim::StepSchedule::Constant,
        ..TrainConfig::default()
    }
}

/// Quiet CPU training into `out`.
pub(crate) fn options(out: &std::path::Path) -> RunOptions {
    RunOptions {
        device: Device::Cpu,
        out: Some(out.to_path_buf()),
        resume: None,
        max_minutes: None,
        quiet: true,
        stop: Default::default(),
        precision: Default::default(),
    }
}

#[test]
fn an_interrupted_run_resumes_to_the_same_weights_and_state() {
    if integration_tests::alone!(an_interrupted_run_resumes_to_the_same_weights_and_state) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pairs = numbered_pairs(dir.path(), 200);
    // Scheduled sampling flips a coin per decoder step, dropout and word dropout draw masks:
    // the resumed run must draw all of them as the straight run did.
    let config = TrainConfig {
        teacher_forcing: 0.5,
        dropout: 0.2,
        word_dropout: 0.1,
        ..tiny_config(&pairs)
    };
    let straight = dir.path().join("straight");
    train::train(config.clone(), &options(&straight)).unwrap();
    let cut = dir.path().join("cut");
    let summary =
        train::train(config, &RunOptions { max_minutes: Some(1e-9), ..options(&cut) }).unwrap();
    assert!(summary.stopped_early);
    let resumed = RunOptions { out: None, resume: Some(cut.clone()), ..options(&cut) };
    assert_eq!(train::train(TrainConfig::default(), &resumed).unwrap().epochs, 2);
    integration_tests::assert_same_checkpoints(&straight, &cut);
}

#[test]
fn training_and_translation_run_end_to_end_and_bad_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = numbered_pairs(dir.path(), 400);
    let config = tiny_config(&pairs);
    let run = dir.path().join("run");
    let summary = train::train(config.clone(), &options(&run)).unwrap();
    assert_eq!(summary.epochs, 2);
    assert!(
        run.join("tokenizer-src.json").is_file() && run.join("checkpoints/best.json").is_file()
    );
    let translator = Translator::load(&run, Device::Cpu).unwrap();
    assert_eq!((translator.src.size(), translator.tgt.size()), (60, 100), "vocabulary sizes");
    let sentences = ["Zahl 3 ist hier", "Unbekanntes Wort"];
    let t = translator.translate(&sentences, infer::Decoding::GREEDY);
    assert_eq!(t.len(), 2);
    // The n-best list of beam search starts with the translation beam search gives.
    let beam = infer::Decoding { beam: 3, alpha: 1.0 };
    let n_best = translator.n_best(sentences[0], beam);
    assert!((1..=3).contains(&n_best.len()));
    assert_eq!(n_best[0].text, translator.translate(&sentences[..1], beam)[0].text);
    assert!(n_best.windows(2).all(|w| w[0].hypothesis.score >= w[1].hypothesis.score));
    // An ensemble of the run with itself translates as the run does.
    let pair = Translator::load_ensemble(&[run.clone(), run.clone()], Device::Cpu).unwrap();
    assert_eq!(pair.partners.len(), 1);
    let texts = |t: &[infer::Translation]| t.iter().map(|t| t.text.clone()).collect::<Vec<_>>();
    assert_eq!(texts(&pair.translate(&sentences, infer::Decoding::GREEDY)), texts(&t));
    // A checkpoint with other vocabularies cannot join it.
    let best = run.join("checkpoints/best");
    let mut sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(best.with_extension("json")).unwrap()).unwrap();
    let source_tokenizer = sidecar["extra"]["src_tokenizer"].clone();
    sidecar["extra"]["tgt_tokenizer"] = source_tokenizer;
    let other = dir.path().join("other");
    std::fs::write(other.with_extension("json"), serde_json::to_vec(&sidecar).unwrap()).unwrap();
    std::fs::copy(best.with_extension("safetensors"), other.with_extension("safetensors")).unwrap();
    let err = Translator::load_ensemble(&[run.clone(), other.with_extension("json")], Device::Cpu)
        .err()
        .expect("other vocabularies");
    assert!(err.to_string().contains("different vocabularies"), "{err}");
    // A run stopped by its time budget inside the first epoch goes on from the next batch:
    // resumed, it ends with as many steps as the run that was never stopped.
    let last_step = |run: &std::path::Path| {
        let sidecar = std::fs::read(run.join("checkpoints/last.json")).unwrap();
        serde_json::from_slice::<serde_json::Value>(&sidecar).unwrap()["step"].as_u64().unwrap()
    };
    let cut = dir.path().join("cut");
    let budget = RunOptions { max_minutes: Some(1e-9), ..options(&cut) };
    let summary = train::train(config.clone(), &budget).unwrap();
    assert!(summary.stopped_early && summary.epochs == 0, "{summary:?}");
    assert_eq!(last_step(&cut), 1);
    let resumed = RunOptions { out: None, resume: Some(cut.clone()), ..options(&cut) };
    assert_eq!(train::train(TrainConfig::default(), &resumed).unwrap().epochs, 2);
    assert_eq!(last_step(&cut), last_step(&run));
    // Resume: the run extended to 3 epochs continues from epoch 2.
    let config_path = run.join("config.toml");
    let text = std::fs::read_to_string(&config_path).unwrap().replace("epochs = 2", "epochs = 3");
    std::fs::write(&config_path, text).unwrap();
    let resumed = RunOptions { out: None, resume: Some(run.clone()), ..options(&run) };
    assert_eq!(train::train(TrainConfig::default(), &resumed).unwrap().epochs, 3);

    // Bad input: a malformed pair file, a checkpoint of another app, absurd settings.
    std::fs::write(&pairs, "no tab here\n").unwrap();
    let err = train::train(config.clone(), &options(&dir.path().join("bad"))).unwrap_err();
    assert!(format!("{err:#}").contains("no tab"), "{err:#}");
    let err = train::train(
        TrainConfig { vocab_size: 2, ..config.clone() },
        &options(&dir.path().join("bad2")),
    )
    .unwrap_err();
    assert!(err.to_string().contains("vocab_size"), "{err}");
    let err = train::train(
        TrainConfig { src_vocab_size: Some(0), ..config.clone() },
        &options(&dir.path().join("bad2")),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("src_vocab_size"), "{err}");
    let err = train::train(
        TrainConfig { tie_embeddings: true, ..config.clone() },
        &options(&dir.path().join("bad3")),
    )
    .unwrap_err();
    assert!(err.to_string().contains("--readout 16"), "{err}");
    let foreign = dir.path().join("foreign.json");
    let sidecar = dl_core::checkpoint::Sidecar::new("char-rnn", 0, 0, 1, &config).unwrap();
    std::fs::write(&foreign, serde_json::to_vec(&sidecar).unwrap()).unwrap();
    std::fs::write(dir.path().join("foreign.safetensors"), b"").unwrap();
    let err = Translator::load(&foreign, Device::Cpu).err().expect("another app's checkpoint");
    assert!(format!("{err:#}").contains("char-rnn"), "{err:#}");
}

#[test]
fn the_lexicon_maps_one_word_entries_to_a_plain_translation() {
    let pairs = [
        ding("Bank", "bank"),
        ding("Bank", "bench"),
        ding("bank", "shaky"),
        ding("etw. verstreuen", "to scatter sth."),
        ding("verstreuen", "to scatter sth."),
        ding("Planungsteam", "planning team"),
        ding("to", "to"),
    ];
    let lexicon = Lexicon::new(&pairs, Direction::DeEn);
    assert_eq!(lexicon.get("Bank").as_deref(), Some("bank"), "all else equal, the first");
    assert_eq!(lexicon.get("bank").as_deref(), Some("shaky"), "the spelling as written first");
    assert_eq!(lexicon.get("BANK").as_deref(), Some("bank"), "then lowercased");
    assert_eq!(lexicon.get("verstreuen").as_deref(), Some("scatter"), "no `to`, no `sth.`");
    assert_eq!(lexicon.get("Planungsteam").as_deref(), Some("planning team"));
    assert_eq!(lexicon.get("to").as_deref(), Some("to"), "a lone `to` stays");
    assert_eq!(lexicon.get("Quaxburg").as_deref(), None);
    assert_eq!(lexicon.len(), 4, "bank, verstreuen, planungsteam, to: keys lowercased");
    let reverse = Lexicon::new(&pairs, Direction::EnDe);
    assert_eq!(reverse.get("bench").as_deref(), Some("Bank"));
    assert_eq!(reverse.get("scatter").as_deref(), None, "a phrase is not a word entry");
}

#[test]
fn the_lexicon_prefers_the_commoner_translation() {
    let pairs = [
        ding("Stimme", "sheet music for a part"),
        ding("Stimme", "part"),
        ding("Stimme", "voice"),
        ding("Stimmlage", "voice range"),
        ding("laut", "in a loud voice"),
        ding("Ziellinie", "line of collimation"),
        ding("Ziellinie", "finishing line"),
        ding("Finish", "finishing"),
        ding("Zielgerade", "finishing straight"),
    ];
    let lexicon = Lexicon::new(&pairs, Direction::DeEn);
    // `voice` is written three times, `part` twice, `sheet` once.
    assert_eq!(lexicon.get("Stimme").as_deref(), Some("voice"));
    assert_eq!(lexicon.get("stimmen").as_deref(), Some("voice"), "its base form, the same");
    // A phrase counts as its rarest word: `line` (2) against `collimation` (1).
    assert_eq!(lexicon.get("Ziellinie").as_deref(), Some("finishing line"));
    let reverse = Lexicon::new(&pairs, Direction::EnDe);
    assert_eq!(reverse.get("voice").as_deref(), Some("Stimme"));
}

#[test]
fn the_lexicon_finds_inflected_forms_zu_infinitives_and_compounds() {
    let pairs = [
        ding("wohlbekannt", "well-known"),
        ding("suchen", "to search sth."),
        ding("aufgeben", "to give up sth."),
        ding("Allergie", "allergy"),
        ding("Medikament", "drug"),
        ding("Schule", "school"),
        ding("Chor", "choir"),
        ding("Planung", "planning"),
        ding("Team", "team"),
        ding("Tor", "gate"),
        ding("machen", "make"),
        ding("versuchen", "try"),
    ];
    let lexicon = Lexicon::new(&pairs, Direction::DeEn);
    let get = |word| lexicon.get(word).map(|t| t.into_owned());
    assert_eq!(get("wohlbekannte").as_deref(), Some("well-known"), "an adjective ending off");
    assert_eq!(get("suchten").as_deref(), Some("search"), "a past tense to its infinitive");
    assert_eq!(get("aufzugeben").as_deref(), Some("give up"), "a zu-infinitive");
    assert_eq!(get("Medikamentenallergie").as_deref(), Some("drug allergy"), "joint -en");
    assert_eq!(get("Planungsteam").as_deref(), Some("planning team"), "joint -s");
    assert_eq!(get("Schulchor").as_deref(), Some("school choir"), "a modifier's -e dropped");
    assert_eq!(get("Kinderchor").as_deref(), Some("choir"), "an unknown modifier: the head");
    assert_eq!(get("Viktor"), None, "a head must have four letters");
    assert_eq!(get("Quaxburg"), None);
    let reverse = Lexicon::new(&pairs, Direction::EnDe);
    let get = |word| reverse.get(word).map(|t| t.into_owned());
    assert_eq!(get("making").as_deref(), Some("machen"), "English endings: -ing");
    assert_eq!(get("tries").as_deref(), Some("versuchen"), "-ies");
    assert_eq!(get("makes").as_deref(), Some("machen"), "-s");
    assert_eq!(get("schoolchoir"), None, "English is not split into compounds");
}

#[test]
fn the_last_epochs_are_kept_and_average_to_their_mean_weights() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = numbered_pairs(dir.path(), 200);
    let config = TrainConfig { epochs: 3, keep_last_epochs: 2, ..tiny_config(&pairs) };
    let run = dir.path().join("run");
    train::train(config.clone(), &options(&run)).unwrap();
    let kept = |epoch: u64| run.join(format!("checkpoints/epoch-{epoch}.safetensors"));
    assert!(!kept(1).exists() && !kept(1).with_extension("json").exists(), "epoch 1 pruned");
    assert!(kept(2).is_file() && kept(3).is_file());

    let out = dir.path().join("avg.safetensors");
    assert_eq!(infer::average(&[kept(2), kept(3)], &out).unwrap(), 2);
    let [a, b, mean] =
        [kept(2), kept(3), out.clone()].map(|p| Translator::load(&p, Device::Cpu).unwrap());
    assert_eq!(mean.epoch, 3);
    let (a, b) = (a.vs.variables(), b.vs.variables());
    let mut moved = 0.0;
    for (name, m) in mean.vs.variables() {
        let want = (&a[&name] + &b[&name]) / 2.0;
        let err = (&m - &want).abs().max().double_value(&[]);
        assert!(err < 1e-6, "{name}: off the mean by {err}");
        moved += (&a[&name] - &b[&name]).abs().sum(Kind::Double).double_value(&[]);
    }
    assert!(moved > 0.0, "the two epochs' weights differ, so the mean is a new point");
    assert_eq!(mean.translate(&["Zahl 3 ist hier"], infer::Decoding::GREEDY).len(), 1);

    // One checkpoint, or checkpoints of differently shaped models, cannot be averaged.
    let err = infer::average(&[kept(2)], &out).unwrap_err();
    assert!(err.to_string().contains("at least two"), "{err}");
    let other = dir.path().join("other");
    train::train(TrainConfig { embedding: 12, epochs: 1, ..config }, &options(&other)).unwrap();
    let err = infer::average(&[kept(3), other.clone()], &out).unwrap_err();
    assert!(err.to_string().contains("different models"), "{err}");
}

#[test]
fn the_tutorial_protocol_scores_lower_cased_word_tokens() {
    use seq2seq::bleu::{corpus_bleu_words, tokenize_words};
    let words = |s: &str| tokenize_words(s).join(" ");
    assert_eq!(words("A man's dog, running."), "a man 's dog , running .");
    assert_eq!(words("They don't stop-and-go"), "they do n't stop - and - go");
    assert_eq!(words("Zwei Männer (ältere) spielen"), "zwei männer ( ältere ) spielen");
    // Case and punctuation attached to words do not matter to it; they do to cased 13a.
    let (h, r) = (["The dog runs on the grass."], ["the dog runs on the grass ."]);
    assert!((corpus_bleu_words(&h, &r).score - 100.0).abs() < 1e-9);
    assert!(corpus_bleu(&h, &r, false).score < 100.0);
    assert!((corpus_bleu(&h, &r, true).score - 100.0).abs() < 1e-9);
}

#[test]
fn official_splits_come_from_three_files_given_together() {
    use seq2seq::data::Source;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, lines: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, lines).unwrap();
        path
    };
    let train = file("train.tsv", "A dog runs.\tEin Hund rennt.\nTwo men.\tZwei Männer.\n");
    let valid = file("valid.tsv", "A cat.\tEine Katze.\n");
    let test = file("test.tsv", "A bird.\tEin Vogel.\n");
    let config = TrainConfig {
        train: Some(train.clone()),
        valid: Some(valid),
        test: Some(test),
        ..TrainConfig::default()
    };
    let corpus = Source::of(&config).unwrap().corpus(config.direction).unwrap();
    assert_eq!((corpus.train.len(), corpus.valid.len(), corpus.test.len()), (2, 1, 1));
    assert_eq!(
        (corpus.test[0].source.as_str(), corpus.test[0].target.as_str()),
        ("Ein Vogel.", "A bird.")
    );

    let partial = TrainConfig { train: Some(train), ..TrainConfig::default() };
    assert!(format!("{}", partial.validate().unwrap_err()).contains("go together"));
    let unknown = TrainConfig { data: "europarl".into(), ..TrainConfig::default() };
    assert!(format!("{}", unknown.validate().unwrap_err()).contains("\"europarl\""));
    let multi30k = TrainConfig::defaults_for("multi30k");
    assert!(!multi30k.dictionary && !multi30k.lowercase);
    assert_eq!(Source::of(&multi30k).unwrap(), Source::Multi30k);
}
