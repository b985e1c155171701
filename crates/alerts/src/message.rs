//! The message every sink renders: an alert (or its resolution) with title,
//! text and structured fields, already scrubbed of known secrets. Owns the
//! wording and the Slack-compatible JSON and e-mail renderings; no I/O.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::rules::{AlertKind, Severity};

/// Whether the incident is open or cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Firing,
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Firing => "firing",
            State::Resolved => "resolved",
        }
    }
}

/// One notification, ready for any sink.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub incident_key: String,
    pub rule: &'static str,
    pub state: State,
    pub severity: Severity,
    pub title: String,
    /// Plain-text body (several lines).
    pub text: String,
    pub fields: Vec<(String, String)>,
    pub at: DateTime<Utc>,
}

impl Message {
    /// The message announcing `kind`, with `scrub` applied to every text.
    pub fn firing(kind: &AlertKind, scrub: &dyn Fn(&str) -> String) -> Message {
        let fields: Vec<(String, String)> = kind
            .fields()
            .into_iter()
            .map(|(k, v)| (k.to_string(), scrub(&v)))
            .collect();
        let title = scrub(&kind.title());
        let mut text = format!("{title}\n");
        for (k, v) in &fields {
            text.push_str(&format!("{k}: {v}\n"));
        }
        text.push_str(kind.advice());
        Message {
            incident_key: kind.incident_key(),
            rule: kind.name(),
            state: State::Firing,
            severity: kind.severity(),
            title,
            text,
            fields,
            at: Utc::now(),
        }
    }

    /// The message saying the incident of `kind` has cleared.
    pub fn resolved(kind: &AlertKind, scrub: &dyn Fn(&str) -> String) -> Message {
        let title = scrub(&format!("Resolved: {}", kind.subject()));
        let fields: Vec<(String, String)> = kind
            .tenant()
            .map(|t| vec![("tenant".to_string(), scrub(t))])
            .unwrap_or_default();
        Message {
            incident_key: kind.incident_key(),
            rule: kind.name(),
            state: State::Resolved,
            severity: kind.severity(),
            text: format!("{title}\nThe condition has cleared."),
            title,
            fields,
            at: Utc::now(),
        }
    }

    /// The e-mail subject.
    pub fn subject(&self) -> String {
        let tag = match (self.state, self.severity) {
            (State::Resolved, _) => "RESOLVED",
            (State::Firing, Severity::Critical) => "CRITICAL",
            (State::Firing, Severity::Warning) => "WARNING",
        };
        format!("[allybridge] {tag}: {}", self.title)
    }

    /// The e-mail body.
    pub fn email_body(&self) -> String {
        format!(
            "{}\n\nincident: {}\nstate: {}\nat: {}\n\n-- \nallybridge\n",
            self.text,
            self.incident_key,
            self.state.as_str(),
            self.at.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }

    /// Slack-compatible JSON: `text` (what every receiver shows), Block Kit
    /// `blocks` with the fields, and the same facts machine-readable under `allybridge`.
    pub fn slack_json(&self) -> Value {
        let emoji = match (self.state, self.severity) {
            (State::Resolved, _) => ":white_check_mark:",
            (State::Firing, Severity::Critical) => ":rotating_light:",
            (State::Firing, Severity::Warning) => ":warning:",
        };
        let fields: serde_json::Map<String, Value> = self
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let block_fields: Vec<Value> = self
            .fields
            .iter()
            .take(10) // Slack's limit per section
            .map(|(k, v)| json!({"type": "mrkdwn", "text": format!("*{k}*\n{v}")}))
            .collect();
        let mut blocks = vec![json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("{emoji} *{}*", self.title)}
        })];
        if !block_fields.is_empty() && self.state == State::Firing {
            blocks.push(json!({"type": "section", "fields": block_fields}));
        }
        json!({
            "text": format!("{emoji} {}", self.text),
            "blocks": blocks,
            "allybridge": {
                "incident": self.incident_key,
                "rule": self.rule,
                "state": self.state.as_str(),
                "severity": self.severity,
                "title": self.title,
                "fields": fields,
                "at": self.at.to_rfc3339_opts(SecondsFormat::Secs, true),
            }
        })
    }
}
