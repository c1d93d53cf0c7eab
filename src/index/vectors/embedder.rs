//! The embedder: tokenizer, BERT, pooling and normalisation, batched by length, on a thread pool
//! the caller chooses.
//!
//! Two pools use it: the background embedding pool (bounded by `embedding_threads`, at a lower
//! scheduling priority so searches and indexing come first) and a small query pool. Every thread
//! the model uses belongs to one of them: candle's matmul and our kernels run on the current
//! rayon pool, and nothing starts candle's own element-wise pool (see [`super::kernels`]).

use std::path::Path;

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::bert::{Bert, BertConfig};
use super::models::{ModelDir, Pooling};
use crate::error::{Error, Result};

/// Limits of one forward pass. Padded tokens per batch bound the activations
/// (`batch × seq × intermediate × 4 B`); every activation stays under glibc's 32 MiB mmap
/// threshold at 2,048, above which each op mapped and unmapped fresh pages (measured: 8,192 →
/// 2,048 tokens a batch was 1.5× faster).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchOptions {
    pub(crate) max_batch: usize,
    pub(crate) max_batch_tokens: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            max_batch: 64,
            max_batch_tokens: 2048,
        }
    }
}

/// A bounded rayon pool for model work.
pub(crate) struct EmbedPool {
    pool: rayon::ThreadPool,
    threads: usize,
}

impl EmbedPool {
    /// `threads` threads named `name-N`; `background` ones run at a lower priority (nice 10 on
    /// Linux) so that searches and indexing are served first.
    pub(crate) fn new(threads: usize, name: &'static str, background: bool) -> Result<EmbedPool> {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(move |i| format!("{name}-{i}"))
            .start_handler(move |_| {
                if background {
                    lower_priority();
                }
            })
            .build()
            .map_err(|e| Error::Model {
                message: format!("cannot start the {name} threads: {e}"),
            })?;
        Ok(EmbedPool { pool, threads })
    }

    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    pub(crate) fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }
}

/// Nice 10 for the calling thread (Linux: `setpriority` on the thread id); elsewhere nothing.
pub(crate) fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        if let Err(err) = rustix::process::setpriority_process(Some(tid), 10) {
            tracing::debug!("cannot lower the embedding thread's priority: {err}");
        }
    }
}

/// One tokenised input.
#[derive(Clone, Debug)]
pub(crate) struct Encoded {
    pub(crate) ids: Vec<u32>,
    pub(crate) type_ids: Vec<u32>,
}

/// A loaded model.
pub(crate) struct Embedder {
    pub(crate) model: ModelDir,
    pooling: Pooling,
    /// The longest input, special tokens included.
    max_len: usize,
    /// Truncates to `max_len` and adds the special tokens.
    tokenizer: Tokenizer,
    /// Neither truncates nor adds special tokens: for counting and offsets.
    raw: Tokenizer,
    /// Tokens the model adds to every input (`[CLS]`, `[SEP]`).
    specials: usize,
    passage_prefix_tokens: usize,
    bert: Bert,
    /// Identifies the model and how it is used (files, pooling, prefixes, window): stored vectors
    /// made by another identity are rebuilt.
    id: u64,
    multilingual: bool,
    pub(crate) batch: BatchOptions,
}

fn load_error(dir: &Path, message: impl std::fmt::Display) -> Error {
    Error::Model {
        message: format!(
            "cannot load the embedding model {}: {message}",
            dir.display()
        ),
    }
}

