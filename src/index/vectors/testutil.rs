//! A tiny random BERT in Hugging Face layout, for tests that need a model's shape but not its
//! knowledge: `config.json`, `model.safetensors`, `tokenizer.json`, `vocab.txt` and
//! `1_Pooling/config.json`, written in milliseconds, no network, no real weights.
//!
//! Hidden 32, 2 layers, 4 heads, FFN 64, 64 positions, a WordPiece vocabulary of letters and a
//! few dozen words, the BERT normaliser, pre-tokenizer and `[CLS] … [SEP]`. Weights are
//! pseudo-random from a seed, so outputs are reproducible. Not part of the stable interface.

use std::collections::HashMap;
use std::path::Path;

use tokenizers::Tokenizer;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;

/// The shape of the model to write.
#[derive(Clone, Copy, Debug)]
pub struct TinyBert {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub max_positions: usize,
    /// CLS pooling instead of mean pooling in `1_Pooling/config.json`.
    pub cls_pooling: bool,
    pub seed: u64,
}

impl Default for TinyBert {
    fn default() -> Self {
        TinyBert {
            hidden: 32,
            layers: 2,
            heads: 4,
            intermediate: 64,
            max_positions: 64,
            cls_pooling: false,
            seed: 42,
        }
    }
}

/// The vocabulary: special tokens, letters, `##` continuations, some words and punctuation.
fn vocab() -> Vec<String> {
    let mut v: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(('a'..='z').map(|c| c.to_string()));
    v.extend(('a'..='z').map(|c| format!("##{c}")));
    for w in [
        "the", "a", "of", "and", "to", "in", "is", "it", "note", "notes", "vault", "search",
        "fetch", "index", "model", "cat", "dog", "sat", "on", "mat", "heading", "section", "text",
        "word", "this", "that", "with", "for", "one", "two", "garden", "coffee", "tomato",
    ] {
        v.push(w.to_string());
    }
    for p in [
        ".", ",", "!", "?", "#", ":", ";", "-", "(", ")", "0", "1", "2", "3", "›", "##ing", "##ed",
    ] {
        v.push(p.to_string());
    }
    let mut seen = std::collections::HashSet::new();
    v.retain(|t| seen.insert(t.clone()));
    v
}

/// xorshift64*, uniform in [-a, a].
struct Rng(u64);

impl Rng {
    fn next(&mut self, a: f32) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * a
    }

    fn values(&mut self, n: usize, a: f32) -> Vec<f32> {
        (0..n).map(|_| self.next(a)).collect()
    }
}

/// Writes the model folder into `dir` (created if needed).
pub fn write_tiny_bert(dir: &Path, t: TinyBert) -> std::io::Result<()> {
    let err = |e: String| std::io::Error::other(e);
    std::fs::create_dir_all(dir.join("1_Pooling"))?;
    let vocab = vocab();
    let h = t.hidden;
    let config = serde_json::json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": vocab.len(),
        "hidden_size": h,
        "num_hidden_layers": t.layers,
        "num_attention_heads": t.heads,
        "intermediate_size": t.intermediate,
        "hidden_act": "gelu",
        "max_position_embeddings": t.max_positions,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute"
    });
    std::fs::write(dir.join("config.json"), config.to_string())?;
    let pooling = serde_json::json!({
        "word_embedding_dimension": h,
        "pooling_mode_cls_token": t.cls_pooling,
        "pooling_mode_mean_tokens": !t.cls_pooling,
        "pooling_mode_max_tokens": false,
        "pooling_mode_mean_sqrt_len_tokens": false
    });
    std::fs::write(
        dir.join("1_Pooling").join("config.json"),
        pooling.to_string(),
    )?;

    let mut rng = Rng(t.seed.max(1));
    let mut w: HashMap<String, (Vec<f32>, Vec<usize>)> = HashMap::new();
    let mut put = |name: String, values: Vec<f32>, shape: &[usize]| {
        w.insert(name, (values, shape.to_vec()));
    };
    put(
        "embeddings.word_embeddings.weight".into(),
        rng.values(vocab.len() * h, 0.5),
        &[vocab.len(), h],
    );
    put(
        "embeddings.position_embeddings.weight".into(),
        rng.values(t.max_positions * h, 0.5),
        &[t.max_positions, h],
    );
    put(
        "embeddings.token_type_embeddings.weight".into(),
        rng.values(2 * h, 0.5),
        &[2, h],
    );
    put("embeddings.LayerNorm.weight".into(), vec![1.0; h], &[h]);
    put("embeddings.LayerNorm.bias".into(), vec![0.0; h], &[h]);
    let scale = 1.7 / (h as f32).sqrt();
    for layer in 0..t.layers {
        let p = format!("encoder.layer.{layer}");
        for (name, d_out, d_in) in [
            ("attention.self.query", h, h),
            ("attention.self.key", h, h),
            ("attention.self.value", h, h),
            ("attention.output.dense", h, h),
            ("intermediate.dense", t.intermediate, h),
            ("output.dense", h, t.intermediate),
        ] {
            put(
                format!("{p}.{name}.weight"),
                rng.values(d_out * d_in, scale),
                &[d_out, d_in],
            );
            put(format!("{p}.{name}.bias"), rng.values(d_out, 0.1), &[d_out]);
        }
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
            put(format!("{p}.{norm}.weight"), vec![1.0; h], &[h]);
            put(format!("{p}.{norm}.bias"), vec![0.0; h], &[h]);
        }
    }
    super::bert::save_f32(&w, &dir.join("model.safetensors")).map_err(|e| err(e.to_string()))?;

    let vocab_path = dir.join("vocab.txt");
    std::fs::write(&vocab_path, vocab.join("\n") + "\n")?;
    let wordpiece = WordPiece::from_file(&vocab_path.to_string_lossy())
        .unk_token("[UNK]".into())
        .continuing_subword_prefix("##".into())
        .max_input_chars_per_word(100)
        .build()
        .map_err(|e| err(e.to_string()))?;
    let mut tokenizer = Tokenizer::new(wordpiece);
    tokenizer
        .with_normalizer(Some(BertNormalizer::new(true, true, None, true)))
        .map_err(|e| err(e.to_string()))?;
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    tokenizer.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".into(), 3),
        ("[CLS]".into(), 2),
    )));
    tokenizer
        .save(dir.join("tokenizer.json"), true)
        .map_err(|e| err(e.to_string()))?;
    Ok(())
}
