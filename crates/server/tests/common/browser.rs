//! A small HTTP client for the admin page in tests: keeps cookies by hand,
//! never follows redirects, and finds a page's CSRF field. Used by the
//! server's tests and, through `#[path]`, by the binary's daemon tests.

#![allow(dead_code)]

use anyhow::Context;

/// An HTTP client that keeps cookies by hand and never follows redirects.
pub struct Browser {
    pub http: reqwest::Client,
    pub cookies: Vec<(String, String)>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Browser {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            cookies: Vec::new(),
        })
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, r: reqwest::Response) -> anyhow::Result<Page> {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str()?;
            let first = v.split(';').next().unwrap_or("");
            if let Some((k, val)) = first.split_once('=') {
                self.cookies.retain(|(n, _)| n != k);
                if !val.is_empty() {
                    self.cookies.push((k.to_string(), val.to_string()));
                }
            }
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        Ok(Page {
            status,
            location,
            headers: r.headers().clone(),
            body: r.text().await?,
        })
    }

    pub async fn get(&mut self, url: &str) -> anyhow::Result<Page> {
        let r = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await?;
        self.finish(r).await
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> anyhow::Result<Page> {
        let r = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await?;
        self.finish(r).await
    }

    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.iter().any(|(n, _)| n == name)
    }
}

/// The value of the first hidden `csrf` field of a page.
pub fn csrf_of(html: &str) -> anyhow::Result<String> {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).context("no csrf field")? + marker.len();
    let end = html[start..].find('"').context("unterminated csrf field")?;
    Ok(html[start..start + end].to_string())
}
