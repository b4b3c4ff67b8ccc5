//! What the Aruba tests share: the contract file, a structural validator of
//! JSON against its schemas, the simulator on loopback, and a recording proxy
//! that sits between the client and the simulator (real HTTP both ways).
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use pecdesk::domain::Member;
use pecdesk::provider::aruba::sim::{self, ArubaSimConfig, ArubaSimHandle};
use pecdesk::provider::aruba::{ArubaClient, ArubaConfig};
use serde_json::Value;

pub const USER: &str = "ordine-partner";
pub const PASSWORD: &str = "Pw-aruba:s3gr3ta&lunga";
pub const DOMAIN: &str = "pec.fofi.it";

pub fn contract() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/aruba-api.json"
    ))
    .expect("assets/aruba-api.json");
    serde_json::from_str(&text).expect("the contract is JSON")
}

pub fn roster(count: usize, seed: u64) -> Vec<Member> {
    pecdesk::sample::generate_roster(count, seed, DOMAIN)
}

pub fn sim_config() -> ArubaSimConfig {
    ArubaSimConfig::new(USER, PASSWORD)
}

pub async fn start_sim(members: &[Member], config: ArubaSimConfig) -> ArubaSimHandle {
    sim::start(members, config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the Aruba simulator starts")
}

/// A client tuned for tests: short backoffs, no pacing.
pub fn client(base_url: &str) -> ArubaClient {
    let mut config = ArubaConfig::new(base_url, USER, PASSWORD);
    config.backoff_base = Duration::from_millis(2);
    config.backoff_cap = Duration::from_millis(30);
    config.max_per_second = 0;
    config.max_in_flight = 8;
    config.max_attempts = 12;
    config.request_timeout = Duration::from_secs(5);
    ArubaClient::new(config).expect("loopback http is allowed")
}

/// A plain reqwest client (its TLS provider installed, as pecdesk does).
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub async fn stats(base_url: &str) -> Value {
    http()
        .get(format!("{base_url}/sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Checks `value` against `schema` of `doc` (OpenAPI 3.0 subset the contract
/// uses: $ref, type, required, properties, items, enum, min/maxLength,
/// minimum/maximum, format date-time). Objects with properties are closed: a
/// field the schema does not name is an error, so a misspelt field fails. An
/// object schema without properties is free (springdoc's rendering of Java's
/// `Object`, as `rejectedValue`).
pub fn validate(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        let target = &doc["components"]["schemas"][name];
        if target.is_null() {
            errors.push(format!("{at}: unknown schema {reference}"));
            return;
        }
        return validate(doc, target, value, at, errors);
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} not in {allowed:?}"));
    }
    let number = |key: &str| schema.get(key).and_then(Value::as_f64);
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
                return;
            };
            let Some(object) = value.as_object() else {
                errors.push(format!("{at}: expected an object, found {value}"));
                return;
            };
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !object.contains_key(required) {
                    errors.push(format!("{at}: missing required field {required}"));
                }
            }
            for (key, item) in object {
                match properties.get(key) {
                    Some(s) => validate(doc, s, item, &format!("{at}.{key}"), errors),
                    None => errors.push(format!("{at}: field {key} is not in the schema")),
                }
            }
        }
        Some("array") => {
            let Some(items) = value.as_array() else {
                errors.push(format!("{at}: expected an array, found {value}"));
                return;
            };
            for (i, item) in items.iter().enumerate() {
                validate(doc, &schema["items"], item, &format!("{at}[{i}]"), errors);
            }
        }
        Some("string") => {
            let Some(text) = value.as_str() else {
                errors.push(format!("{at}: expected a string, found {value}"));
                return;
            };
            let length = text.chars().count() as f64;
            if number("minLength").is_some_and(|min| length < min)
                || number("maxLength").is_some_and(|max| length > max)
            {
                errors.push(format!("{at}: length {length} out of bounds"));
            }
            if schema.get("format").and_then(Value::as_str) == Some("date-time")
                && chrono::DateTime::parse_from_rfc3339(text).is_err()
            {
                errors.push(format!("{at}: {text} is not a date-time"));
            }
        }
        Some("integer") => {
            if !(value.is_i64() || value.is_u64()) {
                errors.push(format!("{at}: expected an integer, found {value}"));
            } else if let Some(n) = value.as_f64()
                && (number("minimum").is_some_and(|m| n < m)
                    || number("maximum").is_some_and(|m| n > m))
            {
                errors.push(format!("{at}: {n} out of bounds"));
            }
        }
        Some("boolean") if !value.is_boolean() => {
            errors.push(format!("{at}: expected a boolean, found {value}"))
        }
        Some("number") if !value.is_number() => {
            errors.push(format!("{at}: expected a number, found {value}"))
        }
        _ => {}
    }
}

/// The contract's path template that `path` is an instance of.
pub fn template_of<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    doc["paths"]
        .as_object()?
        .keys()
        .map(String::as_str)
        .find(|t| {
            let (a, b): (Vec<&str>, Vec<&str>) =
                (t.split('/').collect(), path.split('/').collect());
            a.len() == b.len()
                && a.iter()
                    .zip(&b)
                    .all(|(x, y)| x == y || (x.starts_with('{') && !y.is_empty()))
        })
}

/// One exchange the proxy saw.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub request: Option<Value>,
    pub status: u16,
    pub response: Value,
}

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    seen: Mutex<Vec<Exchange>>,
}

/// A recording proxy on loopback in front of `upstream`.
pub struct Recorder {
    pub base_url: String,
    shared: Arc<Proxy>,
}

impl Recorder {
    pub async fn start(upstream: &str) -> Self {
        let shared = Arc::new(Proxy {
            upstream: upstream.to_string(),
            http: http(),
            seen: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base_url, shared }
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.seen.lock().unwrap().clone()
    }
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let headers = request.headers().clone();
    let body: Bytes = axum::body::to_bytes(request.into_body(), 1 << 24)
        .await
        .unwrap();
    let mut outgoing = proxy
        .http
        .request(method.clone(), format!("{}{}", proxy.upstream, uri))
        .body(body.clone());
    for name in [
        axum::http::header::AUTHORIZATION,
        axum::http::header::CONTENT_TYPE,
    ] {
        if let Some(value) = headers.get(&name) {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = outgoing.send().await.unwrap();
    let status = answer.status().as_u16();
    let retry_after = answer.headers().get("retry-after").cloned();
    let bytes = answer.bytes().await.unwrap();
    proxy.seen.lock().unwrap().push(Exchange {
        method: method.as_str().to_lowercase(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        request: serde_json::from_slice(&body).ok(),
        status,
        response: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    });
    let mut response = (
        axum::http::StatusCode::from_u16(status).unwrap(),
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response();
    if let Some(value) = retry_after {
        response.headers_mut().insert("retry-after", value);
    }
    response
}
