//! Loading: the built-in defaults, the file over them, the environment snapshot over the file,
//! the command-line flags over everything, then validation.
//!
//! Owns [`ConfigSource`] (all it takes to load again exactly the same way), [`ConfigOverrides`]
//! and the reading of the file.
//!
//! Invariants:
//! - The file is read once per load: its fingerprint and its parse come from the same bytes,
//!   and its path is used as given (no search of parent directories).
//! - A path that is not a regular file (a directory, say) is an error, never the defaults.
//! - A missing file is [`ConfigError::Missing`] when it was named explicitly (`required`), and
//!   the built-in defaults when it is the default location, at start and on every reload.
//!
//! Must never: read the process environment other than through [`EnvSnapshot::capture`].

use std::hash::{Hash, Hasher};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};

use super::env::{EnvSnapshot, EnvVar};
use super::validate::into_result;
use super::{Config, ConfigError, ConfigProblem, LogFormat, SecretsBackend};

/// Command-line flags that override the file and the environment. Kept with the handle so a
/// reload of the file does not lose them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigOverrides {
    pub listen: Option<String>,
    pub insecure_listen: Option<bool>,
    pub secrets_backend: Option<SecretsBackend>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
}

impl ConfigOverrides {
    /// Applies the flags to `config` and validates the result.
    pub fn apply(&self, mut config: Config) -> Result<Config, ConfigError> {
        if let Some(v) = &self.listen {
            config.server.listen = v.clone();
        }
        if let Some(v) = self.insecure_listen {
            config.server.insecure_listen = v;
        }
        if let Some(v) = self.secrets_backend {
            config.secrets.backend = v;
        }
        if let Some(v) = self.log_format {
            config.log.format = v;
        }
        if let Some(v) = &self.log_level {
            config.log.level = v.clone();
        }
        if *self != Self::default() {
            config.validate(None).map_err(|e| match e {
                ConfigError::Invalid { problems } => ConfigError::Invalid {
                    problems: problems
                        .into_iter()
                        .map(|p| ConfigProblem {
                            source: "command-line flags".into(),
                            ..p
                        })
                        .collect(),
                },
                other => other,
            })?;
        }
        Ok(config)
    }
}

/// Where the config comes from: kept by the handle so every reload reads the same file with
/// the same environment and flags as the start did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigSource {
    /// The file; `None`: built-in defaults and the environment only.
    pub path: Option<PathBuf>,
    /// The file was named explicitly (`--config`, `FLIGHTDECK_CONFIG`): its absence is an
    /// error. Otherwise it is the default location, and its absence means the defaults.
    pub required: bool,
    /// The `FLIGHTDECK_*` environment at start.
    pub env: EnvSnapshot,
    /// The command-line flags.
    pub overrides: ConfigOverrides,
}

/// The config file's content as last read: equal fingerprints load to the same config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fingerprint {
    Absent,
    Content(u64),
}

/// One load: what the file looked like, and what came of it.
pub(crate) struct Loaded {
    /// `None` when the file could not be read (so the next attempt must not be skipped).
    pub fingerprint: Option<Fingerprint>,
    pub result: Result<Config, ConfigError>,
}

impl ConfigSource {
    /// `path` with the process environment captured now and no flags.
    pub fn new(path: Option<PathBuf>, required: bool) -> Self {
        Self {
            path,
            required,
            env: EnvSnapshot::capture(),
            overrides: ConfigOverrides::default(),
        }
    }

