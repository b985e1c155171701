//! Bad input never panics the simulator and always gets the documented
//! WordPress error shape: random bodies (malformed JSON, wrong types,
//! missing fields, random objects) on every writing route, random ids on
//! reading routes, random `aal_*` requests.

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{Value, json};
use sim_accessally::{SimConfig, start};

struct Shared {
    url: String,
    user: String,
    password: String,
    handshake: String,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

/// One simulator for all cases, on its own runtime.
fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let sim = runtime
            .block_on(start(SimConfig {
                seed: sim_kit::Seed::Demo,
                ..SimConfig::for_tests()
            }))
            .unwrap_or_else(|e| panic!("sim: {e}"));
        let info = |k: &str| sim.info[k].as_str().unwrap_or_default().to_string();
        let s = Shared {
            url: sim.url.clone(),
            user: info("user"),
            password: info("app_password"),
            handshake: info("handshake"),
            http: reqwest::Client::new(),
            runtime,
        };
        std::mem::forget(sim); // keep serving for the whole test binary
        s
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("12.50"),
            Just("-1"),
            Just("1e9"),
            Just("percent"),
            Just("fixed"),
            Just("USD"),
            Just("one_time"),
            Just("2030-01-01T00:00:00Z")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let keys = prop_oneof![
            Just("name".to_string()),
            Just("code".to_string()),
            Just("amount".to_string()),
            Just("discount_type".to_string()),
            Just("currency".to_string()),
            Just("payment_options".to_string()),
            Just("type".to_string()),
            Just("availability".to_string()),
            Just("offering_ids".to_string()),
            Just("email".to_string()),
            Just("offering_id".to_string()),
            Just("source_ref".to_string()),
            Just("url".to_string()),
            Just("topics".to_string()),
            Just("usage_limit".to_string()),
            Just("date_expires".to_string()),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
        Just(b"{\"name\":".to_vec()),
    ]
}

const WRITES: [(&str, &str); 7] = [
    ("POST", "/offerings"),
    ("PUT", "/offerings/{offering}"),
    ("POST", "/coupons"),
    ("PUT", "/coupons/{coupon}"),
    ("POST", "/access-grants"),
    ("POST", "/webhooks"),
    ("PUT", "/offerings/not-a-number"),
];

async fn check(method: &str, path: &str, body: Vec<u8>) -> Result<(), TestCaseError> {
    let s = shared();
    let url = format!(
        "{}/wp-json/allybridge/v1{}",
        s.url,
        path.replace("{offering}", "101")
            .replace("{coupon}", "9999")
    );
    let m = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let response = s
        .http
        .request(m, url)
        .basic_auth(&s.user, Some(&s.password))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| TestCaseError::fail(format!("simulator unreachable: {e}")))?;
    let status = response.status().as_u16();
    prop_assert!(status < 500, "{method} {path}: server error {status}");
    if status >= 400 {
        let v: Value = response
            .json()
            .await
            .map_err(|e| TestCaseError::fail(format!("error body is not JSON: {e}")))?;
        prop_assert!(v["code"].is_string() && v["message"].is_string(), "{v}");
        prop_assert_eq!(v["data"]["status"].as_u64(), Some(u64::from(status)));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    #[test]
    fn random_bodies_get_wordpress_errors(route in 0..WRITES.len(), body in body()) {
        let (method, path) = WRITES[route];
        shared().runtime.block_on(check(method, path, body))?;
    }

    #[test]
    fn random_ids_and_queries_get_wordpress_errors(id in ".{0,12}", query in "[a-z_=&%0-9]{0,24}") {
        let id: String = id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        for resource in ["offerings", "coupons", "orders"] {
            shared().runtime.block_on(check("GET", &format!("/{resource}/{id}"), Vec::new()))?;
            shared().runtime.block_on(check("GET", &format!("/{resource}?{query}"), Vec::new()))?;
        }
    }

    #[test]
    fn random_aal_requests_never_fail_the_server(query in "[a-z_=&%0-9]{0,30}", body in prop::collection::vec(any::<u8>(), 0..40), good in any::<bool>()) {
        let s = shared();
        let query = if good { format!("aal_genpass={}&{query}", s.handshake) } else { query };
        let status = s.runtime.block_on(async {
            s.http.post(format!("{}/?{query}", s.url)).body(body).send().await.map(|r| r.status().as_u16())
        }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(matches!(status, 200 | 400 | 403 | 404), "status {status}");
    }
}
