//! A BERT encoder, inference only, on candle tensors: `config.json` and `model.safetensors` in
//! Hugging Face layout in, the last hidden state out.
//!
//! Ours rather than `candle_transformers::models::bert`: Q, K and V are one fused `[H, 3H]`
//! GEMM with the `1/√d` scale folded into Q at load; weights are stored transposed (`[in, out]`)
//! so every dense layer is a plain row-major GEMM; bias, GELU, residual + LayerNorm and the
//! masked softmax are our kernels ([`super::kernels`]), which run on the caller's rayon pool;
//! there is no dropout or training path; and it spares compiling candle-transformers' hundred
//! other models. Checked against an independent NumPy implementation on the real
//! all-MiniLM-L6-v2 weights: cosine 1.0000000 on 20 sentences (`scripts/fetch-test-model.sh`
//! documents the check; `semantic_model_matches_reference` runs it when the model is present).
//!
//! Weights are read with the `safetensors` crate from the file's bytes (F32, F16 or BF16, converted
//! to f32), not memory-mapped: mapping is `unsafe` (the file could change underneath), and the
//! bytes are dropped once converted. Tensor names follow `BertModel` (`embeddings.*`,
//! `encoder.layer.N.*`), optionally under a prefix such as `bert.`; TensorFlow-era
//! `LayerNorm.gamma`/`beta` names are accepted.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde::Deserialize;

use super::kernels;
use crate::error::{Error, Result};

/// What BERT inference needs from a Hugging Face `config.json`.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct BertConfig {
    pub(crate) vocab_size: usize,
    pub(crate) hidden_size: usize,
    pub(crate) num_hidden_layers: usize,
    pub(crate) num_attention_heads: usize,
    pub(crate) intermediate_size: usize,
    #[serde(default = "default_act")]
    pub(crate) hidden_act: String,
    pub(crate) max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub(crate) type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub(crate) layer_norm_eps: f64,
    #[serde(default)]
    pub(crate) model_type: Option<String>,
    #[serde(default)]
    pub(crate) position_embedding_type: Option<String>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

fn model_error(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Model {
        message: format!(
            "cannot load the embedding model {}: {message}",
            path.display()
        ),
    }
}

impl BertConfig {
    pub(crate) fn from_file(path: &Path) -> Result<BertConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| model_error(path, e))?;
        let config: BertConfig = serde_json::from_str(&text).map_err(|e| model_error(path, e))?;
        config.validate().map_err(|e| model_error(path, e))?;
        Ok(config)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if let Some(kind) = &self.model_type
            && kind != "bert"
        {
            // XLM-RoBERTa offsets its positions by the padding index; this pass does not.
            return Err(format!(
                "model_type `{kind}` is not supported; only BERT-architecture models are (all-MiniLM-L6-v2, bge-small-en-v1.5, multilingual-e5-small)"
            ));
        }
        if let Some(kind) = &self.position_embedding_type
            && kind != "absolute"
        {
            return Err(format!("position_embedding_type `{kind}` is not supported"));
        }
        if self.hidden_act != "gelu" {
            return Err(format!(
                "hidden_act `{}` is not supported (only `gelu`)",
                self.hidden_act
            ));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        Ok(())
    }
}

/// A dense layer: `[in, out]` weight (contiguous) and bias.
struct Dense {
    weight: Tensor,
    bias: Vec<f32>,
}

impl Dense {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = x.matmul(&self.weight)?;
        kernels::add_bias(&y, &self.bias)?;
        Ok(y)
    }
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    qkv: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    ffn_in: Dense,
    ffn_out: Dense,
    output_norm: Norm,
}

/// The encoder.
pub(crate) struct Bert {
    pub(crate) config: BertConfig,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
}

/// Tensors by name from a safetensors file's bytes, as f32.
struct Weights<'a> {
    tensors: safetensors::SafeTensors<'a>,
    prefix: String,
    path: &'a Path,
}

