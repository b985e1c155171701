//! The WordPress site that `wordpress/dev/up` sets up, as tests reach it:
//! its JSON line (from `ALLYBRIDGE_WORDPRESS_SITE`, the line itself or a
//! file holding it), the development control API (`allybridge-dev/v1`:
//! checkout, contacts, admin edits, ground truth read from the plugin's
//! tables) and the PHP error log that `WP_DEBUG` writes. It owns no
//! product logic: the plugin is under `wordpress/`, the client under
//! `crates/accessally`.

use std::path::PathBuf;

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error(
        "ALLYBRIDGE_WORDPRESS_SITE is not set: run `wordpress/dev/up` and export its JSON line (or the path of a file holding it)"
    )]
    NotConfigured,
    #[error("ALLYBRIDGE_WORDPRESS_SITE: {0}")]
    Invalid(String),
    #[error("the site's PHP log has {count} problems (WP_DEBUG); the first: {first}")]
    Php { count: usize, first: String },
    #[error("control call {path} failed: {reason}")]
    Control { path: String, reason: String },
}

/// The development site.
#[derive(Debug, Clone)]
pub struct Site {
    /// The JSON line as `wordpress/dev/up` printed it (the shape of `allybridge sim`'s AccessAlly line).
    pub info: Value,
    pub url: String,
    pub user: String,
    pub app_password: String,
    pub admin_user: String,
    pub admin_password: String,
    pub control_url: String,
    pub debug_log: PathBuf,
    http: reqwest::Client,
}

/// What a test does without a site: skip, except under CI, where the plugin must be proven.
pub enum Availability {
    Ready(Box<Site>),
    /// No site and not CI: the test prints why and passes.
    Skip(String),
}

impl Site {
    /// The site named by `ALLYBRIDGE_WORDPRESS_SITE`; an error under `CI` when it is not set.
    pub fn from_env() -> Result<Availability, SiteError> {
        match std::env::var("ALLYBRIDGE_WORDPRESS_SITE") {
            Ok(v) => Ok(Availability::Ready(Box::new(Self::parse(&v)?))),
            Err(_) if std::env::var_os("CI").is_some() => Err(SiteError::NotConfigured),
            Err(_) => Ok(Availability::Skip(SiteError::NotConfigured.to_string())),
        }
    }

    /// From the JSON line, or the path of a file holding it.
    pub fn parse(line_or_path: &str) -> Result<Self, SiteError> {
        let text = if line_or_path.trim_start().starts_with('{') {
            line_or_path.to_string()
        } else {
            std::fs::read_to_string(line_or_path)
                .map_err(|e| SiteError::Invalid(format!("reading {line_or_path}: {e}")))?
        };
        let info: Value = serde_json::from_str(text.trim())
            .map_err(|e| SiteError::Invalid(format!("not wordpress/dev/up's JSON line: {e}")))?;
        let field = |k: &str| {
            info[k]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| SiteError::Invalid(format!("no `{k}` in the JSON line")))
        };
        Ok(Self {
            url: field("url")?.trim_end_matches('/').to_string(),
            user: field("user")?,
            app_password: field("app_password")?,
            admin_user: field("admin_user")?,
            admin_password: field("admin_password")?,
            control_url: field("control_url")?,
            debug_log: PathBuf::from(field("debug_log")?),
            info,
            http: reqwest::Client::new(),
        })
    }

    /// The site of `ALLYBRIDGE_WORDPRESS_SITE`, or `None` after printing
    /// why the test is skipped (an error under CI).
    pub fn from_env_or_skip() -> Result<Option<Box<Site>>, SiteError> {
        match Self::from_env()? {
            Availability::Ready(site) => Ok(Some(site)),
            Availability::Skip(why) => {
                eprintln!("SKIPPED: {why}");
                Ok(None)
            }
        }
    }

    /// [`Site::fresh`], or `None` after printing why the test is skipped.
    pub fn fresh_or_skip(name: &str) -> Result<Option<Box<Guard>>, SiteError> {
        match Self::fresh(name)? {
            FreshSite::Ready(guard) => Ok(Some(guard)),
            FreshSite::Skip(why) => {
                eprintln!("SKIPPED: {why}");
                Ok(None)
            }
        }
    }

    /// Fails with the first problem when the PHP error log has any (see [`problems_in`]).
    pub fn check_php_log(&self) -> Result<(), SiteError> {
        let problems = self.php_problems();
        match problems.first() {
            None => Ok(()),
            Some(first) => Err(SiteError::Php {
                count: problems.len(),
                first: first.clone(),
            }),
        }
    }

    /// A new site of its own for one test (`wordpress/dev/up` in a folder
    /// and database named after `name`), removed when the guard drops; so a
    /// test whose checks span the whole catalog does not see other tests'
    /// records. Made only where a site can be (`ALLYBRIDGE_WORDPRESS_SITE`
    /// set, as .ci/run does); `Skip` elsewhere, an error under CI.
    pub fn fresh(name: &str) -> Result<FreshSite, SiteError> {
        if std::env::var_os("ALLYBRIDGE_WORDPRESS_SITE").is_none() {
            if std::env::var_os("CI").is_some() {
                return Err(SiteError::NotConfigured);
            }
            return Ok(FreshSite::Skip(SiteError::NotConfigured.to_string()));
        }
        let env = fresh_env(name);
        let script = scripts_dir().join("up");
        let output = std::process::Command::new(&script)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| SiteError::Invalid(format!("running {}: {e}", script.display())))?;
        if !output.status.success() {
            return Err(SiteError::Invalid(format!(
                "{} failed ({})",
                script.display(),
                output.status
            )));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        let site = Self::parse(line)?;
        Ok(FreshSite::Ready(Box::new(Guard { site, env })))
    }

    /// `{url}/wp-json/allybridge/v1{path}`.
    pub fn api_url(&self, path: &str) -> String {
        format!("{}/wp-json/allybridge/v1{path}", self.url)
    }

    /// A call to the development control API, as the plugin's sync user.
    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, SiteError> {
        let failed = |reason: String| SiteError::Control {
            path: path.to_string(),
            reason,
        };
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.control_url))
            .basic_auth(&self.user, Some(&self.app_password));
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        let value: Value = response.json().await.map_err(|e| failed(e.to_string()))?;
        if !status.is_success() {
            return Err(failed(format!("{status} {value}")));
        }
        Ok(value)
    }

    /// The ground truth, read from the plugin's tables by the control API.
    pub async fn state(&self) -> Result<Value, SiteError> {
        self.control(reqwest::Method::GET, "/state", None).await
    }

    /// Lines of the PHP error log (WP_DEBUG) that are about the plugin, or
    /// are warnings, notices or errors from anywhere. WordPress 6.1's own
    /// deprecation notices under PHP 8.2 (its Requests library) are
    /// WordPress's, not ours, and are left out.
    pub fn php_problems(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.debug_log).unwrap_or_default();
        problems_in(&text)
    }
}

