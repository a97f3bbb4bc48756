//! Configurations: serde structs with the paper's defaults, overridden by a TOML file
//! (`--config FILE.toml`), overridden in turn by the flags given on the command line.

use dl_core::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

/// Resolves a configuration: `T::default()`, then the keys of `file` (unknown keys are an
/// error if `T` denies them), then `overrides`: a struct whose `None` fields are skipped when
/// serialised (`#[serde(skip_serializing_if = "Option::is_none")]`), typically the CLI flags.
/// Nested tables merge key by key.
pub fn resolve<T, O>(file: Option<&Path>, overrides: &O) -> Result<T>
where
    T: Serialize + DeserializeOwned + Default,
    O: Serialize,
{
    resolve_from(&T::default(), file, overrides)
}

/// [`resolve`] from explicit `defaults` (for apps whose defaults depend on a setting, such as
/// the environment an agent trains on).
pub fn resolve_from<T, O>(defaults: &T, file: Option<&Path>, overrides: &O) -> Result<T>
where
    T: Serialize + DeserializeOwned,
    O: Serialize,
{
    let mut table = to_table(defaults, "defaults")?;
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let from_file: toml::Table = toml::from_str(&text)
            .map_err(|e| Error::bad_file(path, format!("invalid TOML: {e}")))?;
        merge(&mut table, from_file);
    }
    merge(&mut table, to_table(overrides, "command-line flags")?);
    let merged = toml::Value::Table(table);
    merged.try_into().map_err(|e: toml::de::Error| {
        let origin =
            file.map(|p| format!(" (from {} and the flags)", p.display())).unwrap_or_default();
        Error::Config(format!("{}{origin}", e.message()))
    })
}

/// [`resolve_from`] for apps whose defaults depend on one setting (the environment an agent
/// trains on, the dataset, the corpus): the configuration is resolved once from `base` to find
/// that setting (flag, else file, else `base`'s), then again from `defaults_for` the result.
pub fn resolve_chosen<T, O>(
    base: &T,
    file: Option<&Path>,
    overrides: &O,
    defaults_for: impl FnOnce(&T) -> Result<T>,
) -> Result<T>
where
    T: Serialize + DeserializeOwned,
    O: Serialize,
{
    let chosen: T = resolve_from(base, file, overrides)?;
    resolve_from(&defaults_for(&chosen)?, file, overrides)
}

fn to_table(value: &impl Serialize, what: &str) -> Result<toml::Table> {
    match toml::Value::try_from(value) {
        Ok(toml::Value::Table(t)) => Ok(t),
        Ok(_) => Err(Error::Config(format!("{what} are not a table of settings"))),
        Err(e) => Err(Error::Config(format!("{what} cannot be represented in TOML: {e}"))),
    }
}

/// Deep-merges `top` into `base`: tables key by key, anything else replaced. A table whose
/// `name` differs (the tag of an enum variant, e.g. `[optimizer] name = "sgd"` over the
/// default Adam) replaces the old one whole: the old variant's fields do not belong to it.
fn merge(base: &mut toml::Table, top: toml::Table) {
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t))
                if t.get("name").is_none_or(|name| b.get("name") == Some(name)) =>
            {
                merge(b, t)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}
