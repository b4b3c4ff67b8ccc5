//! Aruba's partner API: the contract file against the simulator's routes, the
//! client's requests and the simulator's answers against the contract's
//! schemas, the sync under faults with tokens expiring, and the Aruba lists
//! against the simulator's seed.

mod aruba_support;

use std::collections::BTreeSet;
use std::time::Duration;

use aruba_support::*;
use chrono::Utc;
use pecdesk::domain::Category;
use pecdesk::domain::aruba::{ArubaStatus, normalize_aruba_mobile};
use pecdesk::provider::aruba::api;
use pecdesk::provider::aruba::sim;
use pecdesk::provider::sim::Faults;
use pecdesk::store::{IncomingRoster, Store};
use serde_json::{Value, json};

#[tokio::test]
async fn every_simulator_route_is_in_the_contract_with_its_method() {
    let doc = contract();
    let routes = sim::routes();
    assert_eq!(routes.len(), api::OPERATIONS.len());
    for op in &api::OPERATIONS {
        let entry = &doc["paths"][op.path][op.method];
        assert!(
            entry.is_object(),
            "{} {} missing from the contract",
            op.method,
            op.path
        );
        assert_eq!(entry["operationId"], op.id, "{}", op.path);
    }
    // Every contract operation is served, with that method only.
    let members = roster(30, 1);
    let aruba = start_sim(&members, sim_config()).await;
    let http = http();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "18000001");
        for method in methods.as_object().unwrap().keys() {
            assert!(
                routes.contains(&(method.as_str(), path.as_str())),
                "{method} {path} is in the contract but not served"
            );
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let answer = http
                .request(m, format!("{}{concrete}", aruba.base_url()))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_ne!(answer.status().as_u16(), 404, "{method} {path}");
            assert_ne!(answer.status().as_u16(), 405, "{method} {path}");
            let wrong = if method == "get" {
                reqwest::Method::DELETE
            } else {
                reqwest::Method::GET
            };
            let answer = http
                .request(wrong, format!("{}{concrete}", aruba.base_url()))
                .send()
                .await
                .unwrap();
            assert_eq!(
                answer.status().as_u16(),
                405,
                "{path} answers another method"
            );
        }
    }
    aruba.shutdown().await;
}