/// A site made for one test, or why there is none.
pub enum FreshSite {
    Ready(Box<Guard>),
    Skip(String),
}

/// Owns a fresh site; `wordpress/dev/down` removes it on drop, unless
/// `ALLYBRIDGE_KEEP_WORDPRESS` is set (to look at it after a failure).
pub struct Guard {
    pub site: Site,
    env: Vec<(String, String)>,
}

impl Guard {
    /// Kills the site's PHP server with SIGKILL and starts it again
    /// (`wordpress/dev/restart`), as a crash or a machine restart would.
    pub fn restart(&self) -> Result<(), SiteError> {
        let script = scripts_dir().join("restart");
        let status = std::process::Command::new(&script)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .status()
            .map_err(|e| SiteError::Invalid(format!("running {}: {e}", script.display())))?;
        if !status.success() {
            return Err(SiteError::Invalid(format!(
                "{} failed ({status})",
                script.display()
            )));
        }
        Ok(())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if std::env::var_os("ALLYBRIDGE_KEEP_WORDPRESS").is_some() {
            eprintln!("kept the WordPress site at {}", self.site.url);
            return;
        }
        let _ = std::process::Command::new(scripts_dir().join("down"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output();
    }
}

fn scripts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../wordpress/dev")
}

fn fresh_env(name: &str) -> Vec<(String, String)> {
    let tmp = std::env::temp_dir();
    vec![
        (
            "ALLYBRIDGE_WP_DIR".into(),
            tmp.join(format!("allybridge-wordpress-{name}"))
                .display()
                .to_string(),
        ),
        (
            "ALLYBRIDGE_WP_DB_NAME".into(),
            format!("allybridge_wp_{name}"),
        ),
    ]
}

/// The lines of a WP_DEBUG log that fail a test: every warning, notice,
/// fatal or parse error, and deprecations raised in allybridge's files.
pub fn problems_in(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| {
            let serious = [
                "PHP Warning",
                "PHP Notice",
                "PHP Fatal",
                "PHP Parse",
                "PHP Error",
            ]
            .iter()
            .any(|k| line.contains(k));
            let ours = line.contains("PHP Deprecated")
                && (line.contains("/plugins/allybridge-for-accessally/")
                    || line.contains("/mu-plugins/allybridge-"));
            serious || ours
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::problems_in;

    #[test]
    fn core_deprecations_pass_and_everything_else_fails() {
        let log = "\
[05-Dec-2026 23:54:39 UTC] PHP Deprecated:  Return type of Requests_Cookie_Jar::offsetExists($key) in /srv/allybridge-wordpress/site/wp-includes/Requests/Cookie/Jar.php on line 63
[05-Dec-2026 23:54:40 UTC] PHP Warning:  Undefined array key \"x\" in /site/wp-includes/rest-api.php on line 1
[05-Dec-2026 23:54:41 UTC] PHP Deprecated:  strlen(): Passing null in /srv/allybridge-wordpress/site/wp-content/plugins/allybridge-for-accessally/includes/class-allybridge-rest.php on line 9
[05-Dec-2026 23:54:42 UTC] PHP Notice:  Undefined variable in /site/wp-content/mu-plugins/x.php on line 2";
        let found = problems_in(log);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].contains("PHP Warning"));
        assert!(found[1].contains("allybridge"));
        assert!(found[2].contains("PHP Notice"));
    }
}