impl<'a> Weights<'a> {
    fn new(bytes: &'a [u8], path: &'a Path) -> Result<Weights<'a>> {
        let tensors =
            safetensors::SafeTensors::deserialize(bytes).map_err(|e| model_error(path, e))?;
        let key = "embeddings.word_embeddings.weight";
        let prefix = tensors
            .names()
            .into_iter()
            .filter(|name| name.ends_with(key))
            .min_by_key(|name| name.len())
            .map(|name| name[..name.len() - key.len()].to_string())
            .ok_or_else(|| {
                model_error(
                    path,
                    format!("it has no `{key}` tensor: not a BERT checkpoint"),
                )
            })?;
        Ok(Weights {
            tensors,
            prefix,
            path,
        })
    }

    /// The tensor `name` (under the prefix), checked against `shape`, as f32 values.
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let full = format!("{}{name}", self.prefix);
        let view = self
            .tensors
            .tensor(&full)
            .or_else(|_| {
                let old = full
                    .replace("LayerNorm.weight", "LayerNorm.gamma")
                    .replace("LayerNorm.bias", "LayerNorm.beta");
                self.tensors.tensor(&old)
            })
            .map_err(|_| model_error(self.path, format!("tensor `{full}` is missing")))?;
        if view.shape() != shape {
            return Err(model_error(
                self.path,
                format!(
                    "tensor `{full}` has shape {:?}, expected {shape:?}",
                    view.shape()
                ),
            ));
        }
        let data = view.data();
        use safetensors::Dtype;
        let values = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(model_error(
                    self.path,
                    format!("tensor `{full}` is {other:?}; only F32, F16 and BF16 are supported"),
                ));
            }
        };
        Ok(values)
    }

    /// A dense layer: `[out, in]` weight stored as `[in, out]`, scaled by `scale`.
    fn dense_parts(&self, name: &str, d_in: usize, d_out: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let weight = self.get(&format!("{name}.weight"), &[d_out, d_in])?;
        let bias = self.get(&format!("{name}.bias"), &[d_out])?;
        let mut transposed = vec![0.0; weight.len()];
        for o in 0..d_out {
            for i in 0..d_in {
                transposed[i * d_out + o] = weight[o * d_in + i];
            }
        }
        Ok((transposed, bias))
    }

    fn dense(&self, name: &str, d_in: usize, d_out: usize) -> Result<Dense> {
        let (weight, bias) = self.dense_parts(name, d_in, d_out)?;
        Ok(Dense {
            weight: tensor(weight, (d_in, d_out), self.path)?,
            bias,
        })
    }

    fn norm(&self, name: &str, dim: usize) -> Result<Norm> {
        Ok(Norm {
            gamma: self.get(&format!("{name}.weight"), &[dim])?,
            beta: self.get(&format!("{name}.bias"), &[dim])?,
        })
    }
}

fn tensor(values: Vec<f32>, shape: (usize, usize), path: &Path) -> Result<Tensor> {
    Tensor::from_vec(values, shape, &Device::Cpu).map_err(|e| model_error(path, e))
}