/// Checks each exchange against the contract; returns how many were checked.
fn check_exchanges(doc: &Value, exchanges: &[Exchange]) -> Vec<String> {
    let mut errors = Vec::new();
    for x in exchanges {
        let Some(template) = template_of(doc, &x.path) else {
            errors.push(format!("{} {} not in the contract", x.method, x.path));
            continue;
        };
        let op = &doc["paths"][template][x.method.as_str()];
        if !op.is_object() {
            errors.push(format!(
                "{} {template}: method not in the contract",
                x.method
            ));
            continue;
        }
        if let Some(query) = &x.query {
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str())
                .collect();
            for (key, _) in form_urlencoded::parse(query.as_bytes()) {
                if !declared.contains(key.as_ref()) {
                    errors.push(format!("{template}: query parameter {key} not declared"));
                }
            }
        }
        let body_schema = &op["requestBody"]["content"]["application/json"]["schema"];
        match (&x.request, body_schema.is_object()) {
            // A request the simulator refused as invalid: the test meant it.
            (Some(_), true) if x.status == 400 => {}
            (Some(body), true) => validate(
                doc,
                body_schema,
                body,
                &format!("{template} request"),
                &mut errors,
            ),
            (None, true) => errors.push(format!("{template}: request without the JSON body")),
            _ => {}
        }
        let status = x.status.to_string();
        let response_schema =
            &op["responses"][status.as_str()]["content"]["application/json"]["schema"];
        let schema = if response_schema.is_object() {
            response_schema.clone()
        } else if x.status == 429 || x.status == 503 || x.status == 405 {
            // Outside the per-operation list: still the spec's error shape.
            json!({"$ref": "#/components/schemas/RestErrorResponse"})
        } else {
            errors.push(format!("{template}: status {status} not in the contract"));
            continue;
        };
        validate(
            doc,
            &schema,
            &x.response,
            &format!("{template} {status}"),
            &mut errors,
        );
    }
    errors
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_requests_and_the_simulators_answers_follow_the_contract() {
    let doc = contract();
    let members = roster(120, 2);
    let mut config = sim_config();
    config.faults = Faults {
        fail_rate: 0.2,
        rate_limit: Some(5),
        ..Faults::default()
    };
    config.access_ttl = Duration::from_secs(1);
    let aruba = start_sim(&members, config).await;
    let proxy = Recorder::start(&aruba.base_url()).await;
    let client = client(&proxy.base_url);

    let accounts = client
        .fetch_domain_mailboxes(DOMAIN, |_, _| {})
        .await
        .unwrap();
    assert!(accounts.len() > 100);
    let account = accounts.iter().find(|a| a.status == "CERTIFICATO").unwrap();
    client.account_info(&account.name).await.unwrap();
    let owner_id = account.owner.id.unwrap();
    let owner = client.owner(owner_id).await.unwrap();
    let search = api::OwnerSearchRequest {
        tax_code: Some(owner.tax_code.clone()),
        ..Default::default()
    };
    let found = client.search_owners(&search, 0, 10).await.unwrap();
    assert_eq!(found.content.len(), 1);
    let accounts_of = api::AccountSearchRequest {
        owner: Some(search.clone()),
        ..Default::default()
    };
    let page = client.search_accounts(&accounts_of, 0, 10).await.unwrap();
    assert_eq!(page.content[0].name, account.name);
    // Past the access token's life: the next call refreshes it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let contacts = api::ContactDataUpdate {
        email: Some("nuovo.contatto@example.it".into()),
        mobile: Some("3331234567".into()),
    };
    // One attempt (no idempotency at Aruba): retry by hand what a fault stops.
    let mut updated = None;
    for _ in 0..100 {
        if let Ok(o) = client.update_owner_contacts(owner_id, &contacts).await {
            updated = Some(o);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let updated = updated.expect("the update got through");
    assert_eq!(
        updated.contacts.unwrap().email.as_deref(),
        Some("nuovo.contatto@example.it")
    );
    // Errors in the spec's shape, named by their code.
    let error = loop {
        match client.account_info("nessuno@pec.fofi.it").await {
            Err(e) if !e.is_transient() => break e,
            _ => {}
        }
    };
    assert!(
        error.message_it().contains("codice Aruba 004"),
        "{}",
        error.message_it()
    );
    let bad = api::ContactDataUpdate {
        email: Some("x@y".into()),
        mobile: None,
    };
    let error = loop {
        match client.update_owner_contacts(owner_id, &bad).await {
            Err(e) if !e.is_transient() => break e,
            other => {
                assert!(other.is_err(), "a 4-character e-mail is refused");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert!(
        error.message_it().contains("contacts.email"),
        "{}",
        error.message_it()
    );

    let exchanges = proxy.exchanges();
    let stats = stats(&aruba.base_url()).await;
    assert!(stats["refreshes"].as_u64().unwrap() >= 1, "{stats}");
    assert!(exchanges.iter().any(|x| x.status >= 500), "faults were met");
    assert!(
        exchanges.iter().any(|x| x.status == 429),
        "the rate limit was met"
    );
    assert!(exchanges.iter().any(|x| x.path == api::REFRESH_PATH));
    let errors = check_exchanges(&doc, &exchanges);
    assert!(
        errors.is_empty(),
        "{} exchanges, errors: {errors:#?}",
        exchanges.len()
    );
    aruba.shutdown().await;
}

#[test]
fn the_validator_can_fail() {
    let doc = contract();
    let schema = json!({"$ref": "#/components/schemas/TokenResponse"});
    let mut errors = Vec::new();
    let wrong = json!({"data": {"access_token": "x", "expiresIn": "300"}, "datetime": "ieri"});
    validate(&doc, &schema, &wrong, "token", &mut errors);
    let text = errors.join("\n");
    for expected in [
        "version",
        "access_token",
        "accessToken",
        "expiresIn",
        "datetime",
    ] {
        assert!(text.contains(expected), "{expected} not reported in {text}");
    }
    let mut errors = Vec::new();
    let request = json!({"ownerId": {"id": 1}, "contacts": {"email": "abc"}});
    let schema = json!({"$ref": "#/components/schemas/OwnerUpdateRequest"});
    validate(&doc, &schema, &request, "update", &mut errors);
    assert_eq!(errors.len(), 1, "{errors:?}");
}

/// A store with `members` and a sync of Aruba's side.
async fn synced_store(
    dir: &std::path::Path,
    members: &[pecdesk::domain::Member],
    base_url: &str,
) -> std::path::PathBuf {
    let path = dir.join("aruba.db");
    Store::open(&path)
        .unwrap()
        .upsert_members(&IncomingRoster::full(members), "test", "test", Utc::now())
        .unwrap();
    let client = client(base_url);
    pecdesk::aruba::sync(&path, &client, DOMAIN, "test", |_| {})
        .await
        .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_of_10000_mailboxes_with_faults_and_tokens_expiring_stores_every_one() {
    let members = roster(10_700, 5);
    let seeded = sim::seed(&members, 42, DOMAIN);
    assert!(seeded.len() >= 10_000, "{}", seeded.len());
    let mut config = sim_config();
    config.faults = Faults {
        fail_rate: 0.2,
        latency: Duration::from_millis(25),
        ..Faults::default()
    };
    // The access token dies a few times during the listing, the refresh token once.
    config.access_ttl = Duration::from_secs(1);
    config.refresh_ttl = Duration::from_secs(2);
    let aruba = start_sim(&members, config).await;
    // Besides expiring by age, tokens are revoked under the client's feet: the
    // requests carrying them get 401 and the client must renew and go on.
    let base_url = aruba.base_url();
    let revoker = tokio::spawn(async move {
        let http = http();
        for round in 0u32.. {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let query = if round % 3 == 2 { "?refresh=true" } else { "" };
            let _ = http
                .post(format!("{base_url}{}{query}", sim::EXPIRE_TOKENS_PATH))
                .send()
                .await;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = synced_store(dir.path(), &members, &aruba.base_url()).await;
    revoker.abort();

    let stats = stats(&aruba.base_url()).await;
    assert!(stats["faults"].as_u64().unwrap() > 5, "{stats}");
    println!(
        "10,000-mailbox sync: {} logins, {} refreshes, {} requests refused for the token, {} faults",
        stats["logins"], stats["refreshes"], stats["unauthorized"], stats["faults"]
    );
    assert!(stats["unauthorized"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["refreshes"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["logins"].as_u64().unwrap() >= 2, "{stats}");
    // Owners listed without contact data were read in full before counting as such.
    let without = seeded.iter().filter(|a| a.email.is_none()).count() as u64;
    assert!(
        stats["operations"]["ownerInfo"]["requests"]
            .as_u64()
            .unwrap()
            >= without
    );
    let stored = Store::open(&path).unwrap().aruba_mailboxes().unwrap();
    assert_eq!(stored.len(), seeded.len());
    for (s, a) in stored.iter().zip({
        let mut sorted = seeded.clone();
        sorted.sort_by(|a, b| a.address.cmp(&b.address));
        sorted
    }) {
        assert_eq!(s.address, a.address);
        assert_eq!(s.status, ArubaStatus::from_code(&a.status));
        assert_eq!(s.owner_id, Some(a.owner_id));
        assert_eq!(s.contact_email, a.email);
        assert_eq!(
            s.contact_mobile,
            a.mobile.as_deref().map(normalize_aruba_mobile)
        );
    }
    let run = Store::open(&path)
        .unwrap()
        .last_aruba_sync()
        .unwrap()
        .unwrap();
    assert!(run.ok && run.mailboxes == seeded.len() as i64);
    aruba.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aruba_lists_hold_exactly_the_seeded_cases() {
    let members = roster(1500, 9);
    let seeded = sim::seed(&members, 42, DOMAIN);
    let aruba = start_sim(&members, sim_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = synced_store(dir.path(), &members, &aruba.base_url()).await;
    let entries = Store::open(&path).unwrap().roster_entries().unwrap();
    let now = Utc::now();
    let list = |category: Category| -> BTreeSet<String> {
        entries
            .iter()
            .filter(|e| pecdesk::report::entry_is_in(e, category, DOMAIN, now))
            .map(|e| e.address().to_string())
            .collect()
    };
    let member_of = |address: &str| members.iter().find(|m| m.pec == address).unwrap();
    let expected = |f: &dyn Fn(&sim::SeededAccount) -> bool| -> BTreeSet<String> {
        seeded
            .iter()
            .filter(|a| f(a))
            .map(|a| a.address.clone())
            .collect()
    };
    let no_contact = expected(&|a| a.email.is_none());
    let differs = expected(&|a| {
        let m = member_of(&a.address);
        let email = matches!((&m.email_servizio, &a.email), (Some(r), Some(x)) if r != x);
        let mobile = matches!((&m.cellulare, &a.mobile),
            (Some(r), Some(x)) if *r != normalize_aruba_mobile(x));
        email || mobile
    });
    let suspended = expected(&|a| !matches!(a.status.as_str(), "CERTIFICATO" | "DA_CERTIFICARE"));
    let at_aruba: BTreeSet<&str> = seeded.iter().map(|a| a.address.as_str()).collect();
    let missing: BTreeSet<String> = members
        .iter()
        .filter(|m| m.pec_on_domain(DOMAIN) && !at_aruba.contains(m.pec.as_str()))
        .map(|m| m.pec.clone())
        .collect();
    for (category, want) in [
        (Category::ArubaNoContact, &no_contact),
        (Category::ArubaContactDiffers, &differs),
        (Category::ArubaSuspended, &suspended),
        (Category::ArubaNoMailbox, &missing),
    ] {
        assert!(!want.is_empty(), "{category:?}: the seed has cases");
        assert_eq!(&list(category), want, "{category:?}");
    }
    aruba.shutdown().await;
}

#[tokio::test]
async fn wrong_credentials_are_a_clear_message_without_the_password() {
    let members = roster(10, 3);
    let aruba = start_sim(&members, sim_config()).await;
    let client = pecdesk::provider::aruba::ArubaClient::new(
        pecdesk::provider::aruba::ArubaConfig::new(aruba.base_url(), USER, "password-sbagliata"),
    )
    .unwrap();
    let error = client.owner(1).await.unwrap_err();
    let shown = error.message_it();
    assert!(
        shown.contains("credenziali") && shown.contains("codice Aruba 002"),
        "{shown}"
    );
    assert!(!shown.contains("password-sbagliata"));
    aruba.shutdown().await;
}
