//! A small HTTP client for the admin page in tests: keeps cookies
//! (reqwest's cookie jar), never follows redirects, and finds a page's CSRF
//! field. Used by the server's tests and, through `#[path]`, by the
//! binary's daemon and proxy tests.

#![allow(dead_code)]

use std::sync::Arc;

use anyhow::Context;
use reqwest::cookie::{CookieStore, Jar};

/// An HTTP client that keeps cookies and never follows redirects.
pub struct Browser {
    pub http: reqwest::Client,
    jar: Arc<Jar>,
    /// The last address asked, whose cookies [`Browser::has_cookie`] reads.
    last: Option<reqwest::Url>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Browser {
    pub fn new() -> anyhow::Result<Self> {
        Self::from_builder(reqwest::Client::builder())
    }

    /// A browser on a client made from `builder` (a test's certificate,
    /// local address or headers), with the cookie jar and no redirects.
    pub fn from_builder(builder: reqwest::ClientBuilder) -> anyhow::Result<Self> {
        let jar = Arc::new(Jar::default());
        let http = builder
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone())
            .build()?;
        Ok(Self {
            http,
            jar,
            last: None,
        })
    }

    async fn finish(&mut self, r: reqwest::Response) -> anyhow::Result<Page> {
        self.last = Some(r.url().clone());
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
        let r = self.http.get(url).send().await?;
        self.finish(r).await
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> anyhow::Result<Page> {
        let r = self.http.post(url).form(form).send().await?;
        self.finish(r).await
    }

    /// Whether the jar holds cookie `name` for the last address asked.
    pub fn has_cookie(&self, name: &str) -> bool {
        let Some(cookies) = self.last.as_ref().and_then(|url| self.jar.cookies(url)) else {
            return false;
        };
        cookies
            .to_str()
            .unwrap_or("")
            .split("; ")
            .any(|c| c.split_once('=').is_some_and(|(n, _)| n == name))
    }
}

/// The value of the first hidden `csrf` field of a page.
pub fn csrf_of(html: &str) -> anyhow::Result<String> {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).context("no csrf field")? + marker.len();
    let end = html[start..].find('"').context("unterminated csrf field")?;
    Ok(html[start..start + end].to_string())
}