impl Bert {
    /// Loads `model.safetensors` (the file's bytes, already read) for `config`.
    pub(crate) fn load(config: BertConfig, bytes: &[u8], path: &Path) -> Result<Bert> {
        let w = Weights::new(bytes, path)?;
        let h = config.hidden_size;
        let inter = config.intermediate_size;
        let scale = 1.0 / ((h / config.num_attention_heads) as f32).sqrt();
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            // Q, K and V side by side: one [h, 3h] weight; the softmax scale folded into Q.
            let parts = [
                w.dense_parts(&format!("{p}.attention.self.query"), h, h)?,
                w.dense_parts(&format!("{p}.attention.self.key"), h, h)?,
                w.dense_parts(&format!("{p}.attention.self.value"), h, h)?,
            ];
            let mut weight = vec![0.0; h * 3 * h];
            let mut bias = Vec::with_capacity(3 * h);
            for (k, (part_w, part_b)) in parts.iter().enumerate() {
                let factor = if k == 0 { scale } else { 1.0 };
                for row in 0..h {
                    for col in 0..h {
                        weight[row * 3 * h + k * h + col] = part_w[row * h + col] * factor;
                    }
                }
                bias.extend(part_b.iter().map(|b| b * factor));
            }
            layers.push(Layer {
                qkv: Dense {
                    weight: tensor(weight, (h, 3 * h), path)?,
                    bias,
                },
                attention_out: w.dense(&format!("{p}.attention.output.dense"), h, h)?,
                attention_norm: w.norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                ffn_in: w.dense(&format!("{p}.intermediate.dense"), h, inter)?,
                ffn_out: w.dense(&format!("{p}.output.dense"), inter, h)?,
                output_norm: w.norm(&format!("{p}.output.LayerNorm"), h)?,
            });
        }
        Ok(Bert {
            word: w.get("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
            position: w.get(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            token_type: w.get(
                "embeddings.token_type_embeddings.weight",
                &[config.type_vocab_size, h],
            )?,
            embedding_norm: w.norm("embeddings.LayerNorm", h)?,
            layers,
            config,
        })
    }

    /// The last hidden state, `[batch × seq × hidden]` row-major, for token ids and type ids
    /// `[batch × seq]` and a mask that is 1 for real tokens and 0 for padding. Runs on the
    /// current rayon pool.
    pub(crate) fn forward(
        &self,
        ids: &[u32],
        type_ids: &[u32],
        mask: &[u32],
        batch: usize,
        seq: usize,
    ) -> candle_core::Result<Vec<f32>> {
        let c = &self.config;
        let n = batch * seq;
        if ids.len() != n || type_ids.len() != n || mask.len() != n {
            candle_core::bail!("forward: inputs do not match batch × seq");
        }
        if seq > c.max_position_embeddings {
            candle_core::bail!(
                "forward: {seq} tokens exceed the model's {} positions",
                c.max_position_embeddings
            );
        }
        let h = c.hidden_size;
        let heads = c.num_attention_heads;
        let head_dim = h / heads;
        let eps = c.layer_norm_eps as f32;

        // Embeddings: word + position + token type, then LayerNorm; plain rows, then a tensor.
        let mut x = vec![0.0f32; n * h];
        for (i, row) in x.chunks_exact_mut(h).enumerate() {
            let word = (ids[i] as usize).min(c.vocab_size - 1);
            let kind = (type_ids[i] as usize).min(c.type_vocab_size - 1);
            let position = i % seq;
            let w = &self.word[word * h..(word + 1) * h];
            let p = &self.position[position * h..(position + 1) * h];
            let t = &self.token_type[kind * h..(kind + 1) * h];
            for j in 0..h {
                row[j] = w[j] + p[j] + t[j];
            }
        }
        kernels::layer_norm_rows(
            &mut x,
            &self.embedding_norm.gamma,
            &self.embedding_norm.beta,
            eps,
        );
        let mut x = Tensor::from_vec(x, (n, h), &Device::Cpu)?;
        let key_mask: Vec<f32> = mask
            .iter()
            .map(|&m| if m == 0 { -1e30 } else { 0.0 })
            .collect();

        for layer in &self.layers {
            let qkv = layer
                .qkv
                .forward(&x)?
                .reshape((batch, seq, 3, heads, head_dim))?;
            let part = |k: usize| -> candle_core::Result<Tensor> {
                qkv.narrow(2, k, 1)?
                    .squeeze(2)?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let (q, k, v) = (part(0)?, part(1)?, part(2)?);
            let scores = q.matmul(&k.t()?)?;
            kernels::masked_softmax(&scores, &key_mask, heads, seq)?;
            let context = scores
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((n, h))?;
            let attended = layer.attention_out.forward(&context)?;
            kernels::add_layer_norm(
                &attended,
                &x,
                &layer.attention_norm.gamma,
                &layer.attention_norm.beta,
                eps,
            )?;
            let inner = layer.ffn_in.forward(&attended)?;
            kernels::gelu(&inner)?;
            let out = layer.ffn_out.forward(&inner)?;
            kernels::add_layer_norm(
                &out,
                &attended,
                &layer.output_norm.gamma,
                &layer.output_norm.beta,
                eps,
            )?;
            x = out;
        }
        x.flatten_all()?.to_vec1::<f32>()
    }
}

/// Writes f32 tensors as a safetensors file (the tiny test model).
pub(crate) fn save_f32(
    tensors: &HashMap<String, (Vec<f32>, Vec<usize>)>,
    path: &Path,
) -> Result<()> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(name, (values, shape))| {
            (
                name.clone(),
                values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                shape.clone(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, data, shape)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                .map(|view| (name.clone(), view))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| model_error(path, e))?;
    safetensors::tensor::serialize_to_file(views, None, path).map_err(|e| model_error(path, e))
}