    pub fn with_overrides(mut self, overrides: ConfigOverrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// Loads and validates: defaults, file, environment, flags.
    pub fn load(&self) -> Result<Config, ConfigError> {
        self.load_fingerprinted().result
    }

    pub(crate) fn load_fingerprinted(&self) -> Loaded {
        let (fingerprint, text) = match &self.path {
            Some(path) => read_file(path),
            None => (Some(Fingerprint::Absent), Ok(None)),
        };
        let base = self
            .path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let result = text.and_then(|text| match (text, &self.path) {
            (None, Some(path)) if self.required => Err(ConfigError::Missing { path: path.clone() }),
            (Some(text), Some(path)) => self.layer(Some(FileText::new(path, text))),
            _ => self.layer_in(None, Files::From(base)),
        });
        // The prompt files are part of what was loaded: a change to one is a change.
        let fingerprint = match (&result, fingerprint) {
            (Ok(config), Some(Fingerprint::Content(h))) => {
                let mut hasher = std::hash::DefaultHasher::new();
                h.hash(&mut hasher);
                for (name, a) in &config.agents {
                    if a.prompt_file.is_some() {
                        (name, &a.prompt).hash(&mut hasher);
                    }
                }
                Some(Fingerprint::Content(hasher.finish()))
            }
            // A prompt file could not be read: the same config file with another outcome is
            // a change (the file came back), the same outcome is not (quiet while it stays).
            (Err(e @ ConfigError::Invalid { problems }), Some(Fingerprint::Content(h)))
                if problems.iter().any(|p| p.key.ends_with(".prompt_file")) =>
            {
                let mut hasher = std::hash::DefaultHasher::new();
                h.hash(&mut hasher);
                e.to_string().hash(&mut hasher);
                Some(Fingerprint::Content(hasher.finish()))
            }
            (_, f) => f,
        };
        Loaded {
            fingerprint,
            result,
        }
    }

    /// What `text` at this source's path would load to (file, environment, flags).
    pub(crate) fn load_text(&self, path: &Path, text: String) -> Result<Config, ConfigError> {
        self.layer(Some(FileText::new(path, text)))
    }

    fn layer(&self, file: Option<FileText>) -> Result<Config, ConfigError> {
        let base = file
            .as_ref()
            .and_then(|f| f.path.parent().map(Path::to_path_buf));
        self.layer_in(file, Files::From(base))
    }

    fn layer_in(&self, file: Option<FileText>, files: Files) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(file);
        }
        for (name, value) in self.env.overrides() {
            figment = figment.merge(EnvVar::new(name, value));
        }
        let mut problems = self.env.problems().to_vec();
        match figment.extract::<Config>() {
            Ok(mut config) => {
                problems.extend(match &files {
                    Files::From(base) => read_prompt_files(&mut config, base.as_deref()),
                    Files::NotRead => {
                        for a in config.agents.values_mut() {
                            if a.prompt_file.is_some() && a.prompt.is_empty() {
                                a.prompt = "{# prompt_file: not read here #}".into();
                            }
                        }
                        Vec::new()
                    }
                });
                problems.extend(config.validate_against(&figment));
                into_result(problems)?;
                self.overrides.apply(config)
            }
            Err(e) => {
                problems.extend(e.into_iter().map(problem_from_figment));
                Err(ConfigError::Invalid { problems })
            }
        }
    }
}

impl Config {
    /// Loads `path` (if given) merged over defaults, with environment overrides on top (the
    /// process environment, read now). `required`: a missing file is an error (it was named
    /// explicitly) rather than defaults.
    pub fn load(path: Option<&Path>, required: bool) -> Result<Self, ConfigError> {
        ConfigSource::new(path.map(Path::to_path_buf), required).load()
    }

    /// [`Config::load`] with an explicit environment (tests pass their own).
    pub fn load_with_env(
        path: Option<&Path>,
        required: bool,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        ConfigSource {
            path: path.map(Path::to_path_buf),
            required,
            env: EnvSnapshot::from_vars(env),
            overrides: ConfigOverrides::default(),
        }
        .load()
    }

    /// Parses a TOML text (no environment) as if it were a config file named `source`. It
    /// reads no other file: a `prompt_file` is not opened (a text posted to the API must not
    /// make the node read its disk), and stands for a template that is not checked.
    pub fn from_toml_str(text: &str, source: &str) -> Result<Self, ConfigError> {
        ConfigSource::default().layer_in(
            Some(FileText::new(Path::new(source), text.to_string())),
            Files::NotRead,
        )
    }
}

/// Whether a load reads the agents' prompt files, and relative to what.
enum Files {
    /// Relative to this directory (the config file's); `None`: no file, absolute paths only.
    From(Option<PathBuf>),
    /// Not at all (a text posted for validation).
    NotRead,
}

/// Most bytes a `prompt_file` may hold.
pub const MAX_PROMPT_FILE_BYTES: u64 = 1024 * 1024;

/// Where an agent's `prompt_file` is: relative to `base` (the config file's directory).
pub fn prompt_path(base: &Path, file: &str) -> PathBuf {
    base.join(file)
}

/// Every `prompt_file` of `config`, resolved against `base`.
pub(crate) fn prompt_files(config: &Config, base: &Path) -> Vec<PathBuf> {
    config
        .agents
        .values()
        .filter_map(|a| a.prompt_file.as_deref())
        .map(|f| prompt_path(base, f))
        .collect()
}

/// The `prompt_file`s the config file at `path` names now, resolved against `base`, even when
/// that file was rejected (so a prompt file created after the config names it is watched).
/// Best effort: nothing when the file cannot be read or parsed.
pub(crate) fn prompt_files_named(path: &Path, base: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    doc.get("agents")
        .and_then(toml::Value::as_table)
        .into_iter()
        .flat_map(|agents| agents.values())
        .filter_map(|a| a.get("prompt_file").and_then(toml::Value::as_str))
        .map(|f| prompt_path(base, f))
        .collect()
}

