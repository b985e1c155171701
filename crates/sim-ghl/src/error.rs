//! Error answers in HighLevel's shapes: `{statusCode, message, error}` as the
//! specs' BadRequestDTO, UnauthorizedDTO and UnprocessableDTO (whose
//! `message` is an array of class-validator sentences) define them, and the
//! rendering of each refusal of the world ([`world::Error`]) in the shape
//! and words HighLevel answers it with.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::world;

/// An error answer of the simulated API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub body: Value,
}

fn reason(status: u16) -> &'static str {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({"statusCode": status, "message": message.into(), "error": reason(status)}),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// 422 with class-validator style messages.
    pub fn unprocessable(messages: Vec<String>) -> Self {
        Self {
            status: 422,
            body: json!({"statusCode": 422, "message": messages, "error": "Unprocessable Entity"}),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, message)
    }

    pub fn invalid_token() -> Self {
        Self::unauthorized("Invalid token: access token is invalid")
    }

    pub fn scope_missing() -> Self {
        Self::unauthorized("The token is not authorized for this scope.")
    }

    pub fn forbidden_location() -> Self {
        Self::new(403, "The token does not have access to this location.")
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(404, format!("{what} not found"))
    }

    pub fn too_many_requests() -> Self {
        Self::new(429, "Too many requests, please try again later.")
    }
}

impl From<world::Error> for ApiError {
    fn from(error: world::Error) -> Self {
        use world::Error as E;
        match error {
            E::UnknownLocation(id) => Self::bad_request(format!("Location {id} not found")),
            E::NotFound(what) => Self::not_found(what),
            E::ContactNotFound => Self::bad_request("Contact not found"),
            // The observed `HttpException` shape, not the documented one.
            E::OrderNotFound => Self {
                status: 404,
                body: json!({"status": 404, "message": "Order not found", "name": "HttpException", "traceId": crate::api::trace_id()}),
            },
            E::UnknownReference { kind, id } => Self::bad_request(format!("{kind} {id} not found")),
            E::PriceNotInProduct { price, product } => {
                Self::bad_request(format!("Price {price} not found in product {product}"))
            }
            E::PriceOfAnotherProduct { price, product } => Self::bad_request(format!(
                "Price {price} does not belong to product {product}"
            )),
            E::CouponCodeTaken(code) => {
                Self::bad_request(format!("Coupon with code {code} already exists"))
            }
            E::BulkEditTooLarge { entities } => Self::bad_request(format!(
                "A bulk edit takes at most {} entities (products and their prices together); this one has {entities}",
                world::catalog::BULK_EDIT_MAX_ENTITIES
            )),
            E::BelowZero { field, price } => {
                Self::bad_request(format!("{field} of price {price} would fall below 0"))
            }
            E::InvoiceAlreadyPaid => Self::bad_request("Invoice is already paid"),
            E::Overpayment { amount, due } => {
                Self::bad_request(format!("Amount {amount} exceeds the amount due {due}"))
            }
            E::MixedCurrencies => {
                Self::bad_request("All items of an order must share one currency")
            }
            E::OutOfStock(name) => Self::bad_request(format!("{name} is out of stock")),
            E::CouponNotValid(code) => Self::bad_request(format!("Coupon {code} is not valid")),
            E::CouponNotActive(code) => Self::bad_request(format!("Coupon {code} is not active")),
            E::Invalid(messages) => Self::unprocessable(messages),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.body)).into_response()
    }
}

/// The body the fault switch answers with for an injected status.
pub fn fault_response(status: u16) -> Response {
    let message = match status {
        429 => "Too many requests, please try again later.",
        500 => "Internal server error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Injected failure",
    };
    ApiError::new(status, message).into_response()
}

/// A successful JSON answer with a status.
pub type ApiResult = Result<(StatusCode, Json<Value>), ApiError>;

pub fn ok(value: Value) -> ApiResult {
    Ok((StatusCode::OK, Json(value)))
}

pub fn created(value: Value) -> ApiResult {
    Ok((StatusCode::CREATED, Json(value)))
}
