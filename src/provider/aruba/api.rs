//! The part of Aruba's published partner API (OpenAPI 3 files in
//! `shellrent/arubapec-api`, folder `openapi/`) that pecdesk uses, as wire
//! types. The project's copy of that part is `assets/aruba-api.json`; a test
//! holds the routes below to it, another validates bodies against its schemas.
//! Field names are the spec's, camelCase.

use serde::{Deserialize, Serialize};

/// Every response: `data` on success, `errors` on failure (`RestErrorResponse`
/// and the per-operation `...Response` schemas share this envelope).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datetime: Option<String>,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<RestError>>,
}

fn none<T>() -> Option<T> {
    None
}

/// `RestErrorResponse`: `data` is a string there ("could be empty").
pub type ErrorResponse = Envelope<String>;

/// `RestError`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_error: Option<ValidationError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `ValidationError`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_message: Option<String>,
}

/// `TokenRequest`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// `RefreshRequest`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// `TokenModel`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenModel {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    pub token_type: String,
}

impl std::fmt::Debug for TokenModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenModel")
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .field("token_type", &self.token_type)
            .finish_non_exhaustive()
    }
}

/// `DomainByNameRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainByNameRequest {
    pub full_name: String,
}

/// `AccountInfoRequestV3`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountInfoRequest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_extra_data: Option<bool>,
}

/// `OwnerSearchRequest` (the fields pecdesk fills).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerSearchRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `AccountSearchRequest` (the fields pecdesk fills).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountSearchRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerSearchRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// `OwnerId`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerId {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_code: Option<String>,
}

/// `ContactDataUpdate` (only the fields pecdesk changes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactDataUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
}

/// `OwnerUpdateRequest`: "updates only data passed in the request".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerUpdateRequest {
    pub owner_id: OwnerId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<ContactDataUpdate>,
}

/// `ContactData`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub town: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
}

/// `Owner`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub user_type: String,
    pub name: String,
    pub surname: String,
    pub tax_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<ContactData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
}

/// `InfoQuota`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoQuota {
    #[serde(rename = "type")]
    pub kind: String,
    pub base: i32,
}

/// `RenewalData`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewalData {
    #[serde(rename = "type")]
    pub kind: String,
    pub duration: i64,
}

/// `Account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub quotas: Vec<InfoQuota>,
    pub owner: Owner,
    pub request_date: String,
    pub certification_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspension_date: Option<String>,
    pub end_date: String,
    pub renewal_data: RenewalData,
}

/// `PageableObject`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pageable {
    pub offset: i64,
    pub page_number: i32,
    pub page_size: i32,
    pub paged: bool,
    pub unpaged: bool,
}

/// `PageAccount` and `PageOwner`: Spring's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub total_pages: i32,
    pub total_elements: i64,
    pub size: i32,
    pub content: Vec<T>,
    pub number: i32,
    pub number_of_elements: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pageable: Option<Pageable>,
    pub first: bool,
    pub last: bool,
    pub empty: bool,
}

impl<T> Page<T> {
    /// The same page with its content converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            total_pages: self.total_pages,
            total_elements: self.total_elements,
            size: self.size,
            content: self.content.into_iter().map(f).collect(),
            number: self.number,
            number_of_elements: self.number_of_elements,
            pageable: self.pageable,
            first: self.first,
            last: self.last,
            empty: self.empty,
        }
    }
}

/// The spec's operations pecdesk uses: (method, path, operationId).
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub id: &'static str,
}

pub const TOKEN_PATH: &str = "/public/auth/v2/token";
pub const REFRESH_PATH: &str = "/public/auth/v2/refresh";
pub const LIST_MAILBOXES_PATH: &str = "/public/partner/pec/v2/domains/list-mailboxes";
pub const ACCOUNT_SEARCH_PATH: &str = "/public/partner/pec/v3/accounts/search";
pub const ACCOUNT_INFO_PATH: &str = "/public/partner/pec/v3/accounts/info";
pub const OWNERS_PATH: &str = "/public/partner/pec/v2/owners";
pub const OWNER_SEARCH_PATH: &str = "/public/partner/pec/v2/owners/search";
/// As the spec writes it; the client fills `{id}`.
pub const OWNER_INFO_PATH: &str = "/public/partner/pec/v2/owners/{id}";

pub const OPERATIONS: [Operation; 8] = [
    Operation {
        method: "post",
        path: TOKEN_PATH,
        id: "token",
    },
    Operation {
        method: "post",
        path: REFRESH_PATH,
        id: "refresh",
    },
    Operation {
        method: "post",
        path: LIST_MAILBOXES_PATH,
        id: "domainListMailboxes",
    },
    Operation {
        method: "post",
        path: ACCOUNT_SEARCH_PATH,
        id: "accountList",
    },
    Operation {
        method: "post",
        path: ACCOUNT_INFO_PATH,
        id: "accountInfo",
    },
    Operation {
        method: "post",
        path: OWNER_SEARCH_PATH,
        id: "ownerSearch",
    },
    Operation {
        method: "get",
        path: OWNER_INFO_PATH,
        id: "ownerInfo",
    },
    Operation {
        method: "patch",
        path: OWNERS_PATH,
        id: "ownerUpdate",
    },
];

/// The response version pecdesk was written against.
pub const VERSION: &str = "v2";
/// The page size the spec states as default.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
