//! The OAuth callback refuses redirects it did not start: no code, an
//! unknown state, or HighLevel's own error.

use std::sync::Arc;

use server::oauth::{OAuth, router};

#[tokio::test]
async fn the_callback_refuses_unknown_states() -> anyhow::Result<()> {
    let (listener, addr) = server::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let oauth = Arc::new(OAuth::new(Vec::new(), Default::default()));
    assert!(oauth.start("main", &Default::default()).is_none());
    tokio::spawn(server::serve_router(
        listener,
        router(oauth),
        std::future::pending(),
    ));
    for (query, text) in [
        ("", "Not an OAuth redirect"),
        ("?code=abc&state=forged", "unknown or expired"),
        ("?error=access_denied", "did not authorise"),
    ] {
        let r = reqwest::get(format!("http://{addr}/oauth/callback{query}")).await?;
        assert_eq!(r.status(), 400);
        assert!(r.text().await?.contains(text));
    }
    Ok(())
}