impl Embedder {
    /// Loads a model folder. Takes about a second for a small model: call it off the async
    /// runtime.
    pub(crate) fn load(model: &ModelDir) -> Result<Embedder> {
        let dir = &model.path;
        let config_bytes =
            std::fs::read(dir.join("config.json")).map_err(|e| load_error(dir, e))?;
        let config = BertConfig::from_file(&dir.join("config.json"))?;
        let tokenizer_bytes =
            std::fs::read(dir.join("tokenizer.json")).map_err(|e| load_error(dir, e))?;
        let mut raw = Tokenizer::from_bytes(&tokenizer_bytes)
            .map_err(|e| load_error(dir, format!("tokenizer.json: {e}")))?;
        raw.with_padding(None);
        raw.with_truncation(None)
            .map_err(|e| load_error(dir, format!("tokenizer.json: {e}")))?;
        if raw.get_vocab_size(true) > config.vocab_size {
            return Err(load_error(
                dir,
                format!(
                    "the tokenizer has {} tokens but the model only {}",
                    raw.get_vocab_size(true),
                    config.vocab_size
                ),
            ));
        }
        let max_len = model
            .max_tokens
            .unwrap_or(512)
            .min(config.max_position_embeddings);
        let mut tokenizer = raw.clone();
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| load_error(dir, format!("tokenizer.json: {e}")))?;
        let specials = raw
            .get_post_processor()
            .map(|p| tokenizers::PostProcessor::added_tokens(p, false))
            .unwrap_or(0);
        let passage_prefix_tokens = if model.passage_prefix.is_empty() {
            0
        } else {
            raw.encode(model.passage_prefix.as_str(), false)
                .map(|e| e.len())
                .unwrap_or(0)
        };
        let pooling = model.pooling.unwrap_or(Pooling::Mean);
        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path).map_err(|e| load_error(dir, e))?;
        let pooling_bytes =
            std::fs::read(dir.join("1_Pooling").join("config.json")).unwrap_or_default();
        let id = {
            use xxhash_rust::xxh3::Xxh3;
            let mut hasher = Xxh3::new();
            for part in [
                &config_bytes[..],
                &tokenizer_bytes,
                &weights,
                &pooling_bytes,
                model.query_prefix.as_bytes(),
                model.passage_prefix.as_bytes(),
            ] {
                hasher.update(&(part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
            hasher.update(&(max_len as u64).to_le_bytes());
            hasher.update(&[pooling as u8]);
            hasher.digest()
        };
        // An unknown model with a BERT-sized vocabulary (about 30k WordPiece tokens) is taken for
        // an English one; multilingual vocabularies are several times larger.
        let multilingual = model.multilingual.unwrap_or(config.vocab_size > 60_000);
        let bert = Bert::load(config, &weights, &weights_path)?;
        Ok(Embedder {
            model: model.clone(),
            pooling,
            max_len,
            tokenizer,
            raw,
            specials,
            passage_prefix_tokens,
            bert,
            id,
            multilingual,
            batch: BatchOptions::default(),
        })
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn dim(&self) -> usize {
        self.bert.config.hidden_size
    }

    pub(crate) fn multilingual(&self) -> bool {
        self.multilingual
    }

    /// The longest input in tokens, special tokens included.
    pub(crate) fn max_len(&self) -> usize {
        self.max_len
    }

    /// Room for text in one input: the window less the special tokens and the passage prefix.
    pub(crate) fn passage_budget(&self) -> usize {
        self.max_len
            .saturating_sub(self.specials + self.passage_prefix_tokens)
    }

    /// Byte offsets where each token of `text` starts (no special tokens, no truncation).
    pub(crate) fn token_starts(&self, text: &str) -> Result<Vec<usize>> {
        let encoding = self.raw.encode(text, false).map_err(|e| Error::Model {
            message: format!("the tokenizer failed: {e}"),
        })?;
        let mut starts: Vec<usize> = encoding.get_offsets().iter().map(|o| o.0).collect();
        starts.sort_unstable();
        Ok(starts)
    }

    /// Tokens of `text` without special tokens.
    pub(crate) fn count_tokens(&self, text: &str) -> usize {
        self.raw
            .encode(text, false)
            .map(|e| e.len())
            .unwrap_or(text.len() / 4)
    }

    /// Tokenises with the special tokens, cut to the window.
    pub(crate) fn encode(&self, text: &str) -> Result<Encoded> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| Error::Model {
                message: format!("the tokenizer failed: {e}"),
            })?;
        Ok(Encoded {
            ids: encoding.get_ids().to_vec(),
            type_ids: encoding.get_type_ids().to_vec(),
        })
    }

    /// The vector of a query (with the model's query prefix), on `pool`.
    pub(crate) fn embed_query(&self, query: &str, pool: &EmbedPool) -> Result<Vec<f32>> {
        let text = format!("{}{query}", self.model.query_prefix);
        let encoded = self.encode(&text)?;
        let mut vectors = pool.install(|| self.embed_encoded(&[encoded]))?;
        Ok(vectors.pop().unwrap_or_default())
    }

    /// Passages as the model reads them: with the passage prefix.
    pub(crate) fn passage_input(&self, text: &str) -> String {
        format!("{}{text}", self.model.passage_prefix)
    }

    /// Vectors of passages already prefixed ([`Embedder::passage_input`]); call on a pool.
    #[cfg(test)]
    pub(crate) fn embed_inputs(&self, inputs: &[&str]) -> Result<(Vec<Vec<f32>>, usize)> {
        let encoded = inputs
            .iter()
            .map(|text| self.encode(text))
            .collect::<Result<Vec<_>>>()?;
        let tokens = encoded.iter().map(|e| e.ids.len()).sum();
        Ok((self.embed_encoded(&encoded)?, tokens))
    }

    /// Runs the model on tokenised inputs: sorted by length, cut into batches under
    /// [`BatchOptions`], padded per batch; vectors come back in input order. Runs on the current
    /// rayon pool.
    pub(crate) fn embed_encoded(&self, inputs: &[Encoded]) -> Result<Vec<Vec<f32>>> {
        let dim = self.dim();
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); inputs.len()];
        for batch in plan_batches(inputs.iter().map(|e| e.ids.len()), self.batch) {
            let seq = batch
                .iter()
                .map(|&i| inputs[i].ids.len())
                .max()
                .unwrap_or(0)
                .max(1);
            let b = batch.len();
            let mut ids = vec![0u32; b * seq];
            let mut type_ids = vec![0u32; b * seq];
            let mut mask = vec![0u32; b * seq];
            for (row, &i) in batch.iter().enumerate() {
                let input = &inputs[i];
                let at = row * seq;
                ids[at..at + input.ids.len()].copy_from_slice(&input.ids);
                type_ids[at..at + input.ids.len()].copy_from_slice(&input.type_ids);
                mask[at..at + input.ids.len()].fill(1);
            }
            let hidden = self
                .bert
                .forward(&ids, &type_ids, &mask, b, seq)
                .map_err(|e| Error::Model {
                    message: format!("the embedding model failed: {e}"),
                })?;
            for (row, &i) in batch.iter().enumerate() {
                let states = &hidden[row * seq * dim..(row + 1) * seq * dim];
                let mut vector = match self.pooling {
                    Pooling::Cls => states[..dim].to_vec(),
                    Pooling::Mean => {
                        let mut sum = vec![0.0f32; dim];
                        let mut count = 0usize;
                        for (token, state) in states.chunks_exact(dim).enumerate() {
                            if mask[row * seq + token] == 1 {
                                count += 1;
                                for (s, v) in sum.iter_mut().zip(state) {
                                    *s += v;
                                }
                            }
                        }
                        let inv = 1.0 / count.max(1) as f32;
                        sum.iter_mut().for_each(|s| *s *= inv);
                        sum
                    }
                };
                normalize(&mut vector);
                out[i] = vector;
            }
        }
        Ok(out)
    }
}

