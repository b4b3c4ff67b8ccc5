//! The provider client against the simulator, over real loopback HTTP: each
//! operation, each error, and the contract (`assets/provider-api.yaml`)
//! against what the simulator routes and answers.

mod provider_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use pecdesk::domain::password::PasswordRule;
use pecdesk::domain::{MailboxState, MigrationState, PasswordState, RECOVERY_LINK_VALIDITY};
use pecdesk::provider::api::{self, operation};
use pecdesk::provider::client::{ClientConfig, ProviderClient, ProviderError, new_idempotency_key};
use pecdesk::provider::sim::{self, CONTRACT_PATHS, SimConfig};
use provider_support::*;
use serde_json::{Value, json};

/// `*****xx@y*****.tld`
fn looks_masked(masked: &str) -> bool {
    let Some((local, domain)) = masked.split_once('@') else {
        return false;
    };
    let Some(tail) = local.strip_prefix("*****") else {
        return false;
    };
    let Some((host, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    let mut host = host.chars();
    let first = host.next();
    (1..=2).contains(&tail.chars().count())
        && !tail.contains('*')
        && first.is_some_and(|c| c.is_ascii_alphanumeric())
        && host.as_str() == "*****"
        && tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
}

#[tokio::test]
async fn list_all_returns_every_mailbox_on_the_domain() {
    let sim = start_sim().await;
    let all = oauth_client(&sim).list_all_mailboxes().await.unwrap();
    let members = roster(300);
    let on_domain: BTreeSet<String> = members
        .iter()
        .filter(|m| m.pec_on_domain(DOMAIN))
        .map(|m| m.pec.to_lowercase())
        .collect();
    let external: BTreeSet<String> = members
        .iter()
        .filter(|m| !m.pec_on_domain(DOMAIN))
        .map(|m| m.pec.to_lowercase())
        .collect();
    assert!(!external.is_empty(), "the roster has external PECs");

    let addresses: BTreeSet<String> = all.iter().map(|m| m.address.clone()).collect();
    assert_eq!(addresses.len(), all.len(), "no duplicates");
    assert!(
        addresses.is_disjoint(&external),
        "no external PEC has a mailbox"
    );
    let former: Vec<&String> = addresses.difference(&on_domain).collect();
    assert!(
        former
            .iter()
            .all(|a| a.starts_with("cessato.") && a.ends_with("@pec.fofi.it")),
        "{former:?}"
    );
    assert_eq!(former.len(), (on_domain.len() + 50) / 100);
    let missing = on_domain.difference(&addresses).count();
    assert!(missing <= on_domain.len() / 20, "{missing}");

    let sorted: Vec<&String> = all.iter().map(|m| &m.address).collect();
    assert!(sorted.windows(2).all(|w| w[0] < w[1]), "ordered by address");
    for m in &all {
        if m.migration == MigrationState::NotStarted {
            assert_eq!(m.password, PasswordState::NotSet, "{}", m.address);
            assert!(m.migration_at.is_none());
        } else {
            assert!(m.migration_at.is_some(), "{}", m.address);
        }
        if m.password == PasswordState::ResetPending {
            assert_eq!(
                m.link_expires_at.unwrap() - m.link_sent_at.unwrap(),
                RECOVERY_LINK_VALIDITY
            );
        }
        if let Some(masked) = &m.recovery.email_masked {
            assert!(looks_masked(masked), "{masked}");
        }
    }

    // The counters agree with the list.
    let stats = stats(&sim).await;
    let migration = stats["mailbox_states"]["migration"].as_object().unwrap();
    let counted: u64 = migration.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(counted, all.len() as u64);
    assert_eq!(
        stats["operations"][operation::LIST_MAILBOXES]["requests"],
        1
    );
    assert_eq!(stats["operations"][operation::ISSUE_TOKEN]["requests"], 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn cursor_pages_give_the_same_set_and_filters_select() {
    let sim = start_sim().await;
    let client = oauth_client(&sim);
    let all = client.list_all_mailboxes().await.unwrap();
    let any = api::MailboxFilter::default();
    let mut paged: Vec<MailboxState> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let answer = client
            .list_mailboxes(&any, cursor.as_deref(), 7)
            .await
            .unwrap();
        pages += 1;
        assert_eq!(answer.total, all.len() as u64);
        assert_eq!(answer.per_page, 7);
        assert!(answer.items.len() <= 7);
        assert!(answer.cutover_at.unwrap() > answer.server_time);
        paged.extend(answer.items.into_iter().map(|d| d.into_domain().unwrap()));
        match answer.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, all.len().div_ceil(7));
    assert_eq!(paged, all);

    let failed = api::MailboxFilter {
        migration: vec![
            MigrationState::FailedCredentials,
            MigrationState::FailedTwoFactor,
        ],
        ..Default::default()
    };
    let listing = client.fetch_mailboxes(&failed, |_, _| {}).await.unwrap();
    let expected: Vec<&MailboxState> = all
        .iter()
        .filter(|m| {
            matches!(
                m.migration,
                MigrationState::FailedCredentials | MigrationState::FailedTwoFactor
            )
        })
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(listing.total, expected.len() as u64);
    assert_eq!(listing.mailboxes.iter().collect::<Vec<_>>(), expected);

    // Nothing changed in the last minute, then one resend.
    let since = listing.server_time - chrono::TimeDelta::minutes(1);
    let changed = api::MailboxFilter::changed_since(since);
    assert_eq!(
        client
            .list_mailboxes(&changed, None, 10)
            .await
            .unwrap()
            .total,
        0
    );
    let target = with_recovery_email(&all);
    client
        .resend_recovery_email(&target.address, &new_idempotency_key())
        .await
        .unwrap();
    let page = client.list_mailboxes(&changed, None, 10).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].address, target.address);
    sim.shutdown().await;
}

#[tokio::test]
async fn listing_parameters_are_checked() {
    let sim = start_sim().await;
    let client = oauth_client(&sim);
    let any = api::MailboxFilter::default();
    for (cursor, per_page, field) in [
        (None, api::MAX_PER_PAGE + 1, "per_page"),
        (None, 0, "per_page"),
        (Some("zz"), 10, "cursor"),
    ] {
        match client.list_mailboxes(&any, cursor, per_page).await {
            Err(ProviderError::Api { status, code, .. }) => {
                assert_eq!(
                    (status, code.as_str()),
                    (400, api::error_code::BAD_REQUEST),
                    "{field}"
                );
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    let http = plain_http();
    for query in ["page=2", "migration_state=migrated", "updated_since=ieri"] {
        let response = http
            .get(format!("{}/v1/mailboxes?{query}", sim.base_url()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{query}");
        let body: api::ErrorBody = response.json().await.unwrap();
        assert_eq!(body.code, api::error_code::BAD_REQUEST);
        assert!(!body.details.is_empty());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn client_credentials_get_a_token_by_basic_or_by_form() {
    let sim = start_sim().await;
    let http = plain_http();
    let url = format!("{}{}", sim.base_url(), api::TOKEN_PATH);
    // HTTP Basic with form-urlencoded parts (RFC 6749 section 2.3.1).
    let encode = |s: &str| -> String { form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    let response = http
        .post(&url)
        .basic_auth(encode(CLIENT_ID), Some(encode(CLIENT_SECRET)))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let token: api::TokenResponse = response.json().await.unwrap();
    assert_eq!(
        (token.token_type.as_str(), token.expires_in),
        ("Bearer", 3600)
    );
    // The token opens the mailbox operations.
    let listed = http
        .get(format!("{}/v1/mailboxes?per_page=1", sim.base_url()))
        .bearer_auth(&token.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status().as_u16(), 200);
    // In the form body.
    let response = http
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            http.post(&url)
                .basic_auth(CLIENT_ID, Some("sbagliato"))
                .form(&[("grant_type", "client_credentials")]),
            401,
            "invalid_client",
        ),
        (
            http.post(&url)
                .form(&[("grant_type", "client_credentials")]),
            401,
            "invalid_client",
        ),
        (
            http.post(&url)
                .basic_auth(encode(CLIENT_ID), Some(encode(CLIENT_SECRET)))
                .form(&[("grant_type", "password")]),
            400,
            "unsupported_grant_type",
        ),
        (
            http.post(&url)
                .basic_auth(encode(CLIENT_ID), Some(encode(CLIENT_SECRET)))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", CLIENT_ID),
                    ("client_secret", CLIENT_SECRET),
                ]),
            400,
            "invalid_request",
        ),
        (
            http.post(&url)
                .basic_auth(encode(CLIENT_ID), Some(encode(CLIENT_SECRET)))
                .json(&serde_json::json!({"grant_type": "client_credentials"})),
            400,
            "invalid_request",
        ),
    ];
    for (request, status, code) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{code}");
        let body: api::ErrorBody = response.json().await.unwrap();
        assert_eq!(body.code, code);
        assert!(!body.message.contains(CLIENT_SECRET));
    }

    // The client: wrong credentials are a clear, final error.
    let mut config = fast(ClientConfig::with_client_credentials(
        sim.base_url(),
        CLIENT_ID,
        "sbagliato",
    ));
    config.max_attempts = 3;
    let error = ProviderClient::new(config)
        .unwrap()
        .list_all_mailboxes()
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::InvalidCredentials),
        "{error:?}"
    );
    assert!(error.message_it().contains("client_id"));
    assert!(!error.message_it().contains("sbagliato"));
    // One token for many calls.
    let client = oauth_client(&sim);
    for _ in 0..3 {
        client
            .list_mailboxes(&api::MailboxFilter::default(), None, 1)
            .await
            .unwrap();
    }
    // 2 by hand + 5 refused + 1 for the wrong client + 1 now.
    assert_eq!(
        stats(&sim).await["operations"][operation::ISSUE_TOKEN]["requests"],
        9
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_bad_or_missing_token_is_unauthorized() {
    let sim = start_sim().await;
    // The static token of `--token` still opens the operations.
    token_client(&sim, TOKEN)
        .list_all_mailboxes()
        .await
        .unwrap();
    for token in ["wrong", "t0ke", "t0ken0", "T0KEN"] {
        let result = token_client(&sim, token)
            .list_mailboxes(&Default::default(), None, 1)
            .await;
        assert!(
            matches!(result, Err(ProviderError::Unauthorized)),
            "{token}: {result:?}"
        );
    }
    let response = plain_http()
        .get(format!("{}/v1/mailboxes", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: api::ErrorBody = response.json().await.unwrap();
    assert_eq!(body.code, api::error_code::UNAUTHORIZED);
    let response = plain_http()
        .get(format!("{}/v1/mailboxes", sim.base_url()))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    let error = token_client(&sim, "wrong")
        .get_mailbox("x@pec.fofi.it")
        .await
        .unwrap_err();
    assert!(!error.to_string().contains("wrong"));
    assert!(!error.message_it().contains("wrong"));
    assert_eq!(faults(&sim).await.unauthorized, 7);
    sim.shutdown().await;
}

#[tokio::test]
async fn resend_sends_a_24_hour_link_once_per_key() {
    let sim = start_sim().await;
    let client = oauth_client(&sim);
    let all = client.list_all_mailboxes().await.unwrap();
    let target = with_recovery_email(&all);
    let key = new_idempotency_key();

    let first = client
        .resend_recovery_email(&target.address.to_uppercase(), &key)
        .await
        .unwrap();
    assert_eq!(first.address, target.address);
    assert!(
        looks_masked(&first.sent_to_masked),
        "{}",
        first.sent_to_masked
    );
    assert_eq!(
        Some(&first.sent_to_masked),
        target.recovery.email_masked.as_ref()
    );
    assert_eq!(
        first.link_expires_at - first.link_sent_at,
        RECOVERY_LINK_VALIDITY
    );

    let now = client.get_mailbox(&target.address).await.unwrap();
    assert_eq!(now.password, PasswordState::ResetPending);
    assert_eq!(now.link_sent_at, Some(first.link_sent_at));
    assert_eq!(now.link_expires_at, Some(first.link_expires_at));
    assert_eq!(now.updated_at, first.link_sent_at);

    // The same key again: the first answer, nothing changed.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = client
        .resend_recovery_email(&target.address, &key)
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(client.get_mailbox(&target.address).await.unwrap(), now);

    let stats = stats(&sim).await;
    assert_eq!(
        counted(&stats, &target.address, operation::RESEND_RECOVERY_EMAIL),
        (2, 1),
        "{stats}"
    );
    assert_eq!(
        counted(&stats, &target.address, operation::GET_MAILBOX),
        (2, 0)
    );

    // A new key sends a new link.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = client
        .resend_recovery_email(&target.address, &new_idempotency_key())
        .await
        .unwrap();
    assert!(second.link_sent_at > first.link_sent_at);
    sim.shutdown().await;
}

#[tokio::test]
async fn resend_refusals() {
    let sim = start_sim().await;
    let client = oauth_client(&sim);
    let all = client.list_all_mailboxes().await.unwrap();
    let without = all
        .iter()
        .find(|m| m.recovery.email_masked.is_none())
        .expect("some mailbox has no recovery e-mail");
    let result = client
        .resend_recovery_email(&without.address, &new_idempotency_key())
        .await;
    match result {
        Err(ProviderError::NoRecoveryContact(address)) => assert_eq!(address, without.address),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        &client.get_mailbox(&without.address).await.unwrap(),
        without
    );

    let unknown = "nessuno.qui@pec.fofi.it";
    assert!(matches!(
        client.resend_recovery_email(unknown, &new_idempotency_key()).await,
        Err(ProviderError::NotFound(a)) if a == unknown
    ));
    assert!(matches!(
        client.get_mailbox(unknown).await,
        Err(ProviderError::NotFound(a)) if a == unknown
    ));
    assert!(
        !stats(&sim).await["mailboxes"]
            .as_object()
            .unwrap()
            .contains_key(unknown)
    );

    // Without the idempotency key header, for each state-changing operation.
    let target = with_recovery_email(&all);
    for op in api::OPERATIONS.iter().filter(|op| op.state_changing) {
        let url = format!(
            "{}{}",
            sim.base_url(),
            op.path.replace("{address}", &target.address)
        );
        let method = reqwest::Method::from_bytes(op.method.as_str().as_bytes()).unwrap();
        let response = plain_http()
            .request(method, url)
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{}", op.id);
        let body: api::ErrorBody = response.json().await.unwrap();
        assert_eq!(
            body.code,
            api::error_code::IDEMPOTENCY_KEY_REQUIRED,
            "{}",
            op.id
        );
    }
    assert_eq!(client.get_mailbox(&target.address).await.unwrap(), *target);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_link_expires_after_24_simulated_hours_or_is_used_before() {
    let sim = start_sim().await;
    let client = oauth_client(&sim);
    let all = client.list_all_mailboxes().await.unwrap();
    let mut with_email = all.iter().filter(|m| m.recovery.email_masked.is_some());
    let (used, expiring) = (with_email.next().unwrap(), with_email.next().unwrap());
    let sent = client
        .resend_recovery_email(&expiring.address, &new_idempotency_key())
        .await
        .unwrap();
    client
        .resend_recovery_email(&used.address, &new_idempotency_key())
        .await
        .unwrap();

    // The member opens the link: the password must keep the six rules.
    let (status, body) = use_link(&sim, &used.address, Some("corta")).await;
    assert_eq!(status, 422);
    let rules: Vec<&str> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "too_short",
            "missing_upper_or_lower",
            "missing_digit",
            "missing_special"
        ]
    );
    let (status, _) = use_link(&sim, &used.address, Some("Nuova!Pass7")).await;
    assert_eq!(status, 200);
    let after = client.get_mailbox(&used.address).await.unwrap();
    assert_eq!(after.password, PasswordState::Set);
    assert!(after.last_login_at.is_some());
    assert!(after.recovery.confirmed, "confirmed at first access");
    assert_eq!(use_link(&sim, &used.address, None).await.0, 409);

    let clock = advance_clock(&sim, 25 * 3600).await;
    assert_eq!(clock["offset_seconds"], 25 * 3600);
    let later = client.get_mailbox(&expiring.address).await.unwrap();
    assert_eq!(later.password, PasswordState::LinkExpired);
    assert_eq!(later.link_expires_at, Some(sent.link_expires_at));
    assert_eq!(later.updated_at, sent.link_expires_at);
    let (status, body) = use_link(&sim, &expiring.address, None).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("link_expired")));
    // Every link pending at the start has expired too.
    let all_later = client.list_all_mailboxes().await.unwrap();
    assert!(
        all_later
            .iter()
            .all(|m| m.password != PasswordState::ResetPending)
    );
    assert_eq!(
        stats(&sim).await["mailbox_states"]["password"]["reset_pending"],
        0
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn recovery_contacts_are_set_validated_and_idempotent() {
    let sim = start_sim().await;
    let client = oauth_client(&sim);
    let all = client.list_all_mailboxes().await.unwrap();
    let without = all
        .iter()
        .find(|m| m.recovery.is_empty())
        .expect("some mailbox has no recovery contact");

    let bad = api::RecoveryContactsRequest {
        email: Some("mario@".into()),
        mobile: Some("06 1234567".into()),
    };
    match client
        .set_recovery_contacts(&without.address, &bad, &new_idempotency_key())
        .await
    {
        Err(ProviderError::Invalid { details }) => {
            let fields: Vec<(&str, &str)> = details
                .iter()
                .map(|d| (d.field.as_str(), d.code.as_str()))
                .collect();
            assert_eq!(
                fields,
                [("email", "invalid_email"), ("mobile", "invalid_mobile")]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        &client.get_mailbox(&without.address).await.unwrap(),
        without
    );

    let good = api::RecoveryContactsRequest {
        email: Some("Maria.Bianchi@Libero.it".into()),
        mobile: Some("347 123 4567".into()),
    };
    let key = new_idempotency_key();
    let set = client
        .set_recovery_contacts(&without.address.to_uppercase(), &good, &key)
        .await
        .unwrap();
    assert_eq!(
        set.recovery_email_masked.as_deref(),
        Some("*****hi@l*****.it")
    );
    assert_eq!(set.recovery_mobile_masked.as_deref(), Some("+39*******567"));
    assert!(!set.recovery_confirmed);
    let again = client
        .set_recovery_contacts(&without.address, &good, &key)
        .await
        .unwrap();
    assert_eq!(again, set);
    // The same key with other contacts is refused.
    let other = api::RecoveryContactsRequest {
        mobile: Some("333 000 1111".into()),
        ..Default::default()
    };
    match client
        .set_recovery_contacts(&without.address, &other, &key)
        .await
    {
        Err(ProviderError::Api {
            status: 422, code, ..
        }) => {
            assert_eq!(code, api::error_code::IDEMPOTENCY_KEY_REUSED);
        }
        other => panic!("{other:?}"),
    }
    // Now the recovery e-mail can go out.
    let sent = client
        .resend_recovery_email(&without.address, &new_idempotency_key())
        .await
        .unwrap();
    assert_eq!(sent.sent_to_masked, "*****hi@l*****.it");
    let stats = stats(&sim).await;
    assert_eq!(
        counted(&stats, &without.address, operation::SET_RECOVERY_CONTACTS),
        (4, 1)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_ordines_reset_waits_for_cutover_and_keeps_the_rules() {
    let sim = start_sim().await;
    let client = oauth_client(&sim);
    let all = client.list_all_mailboxes().await.unwrap();
    let target = all
        .iter()
        .find(|m| m.migration == MigrationState::NotStarted)
        .unwrap();
    let good = "Temp!Pass42";
    match client
        .reset_password(&target.address, good, &new_idempotency_key())
        .await
    {
        Err(ProviderError::MigrationInProgress { address, message }) => {
            assert_eq!(address, target.address);
            assert!(message.contains("passaggio al nuovo gestore"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Thirty-one simulated days later the cutover has passed.
    advance_clock(&sim, 31 * 24 * 3600).await;
    let user_id = target.address.split('@').next().unwrap();
    let weak = format!("{user_id}aaa");
    match client
        .reset_password(&target.address, &weak, &new_idempotency_key())
        .await
    {
        Err(ProviderError::PasswordRejected { rules }) => {
            assert_eq!(rules.first(), Some(&PasswordRule::NoUserId));
            assert_eq!(rules.last(), Some(&PasswordRule::NoTripleRepeat));
        }
        other => panic!("{other:?}"),
    }
    let key = new_idempotency_key();
    let reset = client
        .reset_password(&target.address, good, &key)
        .await
        .unwrap();
    assert!(reset.must_change_password);
    assert_eq!(reset.password_state, "set");
    let seen = client.get_mailbox_dto(&target.address).await.unwrap();
    assert_eq!(seen, reset);
    let again = client
        .reset_password(&target.address, good, &key)
        .await
        .unwrap();
    assert_eq!(again, reset);
    let stats = stats(&sim).await;
    // Five requests: the token issued before the 31 days had expired, so the
    // first request after them got 401 and went again with a fresh token.
    assert_eq!(
        counted(&stats, &target.address, operation::RESET_PASSWORD),
        (5, 1)
    );
    assert_eq!(stats["operations"][operation::ISSUE_TOKEN]["requests"], 2);
    assert_eq!(faults(&sim).await.unauthorized, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn plain_http_is_refused_off_loopback() {
    for url in [
        "http://example.com",
        "http://example.com/v1",
        "http://192.168.1.10:8080",
    ] {
        assert!(
            matches!(
                ProviderClient::new(ClientConfig::new(url, TOKEN)),
                Err(ProviderError::InsecureUrl(_))
            ),
            "{url}"
        );
        assert!(matches!(
            ProviderClient::new(ClientConfig::with_client_credentials(url, "id", "secret")),
            Err(ProviderError::InsecureUrl(_))
        ));
    }
    assert!(matches!(
        ProviderClient::new(ClientConfig::new("not a url", TOKEN)),
        Err(ProviderError::InvalidUrl(_))
    ));
    assert!(ProviderClient::new(ClientConfig::new("https://example.com", TOKEN)).is_ok());
    assert!(ProviderClient::new(ClientConfig::new("http://localhost:1", TOKEN)).is_ok());
}

#[tokio::test]
async fn https_is_not_downgraded_when_the_server_speaks_plain_http() {
    let sim = start_sim().await;
    let mut config = fast(ClientConfig::new(
        sim.base_url().replace("http://", "https://"),
        TOKEN,
    ));
    config.max_attempts = 1;
    let error = ProviderClient::new(config)
        .unwrap()
        .list_all_mailboxes()
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Unreachable(_)), "{error:?}");
    assert_eq!(
        stats(&sim).await["operations"][operation::LIST_MAILBOXES]["requests"],
        0
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_provider() {
    let mut config = fast(ClientConfig::with_client_credentials(
        format!("http://127.0.0.1:{}", closed_port()),
        CLIENT_ID,
        CLIENT_SECRET,
    ));
    config.max_attempts = 1;
    let error = ProviderClient::new(config)
        .unwrap()
        .list_all_mailboxes()
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Unreachable(_)), "{error:?}");
    assert!(error.is_transient());
    assert!(!error.to_string().contains(CLIENT_SECRET));
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let sim = start_sim().await;
    let url = sim.base_url();
    let client = oauth_client(&sim);
    client
        .list_mailboxes(&Default::default(), None, 1)
        .await
        .unwrap();
    sim.shutdown().await;
    assert!(matches!(
        client.list_mailboxes(&Default::default(), None, 1).await,
        Err(ProviderError::Unreachable(_))
    ));
    assert!(
        plain_http()
            .get(format!("{url}/sim/stats"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn demo_mode_migrates_mailboxes_and_uses_links() {
    let mut config = sim_config();
    config.demo = true;
    config.demo_migration_interval = Duration::from_millis(50);
    let sim = start_sim_with(&roster(300), config).await;
    let count = |stats: &Value, kind: &str, state: &str| {
        stats["mailbox_states"][kind][state].as_u64().unwrap()
    };
    let before = stats(&sim).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = stats(&sim).await;
    assert!(
        count(&after, "migration", "completed") > count(&before, "migration", "completed"),
        "{before} -> {after}"
    );
    assert!(
        count(&after, "password", "reset_pending") < count(&before, "password", "reset_pending"),
        "{before} -> {after}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_simulator_refuses_what_it_cannot_simulate() {
    let members = roster(10);
    assert!(
        sim::start(&members, sim_config(), "0.0.0.0:0".parse().unwrap())
            .await
            .is_err()
    );
    let mut faults = sim_config();
    faults.faults.fail_rate = 0.8;
    faults.faults.timeout_rate = 0.5;
    assert!(
        sim::start(&members, faults, "127.0.0.1:0".parse().unwrap())
            .await
            .is_err()
    );
    let mut no_secret = SimConfig::new(TOKEN);
    no_secret.client_secret.clear();
    assert!(
        sim::start(&members, no_secret, "127.0.0.1:0".parse().unwrap())
            .await
            .is_err()
    );
    let mut no_ttl = sim_config();
    no_ttl.token_ttl = Duration::ZERO;
    assert!(
        sim::start(&members, no_ttl, "127.0.0.1:0".parse().unwrap())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn every_error_has_the_contract_shape() {
    let sim = start_sim().await;
    let http = plain_http();
    let base = sim.base_url();
    let cases = [
        (
            http.get(format!("{base}/v1/mailboxes/%FF")),
            400,
            "bad_request",
        ),
        (
            http.get(format!("{base}/v1/mailboxes?per_page=0")),
            400,
            "bad_request",
        ),
        (
            http.get(format!("{base}/v1/mailboxes?per_page=x")),
            400,
            "bad_request",
        ),
        (http.get(format!("{base}/v1/nothing")), 404, "not_found"),
        (
            http.delete(format!("{base}/v1/mailboxes")),
            405,
            "method_not_allowed",
        ),
        (
            http.put(format!(
                "{base}/v1/mailboxes/a@pec.fofi.it/recovery-contacts"
            ))
            .header(api::IDEMPOTENCY_HEADER, "k")
            .body("{not json"),
            400,
            "bad_request",
        ),
        (
            http.post(format!("{base}/v1/mailboxes/a@pec.fofi.it/password-reset"))
                .header(api::IDEMPOTENCY_HEADER, "k2")
                .json(&serde_json::json!({"temporary_password": "x", "extra": 1})),
            400,
            "bad_request",
        ),
    ];
    for (request, status, code) in cases {
        let response = request.bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{code}");
        let body: api::ErrorBody = response.json().await.unwrap();
        assert_eq!(body.code, code);
        assert!(!body.message.is_empty());
    }

    // A replay says so in a header, with byte-identical bodies.
    let all = oauth_client(&sim).list_all_mailboxes().await.unwrap();
    let target = with_recovery_email(&all);
    let url = format!("{base}{}", api::recovery_email_path(&target.address));
    let key = new_idempotency_key();
    let mut bodies = Vec::new();
    for replay in [false, true] {
        let response = http
            .post(&url)
            .bearer_auth(TOKEN)
            .header(api::IDEMPOTENCY_HEADER, &key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            response
                .headers()
                .contains_key(api::IDEMPOTENT_REPLAYED_HEADER),
            replay
        );
        bodies.push(response.bytes().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1]);
    // The same key for another mailbox is refused.
    let other = all.iter().find(|m| m.address != target.address).unwrap();
    let response = http
        .post(format!(
            "{base}{}",
            api::recovery_email_path(&other.address)
        ))
        .bearer_auth(TOKEN)
        .header(api::IDEMPOTENCY_HEADER, &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    sim.shutdown().await;
}

// The contract itself.

fn spec() -> Value {
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/provider-api.yaml"
    ))
    .unwrap();
    serde_yaml::from_str(&yaml).expect("the contract is valid YAML")
}

/// `(METHOD, path) -> operation` as the spec writes them.
fn spec_operations(spec: &Value) -> BTreeMap<(String, String), Value> {
    let mut operations = BTreeMap::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                operations.insert((method.to_uppercase(), path.clone()), op.clone());
            }
        }
    }
    operations
}

fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("local reference");
            resolve(
                spec,
                spec.pointer(pointer)
                    .unwrap_or_else(|| panic!("{reference}")),
            )
        }
        None => value,
    }
}

/// Checks `value` against an OpenAPI schema: types, required properties,
/// no property the schema does not document, enums, formats, bounds.
fn conforms(spec: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    if value.is_null() {
        if schema["nullable"] != true {
            problems.push(format!("{at}: null not allowed"));
        }
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        problems.push(format!("{at}: {value} not in {allowed:?}"));
    }
    match schema["type"].as_str() {
        Some("object") => {
            let Some(object) = value.as_object() else {
                return problems.push(format!("{at}: not an object"));
            };
            let properties = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for required in schema["required"].as_array().into_iter().flatten() {
                if !object.contains_key(required.as_str().unwrap()) {
                    problems.push(format!("{at}: missing {required}"));
                }
            }
            for (name, field) in object {
                match properties.get(name) {
                    Some(schema) => {
                        conforms(spec, schema, field, &format!("{at}.{name}"), problems)
                    }
                    None => problems.push(format!("{at}.{name}: not in the contract")),
                }
            }
        }
        Some("array") => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    conforms(
                        spec,
                        &schema["items"],
                        item,
                        &format!("{at}[{i}]"),
                        problems,
                    );
                }
            }
            None => problems.push(format!("{at}: not an array")),
        },
        Some("string") => match value.as_str() {
            Some(text) if schema["format"] == "date-time" => {
                if chrono::DateTime::parse_from_rfc3339(text).is_err() {
                    problems.push(format!("{at}: not RFC 3339: {text}"));
                }
            }
            Some(_) => {}
            None => problems.push(format!("{at}: not a string")),
        },
        Some("integer") => match value.as_i64() {
            Some(n) => {
                let below = schema["minimum"].as_i64().is_some_and(|min| n < min);
                let above = schema["maximum"].as_i64().is_some_and(|max| n > max);
                if below || above {
                    problems.push(format!("{at}: {n} out of bounds"));
                }
            }
            None => problems.push(format!("{at}: not an integer")),
        },
        Some("boolean") if !value.is_boolean() => problems.push(format!("{at}: not a boolean")),
        _ => {}
    }
}

#[test]
fn the_contract_lists_exactly_the_operations_the_simulator_routes() {
    let spec = spec();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let documented = spec_operations(&spec);
    let routed: BTreeMap<(String, String), &api::Operation> = api::OPERATIONS
        .iter()
        .map(|op| ((op.method.as_str().to_string(), op.path.to_string()), op))
        .collect();
    assert_eq!(
        documented.keys().collect::<Vec<_>>(),
        routed.keys().collect::<Vec<_>>(),
        "method and path"
    );
    assert_eq!(CONTRACT_PATHS.len(), routed.len());
    for (key, op) in &documented {
        let routed = routed[key];
        assert_eq!(op["operationId"], routed.id, "{key:?}");
        // The token endpoint alone needs no bearer token.
        let open = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r == &serde_json::json!({})));
        assert_eq!(open, !routed.needs_token, "{}", routed.id);
        // Exactly the state-changing operations need an idempotency key.
        let keyed = op["parameters"].as_array().into_iter().flatten().any(|p| {
            let p = resolve(&spec, p);
            p["name"] == api::IDEMPOTENCY_HEADER && p["in"] == "header" && p["required"] == true
        });
        assert_eq!(keyed, routed.state_changing, "{}", routed.id);
        // Every operation documents its 200, 429 and 5xx; the /v1 ones their 401.
        let responses = op["responses"].as_object().unwrap();
        for status in ["200", "429", "500", "503"] {
            assert!(responses.contains_key(status), "{} {status}", routed.id);
        }
        assert!(responses.contains_key("401"), "{}", routed.id);
    }
    let ids: BTreeSet<&str> = documented
        .values()
        .map(|op| op["operationId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, operation::ALL.into_iter().collect());

    let oauth = &spec["components"]["securitySchemes"]["oauth2"];
    assert_eq!(oauth["type"], "oauth2");
    assert_eq!(
        oauth["flows"]["clientCredentials"]["tokenUrl"],
        api::TOKEN_PATH
    );
    let global: Vec<&str> = spec["security"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_object().unwrap().keys().map(String::as_str))
        .collect();
    assert_eq!(global, ["oauth2", "bearerAuth"]);

    // Every error and field code the code knows is in the contract, and no other.
    let codes: BTreeSet<&str> =
        spec["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
    assert_eq!(codes, api::error_code::ALL.into_iter().collect());
    let field_codes: BTreeSet<&str> =
        spec["components"]["schemas"]["FieldError"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
    let known: BTreeSet<&str> = api::field_code::ALL
        .into_iter()
        .chain(PasswordRule::ALL.iter().map(|r| r.code()))
        .collect();
    assert_eq!(field_codes, known);
    for (name, values) in [
        (
            "MigrationState",
            MigrationState::ALL
                .iter()
                .map(|s| s.code())
                .collect::<Vec<_>>(),
        ),
        (
            "PasswordState",
            PasswordState::ALL.iter().map(|s| s.code()).collect(),
        ),
    ] {
        let documented: Vec<&str> = spec["components"]["schemas"][name]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(documented, values, "{name}");
    }
    assert!(
        !spec["paths"]
            .as_object()
            .unwrap()
            .keys()
            .any(|p| p.starts_with("/sim")),
        "the control paths are not in the contract"
    );
}

#[tokio::test]
async fn the_server_routes_the_contract_and_counts_by_operation_id() {
    let sim = start_sim().await;
    let http = plain_http();
    let address = "a@pec.fofi.it";
    let methods = ["GET", "POST", "PUT", "DELETE"];
    for op in &api::OPERATIONS {
        let url = format!(
            "{}{}",
            sim.base_url(),
            op.path.replace("{address}", address)
        );
        for method in methods {
            let response = http
                .request(
                    reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                    &url,
                )
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: api::ErrorBody = response.json().await.unwrap();
            if method == op.method.as_str() {
                // Routed: refused for what it lacks, never "no such route".
                assert!(
                    body.code != api::error_code::ROUTE_NOT_FOUND
                        && body.code != api::error_code::METHOD_NOT_ALLOWED,
                    "{method} {}: {status} {}",
                    op.path,
                    body.code
                );
            } else {
                assert_eq!(
                    (status, body.code.as_str()),
                    (405, "method_not_allowed"),
                    "{method} {}",
                    op.path
                );
            }
        }
    }
    // The stats are keyed by the contract's operationIds, each counted once.
    let stats = stats(&sim).await;
    let keys: BTreeSet<String> = stats["operations"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let ids: BTreeSet<String> = spec_operations(&spec())
        .values()
        .map(|op| op["operationId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, ids);
    for id in operation::ALL {
        assert_eq!(stats["operations"][id]["requests"], 1, "{id}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn every_answer_conforms_to_its_schema() {
    let spec = spec();
    let mut config = sim_config();
    config.cutover_at = chrono::Utc::now() - chrono::TimeDelta::days(1);
    let sim = start_sim_with(&roster(300), config).await;
    let http = plain_http();
    let base = sim.base_url();
    let operations = spec_operations(&spec);
    let schema_of = |method: &str, path: &str, status: u16| -> Value {
        let op = &operations[&(method.to_string(), path.to_string())];
        let response = resolve(&spec, &op["responses"][status.to_string()]);
        assert!(
            !response.is_null(),
            "{method} {path} {status} is not documented"
        );
        response["content"]["application/json"]["schema"].clone()
    };
    let all = oauth_client(&sim).list_all_mailboxes().await.unwrap();
    let with_email = with_recovery_email(&all).address.clone();
    let without = all
        .iter()
        .find(|m| m.recovery.is_empty())
        .unwrap()
        .address
        .clone();
    let unknown = "nessuno@pec.fofi.it";
    let mailboxes = "/v1/mailboxes";
    let mailbox = "/v1/mailboxes/{address}";
    let resend = "/v1/mailboxes/{address}/recovery-email";
    let contacts = "/v1/mailboxes/{address}/recovery-contacts";
    let reset = "/v1/mailboxes/{address}/password-reset";
    let good = json!({"temporary_password": "Temp!Pass42"});
    // (method, contract path, address or query, body, with an idempotency key)
    let exchanges: Vec<(&str, &str, &str, Option<Value>, bool)> = vec![
        ("GET", mailboxes, "?per_page=3", None, false),
        ("GET", mailboxes, "?per_page=501", None, false),
        ("GET", mailbox, &with_email, None, false),
        ("GET", mailbox, unknown, None, false),
        ("POST", resend, &with_email, None, true),
        ("POST", resend, &without, None, true),
        ("POST", resend, &with_email, None, false),
        (
            "PUT",
            contacts,
            &without,
            Some(json!({"email": "x@libero.it"})),
            true,
        ),
        (
            "PUT",
            contacts,
            &without,
            Some(json!({"mobile": "12"})),
            true,
        ),
        ("POST", reset, &with_email, Some(good.clone()), true),
        (
            "POST",
            reset,
            &with_email,
            Some(json!({"temporary_password": "aaa"})),
            true,
        ),
        ("POST", reset, unknown, Some(good), true),
    ];
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for (method, path, target, body, keyed) in exchanges {
        let url = if path.contains("{address}") {
            format!("{base}{}", path.replace("{address}", target))
        } else {
            format!("{base}{path}{target}")
        };
        let mut request = http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
            .bearer_auth(TOKEN);
        if let Some(body) = &body {
            request = request.json(body);
        }
        if keyed {
            request = request.header(api::IDEMPOTENCY_HEADER, new_idempotency_key());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let value: Value = response.json().await.unwrap();
        seen.insert(status);
        let at = format!("{method} {path} {target} {status}");
        conforms(
            &spec,
            &schema_of(method, path, status),
            &value,
            &at,
            &mut problems,
        );
    }
    // A token answer too.
    let token: Value = http
        .post(format!("{base}{}", api::TOKEN_PATH))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    conforms(
        &spec,
        &schema_of("POST", api::TOKEN_PATH, 200),
        &token,
        "token",
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(seen, BTreeSet::from([200, 400, 404, 409, 422]));
    sim.shutdown().await;
}

// Requests generated from the contract: whatever a client writes from the
// YAML alone, the simulator answers with a status the contract declares for
// that operation, in the shape it declares.

/// A value valid under `schema`, drawn with `rng`. Strings follow their enum,
/// pattern (alternatives of a comma-separated list, or visible ASCII), format
/// and length; objects their required and (when open) optional properties.
fn generate(spec: &Value, schema: &Value, rng: &mut rand::rngs::StdRng, pool: &Pools) -> Value {
    use rand::Rng;
    use rand::seq::IndexedRandom;
    let schema = resolve(spec, schema);
    if let Some(values) = schema["enum"].as_array() {
        return values.choose(rng).unwrap().clone();
    }
    match schema["type"].as_str() {
        Some("integer") => {
            let min = schema["minimum"].as_i64().unwrap_or(0);
            let max = schema["maximum"].as_i64().unwrap_or(min + 1000);
            json!(rng.random_range(min..=max))
        }
        Some("boolean") => json!(rng.random_bool(0.5)),
        Some("object") => {
            let properties = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let required: Vec<&str> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let min = schema["minProperties"].as_u64().unwrap_or(0) as usize;
            let mut object = serde_json::Map::new();
            loop {
                for (name, property) in &properties {
                    if required.contains(&name.as_str()) || rng.random_bool(0.6) {
                        object.insert(name.clone(), generate(spec, property, rng, pool));
                    }
                }
                if object.len() >= min {
                    break;
                }
            }
            Value::Object(object)
        }
        _ => {
            let text = match (schema["format"].as_str(), schema["pattern"].as_str()) {
                (Some("email"), _) => pool.email(rng),
                // Half of them keep the six rules, so resets also succeed.
                (Some("password"), _) if rng.random_bool(0.5) => {
                    pecdesk::domain::password::generate(rng, "x", 12)
                }
                (Some("date-time"), _) => {
                    let at = chrono::DateTime::from_timestamp(
                        rng.random_range(1.5e9 as i64..2.0e9 as i64),
                        0,
                    )
                    .unwrap();
                    if rng.random_bool(0.5) {
                        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    } else {
                        at.with_timezone(&chrono::FixedOffset::east_opt(3600).unwrap())
                            .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
                    }
                }
                (_, Some(pattern)) if pattern.starts_with("^(") => {
                    // `^(a|b|c)(,(a|b|c))*$`: one to three of the alternatives.
                    let alternatives: Vec<&str> =
                        pattern[2..pattern.find(')').unwrap()].split('|').collect();
                    let n = rng.random_range(1..=3);
                    (0..n)
                        .map(|_| *alternatives.choose(rng).unwrap())
                        .collect::<Vec<_>>()
                        .join(",")
                }
                _ => {
                    // Any string of the allowed length; visible ASCII where the
                    // pattern says so, otherwise letters, digits, symbols, spaces
                    // and accents.
                    let min = schema["minLength"].as_u64().unwrap_or(0) as usize;
                    let max = schema["maxLength"].as_u64().unwrap_or(24).min(64) as usize;
                    let len = rng.random_range(min.max(1)..=max.max(1));
                    let visible = schema["pattern"] == "^[!-~]+$";
                    let alphabet: Vec<char> = if visible {
                        ('!'..='~').collect()
                    } else {
                        "abcXYZ019 ?!/;@àè.-_+".chars().collect()
                    };
                    (0..len).map(|_| *alphabet.choose(rng).unwrap()).collect()
                }
            };
            json!(text)
        }
    }
}

/// A client that gets through the faults of the faulty round.
fn patient_client(sim: &sim::SimHandle) -> ProviderClient {
    let mut config = ClientConfig::new(sim.base_url(), TOKEN);
    config.max_attempts = 30;
    config.backoff_base = Duration::from_millis(1);
    ProviderClient::new(config).unwrap()
}

/// Addresses and keys to draw from: the simulator's mailboxes, unknown ones,
/// and keys already used (so replays and reuses happen too).
struct Pools {
    mailboxes: Vec<String>,
    keys: std::sync::Mutex<Vec<String>>,
}

impl Pools {
    fn email(&self, rng: &mut rand::rngs::StdRng) -> String {
        use rand::Rng;
        use rand::seq::IndexedRandom;
        match rng.random_range(0..4) {
            0 => self.mailboxes.choose(rng).unwrap().to_uppercase(),
            1 => format!("nessuno{}@pec.fofi.it", rng.random_range(0..100)),
            2 => format!("socio{}@libero.it", rng.random_range(0..100)),
            _ => self.mailboxes.choose(rng).unwrap().clone(),
        }
    }
}

#[tokio::test]
async fn requests_valid_under_the_contract_get_only_declared_answers() {
    use rand::seq::IndexedRandom;
    use rand::{Rng, SeedableRng};
    let spec = spec();
    let operations = spec_operations(&spec);
    // Both sides of the cutover, so resets are refused (409) and done (200).
    // After the cutover, before it, and after it with faults (5xx, 429).
    let faulty = sim::Faults {
        fail_rate: 0.15,
        rate_limit: Some(400),
        ..sim::Faults::default()
    };
    for (cutover_days, faults) in [
        (-1i64, sim::Faults::default()),
        (30, sim::Faults::default()),
        (-2, faulty),
    ] {
        let with_faults = faults.fail_rate > 0.0;
        let mut config = sim_config();
        config.faults = faults;
        config.cutover_at = chrono::Utc::now() + chrono::TimeDelta::days(cutover_days);
        let sim = start_sim_with(&roster(120), config).await;
        let http = plain_http();
        let base = sim.base_url();
        let all = patient_client(&sim).list_all_mailboxes().await.unwrap();
        let pools = Pools {
            mailboxes: all.iter().map(|m| m.address.clone()).collect(),
            keys: std::sync::Mutex::new(Vec::new()),
        };
        let mut cursors: Vec<String> = Vec::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(14 + cutover_days.unsigned_abs());
        let mut problems = Vec::new();
        let mut seen: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
        for round in 0..600 {
            let ((method, path), op) = operations.iter().nth(round % operations.len()).unwrap();
            let id = op["operationId"].as_str().unwrap();
            let mut url = format!("{base}{path}");
            let mut query: Vec<(String, String)> = Vec::new();
            let mut headers: Vec<(String, String)> = Vec::new();
            for parameter in op["parameters"].as_array().into_iter().flatten() {
                let p = resolve(&spec, parameter);
                let name = p["name"].as_str().unwrap();
                if p["required"] != true && rng.random_bool(0.5) {
                    continue;
                }
                let value = if name == "cursor" && !cursors.is_empty() && rng.random_bool(0.7) {
                    cursors.choose(&mut rng).unwrap().clone()
                } else if name == api::IDEMPOTENCY_HEADER && rng.random_bool(0.3) {
                    let keys = pools.keys.lock().unwrap();
                    keys.choose(&mut rng)
                        .cloned()
                        .unwrap_or_else(new_idempotency_key)
                } else {
                    match generate(&spec, &p["schema"], &mut rng, &pools) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    }
                };
                match p["in"].as_str().unwrap() {
                    "path" => {
                        let encoded: String =
                            form_urlencoded::byte_serialize(value.as_bytes()).collect();
                        url = url.replace(&format!("{{{name}}}"), &encoded.replace("%40", "@"));
                    }
                    "query" => query.push((name.to_string(), value)),
                    "header" => {
                        pools.keys.lock().unwrap().push(value.clone());
                        headers.push((name.to_string(), value));
                    }
                    other => panic!("parameter in {other}"),
                }
            }
            let mut request = http
                .request(
                    reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                    &url,
                )
                .query(&query);
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            // Credentials as the security requirements allow: mostly right.
            if id == operation::ISSUE_TOKEN {
                let mut form = generate(
                    &spec,
                    &op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"],
                    &mut rng,
                    &pools,
                );
                let form = form.as_object_mut().unwrap();
                form.remove("client_id");
                form.remove("client_secret");
                let mut fields: Vec<(String, String)> = form
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                let secret = if rng.random_bool(0.8) {
                    CLIENT_SECRET
                } else {
                    "sbagliato"
                };
                match rng.random_range(0..3) {
                    0 => {
                        request = request.basic_auth(
                            form_urlencoded::byte_serialize(CLIENT_ID.as_bytes())
                                .collect::<String>(),
                            Some(
                                form_urlencoded::byte_serialize(secret.as_bytes())
                                    .collect::<String>(),
                            ),
                        )
                    }
                    1 => {
                        fields.push(("client_id".into(), CLIENT_ID.into()));
                        fields.push(("client_secret".into(), secret.into()));
                    }
                    _ => {}
                }
                // The form may carry parameters the server does not know (scope).
                if rng.random_bool(0.3) {
                    fields.push(("scope".into(), "mailboxes".into()));
                }
                request = request.form(&fields);
            } else {
                if rng.random_bool(0.9) {
                    request = request.bearer_auth(TOKEN);
                } else if rng.random_bool(0.5) {
                    request = request.bearer_auth("sbagliato");
                }
                let body_schema = &op["requestBody"]["content"]["application/json"]["schema"];
                if !body_schema.is_null() {
                    request = request.json(&generate(&spec, body_schema, &mut rng, &pools));
                }
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            seen.entry(id.to_string()).or_default().insert(status);
            let declared = resolve(&spec, &op["responses"][status.to_string()]);
            if declared.is_null() {
                problems.push(format!(
                    "{method} {url} {query:?}: undeclared {status} {body}"
                ));
                continue;
            }
            let schema = &declared["content"]["application/json"]["schema"];
            conforms(
                &spec,
                schema,
                &body,
                &format!("{id} {status}"),
                &mut problems,
            );
            if let Some(next) = body["next_cursor"].as_str() {
                cursors.push(next.to_string());
            }
        }
        assert!(
            problems.is_empty(),
            "cutover {cutover_days} days: {problems:#?}"
        );
        // The generator reached the answers that matter, not only refusals.
        for id in operation::ALL {
            // Before the cutover every reset is refused, as the procedures say.
            let before = cutover_days > 0 && id == operation::RESET_PASSWORD;
            assert_eq!(seen[id].contains(&200), !before, "{id}: {seen:?}");
        }
        if cutover_days > 0 {
            assert!(seen[operation::RESET_PASSWORD].contains(&409), "{seen:?}");
        }
        assert!(seen[operation::LIST_MAILBOXES].contains(&400), "{seen:?}");
        assert!(seen[operation::GET_MAILBOX].contains(&404), "{seen:?}");
        assert!(
            seen[operation::SET_RECOVERY_CONTACTS].contains(&422),
            "{seen:?}"
        );
        if with_faults {
            let faulted: BTreeSet<u16> = seen.values().flatten().copied().collect();
            assert!(faulted.contains(&500) && faulted.contains(&503), "{seen:?}");
        }
        sim.shutdown().await;
    }
}

/// What the simulator refuses, the contract declares: unknown body fields
/// (closed request bodies), a cursor it did not give, a reused key.
#[tokio::test]
async fn what_the_simulator_refuses_the_contract_declares() {
    let spec = spec();
    let schemas = &spec["components"]["schemas"];
    for closed in ["RecoveryContactsRequest", "PasswordResetRequest"] {
        assert_eq!(schemas[closed]["additionalProperties"], false, "{closed}");
    }
    assert_eq!(schemas["RecoveryContactsRequest"]["minProperties"], 1);
    let operations = spec_operations(&spec);
    let declared = |id: &str, status: u16| -> Value {
        let op = operations
            .values()
            .find(|op| op["operationId"] == id)
            .unwrap();
        resolve(&spec, &op["responses"][status.to_string()]).clone()
    };
    let mut config = sim_config();
    config.cutover_at = chrono::Utc::now() - chrono::TimeDelta::days(1);
    let sim = start_sim_with(&roster(50), config).await;
    let http = plain_http();
    let base = sim.base_url();
    let all = oauth_client(&sim).list_all_mailboxes().await.unwrap();
    let address = &all[0].address;
    let send = |method: &str, path: String, body: Option<Value>, key: Option<&str>| {
        let mut request = http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{base}{path}"),
            )
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = key {
            request = request.header(api::IDEMPOTENCY_HEADER, key);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let contacts = format!("/v1/mailboxes/{address}/recovery-contacts");
    let reset = format!("/v1/mailboxes/{address}/password-reset");
    let resend = format!("/v1/mailboxes/{address}/recovery-email");
    let mut problems = Vec::new();
    for (id, path, body) in [
        (
            operation::SET_RECOVERY_CONTACTS,
            &contacts,
            json!({"email": "a@libero.it", "telefono": "347"}),
        ),
        (
            operation::RESET_PASSWORD,
            &reset,
            json!({"temporary_password": "Temp!Pass42", "notify": true}),
        ),
    ] {
        let method = if id == operation::SET_RECOVERY_CONTACTS {
            "PUT"
        } else {
            "POST"
        };
        let (status, answer) = send(
            method,
            path.clone(),
            Some(body),
            Some(&new_idempotency_key()),
        )
        .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some("bad_request")),
            "{id}: {answer}"
        );
        let response = declared(id, 400);
        assert!(
            response["description"]
                .as_str()
                .unwrap()
                .contains("additionalProperties: false")
        );
        conforms(
            &spec,
            &response["content"]["application/json"]["schema"],
            &answer,
            id,
            &mut problems,
        );
    }
    // A cursor the server never gave.
    let (status, answer) = send("GET", "/v1/mailboxes?cursor=non-mio".into(), None, None).await;
    assert_eq!(
        (status, answer["details"][0]["field"].as_str()),
        (400, Some("cursor"))
    );
    let list = operations
        .values()
        .find(|op| op["operationId"] == operation::LIST_MAILBOXES)
        .unwrap();
    assert!(list["description"].as_str().unwrap().contains("`cursor`"));
    // A key reused for a different request, on each state-changing operation.
    for (id, method, path, first, second) in [
        (
            operation::RESEND_RECOVERY_EMAIL,
            "POST",
            resend.clone(),
            None,
            None,
        ),
        (
            operation::SET_RECOVERY_CONTACTS,
            "PUT",
            contacts.clone(),
            Some(json!({"email": "uno@libero.it"})),
            Some(json!({"email": "due@libero.it"})),
        ),
        (
            operation::RESET_PASSWORD,
            "POST",
            reset.clone(),
            Some(json!({"temporary_password": "Temp!Pass42"})),
            Some(json!({"temporary_password": "Altra!Pass43"})),
        ),
    ] {
        let key = new_idempotency_key();
        send(method, path.clone(), first, Some(&key)).await;
        // The resend has no body: the other mailbox makes it a different request.
        let (path, second) = if id == operation::RESEND_RECOVERY_EMAIL {
            (
                format!("/v1/mailboxes/{}/recovery-email", all[1].address),
                None,
            )
        } else {
            (path, second)
        };
        let (status, answer) = send(method, path, second, Some(&key)).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (422, Some("idempotency_key_reused")),
            "{id}"
        );
        let response = declared(id, 422);
        let text = serde_json::to_string(&response).unwrap();
        assert!(
            text.contains("idempotency_key_reused"),
            "{id}: the 422 does not say it"
        );
        conforms(
            &spec,
            &response["content"]["application/json"]["schema"],
            &answer,
            id,
            &mut problems,
        );
    }
    assert!(problems.is_empty(), "{problems:#?}");
    sim.shutdown().await;
}