/// Reads each agent's `prompt_file` into its `prompt`; the problems name the agent's key and
/// the file. `base`: the config file's directory (`None`: no file, so no relative paths).
fn read_prompt_files(config: &mut Config, base: Option<&Path>) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    for (name, agent) in config.agents.iter_mut() {
        let Some(file) = agent.prompt_file.clone() else {
            continue;
        };
        let problem = |reason: String| ConfigProblem {
            source: "configuration".into(),
            key: format!("agents.{name}.prompt_file"),
            reason,
        };
        if !agent.prompt.is_empty() {
            problems.push(problem("give `prompt` or `prompt_file`, not both".into()));
            continue;
        }
        let Some(base) = base.or_else(|| Path::new(&file).is_absolute().then_some(Path::new("/")))
        else {
            problems.push(problem(
                "a relative prompt_file needs a config file to be relative to".into(),
            ));
            continue;
        };
        let path = prompt_path(base, &file);
        let read = std::fs::metadata(&path).and_then(|m| {
            if !m.is_file() {
                return Err(std::io::Error::other("it is not a regular file"));
            }
            // Read at most one byte past the limit, whatever the file says its size is.
            use std::io::Read;
            let mut bytes = Vec::new();
            std::fs::File::open(&path)?
                .take(MAX_PROMPT_FILE_BYTES + 1)
                .read_to_end(&mut bytes)?;
            if bytes.len() as u64 > MAX_PROMPT_FILE_BYTES {
                return Err(std::io::Error::other(format!(
                    "it is over the limit of {MAX_PROMPT_FILE_BYTES} bytes"
                )));
            }
            Ok(bytes)
        });
        match read.map(String::from_utf8) {
            Ok(Ok(text)) => agent.prompt = text,
            Ok(Err(_)) => problems.push(problem(format!(
                "{} is not valid UTF-8 text",
                path.display()
            ))),
            Err(e) => problems.push(problem(format!("cannot read {}: {e}", path.display()))),
        }
    }
    problems
}

/// Reads the file once. `Ok(None)`: there is no file at `path`.
fn read_file(path: &Path) -> (Option<Fingerprint>, Result<Option<String>, ConfigError>) {
    let unreadable = |reason: String| {
        Err(ConfigError::Invalid {
            problems: vec![ConfigProblem {
                source: path.display().to_string(),
                key: String::new(),
                reason,
            }],
        })
    };
    match std::fs::metadata(path) {
        // A parent that is a file (say, a stray file named like the config dir) means there is
        // no config file here, like a missing one.
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return (Some(Fingerprint::Absent), Ok(None));
        }
        Err(e) => return (None, unreadable(format!("cannot read: {e}"))),
        Ok(m) if !m.is_file() => {
            let what = if m.is_dir() {
                " (it is a directory)"
            } else {
                ""
            };
            return (None, unreadable(format!("is not a regular file{what}")));
        }
        Ok(_) => {}
    }
    // It may vanish between the check and the read: that is a missing file, not defaults.
    let bytes = match std::fs::read(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return (Some(Fingerprint::Absent), Ok(None)),
        Err(e) => return (None, unreadable(format!("cannot read: {e}"))),
        Ok(bytes) => bytes,
    };
    let mut hasher = std::hash::DefaultHasher::new();
    bytes.hash(&mut hasher);
    let fingerprint = Some(Fingerprint::Content(hasher.finish()));
    match String::from_utf8(bytes) {
        Ok(text) => (fingerprint, Ok(Some(text))),
        Err(_) => (fingerprint, unreadable("is not valid UTF-8 text".into())),
    }
}

/// The file's text as a figment provider whose errors and metadata name the file.
struct FileText {
    path: PathBuf,
    text: String,
}

impl FileText {
    fn new(path: &Path, text: String) -> Self {
        Self {
            path: path.to_path_buf(),
            text,
        }
    }
}

impl figment::Provider for FileText {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::from("TOML file", self.path.as_path())
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Toml::string(&self.text).data()
    }
}

/// The name of a layer in messages: the file path, `environment variable NAME`, ...
pub(super) fn source_name(metadata: &figment::Metadata) -> String {
    match &metadata.source {
        Some(src) => src.to_string(),
        None => metadata.name.to_string(),
    }
}

fn problem_from_figment(e: figment::Error) -> ConfigProblem {
    let source = e
        .metadata
        .as_ref()
        .map(source_name)
        .unwrap_or_else(|| "configuration".into());
    // Figment prefixes keys with the profile ("default."): strip it.
    let key = e
        .path
        .iter()
        .skip_while(|p| p.as_str() == "default" || p.as_str() == "global")
        .cloned()
        .collect::<Vec<_>>()
        .join(".");
    ConfigProblem {
        source,
        key,
        reason: e.kind.to_string(),
    }
}