/// Scales `v` to unit length (cosine = dot product).
pub(crate) fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Input indices grouped into batches of similar length, each under the limits: padded tokens
/// (`len × longest`) at most `max_batch_tokens` unless the batch is one input.
pub(crate) fn plan_batches(
    lens: impl Iterator<Item = usize>,
    options: BatchOptions,
) -> Vec<Vec<usize>> {
    let mut order: Vec<(usize, usize)> = lens.enumerate().map(|(i, len)| (len, i)).collect();
    order.sort_unstable();
    let mut batches = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for (len, i) in order {
        // Sorted ascending, so `len` is the batch's new longest input.
        if !current.is_empty()
            && ((current.len() + 1) * len > options.max_batch_tokens
                || current.len() >= options.max_batch)
        {
            batches.push(std::mem::take(&mut current));
        }
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_sorted_and_bounded() {
        let lens = [5usize, 100, 7, 30, 31, 6, 99, 8];
        let options = BatchOptions {
            max_batch: 3,
            max_batch_tokens: 200,
        };
        let batches = plan_batches(lens.iter().copied(), options);
        let flat: Vec<usize> = batches.iter().flatten().copied().collect();
        let mut sorted = flat.clone();
        sorted.sort();
        assert_eq!(sorted, (0..lens.len()).collect::<Vec<_>>());
        for batch in &batches {
            let longest = batch.iter().map(|&i| lens[i]).max().unwrap();
            assert!(batch.len() <= 3);
            assert!(batch.len() == 1 || batch.len() * longest <= 200);
        }
        assert!(flat.windows(2).all(|w| lens[w[0]] <= lens[w[1]]));
    }
}
