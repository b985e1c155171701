//! Contacts and their notes: the upsert by e-mail (else phone), which
//! merges tags and keeps the derived lower-case names, the search, tags
//! and notes. Contacts are kept as the JSON object the API returns.
//! Changes fire `ContactCreate`, `ContactUpdate` and `ContactTagUpdate`
//! with the documented flat payload.

use serde_json::{Value, json};

use super::{Error, Location, LocationMut, World, now_iso, set, str_of};

/// The text fields a contact upsert may carry.
pub const TEXT_FIELDS: &[&str] = &[
    "firstName",
    "lastName",
    "name",
    "email",
    "phone",
    "address1",
    "city",
    "state",
    "postalCode",
    "website",
    "timezone",
    "source",
    "country",
    "companyName",
    "assignedTo",
    "gender",
];

/// What an upsert carries.
#[derive(Debug, Clone, Default)]
pub struct ContactUpsert {
    /// Fields of [`TEXT_FIELDS`] and their values.
    pub text: Vec<(&'static str, String)>,
    /// Added to the contact's tags.
    pub tags: Option<Vec<String>>,
    /// Replace the contact's custom fields.
    pub custom_fields: Option<Vec<Value>>,
}

impl ContactUpsert {
    fn text(&self, key: &str) -> &str {
        self.text
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// One search filter: `field` equals (or, with `contains`, contains)
/// `value`, ignoring case.
#[derive(Debug, Clone)]
pub struct ContactFilter {
    pub field: String,
    pub operator: String,
    pub value: String,
}

impl ContactFilter {
    fn admits(&self, contact: &Value) -> bool {
        let value = self.value.to_lowercase();
        let actual = match self.field.as_str() {
            "email" => str_of(contact, "emailLowerCase").to_string(),
            other => str_of(contact, other).to_lowercase(),
        };
        match self.operator.as_str() {
            "contains" => actual.contains(&value),
            _ => actual == value,
        }
    }
}

/// A note to add to a contact.
#[derive(Debug, Clone)]
pub struct NewNote {
    pub body: String,
    pub title: Option<String>,
    pub user_id: Option<String>,
}

/// The webhook payload of a contact event.
fn event_payload(name: &str, contact: &Value) -> Value {
    let mut p = json!({"type": name});
    for key in [
        "locationId",
        "id",
        "address1",
        "city",
        "state",
        "companyName",
        "country",
        "source",
        "dateAdded",
        "dateOfBirth",
        "dnd",
        "email",
        "name",
        "firstName",
        "lastName",
        "phone",
        "postalCode",
        "tags",
        "website",
        "attachments",
        "assignedTo",
        "customFields",
    ] {
        if let Some(v) = contact.get(key) {
            set(&mut p, key, v.clone());
        }
    }
    p
}

fn refresh_names(c: &mut Value) {
    let first = str_of(c, "firstName").to_string();
    let last = str_of(c, "lastName").to_string();
    let full = format!("{first} {last}").trim().to_string();
    if !full.is_empty() {
        set(c, "name", json!(full));
    }
    set(c, "firstNameLowerCase", json!(first.to_lowercase()));
    set(c, "lastNameLowerCase", json!(last.to_lowercase()));
    set(c, "fullNameLowerCase", json!(full.to_lowercase()));
    let email = str_of(c, "email").to_lowercase();
    set(c, "emailLowerCase", json!(email));
}

/// The tags of a contact, as strings.
fn tags_of(contact: &Value) -> Vec<String> {
    contact
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `tags` with `new` added, each once. Answers whether any was added.
fn add_each_once(tags: &mut Vec<String>, new: Vec<String>) -> bool {
    let before = tags.len();
    for t in new {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    tags.len() != before
}

impl World {
    /// The location holding a contact (contact routes carry no location).
    pub fn contact_location(&self, contact_id: &str) -> Result<String, Error> {
        self.location_holding(|l| l.contacts.get(contact_id).is_some())
            .ok_or(Error::ContactNotFound)
    }
}

impl Location {
    pub fn contact(&self, id: &str) -> Result<&Value, Error> {
        self.contacts.get(id).ok_or(Error::ContactNotFound)
    }

    /// The contacts whose e-mail, full name or phone contains `query`
    /// (ignoring case) and that every filter admits, in creation order.
    pub fn contacts_matching<'a>(
        &'a self,
        query: Option<&'a str>,
        filters: &'a [ContactFilter],
    ) -> impl Iterator<Item = &'a Value> + 'a {
        let query = query.map(str::to_lowercase);
        self.contacts
            .iter()
            .filter(move |c| {
                query.as_ref().is_none_or(|q| {
                    ["emailLowerCase", "fullNameLowerCase", "phone"]
                        .iter()
                        .any(|f| str_of(c, f).to_lowercase().contains(q))
                })
            })
            .filter(|c| filters.iter().all(|f| f.admits(c)))
    }
}

impl LocationMut<'_> {
    /// Creates or updates the contact matched by e-mail, else phone.
    /// Answers the contact and whether it is new; fires `ContactCreate` or
    /// `ContactUpdate`.
    pub fn upsert_contact(&mut self, upsert: ContactUpsert) -> Result<(Value, bool), Error> {
        let email = upsert.text("email").to_lowercase();
        let phone = upsert.text("phone");
        // By e-mail (an index), else by phone.
        let by_email = (!email.is_empty())
            .then(|| self.contacts.group(&email).next())
            .flatten();
        let existing = by_email
            .or_else(|| {
                (!phone.is_empty())
                    .then(|| self.contacts.iter().find(|c| str_of(c, "phone") == phone))
                    .flatten()
            })
            .cloned();
        let now = now_iso();
        let is_new = existing.is_none();
        let mut contact = existing.unwrap_or_else(|| {
            json!({
                "id": sim_kit::ids::alphanumeric(20), "locationId": self.id, "tags": [],
                "customFields": [], "attachments": "", "dnd": false, "type": "lead", "dateAdded": now,
            })
        });
        for (key, value) in upsert.text {
            set(&mut contact, key, json!(value));
        }
        if let Some(new) = upsert.tags {
            let mut tags = tags_of(&contact);
            add_each_once(&mut tags, new);
            set(&mut contact, "tags", json!(tags));
        }
        if let Some(custom_fields) = upsert.custom_fields {
            set(&mut contact, "customFields", Value::Array(custom_fields));
        }
        refresh_names(&mut contact);
        set(&mut contact, "dateUpdated", json!(now));
        // Replaced whole, so the e-mail index follows a new address.
        let id = str_of(&contact, "id").to_string();
        self.location.contacts.insert(id, contact.clone());
        let event = if is_new {
            "ContactCreate"
        } else {
            "ContactUpdate"
        };
        self.emit(event, event_payload(event, &contact));
        Ok((contact, is_new))
    }

    /// Adds each tag the contact lacks; fires `ContactTagUpdate` when one
    /// was added. Answers all the contact's tags.
    pub fn add_tags(&mut self, contact_id: &str, new: Vec<String>) -> Result<Vec<String>, Error> {
        let contact = self
            .location
            .contacts
            .get_mut(contact_id)
            .ok_or(Error::ContactNotFound)?;
        let mut tags = tags_of(contact);
        let added = add_each_once(&mut tags, new);
        set(contact, "tags", json!(tags));
        let payload = event_payload("ContactTagUpdate", contact);
        if added {
            self.emit("ContactTagUpdate", payload);
        }
        Ok(tags)
    }

    pub fn add_note(&mut self, contact_id: &str, new: NewNote) -> Result<Value, Error> {
        let id = sim_kit::ids::alphanumeric(20);
        let mut note = json!({
            "id": id, "body": new.body, "contactId": contact_id, "dateAdded": now_iso(), "pinned": false,
        });
        if let Some(t) = new.title {
            set(&mut note, "title", json!(t));
        }
        if let Some(u) = new.user_id {
            set(&mut note, "userId", json!(u));
        }
        self.location.notes.insert(id, note.clone());
        Ok(note)
    }
}
