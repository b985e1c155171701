//! Secrets in the configuration are references, never values: `{ env =
//! "NAME" }` names an environment variable, `{ file = "path" }` a file
//! (relative paths are read from the configuration file's folder). A
//! literal string where a secret belongs is refused, without echoing it.
//! This module resolves a reference into a `SecretString` and must never
//! print, log or keep a secret's text anywhere else.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretRef {
    /// An environment variable's value.
    Env(String),
    /// A file's contents, without the trailing line break.
    File(PathBuf),
}

/// Why a secret reference could not be resolved. Never contains the secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "environment variable {var} is not set (the configuration reads a secret from it); export it or change the reference"
    )]
    MissingEnv { var: String },
    #[error("environment variable {var} is empty; set it to the secret")]
    EmptyEnv { var: String },
    #[error("environment variable {var} is not valid UTF-8; set it to the secret as plain text")]
    NotUnicode { var: String },
    #[error(
        "cannot read secret file {}: {source}; create it (readable by allybridge only) or change the reference",
        path.display()
    )]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secret file {} is empty; write the secret into it", path.display())]
    EmptyFile { path: PathBuf },
}

impl SecretRef {
    /// Resolves the reference; relative file paths are read from the current folder.
    pub fn resolve(&self) -> Result<SecretString, SecretError> {
        self.resolve_in(Path::new("."))
    }

    /// Resolves the reference; relative file paths are read from `base`.
    pub fn resolve_in(&self, base: &Path) -> Result<SecretString, SecretError> {
        self.resolve_with(base, |name| std::env::var_os(name))
    }

    /// Resolves with an explicit environment lookup (for tests and embedding).
    pub fn resolve_with(
        &self,
        base: &Path,
        env: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<SecretString, SecretError> {
        match self {
            SecretRef::Env(var) => {
                let value = env(var).ok_or_else(|| SecretError::MissingEnv { var: var.clone() })?;
                let value = value
                    .into_string()
                    .map_err(|_| SecretError::NotUnicode { var: var.clone() })?;
                if value.is_empty() {
                    return Err(SecretError::EmptyEnv { var: var.clone() });
                }
                Ok(SecretString::from(value))
            }
            SecretRef::File(path) => {
                let full = base.join(path);
                let mut text =
                    std::fs::read_to_string(&full).map_err(|source| SecretError::ReadFile {
                        path: full.clone(),
                        source,
                    })?;
                let trimmed_len = text.trim_end_matches(['\r', '\n']).len();
                text.truncate(trimmed_len);
                if text.is_empty() {
                    return Err(SecretError::EmptyFile { path: full });
                }
                Ok(SecretString::from(text))
            }
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(var) => write!(f, "{{ env = \"{var}\" }}"),
            SecretRef::File(path) => write!(f, "{{ file = \"{}\" }}", path.display()),
        }
    }
}

/// The message for a literal secret; deliberately says nothing about its value.
pub(crate) const LITERAL_SECRET: &str = "a secret cannot be written in the configuration file; \
     write `{ env = \"VARIABLE\" }` or `{ file = \"path\" }` instead, \
     or store it encrypted with `allybridge connect`";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefTable {
    env: Option<String>,
    file: Option<PathBuf>,
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = SecretRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a secret reference: { env = \"VARIABLE\" } or { file = \"path\" }")
            }
            fn visit_str<E: serde::de::Error>(self, _literal: &str) -> Result<SecretRef, E> {
                Err(E::custom(LITERAL_SECRET))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<SecretRef, A::Error> {
                use serde::de::Error;
                let table =
                    RefTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                match (table.env, table.file) {
                    (Some(var), None) if !var.trim().is_empty() => Ok(SecretRef::Env(var)),
                    (None, Some(path)) if !path.as_os_str().is_empty() => Ok(SecretRef::File(path)),
                    (Some(_), Some(_)) => Err(A::Error::custom(
                        "a secret reference takes either `env` or `file`, not both",
                    )),
                    _ => Err(A::Error::custom(
                        "a secret reference needs a non-empty `env = \"VARIABLE\"` or `file = \"path\"`",
                    )),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn env_and_file_references_resolve() -> anyhow::Result<()> {
        let env = |name: &str| (name == "AB_TEST_SECRET").then(|| "s3cret".into());
        let got = SecretRef::Env("AB_TEST_SECRET".into()).resolve_with(Path::new("."), env)?;
        assert_eq!(got.expose_secret(), "s3cret");

        let missing = SecretRef::Env("AB_NOT_SET".into())
            .resolve_with(Path::new("."), env)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            missing.contains("AB_NOT_SET") && missing.contains("not set"),
            "{missing}"
        );

        let dir = std::env::temp_dir().join(format!("allybridge-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("token"), "from-file\n")?;
        let got = SecretRef::File("token".into()).resolve_in(&dir)?;
        assert_eq!(got.expose_secret(), "from-file");
        let missing = SecretRef::File("nope".into())
            .resolve_in(&dir)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(missing.contains("nope"), "{missing}");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
