//! Logs as Terraform wants them from a plugin: hclog JSON lines on stderr (`@level`,
//! `@message`, `@module`, `@timestamp` with six fractional digits, then the event's fields),
//! filtered by `TF_LOG_PROVIDER` or else `TF_LOG`. With neither set nothing is written, as
//! Terraform would discard it anyway. Libraries below the provider log warnings and errors only.

use std::fmt::Write as _;
use std::io::Write as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// The most verbose level to write, from `TF_LOG_PROVIDER` / `TF_LOG`; `None` means off.
pub fn level_from_env(env: impl Fn(&str) -> Option<String>) -> Option<Level> {
    let setting = env("TF_LOG_PROVIDER")
        .filter(|v| !v.is_empty())
        .or_else(|| env("TF_LOG").filter(|v| !v.is_empty()))?;
    match setting.to_ascii_uppercase().as_str() {
        "TRACE" | "JSON" => Some(Level::TRACE),
        "DEBUG" => Some(Level::DEBUG),
        "INFO" => Some(Level::INFO),
        "WARN" => Some(Level::WARN),
        "ERROR" => Some(Level::ERROR),
        "OFF" => None,
        // Terraform treats any other value as TRACE.
        _ => Some(Level::TRACE),
    }
}

/// Installs the hclog layer as the global subscriber, at the level the environment asks for.
/// `module` is the `@module` of every line (Terraform files them under it, e.g.
/// `provider.terraform-provider-example`); `own_targets` are the log target prefixes (crate
/// names) that log at that level; everything else logs its warnings and errors only.
pub fn init_from_env(module: &'static str, own_targets: &'static [&'static str]) {
    let Some(level) = level_from_env(|k| std::env::var(k).ok()) else {
        return;
    };
    let subscriber = tracing_subscriber::registry().with(HclogLayer {
        module,
        own_targets,
        max_level: level,
    });
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Formats events as hclog JSON lines on stderr.
pub struct HclogLayer {
    module: &'static str,
    own_targets: &'static [&'static str],
    max_level: Level,
}

impl<S: Subscriber> Layer<S> for HclogLayer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        // The provider's own crates (and this runtime) log at the level asked for; libraries
        // (HTTP/2 frames, TLS) only their warnings and errors, which keeps wire-level chatter
        // out of the logs.
        let target = metadata.target();
        let own = target.starts_with(env!("CARGO_CRATE_NAME"))
            || self.own_targets.iter().any(|c| target.starts_with(c));
        let limit = if own {
            self.max_level
        } else {
            self.max_level.min(Level::WARN)
        };
        *metadata.level() <= limit
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let line = format_event(self.module, event);
        // One write per line so lines from different threads never interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

fn format_event(module: &str, event: &Event<'_>) -> String {
    let mut fields = FieldCollector::default();
    event.record(&mut fields);
    let level = match *event.metadata().level() {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    };
    let mut object = serde_json::Map::new();
    object.insert("@level".into(), level.into());
    object.insert("@message".into(), fields.message.unwrap_or_default().into());
    object.insert("@module".into(), module.into());
    object.insert(
        "@timestamp".into(),
        chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string()
            .into(),
    );
    for (key, value) in fields.fields {
        object.insert(key, value);
    }
    let mut line = serde_json::Value::Object(object).to_string();
    line.push('\n');
    line
}

#[derive(Default)]
struct FieldCollector {
    message: Option<String>,
    fields: Vec<(String, serde_json::Value)>,
}

impl Visit for FieldCollector {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.fields.push((field.name().to_owned(), value.into()));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.push((field.name().to_owned(), value.into()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.push((field.name().to_owned(), value.into()));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.push((field.name().to_owned(), value.into()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.fields.push((field.name().to_owned(), text.into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_setting_wins_over_tf_log() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(level_from_env(env(&[])), None);
        assert_eq!(
            level_from_env(env(&[("TF_LOG", "debug")])),
            Some(Level::DEBUG)
        );
        assert_eq!(
            level_from_env(env(&[("TF_LOG", "TRACE"), ("TF_LOG_PROVIDER", "WARN")])),
            Some(Level::WARN)
        );
        assert_eq!(level_from_env(env(&[("TF_LOG", "off")])), None);
    }

    #[test]
    fn lines_are_hclog_json_with_a_microsecond_timestamp() {
        use std::sync::{Arc, Mutex};
        struct Capture(Arc<Mutex<Vec<String>>>);
        impl<S: Subscriber> Layer<S> for Capture {
            fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
                self.0
                    .lock()
                    .unwrap()
                    .push(format_event("provider.test", event));
            }
        }
        let lines = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Capture(lines.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(host = "n1", attempt = 2, "connected")
        });
        let line = lines.lock().unwrap()[0].clone();
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(json["@level"], "info");
        assert_eq!(json["@message"], "connected");
        assert_eq!(json["@module"], "provider.test");
        assert_eq!(json["host"], "n1");
        assert_eq!(json["attempt"], 2);
        let ts = json["@timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), "2026-01-01T00:00:00.000000Z".len(), "{ts}");
        assert!(line.ends_with('\n'));
    }
}
